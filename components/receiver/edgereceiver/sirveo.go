package edgereceiver

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"

	"github.com/tfocol/tfocol/components/receiver/edgereceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// sirveoPhase maps the reasons seed 003 defines to lifecycle phases: a licence state change is an update.
var sirveoPhase = map[string]string{"begin": "begin", "update": "update", "license-state-change": "update", "end": "end"}

// sirveoFields are the payload fields of seed 003 and their names in the lifecycle event's body; any other field
// goes to body extra as sent.
var sirveoFields = []struct{ wire, body string }{
	{"reason", "reason"}, {"instance_id", "instanceId"}, {"build_version", "buildVersion"},
	{"build_commit", "buildCommit"}, {"build_time", "buildTime"}, {"build_mode", "buildMode"},
	{"build_os", "buildOs"}, {"build_arch", "buildArch"}, {"license_key_hash", "licenseKeyHash"},
	{"license_valid", "licenseValid"}, {"checksum", "checksum"}, {"custom_id", "customId"},
}

type sirveoAnswer struct {
	WorkspaceID    string `json:"workspace_id"`
	InstanceID     string `json:"instance_id"`
	EventID        string `json:"event_id"`
	Phase          string `json:"phase"`
	Status         string `json:"status"`
	Reason         string `json:"reason,omitempty"`
	SchemaID       string `json:"schema_id,omitempty"`
	ChecksumStatus string `json:"checksum_status"`
}

func (r *edgeReceiver) handleSirveo(w http.ResponseWriter, req *http.Request) *refusal {
	ctx, ws, f := r.sirveoCaller(req)
	if f != nil {
		return f
	}
	body, f := readJSON(req)
	if f != nil {
		return f
	}
	pv := pcommon.NewValueEmpty()
	if err := decodeInto(body, pv); err != nil || pv.Type() != pcommon.ValueTypeMap {
		return refuse(codes.InvalidArgument, "bad_payload", "the body must be one JSON object (seed 003's telemetry payload)")
	}
	payload := pv.Map()
	phase, ok := sirveoPhase[strField(payload, "reason")]
	if !ok {
		return refuse(codes.InvalidArgument, "bad_payload", "reason must be begin, update, license-state-change or end")
	}
	checksum := strField(payload, "checksum")
	if !checksumShape.MatchString(checksum) {
		r.countChecksum(ctx, "malformed")
		return refuse(codes.InvalidArgument, "checksum_malformed", "checksum must be 16 lowercase hex digits")
	}
	instance := strField(payload, "instance_id")
	verdict := r.checksums.check(ws+"/"+instance, valuesFingerprint(payload.AsRaw()), checksum)
	r.countChecksum(ctx, verdict)
	if verdict == checksumMismatch && r.cfg.Sirveo.OnChecksumMismatch == MismatchReject {
		return refuse(codes.InvalidArgument, "checksum_mismatch", "checksum does not match the one this instance sent with the same values")
	}

	eventID := uuid.NewString()
	ld, lr := sirveoRecord(r.cfg.Sirveo.EventType, payload, phase, verdict, eventID, r.now())
	c := r.contracts[r.cfg.Sirveo.EventType]
	ans := sirveoAnswer{WorkspaceID: ws, InstanceID: instance, EventID: eventID, Phase: phase, Status: outcomeAccepted,
		ChecksumStatus: verdict}
	if reason := c.Check(lr); reason != "" {
		ans.Status, ans.Reason, ans.SchemaID = outcomeRejected, reason, c.ID()
	}
	// Sirveo never retries and sends no Idempotency-Key: every request is an occurrence of its own.
	if err := r.deliver(ctx, req, ws, false, ld); err != nil {
		return fromError(err, "pipeline_")
	}
	r.countEvent(ctx, epSirveo, r.cfg.Sirveo.EventType, ans.Status)
	r.writeJSON(ctx, w, epSirveo, http.StatusOK, "accepted", ans)
	return nil
}

// sirveoCaller resolves the workspace (the path's, else the credential's) and authenticates the request; a
// request without Authorization is let through only for a workspace listed in anonymous_workspaces.
func (r *edgeReceiver) sirveoCaller(req *http.Request) (context.Context, string, *refusal) {
	pathWS := req.PathValue("workspace")
	if pathWS != "" {
		ws, err := requestcontract.CanonicalWorkspace(pathWS)
		if err != nil {
			return nil, "", refuse(codes.InvalidArgument, "bad_workspace", "workspace in the path: "+err.Error())
		}
		pathWS = ws
		if req.Header.Get("Authorization") == "" && slices.Contains(r.anonymous(), ws) {
			return req.Context(), ws, nil
		}
	}
	extra := map[string]string{}
	if pathWS != "" {
		extra[requestcontract.HeaderWorkspaceID] = pathWS // tfo_auth checks the credential may use it
	}
	ctx, f := r.authenticate(req, extra)
	if f != nil {
		return nil, "", f
	}
	p, _ := principal.FromContext(ctx)
	h := req.Header.Clone()
	if pathWS != "" {
		h.Set(requestcontract.HeaderWorkspaceID, pathWS)
	}
	ws, f := workspaceOf(h, p)
	if f != nil {
		return nil, "", f
	}
	return ctx, ws, nil
}

func (r *edgeReceiver) anonymous() []string {
	out := make([]string, 0, len(r.cfg.Sirveo.AnonymousWorkspaces))
	for _, ws := range r.cfg.Sirveo.AnonymousWorkspaces {
		if c, err := requestcontract.CanonicalWorkspace(ws); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// sirveoRecord maps a seed 003 payload to an InstanceLifecycle record (configs/schemas/instance_lifecycle.v1.json).
// The instance sends no host or machine identity, and none is added: the resource names the service and instance.
func sirveoRecord(eventType string, payload pcommon.Map, phase, verdict, eventID string, now time.Time) (plog.Logs, plog.LogRecord) {
	instance, version := strField(payload, "instance_id"), strField(payload, "build_version")
	severity := "info"
	if valid, ok := payload.Get("license_valid"); (ok && valid.Type() == pcommon.ValueTypeBool && !valid.Bool()) || verdict == checksumMismatch {
		severity = "warning"
	}

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr("service.name", "sirveo")
	putNonEmpty(res, "service.instance.id", instance)
	putNonEmpty(res, "service.version", version)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	lr := sl.LogRecords().AppendEmpty()
	lr.SetEventName(eventType)
	ts := pcommon.NewTimestampFromTime(now)
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(ts)
	setSeverity(lr, severity)
	a := lr.Attributes()
	a.PutStr(requestcontract.AttrContractVersion, "1")
	a.PutStr("event.id", eventID)
	a.PutStr("event.severity", severity)
	if v, ok := payload.Get("instance_id"); ok {
		v.CopyTo(a.PutEmpty("service.instance.id"))
	}

	body := lr.Body().SetEmptyMap()
	body.PutStr("phase", phase)
	known := map[string]bool{}
	for _, f := range sirveoFields {
		known[f.wire] = true
		if v, ok := payload.Get(f.wire); ok {
			v.CopyTo(body.PutEmpty(f.body))
		}
	}
	body.PutStr("checksumStatus", verdict)
	var extra pcommon.Map
	payload.Range(func(k string, v pcommon.Value) bool {
		if !known[k] {
			if extra == (pcommon.Map{}) {
				extra = body.PutEmptyMap("extra")
			}
			v.CopyTo(extra.PutEmpty(k))
		}
		return true
	})
	return ld, lr
}

// strField is a string field of the payload, "" when absent or not a string.
func strField(p pcommon.Map, k string) string {
	if v, ok := p.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

func (r *edgeReceiver) countChecksum(ctx context.Context, result string) {
	r.tel.TfocolEdgeSirveoChecksums.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
}
