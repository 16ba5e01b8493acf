package receiptscmd

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/query"
)

func listCmd() *cobra.Command {
	var sel selection
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List receipts in time order, optionally by --type and time range [--from, --to) (more filters: query)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := sel.buildFilter()
			if err != nil {
				return err
			}
			matches, err := sel.scan(cmd, f, false)
			if err != nil {
				return err
			}
			return writeTable(cmd.OutOrStdout(), listColumns, matches)
		},
	}
	sel.addDirFlags(cmd.Flags())
	cmd.Flags().StringSliceVar(&sel.types, "type", nil, "receipt types, e.g. obs_log_batch (several: a,b)")
	sel.addTimeFlags(cmd.Flags())
	return cmd
}

var listColumns = []column[query.Match]{
	{"workspace", func(m query.Match) string { return m.Receipt.Workspace }},
	{"seq", func(m query.Match) string { return strconv.FormatUint(m.Receipt.Seq, 10) }},
	{"type", func(m query.Match) string { return m.Receipt.Type }},
	{"id", func(m query.Match) string { return m.Receipt.ID }},
	{"time", func(m query.Match) string { return receipts.FormatTime(m.Time) }},
	{"records", func(m query.Match) string { return strconv.FormatUint(m.Receipt.LeafCount, 10) }},
	{"storage", func(m query.Match) string {
		if m.Receipt.StoragePath == "" {
			return "(embedded)"
		}
		return m.Receipt.StoragePath
	}},
}
