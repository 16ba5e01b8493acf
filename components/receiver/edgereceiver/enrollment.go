package edgereceiver

import (
	"errors"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/tfocol/tfocol/internal/credentials/tokenfile"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Enrollment modes: the kind of credential the caller enrolled with.
const (
	modeToken  = "enrollment_token"
	modeAPIKey = "api_key"
)

type enrollmentAnswer struct {
	Mode        string         `json:"mode"`
	WorkspaceID string         `json:"workspace_id"`
	IngestURL   string         `json:"ingest_url"`
	PolicyURL   string         `json:"policy_url"`
	Credential  credentialInfo `json:"credential"`
	Rotation    rotationInfo   `json:"rotation"`
}

// credentialInfo describes the caller's credential; never the token or secret itself.
type credentialInfo struct {
	TokenID   string     `json:"token_id,omitempty"`
	KeyID     string     `json:"key_id,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	Roles     []string   `json:"roles,omitempty"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Status of a token in the tokens file: active or rotating (then ValidUntil ends its overlap and ReplacedBy
	// names its successor); absent when the file does not list it.
	Status     string     `json:"status,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	ReplacedBy string     `json:"replaced_by,omitempty"`
}

type rotationInfo struct {
	Enabled bool   `json:"enabled"`
	Allowed bool   `json:"allowed"` // whether this credential may rotate
	Overlap string `json:"overlap,omitempty"`
}

func (r *edgeReceiver) handleEnrollment(w http.ResponseWriter, req *http.Request) *refusal {
	ctx, p, ws, f := r.caller(req)
	if f != nil {
		return f
	}
	base := r.baseURL(req)
	ans := enrollmentAnswer{WorkspaceID: ws, IngestURL: base + pathIngest, PolicyURL: base + pathPolicy,
		Credential: credentialInfo{Subject: p.Subject, Scopes: p.Scopes, Roles: p.Roles},
		Rotation:   rotationInfo{Enabled: r.rotationEnabled(), Allowed: r.rotationEnabled() && r.isAdmin(p)}}
	if ans.Rotation.Enabled {
		ans.Rotation.Overlap = r.cfg.Enrollment.Rotation.Overlap.String()
	}
	if !p.ExpiresAt.IsZero() {
		exp := p.ExpiresAt.UTC()
		ans.Credential.ExpiresAt = &exp
	}
	if p.Kind == principal.KindJWT {
		ans.Mode, ans.Credential.TokenID = modeToken, p.TokenID
		r.tokenStatus(&ans.Credential)
	} else {
		ans.Mode, ans.Credential.KeyID = modeAPIKey, p.KeyID
	}
	r.writeJSON(ctx, w, epEnrollment, http.StatusOK, "ok", ans)
	return nil
}

// tokenStatus fills in what the tokens file says about the caller's token (active, or rotating and until when).
func (r *edgeReceiver) tokenStatus(c *credentialInfo) {
	if r.cfg.Enrollment.TokensFile == "" || c.TokenID == "" {
		return
	}
	st, err := tokenfile.Load(r.cfg.Enrollment.TokensFile)
	if err != nil {
		return
	}
	t, ok := st.Find(c.TokenID)
	if !ok {
		return
	}
	c.Status = string(t.StatusAt(r.now()))
	if t.NotAfter != nil {
		until := t.NotAfter.UTC()
		c.ValidUntil, c.ReplacedBy = &until, t.ReplacedBy
	}
}

// baseURL is where agents reach this receiver: enrollment.public_url, else the request's scheme and Host.
func (r *edgeReceiver) baseURL(req *http.Request) string {
	if u := r.cfg.Enrollment.PublicURL; u != "" {
		return strings.TrimSuffix(u, "/")
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host
}

func (r *edgeReceiver) rotationEnabled() bool { return r.cfg.Enrollment.Rotation.SigningKeyFile != "" }

// isAdmin: an API key listed in admin_keys, or an enrollment token with a role in admin_roles.
func (r *edgeReceiver) isAdmin(p *principal.Principal) bool {
	rot := r.cfg.Enrollment.Rotation
	switch p.Kind {
	case principal.KindAPIKey:
		return slices.Contains(rot.AdminKeys, p.KeyID)
	case principal.KindJWT:
		return slices.ContainsFunc(p.Roles, func(role string) bool { return slices.Contains(rot.AdminRoles, role) })
	}
	return false
}

// rotateRequest is the optional body of POST /api/v1/edge-agent/enrollment/rotate.
type rotateRequest struct {
	TokenID     string `json:"token_id"`
	RotationKey string `json:"rotation_key"`
}

type rotateAnswer struct {
	WorkspaceID        string    `json:"workspace_id"`
	Token              string    `json:"token"`
	TokenID            string    `json:"token_id"`
	Subject            string    `json:"subject,omitempty"`
	Role               string    `json:"role,omitempty"`
	Scopes             []string  `json:"scopes,omitempty"`
	ExpiresAt          time.Time `json:"expires_at"`
	Replaces           string    `json:"replaces"`
	OldTokenValidUntil time.Time `json:"old_token_valid_until"`
	AlreadyRotated     bool      `json:"already_rotated"`
	IngestURL          string    `json:"ingest_url"`
}

// rotationKeyPrefix namespaces the rotation keys of this endpoint per workspace in the tokens file, so one
// workspace's admin cannot replay or block another's key (and `tfocol tokens rotate` keys never collide).
const rotationKeyPrefix = "edge/"

func (r *edgeReceiver) handleRotate(w http.ResponseWriter, req *http.Request) *refusal {
	ctx, p, ws, f := r.caller(req)
	if f != nil {
		return f
	}
	if !r.rotationEnabled() {
		return refuse(codes.Unimplemented, "rotation_disabled", "enrollment rotation is not enabled on this gateway")
	}
	if !r.isAdmin(p) {
		return refuse(codes.PermissionDenied, "not_admin", "rotation needs an admin credential (enrollment.rotation.admin_keys or admin_roles)")
	}
	body, f := readJSON(req)
	if f != nil {
		return f
	}
	var rr rotateRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := decodeStrict(body, &rr); err != nil {
			return refuse(codes.InvalidArgument, "bad_json", "request body: "+err.Error())
		}
	}
	key, f := rotationKey(req.Header.Values(requestcontract.HeaderIdempotencyKey), rr.RotationKey)
	if f != nil {
		return f
	}

	rot, token, f := r.rotate(ws, rotationKeyPrefix+ws+"/"+key, rr.TokenID)
	if f != nil {
		return f
	}
	reason := "rotated"
	if rot.Again {
		reason = "replayed"
	} else {
		r.set.Logger.Info("Rotated an enrollment token", zap.String("workspace", ws), zap.String("old_token_id", rot.Old.ID),
			zap.String("new_token_id", rot.New.ID), zap.String("by", p.Subject), zap.Time("old_valid_until", rot.OldValidUntil))
	}
	ans := rotateAnswer{WorkspaceID: ws, Token: token, TokenID: rot.New.ID, Subject: rot.New.Subject, Role: rot.New.Role,
		Scopes: rot.New.Scopes, ExpiresAt: rot.New.ExpiresAt.UTC(), Replaces: rot.Old.ID,
		OldTokenValidUntil: rot.OldValidUntil.UTC(), AlreadyRotated: rot.Again, IngestURL: r.baseURL(req) + pathIngest}
	r.writeJSON(ctx, w, epRotate, http.StatusOK, reason, ans)
	return nil
}

// rotationKey takes the rotation's idempotency key from Idempotency-Key or the body's rotation_key (both: equal).
func rotationKey(header []string, body string) (string, *refusal) {
	key := body
	if len(header) > 0 {
		h := strings.TrimSpace(header[0])
		if len(header) > 1 || (body != "" && body != h) {
			return "", refuse(codes.InvalidArgument, "bad_rotation_key", "Idempotency-Key and rotation_key disagree")
		}
		key = h
	}
	if !requestcontract.ValidIdempotencyKey(key) {
		return "", refuse(codes.InvalidArgument, "bad_rotation_key", "a rotation needs an Idempotency-Key (or rotation_key) of 1 to 255 printable ASCII characters")
	}
	return key, nil
}

// rotate rotates a token of workspace ws under key, holding the tokens file's lock, and signs the new token. With
// no tokenID: the token key rotated before, else the workspace's one active token.
func (r *edgeReceiver) rotate(ws, key, tokenID string) (*tokenfile.Rotated, string, *refusal) {
	rc := r.cfg.Enrollment.Rotation
	priv, err := loadSigningKey(rc.SigningKeyFile)
	if err != nil {
		r.set.Logger.Error("Enrollment rotation: signing key unusable", zap.Error(err))
		return nil, "", refuse(codes.Unavailable, "state_error", "the signing key cannot be read; retry later")
	}
	r.rotateMu.Lock()
	defer r.rotateMu.Unlock()
	file := r.cfg.Enrollment.TokensFile
	unlock, err := tokenfile.Lock(file)
	if err != nil {
		return nil, "", r.stateError(err)
	}
	defer unlock()
	st, err := tokenfile.Load(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", refuse(codes.NotFound, "no_token", "no enrollment token in this workspace; issue one with `tfocol tokens issue`")
	}
	if err != nil {
		return nil, "", r.stateError(err)
	}

	from := tokenID
	if prev, ok := st.FindRotation(key); ok && from == "" {
		from = prev.From
	}
	if from == "" {
		active := st.ActiveTokens(ws, r.now())
		switch len(active) {
		case 0:
			return nil, "", refuse(codes.NotFound, "no_token", "no active enrollment token in this workspace; issue one with `tfocol tokens issue`")
		case 1:
			from = active[0].ID
		default:
			ids := make([]string, len(active))
			for i, t := range active {
				ids[i] = t.ID
			}
			return nil, "", refuse(codes.InvalidArgument, "ambiguous_token",
				"the workspace has several active tokens; name one in token_id: "+strings.Join(ids, ", "))
		}
	}
	if t, ok := st.Find(from); !ok || !strings.EqualFold(t.Workspace, ws) {
		return nil, "", refuse(codes.NotFound, "no_token", "no such token in this workspace")
	}
	rot, err := st.Rotate(key, from, rc.Overlap, rc.TTL, r.now())
	switch {
	case errors.Is(err, tokenfile.ErrRotationKeyReused):
		return nil, "", refuse(codes.InvalidArgument, "rotation_key_reused", "this rotation key already rotated another token")
	case errors.Is(err, tokenfile.ErrNotActive):
		return nil, "", refuse(codes.InvalidArgument, "token_not_active", err.Error())
	case err != nil:
		return nil, "", r.stateError(err)
	}
	token, err := tokenfile.Sign(rot.New, priv)
	if err != nil {
		return nil, "", r.stateError(err)
	}
	if !rot.Again {
		if err := tokenfile.Save(file, st); err != nil {
			return nil, "", r.stateError(err)
		}
	}
	return rot, token, nil
}

func (r *edgeReceiver) stateError(err error) *refusal {
	r.set.Logger.Error("Enrollment rotation: token state file", zap.String("file", r.cfg.Enrollment.TokensFile), zap.Error(err))
	return refuse(codes.Unavailable, "state_error", "the token state cannot be updated; retry later")
}

var loadSigningKey = tokenfile.LoadSigningKey
