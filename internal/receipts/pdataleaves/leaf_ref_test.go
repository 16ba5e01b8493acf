package pdataleaves

// The reference implementation of the leaves (internal/receipts/internal/leafref): this is how leaves were produced
// before the Encode*Wire functions cut them from the request bytes; the tests require both to agree byte for byte.

import (
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/internal/leafref"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func refRecord(r leafref.Record) receipts.Record {
	return receipts.Record{Workspace: r.Workspace, EventTime: r.EventTime, Leaf: r.Leaf, Info: receipts.RecordInfo(r.Info)}
}

func refEncodeLogs(ld plog.Logs, wsAttr string, fn func(receipts.Record) error) error {
	return leafref.EncodeLogs(ld, wsAttr, leafref.Sink(refRecord, fn))
}

func refEncodeMetrics(md pmetric.Metrics, wsAttr string, fn func(receipts.Record) error) error {
	return leafref.EncodeMetrics(md, wsAttr, leafref.Sink(refRecord, fn))
}

func refEncodeTraces(td ptrace.Traces, wsAttr string, fn func(receipts.Record) error) error {
	return leafref.EncodeTraces(td, wsAttr, leafref.Sink(refRecord, fn))
}
