// Package logcmd implements `tfocol log`: check, repair and inspect the gateway's durable log
// (internal/durablelog) offline.
package logcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tfocol/tfocol/internal/durablelog"
)

// ExitError carries the process exit code a subcommand asks for: 1 when the log is damaged, 2 on usage or
// I/O errors.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the exit status the command asks for.
func (e *ExitError) ExitCode() int { return e.Code }

func usage(err error) error { return &ExitError{Code: 2, Err: err} }

// New returns the `log` command.
func New() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Check, repair and inspect a durable log; list and replay parked entries",
		Long: "Work with a durable log directory (the tfo_log extension's directory, gateway or agent). check and\n" +
			"cursors only read; repair salvages every intact entry and copies damaged bytes to DIR/damaged/; those\n" +
			"refuse while a running collector holds the log's lock. parked list|replay work while it runs.",
		SilenceUsage: true,
	}
	cmd.AddCommand(checkCmd(), repairCmd(), cursorsCmd(), dropCursorCmd(), parkedCmd())
	return cmd
}

func requireDir(dir string) error {
	if dir == "" {
		return usage(errors.New("--dir is required"))
	}
	return nil
}

func printReport(w io.Writer, dir string, rep *durablelog.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Dir   string `json:"dir"`
			Clean bool   `json:"clean"`
			*durablelog.Report
		}{dir, rep.Clean(), rep})
	}
	fmt.Fprintf(w, "%s: %d segments, %d entries", dir, rep.Segments, rep.Entries)
	if rep.Entries > 0 {
		fmt.Fprintf(w, " (seq %d..%d)", rep.FirstSeq, rep.LastSeq)
	}
	fmt.Fprintln(w)
	if t := rep.TornTail; t != nil {
		fmt.Fprintf(w, "TORN TAIL %s: bytes %d+%d after seq %d (unacknowledged crash tail, no entries lost)", t.Segment, t.Offset, t.Length, t.AfterSeq)
		if t.SavedTo != "" {
			fmt.Fprintf(w, ", cut, saved to %s", t.SavedTo)
		}
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Damaged) > 0 {
		fmt.Fprintln(tw, "DAMAGED\tSEGMENT\tOFFSET\tLENGTH\tAFTER SEQ\tBEFORE SEQ\tLOST\tSAVED TO")
		for _, d := range rep.Damaged {
			fmt.Fprintf(tw, "\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", d.Segment, d.Offset, d.Length, d.AfterSeq, d.BeforeSeq, d.LostEntries, d.SavedTo)
		}
	}
	tw.Flush()
	if len(rep.Damaged) > 0 {
		fmt.Fprintf(w, "%d damaged ranges, %d entries lost\n", len(rep.Damaged), rep.LostEntries())
	}
	for _, k := range rep.KeyIndexDamaged {
		fmt.Fprintf(w, "KEY INDEX DAMAGED %s (its keys no longer deduplicate)\n", k)
	}
	for _, c := range rep.CursorDamaged {
		fmt.Fprintf(w, "CURSOR DAMAGED %s (restarts at the oldest retained entry)\n", c)
	}
	if rep.Clean() {
		fmt.Fprintln(w, "clean")
	}
	return nil
}

func checkCmd() *cobra.Command {
	return reportCmd("check", "Scan a durable log without changing it (exit 0 clean, 1 damaged or torn, 2 error)",
		durablelog.Check, func(dir string, rep *durablelog.Report) error {
			if !rep.Clean() {
				return &ExitError{Code: 1, Err: fmt.Errorf("%s is damaged; run `tfocol log repair --dir %s` to salvage", dir, dir)}
			}
			return nil
		})
}

func repairCmd() *cobra.Command {
	return reportCmd("repair", "Salvage every intact entry: cut a torn tail, rewrite damaged segments, move damaged bytes to DIR/damaged/",
		func(dir string) (*durablelog.Report, error) {
			rep, err := durablelog.Repair(dir)
			if errors.Is(err, durablelog.ErrLocked) {
				err = fmt.Errorf("%w (stop the gateway first)", err)
			}
			return rep, err
		}, func(string, *durablelog.Report) error { return nil })
}

// reportCmd is a command that runs op on --dir, prints its report (text or --json), then returns verdict's answer.
func reportCmd(use, short string, op func(dir string) (*durablelog.Report, error),
	verdict func(dir string, rep *durablelog.Report) error,
) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDir(dir); err != nil {
				return err
			}
			rep, err := op(dir)
			if err != nil {
				return usage(err)
			}
			if err := printReport(cmd.OutOrStdout(), dir, rep, asJSON); err != nil {
				return usage(err)
			}
			return verdict(dir, rep)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "log directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func cursorsCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "cursors",
		Short: "List the log's cursors with their committed position and lag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDir(dir); err != nil {
				return err
			}
			rep, err := durablelog.Check(dir)
			if err != nil {
				return usage(err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCOMMITTED\tLAG ENTRIES\tLAG BYTES")
			for _, c := range rep.Cursors {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", c.Name, c.Committed, c.LagEntries, c.LagBytes)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "log directory")
	return cmd
}

func dropCursorCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "drop-cursor NAME",
		Short: "Delete a cursor so it no longer holds back reclaim of the log's segments",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usage(errors.New("drop-cursor takes exactly one cursor NAME"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireDir(dir); err != nil {
				return err
			}
			l, _, err := durablelog.Open(durablelog.Options{Dir: dir, OnCorruption: durablelog.PolicyFail})
			if err != nil {
				return usage(err)
			}
			if err := l.DropCursor(args[0]); err != nil {
				l.Close()
				return usage(err)
			}
			if err := l.Close(); err != nil {
				return usage(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dropped cursor %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "log directory")
	return cmd
}
