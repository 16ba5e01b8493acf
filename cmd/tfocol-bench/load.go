package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// loadSpec is one load shape.
type loadSpec struct {
	Signal  signal
	Rate    float64 // items per second; 0 = saturation (every worker sends back to back)
	Items   int     // items per request
	Workers int     // concurrent requests in flight at most
	Conns   int     // gRPC connections the workers share
	Headers []string
}

// generator sends pre-marshaled OTLP export requests over gRPC and records what the collector
// answered. A unique Idempotency-Key is added to each request.
type generator struct {
	spec   loadSpec
	bodies [][]byte
	conns  []*grpc.ClientConn

	seq       atomic.Uint64 // request sequence: picks the body and makes the Idempotency-Key
	keyPrefix string
	acked     atomic.Int64 // items in requests the collector answered OK
	failed    atomic.Int64 // requests the collector refused or that failed
	recording atomic.Bool  // latency samples are kept only inside the measurement window

	mu        sync.Mutex
	latencies []time.Duration
	lastErr   error

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

func startGenerator(addr string, spec loadSpec, bodies [][]byte) (*generator, error) {
	g := &generator{spec: spec, bodies: bodies, keyPrefix: fmt.Sprintf("bench-%x-", time.Now().UnixNano())}
	for range max(spec.Conns, 1) {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			g.closeConns()
			return nil, err
		}
		g.conns = append(g.conns, cc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	var ticks chan time.Time
	if spec.Rate > 0 {
		ticks = make(chan time.Time, 4096)
		g.wg.Go(func() { g.pace(ctx, ticks) })
	}
	for w := range spec.Workers {
		g.wg.Go(func() { g.work(ctx, g.conns[w%len(g.conns)], ticks) })
	}
	return g, nil
}

// pace schedules one request every Items/Rate seconds on an absolute timetable: when the workers
// fall behind, later requests keep their intended start time, so their latency includes the wait
// (no coordinated omission).
func (g *generator) pace(ctx context.Context, ticks chan<- time.Time) {
	interval := time.Duration(float64(time.Second) * float64(g.spec.Items) / g.spec.Rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		select {
		case <-ctx.Done():
			return
		case ticks <- at:
		}
	}
}

func (g *generator) work(ctx context.Context, cc *grpc.ClientConn, ticks <-chan time.Time) {
	var samples []time.Duration
	defer func() {
		g.mu.Lock()
		g.latencies = append(g.latencies, samples...)
		g.mu.Unlock()
	}()
	for {
		start := time.Now()
		if ticks != nil {
			select {
			case <-ctx.Done():
				return
			case start = <-ticks:
			}
		} else if ctx.Err() != nil {
			return
		}
		recording := g.recording.Load()
		err := g.send(ctx, cc)
		switch {
		case err == nil:
			g.acked.Add(int64(g.spec.Items))
			if recording {
				samples = append(samples, time.Since(start))
			}
		case ctx.Err() != nil:
			return
		default:
			g.failed.Add(1)
			g.mu.Lock()
			g.lastErr = err
			g.mu.Unlock()
			if ticks == nil {
				// A refusal (memory_limiter, full queue) comes back fast; pause instead of spinning.
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
}

func (g *generator) send(ctx context.Context, cc *grpc.ClientConn) error {
	seq := g.seq.Add(1)
	body := g.bodies[seq%uint64(len(g.bodies))]
	md := metadata.Pairs(g.spec.Headers...)
	md.Set("idempotency-key", g.keyPrefix+strconv.FormatUint(seq, 10))
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, md), 30*time.Second)
	defer cancel()
	var resp []byte
	return cc.Invoke(ctx, g.spec.Signal.method(), &body, &resp)
}

// Record turns keeping latency samples on or off (the measurement window begins or ends); a request
// is sampled when it starts inside the window.
func (g *generator) Record(on bool) { g.recording.Store(on) }

// Acked is the number of items the collector has acknowledged so far.
func (g *generator) Acked() int64 { return g.acked.Load() }

// Stop stops sending, waits for requests in flight and returns the sorted latency samples.
func (g *generator) Stop() []time.Duration {
	g.stopOnce.Do(func() {
		g.cancel()
		g.wg.Wait()
		g.closeConns()
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	slices.Sort(g.latencies)
	return g.latencies
}

// Failures is the number of failed requests and the last error, as a gRPC status string.
func (g *generator) Failures() (int64, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.failed.Load()
	if g.lastErr == nil {
		return n, ""
	}
	if s, ok := status.FromError(g.lastErr); ok {
		return n, s.Code().String() + ": " + s.Message()
	}
	return n, g.lastErr.Error()
}

func (g *generator) closeConns() {
	for _, cc := range g.conns {
		_ = cc.Close()
	}
}
