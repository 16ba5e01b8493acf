// Package redactionstatsprocessor implements the redaction_stats processor. It runs right after the contrib
// redaction processor (with `summary: info`), turns the summary attributes that processor stamps on every
// attribute map it changed (redaction.masked.count, redaction.body.masked.count, ...) into counters on the
// collector's metrics endpoint, and removes them from the data, so that redacted data carries no bookkeeping
// attributes (an event contract with additionalProperties: false still validates) and the counts are visible
// per signal without reading the data.
package redactionstatsprocessor

import (
	"context"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tfocol/tfocol/components/processor/redactionstatsprocessor/internal/metadata"
)

// Config has no settings.
type Config struct{}

// The redaction processor's summary attributes (processor/redactionprocessor v0.149.0) and what they count.
var summaryAttrs = map[string]struct{ action, part string }{
	"redaction.masked.count":        {"masked", "attributes"},
	"redaction.redacted.count":      {"removed", "attributes"},
	"redaction.body.masked.count":   {"masked", "body"},
	"redaction.body.redacted.count": {"removed", "body"},
}

// summaryPrefix covers every attribute the redaction processor adds (counts, key lists, allowed / ignored).
const summaryPrefix = "redaction."

// NewFactory returns the redaction_stats processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, func() component.Config { return &Config{} },
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

type stats struct {
	masked, removed metric.Int64Counter
	opts            map[string]metric.MeasurementOption // action/part → signal+part attribute set
}

func newStats(set processor.Settings, signal string) (*stats, error) {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	s := &stats{opts: map[string]metric.MeasurementOption{}}
	var err error
	if s.masked, err = m.Int64Counter("tfocol_redaction_masked",
		metric.WithDescription("Attribute values and log bodies in which the redaction processor masked a secret or PII pattern, by signal and part (attributes, body)."),
		metric.WithUnit("{value}")); err != nil {
		return nil, err
	}
	if s.removed, err = m.Int64Counter("tfocol_redaction_removed",
		metric.WithDescription("Attributes the redaction processor removed (not on its allow list), by signal and part."),
		metric.WithUnit("{attribute}")); err != nil {
		return nil, err
	}
	for _, part := range []string{"attributes", "body"} {
		s.opts[part] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", signal), attribute.String("part", part)))
	}
	return s, nil
}

// tally holds the sums of one request; it is recorded once per request.
type tally struct{ maskedAttrs, maskedBody, removedAttrs, removedBody int64 }

// take adds the summary counts of one attribute map to t and removes every redaction.* attribute from it.
func (t *tally) take(m pcommon.Map) {
	if m.Len() == 0 {
		return
	}
	found := false
	for k, v := range m.All() {
		if !strings.HasPrefix(k, summaryPrefix) {
			continue
		}
		found = true
		s, ok := summaryAttrs[k]
		if !ok || v.Type() != pcommon.ValueTypeInt {
			continue
		}
		n := v.Int()
		switch {
		case s.action == "masked" && s.part == "attributes":
			t.maskedAttrs += n
		case s.action == "masked":
			t.maskedBody += n
		case s.part == "attributes":
			t.removedAttrs += n
		default:
			t.removedBody += n
		}
	}
	if found {
		m.RemoveIf(func(k string, _ pcommon.Value) bool { return strings.HasPrefix(k, summaryPrefix) })
	}
}

func (s *stats) record(ctx context.Context, t *tally) {
	if t.maskedAttrs > 0 {
		s.masked.Add(ctx, t.maskedAttrs, s.opts["attributes"])
	}
	if t.maskedBody > 0 {
		s.masked.Add(ctx, t.maskedBody, s.opts["body"])
	}
	if t.removedAttrs > 0 {
		s.removed.Add(ctx, t.removedAttrs, s.opts["attributes"])
	}
	if t.removedBody > 0 {
		s.removed.Add(ctx, t.removedBody, s.opts["body"])
	}
}

var capabilities = processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true})

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	s, err := newStats(set, "traces")
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, func(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
		var t tally
		for _, rs := range td.ResourceSpans().All() {
			t.take(rs.Resource().Attributes())
			for _, ss := range rs.ScopeSpans().All() {
				t.take(ss.Scope().Attributes())
				for _, sp := range ss.Spans().All() {
					t.take(sp.Attributes())
					for _, ev := range sp.Events().All() {
						t.take(ev.Attributes())
					}
				}
			}
		}
		s.record(ctx, &t)
		return td, nil
	}, capabilities)
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	s, err := newStats(set, "logs")
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, func(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
		var t tally
		for _, rl := range ld.ResourceLogs().All() {
			t.take(rl.Resource().Attributes())
			for _, sl := range rl.ScopeLogs().All() {
				t.take(sl.Scope().Attributes())
				for _, lr := range sl.LogRecords().All() {
					t.take(lr.Attributes())
				}
			}
		}
		s.record(ctx, &t)
		return ld, nil
	}, capabilities)
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	s, err := newStats(set, "metrics")
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, func(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
		var t tally
		for _, rm := range md.ResourceMetrics().All() {
			t.take(rm.Resource().Attributes())
			for _, sm := range rm.ScopeMetrics().All() {
				t.take(sm.Scope().Attributes())
				for _, m := range sm.Metrics().All() {
					forEachPointAttrs(m, t.take)
				}
			}
		}
		s.record(ctx, &t)
		return md, nil
	}, capabilities)
}

func forEachPointAttrs(m pmetric.Metric, fn func(pcommon.Map)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			fn(dp.Attributes())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			fn(dp.Attributes())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			fn(dp.Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			fn(dp.Attributes())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			fn(dp.Attributes())
		}
	default:
	}
}
