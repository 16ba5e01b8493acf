package receiptexporter

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// alertID names the obs_alert_fired receipt of a record: "alert-" ‖ hex(LH(leaf)[:16]). An identical event (the
// same leaf bytes) has the same id, so a replay of its log entry or a retry of its call never receipts it twice.
func alertID(rec receipts.Record) string {
	lh := rec.LeafHash
	if lh == nil {
		lh = merkle.BLAKE3.HashLeaf(rec.Leaf)
	}
	return "alert-" + hex.EncodeToString(lh[:16])
}

// commitAlerts appends an obs_alert_fired receipt for every alert record of the batch not receipted yet, one
// write and fsync per scroll, before any record of the batch is applied to windows. It returns, per call, the
// error that call must answer with (its alerts are not all durable); such a call applies nothing else and is
// delivered again by the receiver, whose alerts already appended are then recognised by their ids.
func (e *engine) commitAlerts(batch []*request, now time.Time) []error {
	errs := make([]error, len(batch))
	type pending struct {
		receipts []*receipts.Receipt
		calls    []int
	}
	var order []string
	byScroll := map[string]*pending{}
	seen := map[string]bool{}
	for i, r := range batch {
		for _, j := range r.alerts {
			rec := r.records[j]
			wsDir := e.wsDir(rec.Workspace)
			s, err := e.scroll(wsDir)
			if err != nil {
				errs[i] = err
				continue
			}
			p := byScroll[wsDir]
			if p == nil {
				p = &pending{}
				byScroll[wsDir] = p
				order = append(order, wsDir)
			}
			if !slices.Contains(p.calls, i) {
				p.calls = append(p.calls, i)
			}
			id := alertID(rec)
			if s.Has(id) || seen[wsDir+"\x00"+id] {
				continue
			}
			seen[wsDir+"\x00"+id] = true
			p.receipts = append(p.receipts, alertReceipt(rec, id, now))
		}
	}
	for _, wsDir := range order {
		p := byScroll[wsDir]
		if len(p.receipts) == 0 {
			continue
		}
		if err := e.appendReceipts(e.scrolls[wsDir], p.receipts...); err != nil {
			for _, i := range p.calls {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("appending alert receipts to %s: %w", wsDir, err)
				}
			}
			continue
		}
		e.tel.TfocolReceiptWindowsSealed.Add(context.Background(), int64(len(p.receipts)),
			metric.WithAttributes(attribute.String("type", receipts.TypeAlertFired)))
	}
	return errs
}

func alertReceipt(rec receipts.Record, id string, now time.Time) *receipts.Receipt {
	lh := rec.LeafHash
	if lh == nil {
		lh = merkle.BLAKE3.HashLeaf(rec.Leaf)
	}
	sum := merkle.Sum(rec.Leaf)
	rc := &receipts.Receipt{
		Type: receipts.TypeAlertFired, ID: id, Timestamp: receipts.FormatTime(now), Workspace: rec.Workspace,
		Name: rec.Info.EventName, Severity: severityName(rec.Info.Severity), Node: rec.Info.Node, Service: rec.Info.Service,
		Record: rec.Leaf, ContentHash: receipts.FormatHash(sum[:]), MerkleRoot: receipts.FormatHash(lh), LeafCount: 1,
		Tags: []string{"observability", "alert", "fired"},
	}
	if rec.EventTime > 0 {
		rc.EventTime = receipts.FormatTime(time.Unix(0, rec.EventTime))
	}
	return rc
}

func severityName(sev int32) string {
	var c receipts.LogCounts
	c.Add(sev)
	switch {
	case c.Fatal > 0:
		return "fatal"
	case c.Error > 0:
		return "error"
	case c.Warn > 0:
		return "warn"
	case c.Info > 0:
		return "info"
	case c.Debug > 0:
		return "debug"
	case c.Trace > 0:
		return "trace"
	}
	return "unspecified"
}
