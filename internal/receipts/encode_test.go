package receipts

// Leaves for the tests of this package, which cannot import internal/receipts/pdataleaves (it imports this
// package): the reference encoder of internal/receipts/internal/leafref, which the pdataleaves tests require to
// agree byte for byte with the exporter's Encode* functions.

import (
	"github.com/tfocol/tfocol/internal/receipts/internal/leafref"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func toRecord(r leafref.Record) Record {
	return Record{Workspace: r.Workspace, EventTime: r.EventTime, Leaf: r.Leaf, Info: RecordInfo(r.Info)}
}

// EncodeLogs calls fn for every log record with its leaf (record + resource + scope).
func EncodeLogs(ld plog.Logs, wsAttr string, fn func(Record) error) error {
	return leafref.EncodeLogs(ld, wsAttr, leafref.Sink(toRecord, fn))
}

// EncodeMetrics calls fn for every data point with its leaf (the metric with only that point + resource + scope).
func EncodeMetrics(md pmetric.Metrics, wsAttr string, fn func(Record) error) error {
	return leafref.EncodeMetrics(md, wsAttr, leafref.Sink(toRecord, fn))
}

// EncodeTraces calls fn for every span with its leaf (span + resource + scope).
func EncodeTraces(td ptrace.Traces, wsAttr string, fn func(Record) error) error {
	return leafref.EncodeTraces(td, wsAttr, leafref.Sink(toRecord, fn))
}
