package e2etest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// Target says where and how a sender delivers OTLP.
type Target struct {
	Protocol string            // "grpc" or "http"
	Addr     string            // "127.0.0.1:port"
	Headers  map[string]string // request headers / gRPC metadata
	Gzip     bool
	// LocalIP, when set, is the source address the connection is made from (e.g. "127.0.0.2": every
	// 127.0.0.0/8 address is local on Linux), to act as another client host.
	LocalIP string
	// TLS, when set, makes the connection TLS (https:// for OTLP/HTTP) with this client configuration.
	TLS *tls.Config
}

// WithTLS returns the target with connections made over TLS with cfg.
func (t Target) WithTLS(cfg *tls.Config) Target {
	t.TLS = cfg
	return t
}

// From returns the target with connections made from the source address ip.
func (t Target) From(ip string) Target {
	t.LocalIP = ip
	return t
}

func (t Target) dialer() *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if t.LocalIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(t.LocalIP)}
	}
	return d
}

// GRPC returns a gRPC target for the collector's OTLP receiver.
func (c *Collector) GRPC(headers map[string]string) Target {
	return Target{Protocol: "grpc", Addr: c.Ports.OTLPGRPC, Headers: headers, Gzip: true}
}

// HTTP returns an OTLP/HTTP target for the collector's OTLP receiver.
func (c *Collector) HTTP(headers map[string]string) Target {
	return Target{Protocol: "http", Addr: c.Ports.OTLPHTTP, Headers: headers, Gzip: true}
}

// SendSpansSDK exports n spans of one trace in one request with the OTel Go SDK's OTLP trace exporter
// (retries off, so the receiver's answer is returned).
func SendSpansSDK(ctx context.Context, tgt Target, service string, n int) error {
	var (
		exp interface {
			ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error
			Shutdown(context.Context) error
		}
		err error
	)
	switch tgt.Protocol {
	case "grpc":
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(tgt.Addr), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithHeaders(tgt.Headers), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false})}
		if tgt.Gzip {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case "http":
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(tgt.Addr), otlptracehttp.WithInsecure(),
			otlptracehttp.WithHeaders(tgt.Headers), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}
		if tgt.Gzip {
			opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		return fmt.Errorf("unknown protocol %q", tgt.Protocol)
	}
	if err != nil {
		return err
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	return exp.ExportSpans(ctx, spanStubs(service, n).Snapshots())
}

func spanStubs(service string, n int) tracetest.SpanStubs {
	res := resource.NewSchemaless(attribute.String("service.name", service))
	now := time.Now()
	var traceID trace.TraceID
	copy(traceID[:], fmt.Sprintf("%016d", now.UnixNano()))
	stubs := make(tracetest.SpanStubs, n)
	for i := range stubs {
		var spanID trace.SpanID
		copy(spanID[:], fmt.Sprintf("%08d", i+1))
		stubs[i] = tracetest.SpanStub{
			Name:      "op-" + strconv.Itoa(i%4),
			SpanKind:  trace.SpanKindServer,
			StartTime: now.Add(-time.Duration(i+1) * time.Millisecond),
			EndTime:   now,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
			}),
			Attributes:           []attribute.KeyValue{attribute.Int("seq", i)},
			Resource:             res,
			InstrumentationScope: instrumentation.Scope{Name: "tfocol-e2e"},
		}
	}
	return stubs
}

// SendMetricsSDK exports one request holding a cumulative sum with n data points with the OTel Go SDK's OTLP
// metric exporter (retries off).
func SendMetricsSDK(ctx context.Context, tgt Target, service string, n int) error {
	var (
		exp interface {
			Export(context.Context, *metricdata.ResourceMetrics) error
			Shutdown(context.Context) error
		}
		err error
	)
	switch tgt.Protocol {
	case "grpc":
		opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(tgt.Addr), otlpmetricgrpc.WithInsecure(),
			otlpmetricgrpc.WithHeaders(tgt.Headers), otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false})}
		if tgt.Gzip {
			opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	case "http":
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(tgt.Addr), otlpmetrichttp.WithInsecure(),
			otlpmetrichttp.WithHeaders(tgt.Headers), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false})}
		if tgt.Gzip {
			opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	default:
		return fmt.Errorf("unknown protocol %q", tgt.Protocol)
	}
	if err != nil {
		return err
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	now := time.Now()
	points := make([]metricdata.DataPoint[int64], n)
	for i := range points {
		points[i] = metricdata.DataPoint[int64]{
			Attributes: attribute.NewSet(attribute.Int("seq", i)),
			StartTime:  now.Add(-time.Minute), Time: now, Value: int64(i),
		}
	}
	rm := &metricdata.ResourceMetrics{
		Resource: resource.NewSchemaless(attribute.String("service.name", service)),
		ScopeMetrics: []metricdata.ScopeMetrics{{
			Scope: instrumentation.Scope{Name: "tfocol-e2e"},
			Metrics: []metricdata.Metrics{{
				Name: "e2e.requests", Unit: "1",
				Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points},
			}},
		}},
	}
	return exp.Export(ctx, rm)
}

// ExportGRPC sends data (ptrace.Traces, pmetric.Metrics or plog.Logs) in one OTLP/gRPC request with the
// target's headers as metadata. The error is the server's gRPC status error, if any.
func ExportGRPC(ctx context.Context, tgt Target, data any) error {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if tgt.TLS != nil {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tgt.TLS))}
	}
	target := tgt.Addr
	if tgt.LocalIP != "" {
		target = "passthrough:///" + tgt.Addr
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return tgt.dialer().DialContext(ctx, "tcp", addr)
		}))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx = metadata.NewOutgoingContext(ctx, metadata.New(tgt.Headers))
	var callOpts []grpc.CallOption
	if tgt.Gzip {
		callOpts = append(callOpts, grpc.UseCompressor("gzip"))
	}
	switch d := data.(type) {
	case ptrace.Traces:
		_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(d), callOpts...)
	case pmetric.Metrics:
		_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(d), callOpts...)
	case plog.Logs:
		_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(d), callOpts...)
	default:
		return fmt.Errorf("ExportGRPC: unsupported %T", data)
	}
	return err
}

// HTTPResult is the answer to an OTLP/HTTP request.
type HTTPResult struct {
	Status int
	Header http.Header
	Body   []byte
}

// MarshalOTLP returns the protobuf ExportXServiceRequest bytes of data and its URL path ("/v1/traces", ...).
func MarshalOTLP(data any) (body []byte, path string, err error) {
	switch d := data.(type) {
	case ptrace.Traces:
		body, err = ptraceotlp.NewExportRequestFromTraces(d).MarshalProto()
		return body, "/v1/traces", err
	case pmetric.Metrics:
		body, err = pmetricotlp.NewExportRequestFromMetrics(d).MarshalProto()
		return body, "/v1/metrics", err
	case plog.Logs:
		body, err = plogotlp.NewExportRequestFromLogs(d).MarshalProto()
		return body, "/v1/logs", err
	}
	return nil, "", fmt.Errorf("MarshalOTLP: unsupported %T", data)
}

// ExportHTTP POSTs data as protobuf OTLP/HTTP (gzip when the target says so) with the target's headers.
func ExportHTTP(ctx context.Context, tgt Target, data any) (*HTTPResult, error) {
	body, path, err := MarshalOTLP(data)
	if err != nil {
		return nil, err
	}
	return PostRaw(ctx, tgt, path, "application/x-protobuf", body)
}

// PostRaw POSTs body as-is (gzipped when tgt.Gzip) to the OTLP/HTTP path with the content type and headers.
func PostRaw(ctx context.Context, tgt Target, path, contentType string, body []byte) (*HTTPResult, error) {
	if tgt.Gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = buf.Bytes()
	}
	scheme := "http://"
	if tgt.TLS != nil {
		scheme = "https://"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+tgt.Addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if tgt.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range tgt.Headers {
		req.Header.Set(k, v)
	}
	hc := http.DefaultClient
	if tgt.LocalIP != "" || tgt.TLS != nil {
		hc = &http.Client{Transport: &http.Transport{DialContext: tgt.dialer().DialContext, DisableKeepAlives: true, TLSClientConfig: tgt.TLS}}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	return &HTTPResult{Status: resp.StatusCode, Header: resp.Header, Body: respBody}, err
}

// GenTraces returns one resource with n spans of one trace; resource attributes from res.
func GenTraces(n int, res map[string]string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	putAll(rs.Resource().Attributes(), res)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("tfocol-e2e")
	now := time.Now()
	traceID := pcommon.TraceID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, byte(now.UnixNano() >> 8), byte(now.UnixNano())})
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("op-" + strconv.Itoa(i%4))
		sp.SetTraceID(traceID)
		sp.SetSpanID(pcommon.SpanID([8]byte{0, 0, 0, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i) + 1}))
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		sp.Attributes().PutInt("seq", int64(i))
	}
	return td
}

// GenLogs returns one resource with n log records with body "record <i>" and attribute seq=i.
func GenLogs(n int, res map[string]string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	putAll(rl.Resource().Attributes(), res)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("tfocol-e2e")
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr("record " + strconv.Itoa(i))
		lr.Attributes().PutInt("seq", int64(i))
	}
	return ld
}

// GenMetrics returns one resource with one gauge holding n data points with attribute seq=i.
func GenMetrics(n int, res map[string]string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	putAll(rm.Resource().Attributes(), res)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("tfocol-e2e")
	m := sm.Metrics().AppendEmpty()
	m.SetName("e2e.value")
	g := m.SetEmptyGauge()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := range n {
		dp := g.DataPoints().AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(i))
		dp.Attributes().PutInt("seq", int64(i))
	}
	return md
}

func putAll(m pcommon.Map, kv map[string]string) {
	for k, v := range kv {
		m.PutStr(k, v)
	}
}
