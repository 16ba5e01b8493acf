package receiptexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/receipts"
)

// AlertResolution says which events close an open alert: an event named ResolvedBy whose fields meet When closes
// every open alert named Alert of its workspace whose event has the same values in the Match fields and fired no
// later than it, with an obs_alert_resolved receipt each. Such an event never fires an alert itself (a
// ServiceDegraded that is recovering is no new degradation). Fields: "body.<key>[.<key>…]" is a member of the
// map body, anything else a record attribute, else a resource attribute (receipts.AlertEvent.Field).
type AlertResolution struct {
	Alert      string              `mapstructure:"alert"`
	ResolvedBy string              `mapstructure:"resolved_by"`
	When       map[string][]string `mapstructure:"when"`
	Match      []string            `mapstructure:"match"`
}

// defaultAlertResolutions close the three failure events of the contracts (docs/events.md): a service that
// recovers, and a successful run of the backup job or the pipeline that failed. BackupSucceeded and
// PipelineSucceeded have no contract: event_router routes them as events without a schema.
func defaultAlertResolutions() []AlertResolution {
	return []AlertResolution{
		{Alert: "ServiceDegraded", ResolvedBy: "ServiceDegraded", When: map[string][]string{"body.status": {"recovering", "recovered"}},
			Match: []string{"body.serviceNamespace", "body.serviceName", "body.indicator"}},
		{Alert: "BackupFailure", ResolvedBy: "BackupSucceeded", Match: []string{"host.name", "body.jobId"}},
		{Alert: "PipelineFailure", ResolvedBy: "PipelineSucceeded", Match: []string{"body.pipelineId"}},
	}
}

func (c *Config) validateAlertResolutions() error {
	var errs []error
	for i, r := range c.AlertResolutions {
		if r.Alert == "" || r.ResolvedBy == "" {
			errs = append(errs, fmt.Errorf("alert_resolutions[%d]: alert and resolved_by must be set", i))
		}
		if r.Alert == r.ResolvedBy && len(r.When) == 0 {
			errs = append(errs, fmt.Errorf("alert_resolutions[%d]: an alert resolved by its own event name needs `when` (else every %s would close the one before)", i, r.Alert))
		}
		for f, vals := range r.When {
			if f == "" || len(vals) == 0 {
				errs = append(errs, fmt.Errorf("alert_resolutions[%d]: when %q needs a field and at least one value", i, f))
			}
		}
	}
	return errors.Join(errs...)
}

// resolverNames are the event names that may close an alert (their records are passed to commitAlerts).
func (c *Config) resolverNames() []string {
	var out []string
	for _, r := range c.AlertResolutions {
		if !slices.Contains(out, r.ResolvedBy) {
			out = append(out, r.ResolvedBy)
		}
	}
	return out
}

// openAlert is an obs_alert_fired of a scroll with no obs_alert_resolved yet.
type openAlert struct {
	fired   *receipts.Receipt
	firedAt time.Time
	keys    []string
}

// alertBook is the open alerts of one scroll. It is rebuilt from the scroll's receipt log when first needed after
// a start (the receipt log is its only durable state) and kept in step with every alert receipt appended.
type alertBook struct {
	open  map[string]*openAlert // by alert id
	byKey map[string][]string   // resolution key -> alert ids, oldest first (closed ones removed lazily)
	// order is the alert ids in the order their receipts were appended (closed ones removed lazily), so that
	// the oldest can be forgotten when alert_max_open are open.
	order []string
	max   int
}

func newAlertBook(max int) *alertBook {
	return &alertBook{open: map[string]*openAlert{}, byKey: map[string][]string{}, max: max}
}

// matchKey is the key an event has for rule i: the rule and the values (or absence) of its Match fields.
func matchKey(i int, r AlertResolution, ev *receipts.AlertEvent) string {
	vals := make([]*string, len(r.Match))
	for j, f := range r.Match {
		if v, ok := ev.Field(f); ok {
			vals[j] = &v
		}
	}
	b, _ := json.Marshal(vals)
	return fmt.Sprintf("%d:%s", i, b)
}

// resolves reports whether ev closes alerts of rule r.
func resolves(r AlertResolution, ev *receipts.AlertEvent) bool {
	if ev.Name != r.ResolvedBy {
		return false
	}
	for f, vals := range r.When {
		v, ok := ev.Field(f)
		if !ok || !slices.Contains(vals, v) {
			return false
		}
	}
	return true
}

// isResolver reports whether ev is a resolving event of any rule.
func (e *engine) isResolver(ev *receipts.AlertEvent) bool {
	for _, r := range e.cfg.AlertResolutions {
		if resolves(r, ev) {
			return true
		}
	}
	return false
}

// add tracks a fired alert that a resolution rule can close. It returns the alerts forgotten to keep at most
// alert_max_open open: the oldest, whose obs_alert_fired then stays without obs_alert_resolved.
func (b *alertBook) add(e *engine, fired *receipts.Receipt, ev *receipts.AlertEvent) []*openAlert {
	if _, ok := b.open[fired.ID]; ok {
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, receipts.FiredAt(fired))
	if err != nil {
		return nil
	}
	// Keep the receipt without its record: the record is a slice of the buffer all leaves of its request were
	// cut into, which would stay in memory for as long as the alert is open; obs_alert_resolved needs only the
	// fired receipt's id, name, severity, node, service and time.
	kept := *fired
	kept.Record = nil
	a := &openAlert{fired: &kept, firedAt: at}
	for i, r := range e.cfg.AlertResolutions {
		if r.Alert == fired.Name {
			k := matchKey(i, r, ev)
			a.keys = append(a.keys, k)
			b.byKey[k] = append(b.byKey[k], fired.ID)
		}
	}
	if len(a.keys) == 0 {
		return nil
	}
	b.open[fired.ID] = a
	b.order = append(b.order, fired.ID)
	var forgotten []*openAlert
	for len(b.open) > b.max {
		id := b.order[0]
		b.order = b.order[1:]
		if old := b.open[id]; old != nil {
			b.forget(id, old)
			forgotten = append(forgotten, old)
		}
	}
	if len(b.order) > 2*len(b.open)+64 {
		b.order = slices.DeleteFunc(b.order, func(id string) bool { return b.open[id] == nil })
	}
	return forgotten
}

// forget stops tracking an open alert, and drops it from its resolution keys so they do not grow.
func (b *alertBook) forget(id string, a *openAlert) {
	delete(b.open, id)
	for _, k := range a.keys {
		ids := slices.DeleteFunc(b.byKey[k], func(x string) bool { return x == id })
		if len(ids) == 0 {
			delete(b.byKey, k)
		} else {
			b.byKey[k] = ids
		}
	}
}

// closing lists the open alerts ev closes (fired no later than ev), oldest first, and forgets them.
func (b *alertBook) closing(e *engine, ev *receipts.AlertEvent) []*openAlert {
	var out []*openAlert
	at := time.Unix(0, ev.Time)
	for i, r := range e.cfg.AlertResolutions {
		if !resolves(r, ev) {
			continue
		}
		k := matchKey(i, r, ev)
		var keep []string
		for _, id := range b.byKey[k] {
			a := b.open[id]
			switch {
			case a == nil: // closed through another key
			case a.firedAt.After(at):
				keep = append(keep, id) // fired after the resolving event: still open
			default:
				out = append(out, a)
				delete(b.open, id)
			}
		}
		if len(keep) == 0 {
			delete(b.byKey, k)
		} else {
			b.byKey[k] = keep
		}
	}
	return out
}

// alertBook returns the open alerts of a scroll, reading its receipt log the first time.
func (e *engine) alertBook(wsDir string) (*alertBook, error) {
	if b, ok := e.alertBooks[wsDir]; ok {
		return b, nil
	}
	b := newAlertBook(e.cfg.AlertMaxOpen)
	data, err := os.ReadFile(filepath.Join(e.cfg.Directory, wsDir, filepath.FromSlash(receipts.ReceiptsFile)))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	lines, _ := receipts.SplitLines(data)
	for i, line := range lines {
		r, err := receipts.ParseReceipt(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", receipts.ReceiptsFile, i+1, err)
		}
		switch r.Type {
		case receipts.TypeAlertFired:
			ev, err := receipts.DecodeAlertEvent(r.Record)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", receipts.ReceiptsFile, i+1, err)
			}
			// Replayed in log order, closing as it goes, the book forgets the same alerts it forgot live.
			e.noteForgottenAlerts(len(b.add(e, r, ev)))
		case receipts.TypeAlertResolved:
			if a := b.open[r.AlertID]; a != nil {
				b.forget(r.AlertID, a)
			}
		}
	}
	e.alertBooks[wsDir] = b
	return b, nil
}

// noteForgottenAlerts counts open alerts forgotten for alert_max_open; logAlertsForgotten reports them.
func (e *engine) noteForgottenAlerts(n int) {
	if n > 0 {
		e.alertsForgotten.n += n
		e.tel.TfocolReceiptOpenAlertsForgotten.Add(context.Background(), int64(n))
	}
}

// logAlertsForgotten warns of open alerts forgotten for alert_max_open, at most once a minute.
func (e *engine) logAlertsForgotten(now time.Time) {
	n, ok := e.alertsForgotten.due(now)
	if !ok {
		return
	}
	e.logger.Warn("a scroll had alert_max_open open alerts; the oldest were forgotten: they stay open in the receipts (obs_alert_fired without obs_alert_resolved) whatever event comes later",
		zap.Int("alerts", n), zap.Int("alert_max_open", e.cfg.AlertMaxOpen))
}

func resolvedReceipt(a *openAlert, rec receipts.Record, ev *receipts.AlertEvent, now time.Time) *receipts.Receipt {
	lh := leafHash(rec)
	at := time.Unix(0, ev.Time)
	minutes := receipts.DurationMinutes(a.firedAt, at)
	f := a.fired
	return &receipts.Receipt{
		Type: receipts.TypeAlertResolved, ID: receipts.AlertResolvedID(f.ID), Timestamp: receipts.FormatTime(now),
		Workspace: rec.Workspace, Name: f.Name, Severity: f.Severity, Node: f.Node, Service: f.Service,
		EventTime: receipts.FormatTime(at), Record: rec.Leaf, AlertID: f.ID, FiredAt: receipts.FiredAt(f),
		DurationMinutes: &minutes, ResolvedBy: ev.Name,
		ContentHash: contentHash(rec), MerkleRoot: receipts.FormatHash(lh), LeafCount: 1,
		Tags: []string{"observability", "alert", "resolved"},
	}
}
