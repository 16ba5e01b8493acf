package receiptscmd

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/query"
)

func queryCmd() *cobra.Command {
	var sel selection
	var output string
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Select receipts of one or many scrolls by type, time, node, service, workspace and a field expression",
		Long: "Print the receipts that pass every filter, in time order (a batch's time is its window start, an\n" +
			"alert's and a trace's their event time), as a table, JSON lines (each with the receipt line exactly as\n" +
			"stored) or CSV. --dir may be repeated: exporter directories, single scrolls, several replicas' directories.\n" +
			"It reads only the receipt logs; `verify` checks them. See docs/receipts-cli.md.",
		Example: "  tfocol receipts query --dir /var/lib/tfocol/receipts --type log_batch --filter 'log_counts.error > 0'\n" +
			"  tfocol receipts query --type trace_complete --filter 'duration_ms > 5000' --last 24h -o jsonl\n" +
			"  tfocol receipts query --dir gw-1/receipts --dir gw-2/receipts --type alert_fired --node brick-02 -o csv",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, outTable, outJSONL, outCSV); err != nil {
				return err
			}
			f, err := sel.buildFilter()
			if err != nil {
				return err
			}
			matches, err := sel.scan(cmd, f, output == outJSONL)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch output {
			case outJSONL:
				return writeMatchLines(out, matches)
			case outCSV:
				return writeCSV(out, queryColumns, matches)
			default:
				return writeTable(out, queryColumns, matches)
			}
		},
	}
	fs := cmd.Flags()
	sel.addDirFlags(fs)
	fs.StringSliceVar(&sel.types, "type", nil, "receipt types, with or without obs_ (several: log_batch,trace_complete)")
	sel.addTimeFlags(fs)
	sel.addQueryFlags(fs)
	sel.addWhereFlags(fs)
	fs.StringVarP(&output, "output", "o", outTable, "table, jsonl or csv")
	return cmd
}

// matchLine is one JSON line of `query -o jsonl`: where the receipt is, and the receipt line as stored.
type matchLine struct {
	Time     string          `json:"time"`
	Instance string          `json:"instance"`
	Scroll   string          `json:"scroll"`
	Line     int             `json:"line"`
	Receipt  json.RawMessage `json:"receipt"`
}

func writeMatchLines(w io.Writer, matches []query.Match) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, m := range matches {
		if err := enc.Encode(matchLine{Time: receipts.FormatTime(m.Time), Instance: m.Scroll.Instance, Scroll: m.Scroll.Dir,
			Line: m.Line, Receipt: m.Raw}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// errorCount is what a receipt counts as errors: error and fatal logs, or error spans.
func errorCount(r *receipts.Receipt) string {
	if r.LogCounts != nil {
		return strconv.FormatUint(r.LogCounts.Error+r.LogCounts.Fatal, 10)
	}
	if r.Type == receipts.TypeTraceBatch || r.Type == receipts.TypeTraceComplete {
		return strconv.FormatUint(r.ErrorSpans, 10)
	}
	return ""
}

func oneOrList(one string, many []string) string {
	if one != "" {
		return one
	}
	return strings.Join(many, ",")
}

// queryColumns are the columns of `query` tables and CSV, the same for every receipt type (empty where a type
// has no such field) so that a CSV of mixed types stays rectangular.
var queryColumns = []column[query.Match]{
	{"time", func(m query.Match) string { return receipts.FormatTime(m.Time) }},
	{"instance", func(m query.Match) string { return m.Scroll.Instance }},
	{"workspace", func(m query.Match) string { return m.Receipt.Workspace }},
	{"seq", func(m query.Match) string { return strconv.FormatUint(m.Receipt.Seq, 10) }},
	{"type", func(m query.Match) string { return m.Receipt.Type }},
	{"id", func(m query.Match) string { return m.Receipt.ID }},
	{"records", func(m query.Match) string { return strconv.FormatUint(m.Receipt.LeafCount, 10) }},
	{"errors", func(m query.Match) string { return errorCount(m.Receipt) }},
	{"duration_ms", func(m query.Match) string {
		if m.Receipt.Type != receipts.TypeTraceComplete {
			return ""
		}
		return strconv.FormatInt(m.Receipt.DurationMs, 10)
	}},
	{"status", func(m query.Match) string { return oneOrList(m.Receipt.Status, []string{m.Receipt.Severity}) }},
	{"name", func(m query.Match) string { return m.Receipt.Name }},
	{"services", func(m query.Match) string { return oneOrList(m.Receipt.Service, m.Receipt.ServicesReporting) }},
	{"nodes", func(m query.Match) string { return oneOrList(m.Receipt.Node, m.Receipt.NodesReporting) }},
}
