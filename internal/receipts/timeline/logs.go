package timeline

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
	"github.com/tfocol/tfocol/internal/receipts/query"
)

// maxBody bounds the log body shown in a timeline line.
const maxBody = 300

// errorLogs lists the ERROR and FATAL records (severity number 17 and up) of a log batch that fall in the
// range. Each leaf is a one-record export request (docs/receipts.md §3).
func (b *builder) errorLogs(m query.Match) {
	eachRecord(b, m, "log record", decodeLog, func(i int, leaf []byte, rl plog.ResourceLogs) {
		lr := rl.ScopeLogs().At(0).LogRecords().At(0)
		if lr.SeverityNumber() < plog.SeverityNumberError {
			return
		}
		ts := lr.Timestamp()
		if ts == 0 {
			ts = lr.ObservedTimestamp()
		}
		t := ts.AsTime().UTC()
		service, node := resourceNames(rl.Resource().Attributes())
		if !b.inRange(t) || !b.keeps(service, node) || b.alerts[m.Scroll.Dir+"\x00"+receipts.FormatHash(merkle.BLAKE3.HashLeaf(leaf))] {
			return
		}
		sev := severityName(lr.SeverityNumber())
		body := lr.Body().AsString()
		if len(body) > maxBody {
			body = body[:maxBody] + "…"
		}
		e := b.event(m, KindLog, t, fmt.Sprintf("%s %s: %s", sev, where(service, node), body))
		e.Record, e.Service, e.Node, e.Severity = &i, service, node, sev
		b.events = append(b.events, e)
	})
}

// decodeLog reads a log leaf: one resource with one scope with one record.
func decodeLog(leaf []byte) (plog.ResourceLogs, bool) {
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(leaf)
	ok := err == nil && ld.ResourceLogs().Len() == 1 && ld.ResourceLogs().At(0).ScopeLogs().Len() == 1 &&
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().Len() == 1
	if !ok {
		return plog.ResourceLogs{}, false
	}
	return ld.ResourceLogs().At(0), true
}

func severityName(n plog.SeverityNumber) string {
	if n >= plog.SeverityNumberFatal {
		return "FATAL"
	}
	return "ERROR"
}
