// Package tokenscmd implements `tfocol tokens`: the enrollment tokens (EdDSA-signed JWTs) that agents send as
// Authorization: Bearer, with a state file the gateway reads to refuse revoked tokens and rotated tokens whose
// overlap window has ended. Tokens are written to a token file (0600) for the agent and never to the state file.
package tokenscmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/credentials/keyfile"
	"github.com/tfocol/tfocol/internal/credentials/tokenfile"
)

// Environment variables giving the defaults of the flags; the shipped gateway config reads the same ones.
const (
	EnvState        = "TFOCOL_JWT_TOKENS_FILE"
	EnvSigningKey   = "TFOCOL_JWT_SIGNING_KEY_FILE"
	EnvPublicKeys   = "TFOCOL_JWT_PUBLIC_KEYS_FILE"
	EnvIssuer       = "TFOCOL_JWT_ISSUER"
	EnvAudience     = "TFOCOL_JWT_AUDIENCE"
	EnvIngestURL    = "TFOCOL_INGEST_URL"
	DefaultIssuer   = "tfocol"
	DefaultAudience = "tfocol"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// New returns the `tokens` command.
func New() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Issue, rotate and revoke the enrollment tokens accepted by the tfo_auth extension",
		Long: "Enrollment tokens are Ed25519-signed JWTs that agents send as Authorization: Bearer with x-workspace-id.\n" +
			"The gateway verifies them with the public keys file (tfocol tokens keygen) and reads the state file\n" +
			"(--state) to refuse revoked tokens and rotated ones once their overlap window ends; it reloads both on\n" +
			"change. The state file holds token ids and claims only, never a token.",
	}
	cmd.AddCommand(keygenCmd(), issueCmd(), rotateCmd(), listCmd(), revokeCmd())
	return cmd
}

func stateFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "state", os.Getenv(EnvState), "token state file the gateway reads (jwt.tokens_file); default $"+EnvState)
}

func signingKeyFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "signing-key", os.Getenv(EnvSigningKey), "Ed25519 signing key (PEM, from keygen); default $"+EnvSigningKey)
}

func required(name, val, env string) error {
	if val == "" {
		return fmt.Errorf("--%s is required (or set %s)", name, env)
	}
	return nil
}

func keygenCmd() *cobra.Command {
	var signingKey, publicKeys string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create an Ed25519 signing key and add its public key to the gateway's public keys file",
		Long: "Writes the private key (0600) to --signing-key and appends its public key to --public-keys, which the\n" +
			"gateway loads as jwt.public_keys_file and reloads on change. To rotate the signing key, run it again with\n" +
			"--force: the old public key stays in the file so tokens it signed keep verifying until they are rotated;\n" +
			"then remove its PEM block.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required("signing-key", signingKey, EnvSigningKey); err != nil {
				return err
			}
			if err := required("public-keys", publicKeys, EnvPublicKeys); err != nil {
				return err
			}
			if _, err := os.Stat(signingKey); err == nil && !force {
				return fmt.Errorf("%s exists; pass --force to replace it (its public key stays in %s)", signingKey, publicKeys)
			}
			priv, pub, kid, err := tokenfile.GenerateKey()
			if err != nil {
				return err
			}
			unlock, err := keyfile.Lock(publicKeys)
			if err != nil {
				return err
			}
			defer unlock()
			existing, err := os.ReadFile(publicKeys)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if len(existing) > 0 && !bytes.HasSuffix(existing, []byte("\n")) {
				existing = append(existing, '\n')
			}
			// The private key first: a public key without its private key is harmless, the reverse is not.
			if err := atomicfile.WriteFile(signingKey, priv, 0o600); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(publicKeys, append(existing, pub...), 0o644); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "kid:         %s\nsigning_key: %s\npublic_keys: %s\n", kid, signingKey, publicKeys)
			return err
		},
	}
	signingKeyFlag(cmd, &signingKey)
	cmd.Flags().StringVar(&publicKeys, "public-keys", os.Getenv(EnvPublicKeys), "public keys file the gateway loads (jwt.public_keys_file); default $"+EnvPublicKeys)
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing signing key")
	return cmd
}

// enrollment is what an operator hands to an agent, besides the token itself.
type enrollment struct {
	TokenID   string    `json:"token_id"`
	Workspace string    `json:"workspace_id"`
	Role      string    `json:"role,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	IngestURL string    `json:"ingest_url,omitempty"`
	TokenFile string    `json:"token_file,omitempty"`
	Token     string    `json:"token,omitempty"` // only when no token file was written
	// Rotation
	Replaces       string     `json:"replaces,omitempty"`
	OldValidUntil  *time.Time `json:"old_token_valid_until,omitempty"`
	AlreadyRotated bool       `json:"already_rotated,omitempty"`
}

func newEnrollment(t *tokenfile.Token, ingestURL string) enrollment {
	return enrollment{TokenID: t.ID, Workspace: t.Workspace, Role: t.Role, Scopes: t.Scopes, Subject: t.Subject,
		IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt, IngestURL: ingestURL}
}

func printEnrollment(w io.Writer, output string, e enrollment) error {
	switch output {
	case "json":
		return json.NewEncoder(w).Encode(e)
	case "env":
		var b strings.Builder
		fmt.Fprintf(&b, "TELEMETRYFLOW_TOKEN_ID=%s\nTELEMETRYFLOW_WORKSPACE_ID=%s\nTELEMETRYFLOW_TOKEN_EXPIRES_AT=%s\n",
			e.TokenID, e.Workspace, e.ExpiresAt.Format(time.RFC3339))
		if e.IngestURL != "" {
			fmt.Fprintf(&b, "TELEMETRYFLOW_ENDPOINT=%s\n", e.IngestURL)
		}
		if e.TokenFile != "" {
			fmt.Fprintf(&b, "TELEMETRYFLOW_TOKEN_FILE=%s\n", e.TokenFile)
		}
		if e.Token != "" {
			fmt.Fprintf(&b, "TELEMETRYFLOW_TOKEN=%s\n", e.Token)
		}
		_, err := io.WriteString(w, b.String())
		return err
	case "text", "":
		tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
		fmt.Fprintf(tw, "token_id:\t%s\n", e.TokenID)
		if e.AlreadyRotated {
			fmt.Fprintf(tw, "note:\talready rotated under this rotation key; no new token was issued\n")
		}
		if e.Replaces != "" {
			fmt.Fprintf(tw, "replaces:\t%s (accepted until %s)\n", e.Replaces, e.OldValidUntil.Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "workspace_id:\t%s\n", e.Workspace)
		if e.Role != "" {
			fmt.Fprintf(tw, "role:\t%s\n", e.Role)
		}
		if len(e.Scopes) > 0 {
			fmt.Fprintf(tw, "scopes:\t%s\n", strings.Join(e.Scopes, ","))
		}
		fmt.Fprintf(tw, "expires_at:\t%s\n", e.ExpiresAt.Format(time.RFC3339))
		if e.IngestURL != "" {
			fmt.Fprintf(tw, "ingest_url:\t%s\n", e.IngestURL)
		}
		fmt.Fprintf(tw, "send:\tAuthorization: Bearer <token>, x-workspace-id: %s, Idempotency-Key: <uuid> (tfo_auth/agent adds all three)\n", e.Workspace)
		if e.TokenFile != "" {
			fmt.Fprintf(tw, "token_file:\t%s (agent: tfo_auth/agent token_file, TELEMETRYFLOW_TOKEN_FILE)\n", e.TokenFile)
		}
		if e.Token != "" {
			fmt.Fprintf(tw, "token:\t%s\n", e.Token)
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown --output %q (want text, env or json)", output)
}

// writeToken writes the token file for the agent (0600, atomic: the agent re-reads it on change).
func writeToken(path, token string) error {
	return atomicfile.WriteFile(path, []byte(token+"\n"), 0o600)
}

func issueCmd() *cobra.Command {
	var (
		state, signingKey, workspace, role, scopes, ttl, subject, issuer, audience, tokenFile, ingestURL, description, output string
	)
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue an enrollment token for one workspace and record it in the state file",
		Example: "  tfocol tokens issue --workspace 0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11 --role edge-agent \\\n" +
			"      --scopes traces,metrics,logs --ttl 720h --subject host-01 --token-file /etc/tfocol/agent.token",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required("state", state, EnvState); err != nil {
				return err
			}
			if err := required("signing-key", signingKey, EnvSigningKey); err != nil {
				return err
			}
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			scopeList := splitList(scopes)
			if len(scopeList) == 0 && role == "" {
				return errors.New("--scopes or --role is required (the gateway maps roles to signals with jwt.role_scopes)")
			}
			life, err := parseDuration("ttl", ttl)
			if err != nil {
				return err
			}
			priv, err := tokenfile.LoadSigningKey(signingKey)
			if err != nil {
				return err
			}
			st, unlock, err := lockedState(state, tokenfile.LoadOrEmpty)
			if err != nil {
				return err
			}
			defer unlock()
			id, err := tokenfile.NewID()
			if err != nil {
				return err
			}
			now := time.Now().UTC().Truncate(time.Second)
			t := tokenfile.Token{ID: id, Workspace: workspace, Subject: subject, Role: role, Scopes: scopeList,
				Issuer: issuer, Audience: audience, IssuedAt: now, ExpiresAt: now.Add(life), Description: description}
			st.Tokens = append(st.Tokens, t)
			if err := st.Validate(); err != nil {
				return err
			}
			token, err := tokenfile.Sign(&t, priv)
			if err != nil {
				return err
			}
			if err := tokenfile.Save(state, st); err != nil {
				return err
			}
			e := newEnrollment(&t, ingestURL)
			if tokenFile != "" {
				if err := writeToken(tokenFile, token); err != nil {
					return err
				}
				e.TokenFile = tokenFile
			} else {
				e.Token = token
				fmt.Fprintln(cmd.ErrOrStderr(), "The token is shown only this once (pass --token-file to write it to a 0600 file instead).")
			}
			return printEnrollment(cmd.OutOrStdout(), output, e)
		},
	}
	stateFlag(cmd, &state)
	signingKeyFlag(cmd, &signingKey)
	cmd.Flags().StringVar(&workspace, "workspace", "", "workspace UUID the token writes to (sent as x-workspace-id)")
	cmd.Flags().StringVar(&role, "role", "edge-agent", "role claim, mapped to signals by the gateway's jwt.role_scopes")
	cmd.Flags().StringVar(&scopes, "scopes", "", "signals the token grants: traces,metrics,logs or * (in addition to the role's)")
	cmd.Flags().StringVar(&ttl, "ttl", "720h", "lifetime: a duration (720h) or days (30d)")
	cmd.Flags().StringVar(&subject, "subject", "", "sub claim, e.g. the agent's host name")
	cmd.Flags().StringVar(&issuer, "issuer", envOr(EnvIssuer, DefaultIssuer), "iss claim; must match the gateway's jwt.issuer (default $"+EnvIssuer+" or "+DefaultIssuer+")")
	cmd.Flags().StringVar(&audience, "audience", envOr(EnvAudience, DefaultAudience), "aud claim; must match the gateway's jwt.audience (default $"+EnvAudience+" or "+DefaultAudience+")")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "write the token to this file (0600) instead of printing it")
	cmd.Flags().StringVar(&ingestURL, "ingest-url", os.Getenv(EnvIngestURL), "the gateway's OTLP/HTTP URL to hand to the agent; default $"+EnvIngestURL)
	cmd.Flags().StringVar(&description, "description", "", "free-text note kept in the state file")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, env or json")
	return cmd
}

func rotateCmd() *cobra.Command {
	var state, signingKey, tokenFile, rotationKey, overlap, ttl, ingestURL, output string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the token in a token file; the old one keeps working for --overlap (idempotent per --rotation-key)",
		Long: "Issues a new token with the same workspace, role and scopes as the one in --token-file, writes it to the\n" +
			"token file (the agent re-reads it) and records that the old token is accepted until now + --overlap.\n" +
			"Running it again with the same --rotation-key issues nothing new: it writes the same new token again.",
		Example: "  tfocol tokens rotate --token-file /etc/tfocol/agent.token --rotation-key 2026-12-rollover --overlap 24h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required("state", state, EnvState); err != nil {
				return err
			}
			if err := required("signing-key", signingKey, EnvSigningKey); err != nil {
				return err
			}
			if tokenFile == "" || rotationKey == "" {
				return errors.New("--token-file and --rotation-key are required")
			}
			grace, err := parseDuration("overlap", overlap)
			if err != nil && overlap != "0" {
				return err
			}
			priv, err := tokenfile.LoadSigningKey(signingKey)
			if err != nil {
				return err
			}
			st, unlock, err := lockedState(state, tokenfile.Load)
			if err != nil {
				return err
			}
			defer unlock()
			raw, err := os.ReadFile(tokenFile)
			if err != nil {
				return err
			}
			current := strings.TrimSpace(string(raw))
			curID, err := tokenfile.TokenID(current)
			if err != nil {
				return fmt.Errorf("%s: %w", tokenFile, err)
			}

			var life time.Duration
			if ttl != "" {
				if life, err = parseDuration("ttl", ttl); err != nil {
					return err
				}
			}
			rot, err := st.Rotate(rotationKey, curID, grace, life, time.Now())
			switch {
			case errors.Is(err, tokenfile.ErrUnknownToken):
				return fmt.Errorf("token %s (in %s) is not in %s", curID, tokenFile, state)
			case errors.Is(err, tokenfile.ErrNotActive):
				return fmt.Errorf("%w; issue a new one with `tfocol tokens issue`", err)
			case errors.Is(err, tokenfile.ErrRotationKeyReused):
				return fmt.Errorf("%w; %s holds %s", err, tokenFile, curID)
			case err != nil:
				return err
			}
			token, err := tokenfile.Sign(rot.New, priv)
			if err != nil {
				return err
			}
			// State first: if the token file write fails, the same command (same rotation key) finishes the job.
			if !rot.Again {
				if err := tokenfile.Save(state, st); err != nil {
					return err
				}
			}
			if token != current {
				if err := writeToken(tokenFile, token); err != nil {
					return err
				}
			}
			e := newEnrollment(rot.New, ingestURL)
			until := rot.OldValidUntil
			e.TokenFile, e.Replaces, e.OldValidUntil, e.AlreadyRotated = tokenFile, rot.Old.ID, &until, rot.Again
			return printEnrollment(cmd.OutOrStdout(), output, e)
		},
	}
	stateFlag(cmd, &state)
	signingKeyFlag(cmd, &signingKey)
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "the agent's token file: read, and replaced with the new token")
	cmd.Flags().StringVar(&rotationKey, "rotation-key", "", "idempotency key of this rotation: the same key never rotates twice")
	cmd.Flags().StringVar(&overlap, "overlap", "24h", "how long the old token keeps working (0 = refused at once)")
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime of the new token (default: the old token's)")
	cmd.Flags().StringVar(&ingestURL, "ingest-url", os.Getenv(EnvIngestURL), "printed for the agent; default $"+EnvIngestURL)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, env or json")
	return cmd
}

func listCmd() *cobra.Command {
	var state, output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List issued tokens and their state (never shows tokens)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required("state", state, EnvState); err != nil {
				return err
			}
			st, err := tokenfile.Load(state)
			if err != nil {
				return err
			}
			now := time.Now()
			type row struct {
				ID         string     `json:"id"`
				Status     string     `json:"status"`
				Workspace  string     `json:"workspace_id"`
				Role       string     `json:"role,omitempty"`
				Scopes     []string   `json:"scopes,omitempty"`
				Subject    string     `json:"subject,omitempty"`
				ExpiresAt  time.Time  `json:"expires_at"`
				NotAfter   *time.Time `json:"not_after,omitempty"`
				ReplacedBy string     `json:"replaced_by,omitempty"`
			}
			rows := make([]row, 0, len(st.Tokens))
			for _, t := range st.Tokens {
				rows = append(rows, row{t.ID, string(t.StatusAt(now)), t.Workspace, t.Role, t.Scopes, t.Subject, t.ExpiresAt, t.NotAfter, t.ReplacedBy})
			}
			if output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tWORKSPACE\tROLE\tSCOPES\tSUBJECT\tEXPIRES\tUNTIL\tREPLACED_BY")
			for _, r := range rows {
				until := "-"
				if r.NotAfter != nil {
					until = r.NotAfter.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Workspace, dash(r.Role),
					dash(strings.Join(r.Scopes, ",")), strconv.Quote(r.Subject), r.ExpiresAt.UTC().Format(time.RFC3339), until, dash(r.ReplacedBy))
			}
			return tw.Flush()
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func revokeCmd() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "revoke TOKEN_ID",
		Short: "Revoke a token: the gateway refuses it from its next reload (within a second)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required("state", state, EnvState); err != nil {
				return err
			}
			st, unlock, err := lockedState(state, tokenfile.Load)
			if err != nil {
				return err
			}
			defer unlock()
			t, ok := st.Find(args[0])
			if !ok {
				return fmt.Errorf("no token %q in %s", args[0], state)
			}
			if t.RevokedAt == nil {
				now := time.Now().UTC().Truncate(time.Second)
				t.RevokedAt = &now
				if err := tokenfile.Save(state, st); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s in %s\n", t.ID, state)
			return err
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

// parseDuration accepts Go durations (720h) and days (30d); positive only.
func parseDuration(flag, s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("--%s %q: want a positive duration (720h, 30d)", flag, s)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// lockedState takes the state file's lock (edits by concurrent `tfocol tokens` runs are serialised, as for the
// keys file) and loads it; the caller releases the lock when its edit is saved.
func lockedState(path string, load func(string) (*tokenfile.State, error)) (*tokenfile.State, func(), error) {
	unlock, err := tokenfile.Lock(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := load(path)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return st, unlock, nil
}
