package tfologexporter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tfocol/tfocol/components/exporter/tfologexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Outcomes of tfocol_log_appends.
const (
	outcomeWritten   = "written"
	outcomeDuplicate = "duplicate"
	outcomeFull      = "refused_full"
	outcomeError     = "refused_error"
)

type logExporter struct {
	cfg    *Config
	set    exporter.Settings
	signal uint8

	provider loghost.Provider
	// log is set by start. The otlp receiver is one instance for all signals: it starts serving with the first
	// pipeline started, so a request may arrive before this signal's exporter has started.
	log     atomic.Pointer[durablelog.Log]
	host    component.Host
	status  ingeststatus.Recorder
	appends metric.Int64Counter
	opts    map[string]metric.MeasurementOption

	mu       sync.Mutex
	degraded bool
}

func newLogExporter(cfg *Config, set exporter.Settings, signal uint8) *logExporter {
	return &logExporter{cfg: cfg, set: set, signal: signal}
}

func (e *logExporter) start(_ context.Context, host component.Host) error {
	p, err := loghost.Find(host, e.cfg.Log)
	if err != nil {
		return err
	}
	e.provider, e.host, e.status = p, host, ingeststatus.FindRecorder(host)
	e.appends, err = e.set.MeterProvider.Meter(metadata.ScopeName).Int64Counter("tfocol_log_appends",
		metric.WithDescription("Requests handed to the durable log, by signal and outcome (written, duplicate: its Idempotency-Key was already in the log, refused_full, refused_error)."),
		metric.WithUnit("{request}"))
	e.opts = map[string]metric.MeasurementOption{}
	for _, o := range []string{outcomeWritten, outcomeDuplicate, outcomeFull, outcomeError} {
		e.opts[o] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("signal", loghost.SignalName(e.signal)), attribute.String("outcome", o)))
	}
	if err != nil {
		return err
	}
	e.log.Store(p.DurableLog())
	return nil
}

func (e *logExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.append(ctx, raw)
}

func (e *logExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	raw, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.append(ctx, raw)
}

func (e *logExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.append(ctx, raw)
}

// append writes one request and returns once it is fsynced (or known: a retry of a keyed request).
func (e *logExporter) append(ctx context.Context, raw []byte) error {
	l := e.log.Load()
	if l == nil {
		return e.retryable(codes.Unavailable, "the gateway is still starting")
	}
	rec := durablelog.Record{Type: e.signal, Payload: raw}
	scope, keyed := requestcontract.ScopeFromMetadata(client.FromContext(ctx).Metadata)
	if keyed {
		rec.Key, rec.HasKey = scope.LogKey(loghost.SignalName(e.signal)), true
	}
	_, dup, err := l.Append(ctx, rec)
	switch {
	case err == nil:
		outcome := outcomeWritten
		if dup {
			outcome = outcomeDuplicate
			e.status.Duplicate(scope.Workspace, loghost.SignalName(e.signal))
		}
		e.appends.Add(ctx, 1, e.opts[outcome])
		e.recovered()
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, durablelog.ErrTooLarge):
		e.appends.Add(ctx, 1, e.opts[outcomeError])
		return consumererror.NewPermanent(status.Error(codes.InvalidArgument, "request too large for the durable log"))
	case errors.Is(err, durablelog.ErrFull):
		e.appends.Add(ctx, 1, e.opts[outcomeFull])
		e.failed(err)
		return e.retryable(codes.Unavailable, "durable log is full: consumers are behind; retry later")
	default:
		e.appends.Add(ctx, 1, e.opts[outcomeError])
		e.failed(err)
		return e.retryable(codes.Unavailable, "durable log write failed: "+err.Error())
	}
}

// retryable is a status the OTLP receiver passes on (gRPC code, HTTP 503) with a RetryInfo telling clients when.
func (e *logExporter) retryable(code codes.Code, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(e.cfg.RetryAfter)})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

func (e *logExporter) failed(err error) {
	e.provider.ReportAppendError(err)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.degraded {
		e.degraded = true
		componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(err))
	}
}

func (e *logExporter) recovered() {
	e.mu.Lock()
	was := e.degraded
	e.degraded = false
	e.mu.Unlock()
	if was {
		e.provider.ReportAppendOK()
		componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}
