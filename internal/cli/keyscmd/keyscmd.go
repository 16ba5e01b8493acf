// Package keyscmd implements `tfocol keys`: mint, list and revoke the API keys a tfo_auth gateway accepts.
// Only a hash of each secret is written; the secret is printed once when the key is created.
package keyscmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
)

// EnvKeysFile is the default for --file.
const EnvKeysFile = "TFOCOL_KEYS_FILE"

// New returns the `keys` command.
func New() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the API keys accepted by the tfo_auth extension",
		Long: "Manage the tfo_auth key file. Keys are sent by clients as X-TelemetryFlow-Key-ID and\n" +
			"X-TelemetryFlow-Key-Secret. The file holds only SHA-256 hashes of the secrets; a running gateway\n" +
			"picks up changes within a second.",
	}
	cmd.AddCommand(newCmd(), listCmd(), revokeCmd())
	return cmd
}

func addFileFlag(cmd *cobra.Command, file *string) {
	cmd.Flags().StringVar(file, "file", os.Getenv(EnvKeysFile), "key file (YAML, or JSON when it ends in .json); default $"+EnvKeysFile)
}

func requireFile(file string) error {
	if file == "" {
		return errors.New("--file is required (or set " + EnvKeysFile + ")")
	}
	return nil
}

func newCmd() *cobra.Command {
	var (
		file, scopes, expires, description, output string
		workspaces                                 []string
	)
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Mint a key: prints its id and secret once and stores only the secret's hash",
		Example: "  tfocol keys new --workspace 0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11 --scopes traces,metrics,logs \\\n" +
			"      --expires 90d --description 'edge agents, site A' --file /etc/tfocol/keys.yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFile(file); err != nil {
				return err
			}
			if len(workspaces) == 0 {
				return errors.New("--workspace is required")
			}
			scopeList := splitList(scopes)
			if len(scopeList) == 0 {
				return errors.New("--scopes is required, e.g. traces,metrics,logs")
			}
			now := time.Now()
			var expiresAt *time.Time
			if expires != "" {
				t, err := parseExpiry(expires, now)
				if err != nil {
					return err
				}
				if !t.After(now) {
					return fmt.Errorf("--expires %q is in the past", expires)
				}
				expiresAt = &t
			}
			unlock, err := keyfile.Lock(file)
			if err != nil {
				return err
			}
			defer unlock()
			f, err := loadOrEmpty(file)
			if err != nil {
				return err
			}
			key, secret, err := keyfile.NewKey(splitAll(workspaces), scopeList, expiresAt, description, now)
			if err != nil {
				return err
			}
			f.Keys = append(f.Keys, key)
			if err := keyfile.Save(file, f); err != nil {
				return err
			}
			return printNewKey(cmd.OutOrStdout(), cmd.ErrOrStderr(), output, file, key, secret)
		},
	}
	addFileFlag(cmd, &file)
	cmd.Flags().StringSliceVar(&workspaces, "workspace", nil, "workspace UUID the key may write to (repeatable or comma-separated; * for all)")
	cmd.Flags().StringVar(&scopes, "scopes", "", "signals the key may ingest: traces,metrics,logs or *")
	cmd.Flags().StringVar(&expires, "expires", "", "expiry: a duration (90d, 720h), a date (2027-01-31) or an RFC 3339 time")
	cmd.Flags().StringVar(&description, "description", "", "free-text note, e.g. who holds the key")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, env (KEY=value lines for scripts) or json")
	return cmd
}

func printNewKey(stdout, stderr io.Writer, output, file string, key keyfile.Key, secret string) error {
	switch output {
	case "env":
		_, err := fmt.Fprintf(stdout, "TELEMETRYFLOW_API_KEY_ID=%s\nTELEMETRYFLOW_API_KEY_SECRET=%s\n", key.ID, secret)
		return err
	case "json":
		return json.NewEncoder(stdout).Encode(map[string]any{
			"key_id": key.ID, "key_secret": secret, "workspaces": key.Workspaces, "scopes": key.Scopes, "expires_at": key.ExpiresAt,
		})
	case "text", "":
		_, err := fmt.Fprintf(stdout, "key_id:     %s\nkey_secret: %s\n", key.ID, secret)
		if err == nil {
			_, err = fmt.Fprintf(stderr, "Added %s to %s. The secret is shown only this once; only its hash was stored.\n", key.ID, file)
		}
		return err
	}
	return fmt.Errorf("unknown --output %q (want text, env or json)", output)
}

func listCmd() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys and their state (never shows secrets or hashes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFile(file); err != nil {
				return err
			}
			f, err := keyfile.Load(file)
			if err != nil {
				return err
			}
			now := time.Now()
			if output == "json" {
				type row struct {
					ID          string     `json:"id"`
					Status      string     `json:"status"`
					Workspaces  []string   `json:"workspaces"`
					Scopes      []string   `json:"scopes"`
					ExpiresAt   *time.Time `json:"expires_at,omitempty"`
					Description string     `json:"description,omitempty"`
				}
				rows := make([]row, 0, len(f.Keys))
				for _, k := range f.Keys {
					rows = append(rows, row{k.ID, string(k.StatusAt(now)), k.Workspaces, k.Scopes, k.ExpiresAt, k.Description})
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tWORKSPACES\tSCOPES\tEXPIRES\tDESCRIPTION")
			for _, k := range f.Keys {
				exp := "never"
				if k.ExpiresAt != nil {
					exp = k.ExpiresAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.StatusAt(now), strings.Join(k.Workspaces, ","),
					strings.Join(k.Scopes, ","), exp, strconv.Quote(k.Description))
			}
			return tw.Flush()
		},
	}
	addFileFlag(cmd, &file)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func revokeCmd() *cobra.Command {
	var (
		file   string
		delete bool
	)
	cmd := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Disable a key (kept in the file for audit; --delete removes it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFile(file); err != nil {
				return err
			}
			unlock, err := keyfile.Lock(file)
			if err != nil {
				return err
			}
			defer unlock()
			f, err := keyfile.Load(file)
			if err != nil {
				return err
			}
			id := args[0]
			k, ok := f.Find(id)
			if !ok {
				return fmt.Errorf("no key %q in %s", id, file)
			}
			if delete {
				kept := f.Keys[:0]
				for _, kk := range f.Keys {
					if kk.ID != id {
						kept = append(kept, kk)
					}
				}
				f.Keys = kept
			} else {
				now := time.Now().UTC().Truncate(time.Second)
				k.Disabled, k.RevokedAt = true, &now
			}
			if err := keyfile.Save(file, f); err != nil {
				return err
			}
			verb := "Revoked"
			if delete {
				verb = "Deleted"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s in %s\n", verb, id, file)
			return err
		},
	}
	addFileFlag(cmd, &file)
	cmd.Flags().BoolVar(&delete, "delete", false, "remove the key from the file instead of disabling it")
	return cmd
}

func loadOrEmpty(file string) (*keyfile.File, error) {
	f, err := keyfile.Load(file)
	if errors.Is(err, fs.ErrNotExist) {
		return &keyfile.File{Version: keyfile.CurrentVersion}, nil
	}
	return f, err
}

// parseExpiry accepts "90d", any Go duration ("720h"), a date ("2027-01-31", midnight UTC) or RFC 3339.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.UTC().Add(time.Duration(n) * 24 * time.Hour).Truncate(time.Second), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.UTC().Add(d).Truncate(time.Second), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--expires %q: want a duration (90d, 720h), a date (2027-01-31) or an RFC 3339 time", s)
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

func splitAll(vals []string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, splitList(v)...)
	}
	return out
}
