package receiptexporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/exporter/receiptexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
	"github.com/tfocol/tfocol/internal/receipts/wal"
)

type receiptExporter struct {
	cfg *Config
	set exporter.Settings
	now func() time.Time
	eng atomic.Pointer[engine]
}

func newReceiptExporter(cfg *Config, set exporter.Settings) *receiptExporter {
	return &receiptExporter{cfg: cfg, set: set, now: time.Now}
}

func (e *receiptExporter) start(ctx context.Context, host component.Host) error {
	return e.startWith(ctx, host)
}

// startWith lets tests install engine hooks before recovery runs.
func (e *receiptExporter) startWith(_ context.Context, _ component.Host, hooks ...func(*engine)) error {
	tel, err := metadata.NewTelemetryBuilder(e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	eng, err := newEngine(e.cfg, e.set.Logger, tel, e.now)
	if err != nil {
		return err
	}
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

var errAlertsOnlyLogs = errors.New("receipt exporter in alerts mode accepts only logs (failure events)")

// toStatus turns engine failures into retryable Unavailable errors for OTLP clients.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return status.Error(codes.Unavailable, err.Error())
}

func (e *receiptExporter) submit(ctx context.Context, signal uint8, raw []byte, recs []receipts.Record, part []byte) error {
	if len(recs) == 0 {
		return nil
	}
	eng := e.eng.Load()
	if eng == nil {
		return status.Error(codes.Unavailable, "receipt exporter not started")
	}
	r := &request{signal: signal, raw: raw, records: recs}
	r.key, r.hasKey = requestKey(ctx, signalNames[signal], part)
	return toStatus(eng.submit(ctx, r))
}

// hashedRecords collects the n records of a request with their leaf hashes, computed on the caller's goroutine so
// concurrent requests use all cores before they meet in the single-writer commit loop.
func hashedRecords(n int, encode func(func(receipts.Record) error) error) ([]receipts.Record, error) {
	recs := make([]receipts.Record, 0, n)
	err := encode(func(r receipts.Record) error {
		r.LeafHash = merkle.BLAKE3.HashLeaf(r.Leaf)
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// decodeRequest derives the records of a WAL entry's request bytes (replay). Live ingest cuts the leaves from the
// request bytes it writes to the WAL; replay decodes them and cuts the leaves from the request's canonical
// encoding, so the leaves are those of a live ingest as long as a protobuf round trip is lossless. The bytes are
// re-encoded (one marshal per request) rather than cut directly: an entry written by an earlier build need not be
// in this pdata's canonical form. Either way each record's leaf is produced once and its batch file and Merkle
// root are computed from those same bytes.
func decodeRequest(signal uint8, raw []byte, wsAttr string) ([]receipts.Record, error) {
	switch signal {
	case wal.SignalLogs:
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(raw)
		if err != nil {
			return nil, err
		}
		canon, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		if err != nil {
			return nil, err
		}
		return hashedRecords(ld.LogRecordCount(), func(fn func(receipts.Record) error) error {
			return receipts.EncodeLogsWire(ld, canon, wsAttr, fn)
		})
	case wal.SignalMetrics:
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(raw)
		if err != nil {
			return nil, err
		}
		canon, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			return nil, err
		}
		return hashedRecords(md.DataPointCount(), func(fn func(receipts.Record) error) error {
			return receipts.EncodeMetricsWire(md, canon, wsAttr, fn)
		})
	case wal.SignalTraces:
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			return nil, err
		}
		canon, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			return nil, err
		}
		return hashedRecords(td.SpanCount(), func(fn func(receipts.Record) error) error {
			return receipts.EncodeTracesWire(td, canon, wsAttr, fn)
		})
	}
	return nil, fmt.Errorf("unknown signal %d", signal)
}

func (e *receiptExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	if e.cfg.Mode == ModeAlerts {
		return e.pushAlerts(ctx, ld)
	}
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	// The leaves are cut from the bytes written to the WAL: no per-record copy or marshal.
	recs, err := hashedRecords(ld.LogRecordCount(), func(fn func(receipts.Record) error) error {
		return receipts.EncodeLogsWire(ld, raw, e.cfg.WorkspaceAttribute, fn)
	})
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.submit(ctx, wal.SignalLogs, raw, recs, logsPart(ld))
}

// pushAlerts receipts the failure events of a request; with an Idempotency-Key their ids derive from it.
func (e *receiptExporter) pushAlerts(ctx context.Context, ld plog.Logs) error {
	ws, key, keyed := idempotencyScope(ctx)
	var part []byte
	if keyed {
		part = logsPart(ld)
	}
	r := &request{signal: wal.SignalLogs, alerts: true, hasKey: keyed}
	ordinal := -1
	err := receipts.EncodeLogs(ld, e.cfg.WorkspaceAttribute, func(rec receipts.Record) error {
		ordinal++
		if !slices.Contains(e.cfg.AlertEvents, rec.Info.EventName) {
			return nil
		}
		r.records = append(r.records, rec)
		if keyed {
			r.alertIDs = append(r.alertIDs, keyedAlertID(ws, key, part, ordinal))
		}
		return nil
	})
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	if len(r.records) == 0 {
		return nil
	}
	eng := e.eng.Load()
	if eng == nil {
		return status.Error(codes.Unavailable, "receipt exporter not started")
	}
	return toStatus(eng.submit(ctx, r))
}

func (e *receiptExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	if e.cfg.Mode == ModeAlerts {
		return consumererror.NewPermanent(errAlertsOnlyLogs)
	}
	raw, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	// The leaves are cut from the bytes written to the WAL: no per-record copy or marshal.
	recs, err := hashedRecords(md.DataPointCount(), func(fn func(receipts.Record) error) error {
		return receipts.EncodeMetricsWire(md, raw, e.cfg.WorkspaceAttribute, fn)
	})
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.submit(ctx, wal.SignalMetrics, raw, recs, nil)
}

func (e *receiptExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	if e.cfg.Mode == ModeAlerts {
		return consumererror.NewPermanent(errAlertsOnlyLogs)
	}
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	// The leaves are cut from the bytes written to the WAL: no per-record copy or marshal.
	recs, err := hashedRecords(td.SpanCount(), func(fn func(receipts.Record) error) error {
		return receipts.EncodeTracesWire(td, raw, e.cfg.WorkspaceAttribute, fn)
	})
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.submit(ctx, wal.SignalTraces, raw, recs, nil)
}
