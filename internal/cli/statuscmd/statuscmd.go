// Package statuscmd implements `tfocol status`: the gateway's engine status and ingest status from its tfo_status
// endpoint (components/extension/tfostatusextension), as a table or JSON.
package statuscmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tfocol/tfocol/internal/ingeststatus"
)

// Exit codes: 0 ready, 1 the engine is not ready (degraded, starting, stopping), 2 the status could not be read
// (unreachable, refused credentials, not a status endpoint).
const (
	exitNotReady   = 1
	exitUnreadable = 2
)

// ExitError carries the exit status the command asks for.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the exit status the command asks for.
func (e *ExitError) ExitCode() int { return e.Code }

// Output is what `tfocol status --json` prints.
type Output struct {
	Engine *ingeststatus.EngineStatus `json:"engine"`
	Ingest *ingeststatus.Report       `json:"ingest"`
}

type options struct {
	endpoint  string
	tokenFile string
	workspace string
	caFile    string
	timeout   time.Duration
	asJSON    bool
}

// New returns the `status` command.
func New() *cobra.Command {
	o := options{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the gateway's engine status and the last 24 h of ingest per workspace",
		Long: "Query a running gateway's tfo_status endpoint: engine status (version, instance, ready or degraded and\n" +
			"why), then per workspace the accepted batches and records, contract rejections by type and reason,\n" +
			"duplicates absorbed by Idempotency-Key, receipts sealed and windows pending, each agent's last heartbeat\n" +
			"and state, and the upstream's pending entries and failed deliveries.\n\n" +
			"Credentials, first found: the admin token file (--token-file; by default the gateway's, which needs read\n" +
			"access to its data directory), a TelemetryFlow API key (TELEMETRYFLOW_API_KEY_ID / _SECRET) or an\n" +
			"enrollment token file (TELEMETRYFLOW_TOKEN_FILE); workspace credentials see their workspace only.\n\n" +
			"Exit status: 0 ready, 1 the engine is degraded (or starting, stopping), 2 the status could not be read.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := run(cmd, o)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "tfocol status:", err)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.endpoint, "endpoint", envOr("TFOCOL_STATUS_ENDPOINT", "127.0.0.1:13134"),
		"status endpoint: host:port or URL (env TFOCOL_STATUS_ENDPOINT)")
	cmd.Flags().StringVar(&o.tokenFile, "token-file", defaultTokenFile(), "admin token file (env TFOCOL_STATUS_TOKEN_FILE, else <TFOCOL_DATA_DIR>/status/admin.token)")
	cmd.Flags().StringVar(&o.workspace, "workspace", "", "show this workspace only")
	cmd.Flags().StringVar(&o.caFile, "ca-file", "", "CA bundle for an https endpoint")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Second, "time limit for each request")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print both documents as JSON")
	return cmd
}

func run(cmd *cobra.Command, o options) error {
	c, err := newClient(o, cmd.Flags().Changed("token-file"))
	if err != nil {
		return &ExitError{Code: exitUnreadable, Err: err}
	}
	out := Output{}
	if out.Engine, err = c.engineStatus(); err != nil {
		return &ExitError{Code: exitUnreadable, Err: err}
	}
	if out.Ingest, err = c.ingestStatus(o.workspace); err != nil {
		return &ExitError{Code: exitUnreadable, Err: err}
	}
	w := cmd.OutOrStdout()
	if o.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printOutput(w, &out)
	}
	if out.Engine.Status != ingeststatus.EngineReady {
		return &ExitError{Code: exitNotReady, Err: fmt.Errorf("engine is %s", out.Engine.Status)}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultTokenFile resolves the gateway's admin_token_file the way configs/gateway.yaml does: TFOCOL_STATUS_TOKEN_FILE,
// relative to <TFOCOL_DATA_DIR>/status.
func defaultTokenFile() string {
	p := envOr("TFOCOL_STATUS_TOKEN_FILE", "admin.token")
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(envOr("TFOCOL_DATA_DIR", "/var/lib/tfocol"), "status", p)
}

// readSecretFile returns the trimmed content of path.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", errors.New(path + " is empty")
	}
	return s, nil
}
