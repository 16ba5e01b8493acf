package ingeststatus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

const (
	wsA = "8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f"
	wsB = "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)} }

var testLimits = Limits{MaxWorkspaces: 100, MaxAgents: 100, MaxInstances: 100, SilentAfter: 3}

// logsBuilder builds a logs request of one workspace, as the gateway logs it.
type logsBuilder struct {
	ld plog.Logs
	sl plog.ScopeLogs
}

func newLogs(ws string) *logsBuilder {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	if ws != "" {
		rl.Resource().Attributes().PutStr(AttrWorkspace, ws)
	}
	return &logsBuilder{ld: ld, sl: rl.ScopeLogs().AppendEmpty()}
}

func (b *logsBuilder) plain(n int) *logsBuilder {
	for range n {
		b.sl.LogRecords().AppendEmpty().Body().SetStr("plain")
	}
	return b
}

func (b *logsBuilder) event(typ, rejection string) *logsBuilder {
	lr := b.sl.LogRecords().AppendEmpty()
	lr.SetEventName(typ)
	if rejection != "" {
		lr.Attributes().PutStr(AttrRejectionReason, rejection)
	}
	return b
}

func (b *logsBuilder) heartbeat(instance, host, reason string, interval int64) *logsBuilder {
	lr := b.sl.LogRecords().AppendEmpty()
	lr.SetEventName(HeartbeatEvent)
	lr.Attributes().PutStr("host.name", host)
	lr.Attributes().PutStr("agent.id", "agent-"+host)
	lr.Attributes().PutStr("agent.version", "0.1.0")
	body := lr.Body().SetEmptyMap()
	body.PutStr("instanceId", instance)
	body.PutStr("reason", reason)
	body.PutInt("intervalSeconds", interval)
	return b
}

func (b *logsBuilder) summary(t *testing.T) *Summary {
	t.Helper()
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(b.ld)
	require.NoError(t, err)
	s, err := Summarize(loghost.SignalLogs, raw)
	require.NoError(t, err)
	return s
}

func tracesSummary(t *testing.T, ws string, spans int) *Summary {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(AttrWorkspace, ws)
	ss := rs.ScopeSpans().AppendEmpty()
	for range spans {
		ss.Spans().AppendEmpty().SetName("op")
	}
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	s, err := Summarize(loghost.SignalTraces, raw)
	require.NoError(t, err)
	return s
}

func workspaceOf(t *testing.T, r *Report, ws string) WorkspaceStatus {
	t.Helper()
	for _, w := range r.Workspaces {
		if w.Workspace == ws {
			return w
		}
	}
	t.Fatalf("workspace %s not in the report: %+v", ws, r.Workspaces)
	return WorkspaceStatus{}
}

// lifecycle adds an InstanceLifecycle event as the edge receiver makes it of a Sirveo payload.
func (b *logsBuilder) lifecycle(instance, phase, reason, version string, licenseValid bool) *logsBuilder {
	b.ld.ResourceLogs().At(0).Resource().Attributes().PutStr("service.name", "sirveo")
	lr := b.sl.LogRecords().AppendEmpty()
	lr.SetEventName(LifecycleEvent)
	body := lr.Body().SetEmptyMap()
	body.PutStr("phase", phase)
	body.PutStr("reason", reason)
	body.PutStr("instanceId", instance)
	body.PutStr("buildVersion", version)
	body.PutStr("buildCommit", "4379644")
	body.PutStr("buildOs", "linux")
	body.PutStr("buildArch", "amd64")
	body.PutStr("licenseKeyHash", "e88394fedd71573f9a2c37f2b8a1f0d2e6c4b9a87d65e4f3c2b1a09f8e7d6c5b")
	body.PutBool("licenseValid", licenseValid)
	body.PutStr("checksumStatus", "unverified")
	body.PutStr("customId", "sirveo-eu-1")
	return b
}
