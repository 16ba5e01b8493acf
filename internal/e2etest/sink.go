package e2etest

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/httpstatus"
)

// Signal names.
const (
	Traces  = "traces"
	Metrics = "metrics"
	Logs    = "logs"
)

// SinkRequest is one export request a Sink received.
type SinkRequest struct {
	Signal    string
	Transport string              // "grpc" or "http"
	Headers   map[string][]string // lower-case names
	Items     int                 // spans, data points or log records
}

// Sink is an OTLP backend for tests: a gRPC and an HTTP server that record every export request they accept.
// Point an otlp_grpc exporter at GRPCAddr or an otlp_http exporter at HTTPURL.
type Sink struct {
	GRPCAddr string // "127.0.0.1:port"
	HTTPURL  string // "http://127.0.0.1:port"

	mu        sync.Mutex
	traces    []ptrace.Traces
	metrics   []pmetric.Metrics
	logs      []plog.Logs
	requests  []SinkRequest
	intercept func(SinkRequest) error
}

// NewSink starts a sink on free loopback ports; it stops when the test ends.
func NewSink(t testing.TB) *Sink {
	t.Helper()
	s := &Sink{}

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(gs, &traceServer{s: s})
	pmetricotlp.RegisterGRPCServer(gs, &metricServer{s: s})
	plogotlp.RegisterGRPCServer(gs, &logServer{s: s})
	go func() { _ = gs.Serve(gl) }()
	s.GRPCAddr = gl.Addr().String()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", s.handleHTTP(Traces))
	mux.HandleFunc("/v1/metrics", s.handleHTTP(Metrics))
	mux.HandleFunc("/v1/logs", s.handleHTTP(Logs))
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(hl) }()
	s.HTTPURL = "http://" + hl.Addr().String()

	t.Cleanup(func() {
		gs.Stop()
		_ = hs.Close()
	})
	return s
}

// Intercept installs fn, called for every request before it is recorded. A non-nil error (use a gRPC status
// error, e.g. status.Error(codes.Unavailable, "down")) is returned to the exporter and the data is not
// recorded. fn may block (a hanging backend) until the request's context ends. nil removes it.
func (s *Sink) Intercept(fn func(SinkRequest) error) {
	s.mu.Lock()
	s.intercept = fn
	s.mu.Unlock()
}

// FailNext refuses the next n requests with the given code, then accepts again.
func (s *Sink) FailNext(n int, code codes.Code) {
	var mu sync.Mutex
	left := n
	s.Intercept(func(SinkRequest) error {
		mu.Lock()
		defer mu.Unlock()
		if left > 0 {
			left--
			return status.Error(code, "sink: injected failure")
		}
		return nil
	})
}

func (s *Sink) accept(req SinkRequest, record func()) error {
	s.mu.Lock()
	fn := s.intercept
	s.mu.Unlock()
	if fn != nil {
		if err := fn(req); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	record()
	return nil
}

// Traces returns every trace batch received so far.
func (s *Sink) Traces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces...)
}

// Metrics returns every metric batch received so far.
func (s *Sink) Metrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.metrics...)
}

// Logs returns every log batch received so far.
func (s *Sink) Logs() []plog.Logs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]plog.Logs(nil), s.logs...)
}

// Requests returns every accepted request, in arrival order.
func (s *Sink) Requests() []SinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SinkRequest(nil), s.requests...)
}

// SpanCount is the number of spans received.
func (s *Sink) SpanCount() int { return s.count(Traces) }

// DataPointCount is the number of metric data points received.
func (s *Sink) DataPointCount() int { return s.count(Metrics) }

// LogRecordCount is the number of log records received.
func (s *Sink) LogRecordCount() int { return s.count(Logs) }

func (s *Sink) count(signal string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Signal == signal {
			n += r.Items
		}
	}
	return n
}

// Reset forgets everything received.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.traces, s.metrics, s.logs, s.requests = nil, nil, nil, nil
}

func grpcHeaders(ctx context.Context) map[string][]string {
	md, _ := metadata.FromIncomingContext(ctx)
	return md
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	s *Sink
}

func (ts *traceServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := req.Traces()
	err := ts.s.accept(SinkRequest{Signal: Traces, Transport: "grpc", Headers: grpcHeaders(ctx), Items: td.SpanCount()},
		func() { ts.s.traces = append(ts.s.traces, td) })
	return ptraceotlp.NewExportResponse(), err
}

type metricServer struct {
	pmetricotlp.UnimplementedGRPCServer
	s *Sink
}

func (ms *metricServer) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md := req.Metrics()
	err := ms.s.accept(SinkRequest{Signal: Metrics, Transport: "grpc", Headers: grpcHeaders(ctx), Items: md.DataPointCount()},
		func() { ms.s.metrics = append(ms.s.metrics, md) })
	return pmetricotlp.NewExportResponse(), err
}

type logServer struct {
	plogotlp.UnimplementedGRPCServer
	s *Sink
}

func (ls *logServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	ld := req.Logs()
	err := ls.s.accept(SinkRequest{Signal: Logs, Transport: "grpc", Headers: grpcHeaders(ctx), Items: ld.LogRecordCount()},
		func() { ls.s.logs = append(ls.s.logs, ld) })
	return plogotlp.NewExportResponse(), err
}

func (s *Sink) handleHTTP(signal string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
		headers := make(map[string][]string, len(r.Header))
		for k, v := range r.Header {
			headers[strings.ToLower(k)] = v
		}
		req := SinkRequest{Signal: signal, Transport: "http", Headers: headers}

		var record func()
		switch signal {
		case Traces:
			er := ptraceotlp.NewExportRequest()
			err = unmarshal(er, data, isJSON)
			td := er.Traces()
			req.Items, record = td.SpanCount(), func() { s.traces = append(s.traces, td) }
		case Metrics:
			er := pmetricotlp.NewExportRequest()
			err = unmarshal(er, data, isJSON)
			md := er.Metrics()
			req.Items, record = md.DataPointCount(), func() { s.metrics = append(s.metrics, md) }
		case Logs:
			er := plogotlp.NewExportRequest()
			err = unmarshal(er, data, isJSON)
			ld := er.Logs()
			req.Items, record = ld.LogRecordCount(), func() { s.logs = append(s.logs, ld) }
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.accept(req, record); err != nil {
			http.Error(w, err.Error(), httpstatus.FromGRPC(status.Code(err)))
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}
}

type protoJSONUnmarshaler interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

func unmarshal(req protoJSONUnmarshaler, data []byte, isJSON bool) error {
	if isJSON {
		return req.UnmarshalJSON(data)
	}
	return req.UnmarshalProto(data)
}
