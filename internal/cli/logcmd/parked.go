package logcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

// parkedCmd is `tfocol log parked list|replay`: the entries tfo_log receivers gave up on (park settings). Both
// work while the collector runs (no lock: replay renames files the receiver picks up within a second).
func parkedCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "parked",
		Short: "List or replay the entries a consumer parked after its retry bound (works while the collector runs)",
	}
	cmd.AddCommand(parkedListCmd(), parkedReplayCmd())
	return cmd
}

// parkedStores opens the parked stores of consumer (all of them when empty) under the log in dir.
func parkedStores(dir, consumer string) (map[string]*durablelog.ParkedStore, error) {
	if err := requireDir(dir); err != nil {
		return nil, err
	}
	names := []string{consumer}
	if consumer == "" {
		var err error
		if names, err = durablelog.ParkedConsumers(dir); err != nil {
			return nil, usage(err)
		}
	} else if !durablelog.ValidCursorName(consumer) {
		return nil, usage(fmt.Errorf("invalid consumer name %q", consumer))
	}
	out := map[string]*durablelog.ParkedStore{}
	for _, n := range names {
		s, err := durablelog.OpenParked(durablelog.ParkedDir(dir, n))
		if err != nil {
			return nil, usage(err)
		}
		out[n] = s
	}
	return out, nil
}

type parkedRow struct {
	Consumer string    `json:"consumer"`
	Seq      uint64    `json:"seq"`
	Signal   string    `json:"signal"`
	Bytes    int       `json:"bytes"`
	Arrival  time.Time `json:"arrival"`
	ParkedAt time.Time `json:"parked_at"`
	State    string    `json:"state"` // parked | replaying
	Reason   string    `json:"reason"`
}

func parkedListCmd() *cobra.Command {
	var dir, consumer string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List parked entries (seq, signal, size, when and why) and those waiting for replay",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stores, err := parkedStores(dir, consumer)
			if err != nil {
				return err
			}
			rows := []parkedRow{}
			var damaged []string
			for _, name := range sortedKeys(stores) {
				for _, replay := range []bool{false, true} {
					es, dmg, err := stores[name].List(replay)
					if err != nil {
						return usage(err)
					}
					damaged = append(damaged, dmg...)
					state := "parked"
					if replay {
						state = "replaying"
					}
					for _, e := range es {
						rows = append(rows, parkedRow{Consumer: name, Seq: e.Seq, Signal: loghost.SignalName(e.Type), Bytes: len(e.Payload),
							Arrival: time.Unix(0, e.Arrival).UTC(), ParkedAt: e.ParkedAt.UTC(), State: state, Reason: e.Reason})
					}
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					Entries []parkedRow `json:"entries"`
					Damaged []string    `json:"damaged,omitempty"`
				}{rows, damaged}); err != nil {
					return usage(err)
				}
			} else {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CONSUMER\tSEQ\tSIGNAL\tBYTES\tPARKED AT\tSTATE\tREASON")
				total := 0
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", r.Consumer, r.Seq, r.Signal, r.Bytes, r.ParkedAt.Format(time.RFC3339), r.State, r.Reason)
					total += r.Bytes
				}
				tw.Flush()
				fmt.Fprintf(w, "%d entries, %d bytes of payload\n", len(rows), total)
				for _, d := range damaged {
					fmt.Fprintf(w, "DAMAGED %s (left in place)\n", d)
				}
			}
			if len(damaged) > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("%d parked files are damaged", len(damaged))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "log directory (the tfo_log extension's directory)")
	cmd.Flags().StringVar(&consumer, "consumer", "", "one consumer (cursor name, e.g. tfo_log/forward); default all")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func parkedReplayCmd() *cobra.Command {
	var dir, consumer string
	cmd := &cobra.Command{
		Use:   "replay [SEQ...]",
		Short: "Hand parked entries (all, or the given seqs) back to their consumer, which forwards them again",
		Long: "Moves parked entries into the consumer's replay/ directory. A running consumer delivers them within a\n" +
			"second (a stopped one at its next start), with its retries and its park bound: an entry that fails\n" +
			"again is parked again. A delivered entry is deleted; the destination deduplicates a replay that a crash\n" +
			"repeats by its Idempotency-Key (derived from the request body).",
		RunE: func(cmd *cobra.Command, args []string) error {
			var seqs []uint64
			for _, a := range args {
				s, err := strconv.ParseUint(a, 10, 64)
				if err != nil || s == 0 {
					return usage(fmt.Errorf("bad seq %q", a))
				}
				seqs = append(seqs, s)
			}
			if len(seqs) > 0 && consumer == "" {
				return usage(errors.New("--consumer is required with seqs"))
			}
			stores, err := parkedStores(dir, consumer)
			if err != nil {
				return err
			}
			total := 0
			for _, name := range sortedKeys(stores) {
				moved, err := stores[name].Replay(seqs)
				total += len(moved)
				if len(moved) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %d entries handed back for replay\n", name, len(moved))
				}
				if err != nil {
					return usage(err)
				}
			}
			if total == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing parked")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "log directory (the tfo_log extension's directory)")
	cmd.Flags().StringVar(&consumer, "consumer", "", "one consumer (cursor name, e.g. tfo_log/forward); default all")
	return cmd
}

func sortedKeys(m map[string]*durablelog.ParkedStore) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
