package receiptscmd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/timeline"
)

func correlateCmd() *cobra.Command {
	var sel selection
	var at, window, output string
	var metrics []string
	cmd := &cobra.Command{
		Use:   "correlate",
		Short: "Timeline of receipts and sealed records (alerts, traces, error logs, metric extremes) around a moment",
		Long: "Print, sorted by time, what the scrolls hold within --window either side of --timestamp: batch windows\n" +
			"that overlap it, alerts, significant traces, every sealed ERROR/FATAL log record and, per metric series,\n" +
			"its highest and lowest value. Only the batch files of windows in the range are read. See\n" +
			"docs/receipts-cli.md.",
		Example: "  tfocol receipts correlate --dir /var/lib/tfocol/receipts --timestamp 2025-12-06T14:35:00Z --window 15m\n" +
			"  tfocol receipts correlate --timestamp 2025-12-06T14:35:00Z --node brick-02 --metric 'system.cpu.*' -o jsonl",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, outTable, outJSONL); err != nil {
				return err
			}
			t, err := parseTimeFlag(at)
			if err != nil {
				return err
			}
			if t.IsZero() {
				return errors.New("--timestamp is required")
			}
			w, err := parseDuration("window", window)
			if err != nil {
				return err
			}
			f, err := sel.buildFilter()
			if err != nil {
				return err
			}
			f.From, f.To, f.Overlap = t.Add(-w), t.Add(w), true
			matches, err := sel.scan(cmd, f, false)
			if err != nil {
				return err
			}
			events, err := timeline.Build(matches, timeline.Options{From: f.From, To: f.To, Nodes: sel.nodes, Services: sel.services,
				Metrics: metrics, Warn: func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "note:", msg) }})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == outJSONL {
				bw := bufio.NewWriter(out)
				enc := json.NewEncoder(bw)
				enc.SetEscapeHTML(false)
				for _, e := range events {
					if err := enc.Encode(e); err != nil {
						return err
					}
				}
				return bw.Flush()
			}
			fmt.Fprintf(out, "Timeline around %s (±%s), %d events:\n", receipts.FormatTime(t), window, len(events))
			return writeTable(out, eventColumns, events)
		},
	}
	fs := cmd.Flags()
	sel.addDirFlags(fs)
	fs.StringVar(&at, "timestamp", "", "the moment to look around, RFC 3339 (required)")
	fs.StringVar(&window, "window", "15m", "how far either side of --timestamp, e.g. 15m, 2h, 1d")
	sel.addWhereFlags(fs)
	fs.StringSliceVar(&metrics, "metric", nil, "only these metric names for extremes (glob patterns; several: a,b)")
	fs.StringVarP(&output, "output", "o", outTable, "table or jsonl")
	return cmd
}

var eventColumns = []column[timeline.Event]{
	{"time", func(e timeline.Event) string { return receipts.FormatTime(e.Time) }},
	{"kind", func(e timeline.Event) string { return e.Kind }},
	{"instance", func(e timeline.Event) string { return e.Instance }},
	{"workspace", func(e timeline.Event) string { return e.Workspace }},
	{"receipt", func(e timeline.Event) string {
		if e.Record != nil {
			return e.Receipt + "#" + strconv.Itoa(*e.Record)
		}
		return e.Receipt
	}},
	{"what", func(e timeline.Event) string { return e.Text }},
}
