package receiptexporter

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
	"github.com/tfocol/tfocol/internal/receipts/pdataleaves"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// rejectionAttr is the attribute event_router (components/connector/eventrouterconnector AttrRejectionReason)
// puts on records that failed their contract; such a record is sealed in its window but fires no alert.
const rejectionAttr = requestcontract.AttrRejectionReason

type receiptExporter struct {
	cfg *Config
	set exporter.Settings
	now func() time.Time
	eng atomic.Pointer[engine]
	// alertNames are the event names of records passed to the engine as alert records: alert_events and the
	// resolved_by names of alert_resolutions.
	alertNames []string
}

func newReceiptExporter(cfg *Config, set exporter.Settings) *receiptExporter {
	names := slices.Clone(cfg.AlertEvents)
	for _, n := range cfg.resolverNames() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return &receiptExporter{cfg: cfg, set: set, now: time.Now, alertNames: names}
}

func (e *receiptExporter) start(ctx context.Context, host component.Host) error {
	return e.startWith(ctx, host)
}

// startWith lets tests install engine hooks before the engine opens its directory.
func (e *receiptExporter) startWith(_ context.Context, host component.Host, hooks ...func(*engine)) error {
	tel, err := metadata.NewTelemetryBuilder(e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	eng, err := newEngine(e.cfg, e.set.Logger, tel, e.now)
	if err != nil {
		return err
	}
	eng.status = ingeststatus.FindRecorder(host)
	for _, h := range hooks {
		h(eng)
	}
	if err := eng.open(); err != nil {
		_ = eng.close()
		return err
	}
	e.eng.Store(eng)
	go eng.run()
	return nil
}

func (e *receiptExporter) shutdown(context.Context) error {
	eng := e.eng.Swap(nil)
	if eng == nil {
		return nil
	}
	close(eng.stop)
	<-eng.stopped
	return eng.close()
}

// errNoDelivery answers a call that did not come from a tfo_log receiver: without the log entry's position the
// exporter can neither assign windows deterministically nor keep the entry until its windows are sealed.
var errNoDelivery = errors.New("the receipt exporter must be fed by a tfo_log receiver: the call carries no durable log delivery (receipts are sealed from the durable log, see docs/receipts.md §10)")

var errNotStarted = errors.New("receipt exporter not started")

// delivery returns the call's Delivery, or the permanent error for a call without one.
func delivery(ctx context.Context) (durablelog.Delivery, error) {
	d, ok := durablelog.DeliveryFrom(ctx)
	if !ok || d.Stream == nil {
		return d, consumererror.NewPermanent(errNoDelivery)
	}
	if !reflect.TypeOf(d.Stream).Comparable() {
		// The engine keys its holds by stream; a value that cannot be a map key would panic its loop.
		return d, consumererror.NewPermanent(fmt.Errorf("durablelog.Stream of type %T is not comparable", d.Stream))
	}
	return d, nil
}

// submit hands a call's records to the engine; it returns once they are applied to their windows and traces and
// the call's alerts are appended and fsynced. Engine failures are retryable.
func (e *receiptExporter) submit(ctx context.Context, d durablelog.Delivery, signal string, recs []receipts.Record, alerts []int) error {
	if len(recs) == 0 {
		return nil
	}
	eng := e.eng.Load()
	if eng == nil {
		return errNotStarted
	}
	return eng.submit(ctx, &request{signal: signal, records: recs, alerts: alerts, delivery: d})
}

// hashedRecords collects the n records of a call with their leaf hashes, computed on the caller's goroutine so
// concurrent calls use all cores before they meet in the single-writer engine loop.
func hashedRecords(n int, encode func(func(receipts.Record) error) error) ([]receipts.Record, error) {
	recs := make([]receipts.Record, 0, n)
	err := encode(func(r receipts.Record) error {
		r.LeafHash = merkle.BLAKE3.HashLeaf(r.Leaf)
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// records cuts a call's leaves from the entry's bytes as logged when the receiver passed them (no marshal), and
// from a fresh encoding of the data otherwise — also when the data no longer matches the logged bytes (the Wire
// encoders check that the bytes are the data's encoding before they yield anything).
func records(d durablelog.Delivery, marshal func() ([]byte, error), cut func(raw []byte) ([]receipts.Record, error)) ([]receipts.Record, error) {
	if d.Payload != nil {
		if recs, err := cut(d.Payload); err == nil {
			return recs, nil
		}
	}
	raw, err := marshal()
	if err != nil {
		return nil, err
	}
	return cut(raw)
}

func (e *receiptExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	d, err := delivery(ctx)
	if err != nil {
		return err
	}
	recs, err := records(d, func() ([]byte, error) { return (&plog.ProtoMarshaler{}).MarshalLogs(ld) },
		func(raw []byte) ([]receipts.Record, error) {
			return hashedRecords(ld.LogRecordCount(), func(fn func(receipts.Record) error) error {
				return pdataleaves.EncodeLogsWire(ld, raw, e.cfg.WorkspaceAttribute, fn)
			})
		})
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.submit(ctx, d, receipts.SignalLogs, recs, e.alertIndexes(ld, recs))
}

// alertIndexes lists the records (in the order EncodeLogsWire yields them) whose event name is in alert_events
// or may resolve an alert (alert_resolutions), and that do not carry the rejection attribute.
func (e *receiptExporter) alertIndexes(ld plog.Logs, recs []receipts.Record) []int {
	names := e.alertNames
	if len(names) == 0 {
		return nil
	}
	var out []int
	n := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if n < len(recs) && slices.Contains(names, recs[n].Info.EventName) {
					if _, rejected := lrs.At(k).Attributes().Get(rejectionAttr); !rejected {
						out = append(out, n)
					}
				}
				n++
			}
		}
	}
	return out
}

func (e *receiptExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	d, err := delivery(ctx)
	if err != nil {
		return err
	}
	recs, err := records(d, func() ([]byte, error) { return (&pmetric.ProtoMarshaler{}).MarshalMetrics(md) },
		func(raw []byte) ([]receipts.Record, error) {
			return hashedRecords(md.DataPointCount(), func(fn func(receipts.Record) error) error {
				return pdataleaves.EncodeMetricsWire(md, raw, e.cfg.WorkspaceAttribute, fn)
			})
		})
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.submit(ctx, d, receipts.SignalMetrics, recs, nil)
}

func (e *receiptExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	d, err := delivery(ctx)
	if err != nil {
		return err
	}
	recs, err := records(d, func() ([]byte, error) { return (&ptrace.ProtoMarshaler{}).MarshalTraces(td) },
		func(raw []byte) ([]receipts.Record, error) {
			return hashedRecords(td.SpanCount(), func(fn func(receipts.Record) error) error {
				return pdataleaves.EncodeTracesWire(td, raw, e.cfg.WorkspaceAttribute, fn)
			})
		})
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.submit(ctx, d, receipts.SignalTraces, recs, nil)
}
