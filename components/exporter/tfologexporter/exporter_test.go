package tfologexporter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/exporter/tfologexporter/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
)

type provider struct {
	log      *durablelog.Log
	refusals int
	oks      int
}

func (p *provider) Start(context.Context, component.Host) error { return nil }
func (p *provider) Shutdown(context.Context) error              { return nil }
func (p *provider) DurableLog() *durablelog.Log                 { return p.log }
func (p *provider) ReportAppendError(error)                     { p.refusals++ }
func (p *provider) ReportAppendOK()                             { p.oks++ }

type host struct {
	component.Host
	p *provider
}

func (h host) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{component.MustNewID("tfo_log"): h.p}
}

func logs(body string) plog.Logs {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
	return ld
}

func withHeaders(kv ...string) context.Context {
	md := map[string][]string{}
	for i := 0; i < len(kv); i += 2 {
		md[kv[i]] = []string{kv[i+1]}
	}
	return client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(md)})
}

func start(t *testing.T, opts durablelog.Options) (*provider, func(context.Context, plog.Logs) error) {
	t.Helper()
	opts.Dir = t.TempDir()
	l, _, err := durablelog.Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	p := &provider{log: l}
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), createDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host{componenttest.NewNopHost(), p}))
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return p, exp.ConsumeLogs
}

// A retry of a keyed request (same workspace, any case of the header names) is answered with success and not
// written again; another key or another workspace is another request.
func TestIdempotencyKeyDeduplicates(t *testing.T) {
	p, consume := start(t, durablelog.Options{})
	require.NoError(t, consume(withHeaders("Idempotency-Key", "k1", "X-Workspace-Id", "WS"), logs("a")))
	require.NoError(t, consume(withHeaders("idempotency-key", "k1", "x-workspace-id", "ws"), logs("a")))
	require.NoError(t, consume(withHeaders("idempotency-key", "k2", "x-workspace-id", "ws"), logs("a")))
	require.NoError(t, consume(withHeaders("idempotency-key", "k1", "x-workspace-id", "other"), logs("a")))
	require.NoError(t, consume(context.Background(), logs("a")))
	require.NoError(t, consume(context.Background(), logs("a")))
	assert.Equal(t, uint64(6), p.log.Stats().NextSeq, "five distinct requests written (seq 1-5)")
}

// A full log refuses with a retryable Unavailable that says when to retry; nothing is written, and the next
// append that fits succeeds again (health is told both ways).
func TestFullLogIsRetryableWithRetryInfo(t *testing.T) {
	p, consume := start(t, durablelog.Options{MaxBytes: 300})
	big := strings.Repeat("x", 400)
	err := consume(context.Background(), logs(big))
	require.Error(t, err)
	st := status.Convert(err)
	assert.Equal(t, codes.Unavailable, st.Code())
	var ri *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			ri = r
		}
	}
	require.NotNil(t, ri, "RetryInfo tells the client when to retry")
	assert.Equal(t, time.Second, ri.GetRetryDelay().AsDuration())
	assert.Equal(t, 1, p.refusals)
	require.NoError(t, consume(context.Background(), logs("small")))
	assert.Equal(t, 1, p.oks, "recovery is reported once")
	assert.Equal(t, uint64(2), p.log.Stats().NextSeq, "only the request that fit was written")
}

// The otlp receiver serves every signal once its first pipeline started, so a request can reach this exporter
// before its Start: it gets a retryable answer, not a crash.
func TestRequestBeforeStartIsRetryable(t *testing.T) {
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), createDefaultConfig())
	require.NoError(t, err)
	err = exp.ConsumeLogs(context.Background(), logs("early"))
	assert.Equal(t, codes.Unavailable, status.Code(err))
}
