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

// commitAlerts appends the alert receipts of the batch's alert records not receipted yet, in record order, one
// write and fsync per scroll, before any record of the batch is applied to windows: an obs_alert_fired for a
// failure event, an obs_alert_resolved for each open alert a resolving event closes (alertresolve.go). It
// returns, per call, the error that call must answer with (its alert receipts are not all durable); such a call
// applies nothing else and is delivered again by the receiver, whose receipts already appended are then
// recognised by their ids (and its alerts already resolved are no longer open).
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
			ev, err := receipts.DecodeAlertEvent(rec.Leaf)
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
			var book *alertBook
			if len(e.cfg.AlertResolutions) > 0 {
				if book, err = e.alertBook(wsDir); err != nil {
					errs[i] = fmt.Errorf("reading the open alerts of %s: %w", wsDir, err)
					continue
				}
			}
			if e.isResolver(ev) {
				if ev.Time == 0 {
					continue // without a time it cannot be ordered after the alerts it would close
				}
				for _, a := range book.closing(e, ev) {
					p.receipts = append(p.receipts, resolvedReceipt(a, rec, ev, now))
				}
				continue
			}
			if !slices.Contains(e.cfg.AlertEvents, ev.Name) {
				continue
			}
			id := alertID(rec)
			if s.Has(id) || seen[wsDir+"\x00"+id] {
				continue
			}
			seen[wsDir+"\x00"+id] = true
			fired := alertReceipt(rec, ev, id, now)
			p.receipts = append(p.receipts, fired)
			if book != nil {
				e.noteForgottenAlerts(len(book.add(e, fired, ev)))
			}
		}
	}
	for _, wsDir := range order {
		p := byScroll[wsDir]
		if len(p.receipts) == 0 {
			continue
		}
		if err := e.appendReceipts(e.scrolls[wsDir], p.receipts...); err != nil {
			// The book changed with receipts that are not durable: read it again from the log next time.
			delete(e.alertBooks, wsDir)
			for _, i := range p.calls {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("appending alert receipts to %s: %w", wsDir, err)
				}
			}
			continue
		}
		for _, rc := range p.receipts {
			e.tel.TfocolReceiptWindowsSealed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", rc.Type)))
		}
	}
	return errs
}

func leafHash(rec receipts.Record) []byte {
	if rec.LeafHash != nil {
		return rec.LeafHash
	}
	return merkle.BLAKE3.HashLeaf(rec.Leaf)
}

func contentHash(rec receipts.Record) string {
	sum := merkle.Sum(rec.Leaf)
	return receipts.FormatHash(sum[:])
}

// alertReceipt is the obs_alert_fired of a failure event. Severity, node and service are the event's own
// contract fields where it has them (event.severity, the record's host.name, the body's serviceName), else its
// OTLP severity number and resource attributes: an SDK's resource names the sender, not the host the event is
// about (receipts.DecodeAlertEvent).
func alertReceipt(rec receipts.Record, ev *receipts.AlertEvent, id string, now time.Time) *receipts.Receipt {
	rc := &receipts.Receipt{
		Type: receipts.TypeAlertFired, ID: id, Timestamp: receipts.FormatTime(now), Workspace: rec.Workspace,
		Name: ev.Name, Severity: ev.Severity, Node: ev.Node, Service: ev.Service,
		Record: rec.Leaf, ContentHash: contentHash(rec), MerkleRoot: receipts.FormatHash(leafHash(rec)), LeafCount: 1,
		Tags: []string{"observability", "alert", "fired"},
	}
	if ev.Time > 0 {
		rc.EventTime = receipts.FormatTime(time.Unix(0, ev.Time))
	}
	return rc
}
