package tfostatusextension

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tfocol/tfocol/components/extension/tfostatusextension/internal/metadata"
)

type telemetry struct {
	requests  metric.Int64Counter
	snapshots metric.Int64Counter
	silenced  metric.Int64Counter
	reg       metric.Registration
}

func newTelemetry(set component.TelemetrySettings, e *statusExtension) (*telemetry, error) {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	t := &telemetry{}
	var e1, e2, e3, e4, e5, e6 error
	t.requests, e1 = m.Int64Counter("tfocol_status_requests",
		metric.WithDescription("Requests to the status endpoints, by path and HTTP status (401/403 are refused credentials)."),
		metric.WithUnit("{request}"))
	t.snapshots, e2 = m.Int64Counter("tfocol_status_snapshots",
		metric.WithDescription("Writes of the persisted ingest status counters, by outcome (written, failed)."), metric.WithUnit("{write}"))
	t.silenced, e3 = m.Int64Counter("tfocol_agents_silenced",
		metric.WithDescription("Agents reported silent: no heartbeat for silent_after_intervals of their interval."), metric.WithUnit("{agent}"))
	agents, e4 := m.Int64ObservableGauge("tfocol_agents",
		metric.WithDescription("Agents known from their heartbeats, by state (alive, silent, stopped)."), metric.WithUnit("{agent}"))
	evicted, e5 := m.Int64ObservableCounter("tfocol_status_evicted",
		metric.WithDescription("Workspaces, agents and instances dropped from the ingest status beyond max_workspaces / max_agents / max_instances, by kind."))
	undecodable, e6 := m.Int64ObservableCounter("tfocol_status_undecodable",
		metric.WithDescription("Durable log entries the ingest status could not decode (not counted)."), metric.WithUnit("{entry}"))
	if err := errors.Join(e1, e2, e3, e4, e5, e6); err != nil {
		return nil, err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		tally := e.tally.Load()
		if tally == nil {
			return nil
		}
		for state, n := range tally.AgentStates() {
			o.ObserveInt64(agents, int64(n), metric.WithAttributes(attribute.String("state", state)))
		}
		acc := tally.Accounting()
		o.ObserveInt64(evicted, int64(acc.EvictedWorkspaces), metric.WithAttributes(attribute.String("kind", "workspace")))
		o.ObserveInt64(evicted, int64(acc.EvictedAgents), metric.WithAttributes(attribute.String("kind", "agent")))
		o.ObserveInt64(evicted, int64(acc.EvictedInstances), metric.WithAttributes(attribute.String("kind", "instance")))
		o.ObserveInt64(undecodable, int64(acc.Undecodable))
		return nil
	}, agents, evicted, undecodable)
	if err != nil {
		return nil, err
	}
	t.reg = reg
	return t, nil
}

// answered returns the function that counts one answer of path.
func (t *telemetry) answered(path string) func(code int) {
	return func(code int) {
		t.requests.Add(context.Background(), 1, metric.WithAttributes(attribute.String("path", path),
			attribute.String("code", strconv.Itoa(code))))
	}
}

func (t *telemetry) snapshot(err error) {
	outcome := "written"
	if err != nil {
		outcome = "failed"
	}
	t.snapshots.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (t *telemetry) close() {
	if t.reg != nil {
		_ = t.reg.Unregister()
	}
}
