package workspaceprocessor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tfocol/tfocol/components/processor/workspaceprocessor/internal/metadata"
	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
	"github.com/tfocol/tfocol/internal/sharedinstance"
)

// Resource attributes the processor owns: it sets them, and drops client-sent values it cannot vouch for.
const (
	attrWorkspaceID   = requestcontract.AttrWorkspaceID
	attrAgentID       = principal.AttrAgentID
	attrKeyID         = principal.AttrKeyID
	attrCorrelationID = requestcontract.AttrCorrelationID
)

// Outcomes counted in tfocol_workspace_requests.
const (
	outcomeAccepted         = "accepted"
	outcomeDuplicate        = "duplicate"
	outcomeInFlightConflict = "in_flight_conflict"
	outcomeMismatch         = "mismatch"
	outcomeRejected         = "rejected"
	outcomeDownstreamError  = "downstream_error"
)

// workspaceProcessor is the signal-independent core, shared by the traces, metrics and logs
// instances of one configured processor so that they share one idempotency store.
type workspaceProcessor struct {
	cfg       *Config
	id        component.ID
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	labels    *workspaceLabels
	newID     func() string

	noMetadataWarning sync.Once

	startOnce sync.Once
	startErr  error
	store     idempotencyStore
	status    ingeststatus.Recorder
}

// processors shares one core (one idempotency store) per processor config between the traces, metrics and logs
// pipelines.
var processors sharedinstance.Map[*Config, *workspaceProcessor]

// newWorkspaceProcessor returns a handle on the core for cfg, creating the core on first use.
func newWorkspaceProcessor(set processor.Settings, cfg *Config) (*sharedinstance.Handle[*Config, *workspaceProcessor], error) {
	return processors.GetOrCreate(cfg, func() (*workspaceProcessor, error) {
		tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
		if err != nil {
			return nil, err
		}
		return &workspaceProcessor{
			cfg:       cfg,
			id:        set.ID,
			logger:    set.Logger,
			telemetry: tb,
			labels:    newWorkspaceLabels(cfg.Telemetry.MaxWorkspaces),
			newID:     uuid.NewString,
		}, nil
	})
}

// Start opens the store once: a failed open is not retried by the other signal instances.
func (p *workspaceProcessor) Start(ctx context.Context, host component.Host) error {
	p.startOnce.Do(func() {
		p.status = ingeststatus.FindRecorder(host)
		p.store, p.startErr = p.openStore(ctx, host)
	})
	return p.startErr
}

// Shutdown closes the store; the shared map calls it when the last signal instance shuts down.
func (p *workspaceProcessor) Shutdown(ctx context.Context) error {
	if p.store == nil {
		return nil
	}
	return p.store.Shutdown(ctx)
}

func (p *workspaceProcessor) openStore(ctx context.Context, host component.Host) (idempotencyStore, error) {
	idem := p.cfg.Idempotency
	switch idem.Store {
	case StoreStorage:
		return newStorageStoreFromHost(ctx, host, p.id, idem, p.logger)
	case StoreRedis:
		s, err := newRedisStore(idem)
		if err != nil {
			return nil, err
		}
		// Start anyway when Redis is down: keyed requests get on_store_error until it is back.
		if err := s.ping(ctx); err != nil {
			p.logger.Warn("Idempotency store (redis) is not reachable yet", zap.Error(err))
		}
		return s, nil
	default:
		return newMemoryStore(idem.MaxKeys, idem.TTL), nil
	}
}

// request is what the processor learned about one incoming request.
type request struct {
	workspace   string // canonical lowercase UUID, "" when absent and not required
	key         string // Idempotency-Key, "" when absent
	agentID     string
	keyID       string
	correlation string
}

// consume runs the workspace contract and idempotency protocol around deliver, which stamps the
// resources and passes the data on. fingerprint is called at most once, before any stamping.
func (p *workspaceProcessor) consume(ctx context.Context, signal string, fingerprint func() uint64, stamp func(*request), deliver func(context.Context) error) error {
	req, label, err := p.admit(ctx, signal)
	if err != nil {
		p.count(ctx, outcomeRejected, signal, label)
		return err
	}

	var held lease
	if req.key != "" {
		var fp uint64
		if p.cfg.Idempotency.CheckPayload {
			fp = fingerprint()
		}
		l, st, err := p.begin(ctx, idemKey{Workspace: req.workspace, Key: req.key}, fp)
		switch {
		case err != nil && p.cfg.Idempotency.OnStoreError == OnStoreErrorAllow:
			p.logger.Warn("Idempotency store failed; passing the request on without deduplication", zap.Error(err))
		case err != nil:
			p.count(ctx, outcomeRejected, signal, label)
			return status.Error(codes.Unavailable, "idempotency store unavailable, retry later")
		case st == statusCompleted:
			p.count(ctx, outcomeDuplicate, signal, label)
			p.status.Duplicate(req.workspace, signal)
			return nil
		case st == statusInFlight:
			p.count(ctx, outcomeInFlightConflict, signal, label)
			return p.inFlightError()
		case st == statusMismatch:
			p.count(ctx, outcomeMismatch, signal, label)
			return status.Error(codes.InvalidArgument, "Idempotency-Key was already used for a different payload")
		default:
			held = l
		}
	}

	stamp(req)
	err = deliver(ctx)

	if held != nil {
		// The client may have gone away; the outcome must still be recorded.
		finishCtx := context.WithoutCancel(ctx)
		op, finish := "complete", held.Complete
		if err != nil {
			op, finish = "release", held.Release
		}
		start := time.Now()
		ferr := finish(finishCtx)
		p.recordStore(finishCtx, op, start, ferr)
		if ferr != nil {
			p.logger.Warn("Idempotency store failed to "+op+" a key", zap.Error(ferr))
		}
	}
	if err != nil {
		p.count(ctx, outcomeDownstreamError, signal, label)
		return err
	}
	p.count(ctx, outcomeAccepted, signal, label)
	return nil
}

func (p *workspaceProcessor) begin(ctx context.Context, k idemKey, fp uint64) (lease, beginStatus, error) {
	start := time.Now()
	l, st, err := p.store.Begin(ctx, k, fp)
	p.recordStore(ctx, "begin", start, err)
	return l, st, err
}

func (p *workspaceProcessor) inFlightError() error {
	st := status.New(codes.Unavailable, "a request with this Idempotency-Key is still being processed, retry later")
	if d := p.cfg.Idempotency.RetryAfter; d > 0 {
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)}); err == nil {
			st = withInfo
		}
	}
	return st.Err()
}

// admit checks the workspace header, the principal and the Idempotency-Key header. label is the
// metrics workspace label: the workspace only once it has been verified.
func (p *workspaceProcessor) admit(ctx context.Context, signal string) (*request, string, error) {
	info := client.FromContext(ctx)
	req := &request{}
	label := workspaceLabelNone
	p.warnIfNoMetadata(info.Metadata)

	ws, err := parseWorkspace(info.Metadata.Get(requestcontract.HeaderWorkspaceID))
	if err != nil {
		return nil, label, err
	}
	if ws == "" && p.cfg.RequireWorkspace {
		return nil, label, status.Error(codes.InvalidArgument, "missing x-workspace-id header")
	}
	req.workspace = ws

	if pr, ok := principal.FromContext(ctx); ok {
		if ws != "" && !pr.AllowsWorkspace(ws) {
			return nil, label, status.Errorf(codes.PermissionDenied, "credentials are not allowed to write to workspace %s", ws)
		}
		if !pr.AllowsSignal(signal) {
			return nil, label, status.Errorf(codes.PermissionDenied, "credentials are not allowed to send %s", signal)
		}
		req.agentID, req.keyID = pr.AgentID, pr.KeyID
	}
	if ws != "" {
		label = p.labels.label(ws)
	}

	key, err := parseIdempotencyKey(info.Metadata.Get(requestcontract.HeaderIdempotencyKey))
	if err != nil {
		return nil, label, err
	}
	if key == "" && p.cfg.Idempotency.RequireIdempotencyKey {
		return nil, label, status.Error(codes.InvalidArgument, "missing Idempotency-Key header")
	}
	req.key = key
	req.correlation = correlationID(info.Metadata, p.newID)
	return req, label, nil
}

// warnIfNoMetadata logs once when a request arrives without any headers at all: the usual cause is a
// receiver without include_metadata: true, which makes every request look like it lacks x-workspace-id.
func (p *workspaceProcessor) warnIfNoMetadata(md client.Metadata) {
	for range md.Keys() {
		return
	}
	p.noMetadataWarning.Do(func() {
		p.logger.Warn("Request without any client metadata: does the receiver set include_metadata: true?")
	})
}

func (p *workspaceProcessor) count(ctx context.Context, outcome, signal, workspace string) {
	p.telemetry.TfocolWorkspaceRequests.Add(ctx, 1, metric.WithAttributes(
		attribute.String("outcome", outcome),
		attribute.String("signal", signal),
		attribute.String("workspace", workspace),
	))
}

func (p *workspaceProcessor) recordStore(ctx context.Context, op string, start time.Time, err error) {
	attrs := metric.WithAttributes(
		attribute.String("store", p.cfg.Idempotency.Store),
		attribute.String("operation", op),
	)
	p.telemetry.TfocolWorkspaceStoreDuration.Record(ctx, time.Since(start).Seconds(), attrs)
	if err != nil {
		p.telemetry.TfocolWorkspaceStoreErrors.Add(ctx, 1, attrs)
	}
}

// stampResource sets the processor's attributes on one resource.
func stampResource(res pcommon.Resource, req *request) {
	attrs := res.Attributes()
	setOrRemove(attrs, attrWorkspaceID, req.workspace)
	setOrRemove(attrs, attrAgentID, req.agentID)
	setOrRemove(attrs, attrKeyID, req.keyID)
	attrs.PutStr(attrCorrelationID, req.correlation)
}

// setOrRemove sets k to v, or removes a client-sent k when the processor has no value it can vouch for.
func setOrRemove(attrs pcommon.Map, k, v string) {
	if v == "" {
		attrs.Remove(k)
		return
	}
	attrs.PutStr(k, v)
}

var errNotStarted = errors.New("workspace processor used before Start")

type tracesProcessor struct {
	*workspaceProcessor
	h    *sharedinstance.Handle[*Config, *workspaceProcessor]
	next consumer.Traces
}

func (t *tracesProcessor) Start(ctx context.Context, host component.Host) error {
	return t.h.Start(ctx, host)
}

func (t *tracesProcessor) Shutdown(ctx context.Context) error { return t.h.Shutdown(ctx) }

func (t *tracesProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (t *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if t.store == nil {
		return errNotStarted
	}
	return t.consume(ctx, signalTraces,
		func() uint64 { return fingerprintTraces(td) },
		func(req *request) {
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				stampResource(td.ResourceSpans().At(i).Resource(), req)
			}
		},
		func(ctx context.Context) error { return t.next.ConsumeTraces(ctx, td) })
}

type metricsProcessor struct {
	*workspaceProcessor
	h    *sharedinstance.Handle[*Config, *workspaceProcessor]
	next consumer.Metrics
}

func (m *metricsProcessor) Start(ctx context.Context, host component.Host) error {
	return m.h.Start(ctx, host)
}

func (m *metricsProcessor) Shutdown(ctx context.Context) error { return m.h.Shutdown(ctx) }

func (m *metricsProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (m *metricsProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if m.store == nil {
		return errNotStarted
	}
	return m.consume(ctx, signalMetrics,
		func() uint64 { return fingerprintMetrics(md) },
		func(req *request) {
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				stampResource(md.ResourceMetrics().At(i).Resource(), req)
			}
		},
		func(ctx context.Context) error { return m.next.ConsumeMetrics(ctx, md) })
}

type logsProcessor struct {
	*workspaceProcessor
	h    *sharedinstance.Handle[*Config, *workspaceProcessor]
	next consumer.Logs
}

func (l *logsProcessor) Start(ctx context.Context, host component.Host) error {
	return l.h.Start(ctx, host)
}

func (l *logsProcessor) Shutdown(ctx context.Context) error { return l.h.Shutdown(ctx) }

func (l *logsProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (l *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if l.store == nil {
		return errNotStarted
	}
	return l.consume(ctx, signalLogs,
		func() uint64 { return fingerprintLogs(ld) },
		func(req *request) {
			for i := 0; i < ld.ResourceLogs().Len(); i++ {
				stampResource(ld.ResourceLogs().At(i).Resource(), req)
			}
		},
		func(ctx context.Context) error { return l.next.ConsumeLogs(ctx, ld) })
}
