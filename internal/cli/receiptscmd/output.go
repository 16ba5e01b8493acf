package receiptscmd

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Output formats of query and correlate.
const (
	outTable = "table"
	outJSONL = "jsonl"
	outCSV   = "csv"
)

func checkOutput(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return fmt.Errorf("--output %q: want %s", format, strings.Join(allowed, ", "))
}

// column is one column of a table or CSV: its header and how a row renders in it.
type column[T any] struct {
	name  string
	value func(T) string
}

// writeTable writes aligned columns with upper-case headers; empty cells show as "-".
func writeTable[T any](w io.Writer, cols []column[T], rows []T) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cells := make([]string, len(cols))
	for i, c := range cols {
		cells[i] = strings.ToUpper(c.name)
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
	for _, r := range rows {
		for i, c := range cols {
			v := strings.NewReplacer("\t", " ", "\n", " ").Replace(c.value(r))
			if v == "" {
				v = "-"
			}
			cells[i] = v
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// writeCSV writes RFC 4180 CSV with the column names as header; empty cells stay empty.
func writeCSV[T any](w io.Writer, cols []column[T], rows []T) error {
	cw := csv.NewWriter(w)
	cells := make([]string, len(cols))
	for i, c := range cols {
		cells[i] = c.name
	}
	if err := cw.Write(cells); err != nil {
		return err
	}
	for _, r := range rows {
		for i, c := range cols {
			cells[i] = c.value(r)
		}
		if err := cw.Write(cells); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
