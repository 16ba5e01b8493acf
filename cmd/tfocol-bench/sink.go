package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mostynb/go-grpc-compression/nonclobbering/snappy" // TFOCOL_UPSTREAM_COMPRESSION=snappy
	_ "github.com/mostynb/go-grpc-compression/nonclobbering/zstd"   // TFOCOL_UPSTREAM_COMPRESSION=zstd
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp exporter compresses with gzip by default
	"google.golang.org/protobuf/encoding/protowire"
)

// OTLP/gRPC export methods.
const (
	methodTraces  = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	methodMetrics = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
	methodLogs    = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
)

// rawCodec passes already-encoded protobuf bytes through gRPC: the generator sends pre-marshaled
// requests and the sink counts items without building pdata, so neither spends CPU the collector
// under test could use.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = data
	return nil
}

// countingSink is an OTLP/gRPC backend that only counts the items (spans, data points, log records)
// it receives: unlike e2etest.Sink it keeps nothing, so a long run does not grow its memory.
type countingSink struct {
	Addr string

	items    [numSignals]atomic.Int64
	requests [numSignals]atomic.Int64
	server   *grpc.Server

	recording atomic.Bool
	mu        sync.Mutex
	arrivals  [numSignals][]arrival
}

// arrival is one export request reaching the sink: when, and the signal's item total after it.
type arrival struct {
	At    time.Time
	Total int64
}

func startCountingSink() (*countingSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &countingSink{Addr: l.Addr().String(), server: grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))}
	for sig := range numSignals {
		s.server.RegisterService(s.serviceDesc(sig), nil)
	}
	go func() { _ = s.server.Serve(l) }()
	return s, nil
}

// Items is the number of items of the signal received so far.
func (s *countingSink) Items(sig signal) int64 { return s.items[sig].Load() }

func (s *countingSink) Stop() { s.server.Stop() }

// Record starts (true) or stops (false) keeping the arrival times of requests; starting forgets the
// previous ones.
func (s *countingSink) Record(on bool) {
	if on {
		s.mu.Lock()
		s.arrivals = [numSignals][]arrival{}
		s.mu.Unlock()
	}
	s.recording.Store(on)
}

// Arrivals returns the requests of the signal that arrived while recording.
func (s *countingSink) Arrivals(sig signal) []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]arrival(nil), s.arrivals[sig]...)
}

// deliveredRate is the items/s between the first and the last arrival. Collectors deliver in batches
// (up to 8192 items for the batch processor), so counting the items inside a fixed window would be off
// by up to a batch; measuring from batch to batch is not. With fewer than 3 arrivals it falls back to
// items/window.
func deliveredRate(arr []arrival, itemsInWindow int64, window time.Duration) float64 {
	if len(arr) >= 3 {
		first, last := arr[0], arr[len(arr)-1]
		if d := last.At.Sub(first.At).Seconds(); d > 0 {
			return float64(last.Total-first.Total) / d
		}
	}
	return float64(itemsInWindow) / window.Seconds()
}

func (s *countingSink) serviceDesc(sig signal) *grpc.ServiceDesc {
	full := sig.method()
	service := full[1 : len(full)-len("/Export")]
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var body []byte
				if err := dec(&body); err != nil {
					return nil, err
				}
				n, err := countItems(sig, body)
				if err != nil {
					return nil, err
				}
				total := s.items[sig].Add(int64(n))
				s.requests[sig].Add(1)
				if s.recording.Load() {
					s.mu.Lock()
					s.arrivals[sig] = append(s.arrivals[sig], arrival{At: time.Now(), Total: total})
					s.mu.Unlock()
				}
				empty := []byte{} // an empty Export*ServiceResponse: full success
				return &empty, nil
			},
		}},
	}
}

// countItems counts the spans, metric data points or log records in an encoded OTLP export request
// by walking the protobuf wire format.
func countItems(sig signal, req []byte) (int, error) {
	if sig == metrics {
		return countMetricPoints(req)
	}
	// Export*ServiceRequest.resource_spans/logs = 1, Resource*.scope_* = 2, Scope*.spans/log_records = 2.
	return countPath(req, []protowire.Number{1, 2, 2})
}

// countPath counts the occurrences of the last field of path inside the nested messages of path.
func countPath(msg []byte, path []protowire.Number) (int, error) {
	n := 0
	err := eachField(msg, func(num protowire.Number, val []byte) error {
		if num != path[0] {
			return nil
		}
		if len(path) == 1 {
			n++
			return nil
		}
		c, err := countPath(val, path[1:])
		n += c
		return err
	})
	return n, err
}

// countMetricPoints counts data points: Metric.gauge = 5, sum = 7, histogram = 9,
// exponential_histogram = 10, summary = 11, each with data_points = 1.
func countMetricPoints(req []byte) (int, error) {
	n := 0
	err := eachField(req, func(num protowire.Number, rm []byte) error {
		if num != 1 {
			return nil
		}
		return eachField(rm, func(num protowire.Number, sm []byte) error {
			if num != 2 {
				return nil
			}
			return eachField(sm, func(num protowire.Number, m []byte) error {
				if num != 2 {
					return nil
				}
				return eachField(m, func(num protowire.Number, data []byte) error {
					switch num {
					case 5, 7, 9, 10, 11:
						c, err := countPath(data, []protowire.Number{1})
						n += c
						return err
					}
					return nil
				})
			})
		})
	})
	return n, err
}

// eachField calls fn with every length-delimited field of msg; other wire types are skipped.
func eachField(msg []byte, fn func(num protowire.Number, val []byte) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, msg)
			if n < 0 {
				return protowire.ParseError(n)
			}
			msg = msg[n:]
			continue
		}
		val, n := protowire.ConsumeBytes(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err := fn(num, val); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return nil
}
