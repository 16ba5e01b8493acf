// Command tfocol-bench runs the shipped tfocol gateway (configs/gateway.yaml, -gateway) side by side with stock
// OpenTelemetry pipelines in the same bin/tfocol — stock (otlp → batch → otlp, in memory), durable and
// durable-sync (otlp → otlp with a persistent queue on file_storage, fsync off / on) — under the same OTLP/gRPC
// load for logs, traces and metrics, at a fixed rate and at saturation, and reports throughput, CPU per item,
// peak RSS and export latency with tfocol/peer ratios. `make bench` runs it. With -workspaces it measures the
// gateway's scaling with the number of workspaces instead (`make bench-workspaces`). See docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	ossignal "os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/procfs"
)

type options struct {
	Rounds      int
	Warmup      time.Duration
	Window      time.Duration
	Rate        float64
	Items       int
	Workers     int
	RateWorkers int
	Conns       int
	Procs       int
	EventShare  float64
	Signals     []signal
	Modes       []string
	Peers       []string
	Gateway     string
	Stock       string
	Durable     string
	GatewayEnv  map[string]string
	WS          wsOptions
	Out         string
	ProfileDir  string
	Verbose     bool
	Quick       bool
	Build       bool
	GatewaySet  []string
}

const (
	modeFixed = "fixed"
	modeSat   = "saturation"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tfocol-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	var signals, modes, peers, workspaces string
	o.GatewayEnv = map[string]string{}
	flag.IntVar(&o.Rounds, "rounds", 3, "rounds; each runs every load on every peer, in rotating order")
	flag.DurationVar(&o.Warmup, "warmup", 3*time.Second, "load before the measurement window starts")
	flag.DurationVar(&o.Window, "window", 10*time.Second, "measurement window per run")
	flag.Float64Var(&o.Rate, "rate", 10000, "items per second of the fixed-rate load")
	flag.IntVar(&o.Items, "items", 100, "items (log records, spans, data points) per export request")
	flag.IntVar(&o.Workers, "workers", 8, "concurrent requests at saturation")
	flag.IntVar(&o.RateWorkers, "rate-workers", 16, "concurrent requests at most at the fixed rate")
	flag.IntVar(&o.Conns, "conns", 4, "gRPC connections the generator spreads requests over")
	flag.IntVar(&o.Procs, "procs", 1, "GOMAXPROCS of this process (load generator + sink), which shares the machine with the collector")
	flag.Float64Var(&o.EventShare, "event-share", 0.2, "share of log records that are TelemetryFlow event records")
	flag.StringVar(&signals, "signals", "logs,traces,metrics", "signals to load")
	flag.StringVar(&modes, "modes", modeFixed+","+modeSat, "loads: fixed (-rate items/s) and/or saturation")
	flag.StringVar(&peers, "peers", strings.Join(allPeers, ","), "pipelines to run: stock (in-memory), durable (persistent queue, no fsync), durable-sync (persistent queue, fsync), tfocol (the gateway)")
	flag.StringVar(&o.Gateway, "gateway", "configs/gateway.yaml", "tfocol gateway config, run unmodified (only the TFOCOL_* variables its header documents are set)")
	flag.StringVar(&o.Stock, "stock", "tests/bench/stock.yaml", "stock pipeline config")
	flag.StringVar(&o.Durable, "durable", "tests/bench/durable.yaml", "config of the durable and durable-sync peers (TFOCOL_BENCH_QUEUE_FSYNC=false/true)")
	flag.Func("gateway-env", "set a `NAME=value` the gateway config documents (repeatable), e.g. TFOCOL_IDEMPOTENCY_STORE=storage; the report says so", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || !strings.HasPrefix(k, "TFOCOL_") {
			return errors.New("want TFOCOL_NAME=value")
		}
		o.GatewayEnv[k] = val
		return nil
	})
	flag.StringVar(&workspaces, "workspaces", "", "workspace-scaling mode instead of the pipeline comparison: comma-separated workspace counts, e.g. 100,2000,10000 (docs/benchmarks.md)")
	o.WS.flags()
	flag.StringVar(&o.Out, "out", "docs/benchmarks.md", "markdown report to write (the generated section); empty: none")
	flag.StringVar(&o.ProfileDir, "profile", "", "after the rounds, profile the gateway (CPU, heap, goroutines) once per load and signal into this directory")
	flag.Func("gateway-set", "diagnosis only: pass --set=`key=value` to the gateway (repeatable); the report says so", func(v string) error {
		o.GatewaySet = append(o.GatewaySet, v)
		return nil
	})
	flag.BoolVar(&o.Build, "build", true, "run make build first (false: use the existing bin/tfocol)")
	flag.BoolVar(&o.Verbose, "v", false, "print the harness's log lines")
	flag.BoolVar(&o.Quick, "quick", false, "smoke run (~2 minutes): 1 round, short windows, no report file unless -out is given")
	flag.Parse()

	if o.Quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			o.Rounds = 1
		}
		if !set["warmup"] {
			o.Warmup = 1500 * time.Millisecond
		}
		if !set["window"] {
			o.Window = 3 * time.Second
		}
		if !set["out"] {
			o.Out = ""
		}
	}
	for _, name := range strings.Split(signals, ",") {
		s, err := parseSignal(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		o.Signals = append(o.Signals, s)
	}
	for _, m := range strings.Split(modes, ",") {
		m = strings.TrimSpace(m)
		if m != modeFixed && m != modeSat {
			return fmt.Errorf("unknown mode %q (want fixed or saturation)", m)
		}
		o.Modes = append(o.Modes, m)
	}
	for _, name := range strings.Split(peers, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(allPeers, name) {
			return fmt.Errorf("unknown peer %q (want %s)", name, strings.Join(allPeers, ", "))
		}
		if !slices.Contains(o.Peers, name) {
			o.Peers = append(o.Peers, name)
		}
	}
	if workspaces != "" {
		for _, f := range strings.Split(workspaces, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("-workspaces: %q is not a positive count", f)
			}
			o.WS.Counts = append(o.WS.Counts, n)
		}
	}
	runtime.GOMAXPROCS(o.Procs)
	scrubEnv()
	if len(o.WS.Counts) > 0 {
		return benchWorkspaces(o)
	}
	return bench(o)
}

// pipeline is one collector configuration under test (a peer).
type pipeline struct {
	Name    string
	Configs []string
	Env     map[string]string
	Args    []string
}

func bench(o options) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	if o.Build {
		fmt.Fprintln(os.Stderr, "building bin/tfocol (make build) ...")
		if out, err := exec.Command("make", "-s", "build").CombinedOutput(); err != nil {
			return fmt.Errorf("make build: %w\n%s", err, out)
		}
	}
	bin := filepath.Join(root, "bin", "tfocol")
	// The binary is fresh now: the harness need not run make again.
	_ = os.Setenv("TFOCOL_BIN", bin)

	tmp, err := os.MkdirTemp("", "tfocol-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	stopOnInterrupt(tmp)

	sink, err := startCountingSink()
	if err != nil {
		return err
	}
	defer sink.Stop()

	gw, err := inspectGateway(o.Gateway)
	if err != nil {
		return err
	}
	creds := placeholderCredentials()
	if gw.Authenticator != "" {
		if creds, err = mintKey(tmp); err != nil {
			return err
		}
	}
	peers, err := pipelines(o, gw, creds, sink.Addr)
	if err != nil {
		return err
	}

	bodies := map[signal][][]byte{}
	for _, s := range o.Signals {
		spec := payloadSpec{Items: o.Items, Distinct: 64, EventShare: o.EventShare, FixturesDir: "testdata/events"}
		if bodies[s], err = buildRequests(s, spec); err != nil {
			return err
		}
	}

	r := &runner{o: o, sink: sink, bodies: bodies, headers: creds.headers(), tmp: tmp}
	fmt.Fprintf(os.Stderr, "gateway %s: auth=%q, exporters→sink via %v %v; peers %v\n", gw.Path, gw.Authenticator, gw.UpstreamEnv, gw.UpstreamSet, o.Peers)
	start := time.Now()
	var results []runResult
	load := 0
	for round := 1; round <= o.Rounds; round++ {
		for _, mode := range o.Modes {
			for _, sig := range o.Signals {
				// Rotate which pipeline goes first, between neighbouring loads and between rounds for
				// the same load, so drift (noisy neighbours, warming caches) hits all alike.
				order := peerOrder(o.Peers, load)
				load++
				for _, name := range order {
					res := r.runOne(peers[name], mode, sig, round, "")
					fmt.Fprintln(os.Stderr, res.line())
					results = append(results, res)
				}
			}
		}
	}
	elapsed := time.Since(start)

	var profiles []string
	if o.ProfileDir != "" {
		tfocol, ok := peers[peerTfocol]
		if !ok {
			return errors.New("-profile needs the tfocol peer")
		}
		if profiles, err = r.profile(tfocol, gw); err != nil {
			return err
		}
	}

	rep := buildReport(o, results, gw, elapsed, profiles, tmp)
	fmt.Println("Machine:", rep.machine)
	fmt.Println()
	fmt.Println(rep.table)
	fmt.Println(rep.targets)
	if o.Out != "" {
		if err := writeReport(o.Out, rep); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "wrote", o.Out)
	}
	for _, res := range results {
		if res.Err != nil {
			return errors.New("some runs failed (see above)")
		}
	}
	return nil
}

// Peer names: the gateway and the stock pipelines it is compared with.
const (
	peerStock       = "stock"
	peerDurable     = "durable"
	peerDurableSync = "durable-sync"
	peerTfocol      = "tfocol"
)

var allPeers = []string{peerStock, peerDurable, peerDurableSync, peerTfocol}

// harnessEnv are the variables e2etest.Start sets for every collector (ports, data and config directory).
var harnessEnv = []string{"TFOCOL_OTLP_GRPC_ENDPOINT", "TFOCOL_OTLP_HTTP_ENDPOINT", "TFOCOL_EDGE_ENDPOINT", "TFOCOL_HEALTH_ENDPOINT",
	"TFOCOL_PROMETHEUS_ENDPOINT", "TFOCOL_METRICS_HOST", "TFOCOL_METRICS_PORT", "TFOCOL_STATUS_ENDPOINT", "TFOCOL_DATA_DIR",
	"TFOCOL_CONFIG_DIR"}

// pipelines returns the pipelines of o.Peers, all exporting to the sink. The stock and durable ones are the
// bench's own configs; the gateway gets only the TFOCOL_* variables its config's header documents (plus --set
// overrides where a path it must change does not come from one).
func pipelines(o options, gw *gatewayConfig, creds credentials, sinkAddr string) (map[string]pipeline, error) {
	out := map[string]pipeline{}
	for _, name := range o.Peers {
		switch name {
		case peerStock:
			out[name] = pipeline{Name: name, Configs: []string{o.Stock}, Env: map[string]string{"TFOCOL_UPSTREAM_ENDPOINT": sinkAddr}}
		case peerDurable, peerDurableSync:
			out[name] = pipeline{Name: name, Configs: []string{o.Durable}, Env: map[string]string{
				"TFOCOL_UPSTREAM_ENDPOINT": sinkAddr,
				"TFOCOL_BENCH_QUEUE_FSYNC": fmt.Sprint(name == peerDurableSync),
			}}
		case peerTfocol:
			p, err := gatewayPipeline(o, gw, creds, sinkAddr)
			if err != nil {
				return nil, err
			}
			out[name] = p
		}
	}
	return out, nil
}

// gatewayPipeline is the gateway of o.Gateway pointed at the sink and the minted key.
func gatewayPipeline(o options, gw *gatewayConfig, creds credentials, sinkAddr string) (pipeline, error) {
	p := pipeline{Name: peerTfocol, Configs: []string{o.Gateway}, Env: map[string]string{}}
	for _, name := range harnessEnv {
		if !gw.Documented[name] {
			fmt.Fprintf(os.Stderr, "note: %s does not document %s, which the harness sets for every collector\n", gw.Path, name)
		}
	}
	for _, name := range gw.UpstreamEnv {
		p.Env[name] = sinkAddr
	}
	for _, key := range gw.UpstreamSet {
		fmt.Fprintf(os.Stderr, "note: %s: %s does not come from a documented variable; overriding it with --set\n", gw.Path, key)
		p.Args = append(p.Args, "--set="+key+"="+sinkAddr)
	}
	if gw.Authenticator != "" {
		if gw.KeysFileEnv != "" {
			p.Env[gw.KeysFileEnv] = creds.KeysFile
		} else {
			fmt.Fprintf(os.Stderr, "note: %s does not take the key file path from a documented variable; overriding it with --set\n", gw.Path)
			p.Args = append(p.Args, "--set="+gw.KeysFileSet+"="+creds.KeysFile)
		}
	}
	for k, v := range o.GatewayEnv {
		if !gw.Documented[k] {
			return p, fmt.Errorf("%s: %s is not among the variables documented at the top of %s", "-gateway-env", k, gw.Path)
		}
		p.Env[k] = v
	}
	for _, kv := range o.GatewaySet {
		p.Args = append(p.Args, "--set="+kv)
	}
	// Variables the config needs without a default: take what a deployment sets (configs/validate.env), for
	// documented ones only.
	if len(gw.MissingEnv) > 0 {
		deploy, _ := envFile("configs/validate.env")
		var missing []string
		for _, name := range gw.MissingEnv {
			if _, set := p.Env[name]; set || slices.Contains(harnessEnv, name) {
				continue
			}
			v, ok := deploy[name]
			switch {
			case ok && gw.Documented[name]:
				p.Env[name] = v
			case ok:
				fmt.Fprintf(os.Stderr, "note: %s needs %s (no default) but does not document it: not set\n", gw.Path, name)
			default:
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return p, fmt.Errorf("%s needs %v set (no default, not in configs/validate.env)", gw.Path, missing)
		}
	}
	return p, nil
}

// scrubEnv removes TFOCOL_* variables (but TFOCOL_BIN) from this process's environment, which every collector
// inherits: a TFOCOL_QUEUE_FSYNC or TFOCOL_DATA_DIR left in the shell must not change what is measured.
func scrubEnv() {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TFOCOL_") && name != "TFOCOL_BIN" {
			fmt.Fprintf(os.Stderr, "note: ignoring %s from the environment\n", name)
			_ = os.Unsetenv(name)
		}
	}
}

// peerOrder is the order the peers run the k-th load of the bench (counted over all rounds) in: rotated by one
// from each load to the next, so each peer runs first, second, … equally often and drift hits all alike.
func peerOrder(peers []string, k int) []string {
	n := len(peers)
	if n == 0 {
		return nil
	}
	shift := k % n
	return append(slices.Clone(peers[shift:]), peers[:shift]...)
}

// runner runs one load against one pipeline.
type runner struct {
	o       options
	sink    *countingSink
	bodies  map[signal][][]byte
	headers []string
	tmp     string
}

// runResult is what one run measured over its window.
type runResult struct {
	Pipeline string
	Mode     string
	Signal   signal
	Round    int

	Throughput float64 // sustained items/s: the lower of DeliveredRate and AckedRate
	Delivered  float64 // items/s that reached the sink
	AckedRate  float64 // items/s the collector acknowledged to the generator
	CPUPerM    float64 // collector CPU seconds per million sustained items
	CPUCores   float64 // collector CPU seconds per second
	GenCores   float64 // this process's (generator + sink) CPU seconds per second
	RSSMiB     float64 // collector peak RSS over the whole run
	AnonMiB    float64 // anonymous (heap, stacks) and file-backed (mmap'd files, e.g. bbolt) resident
	FileMiB    float64 // memory at the end of the run
	P50, P99   time.Duration
	Samples    int
	Failed     int64
	LastErr    string
	Err        error
}

func (r runResult) line() string {
	if r.Err != nil {
		return fmt.Sprintf("round %d %-10s %-7s %-12s FAILED: %v", r.Round, r.Mode, r.Signal, r.Pipeline, r.Err)
	}
	s := fmt.Sprintf("round %d %-10s %-7s %-12s %9.0f items/s (delivered %9.0f, accepted %9.0f)  cpu %5.2f s/M items (%.2f cores, gen %.2f)  rss %6.1f MiB (end: anon %.0f, file %.0f)  p50 %7.2f ms  p99 %7.2f ms",
		r.Round, r.Mode, r.Signal, r.Pipeline, r.Throughput, r.Delivered, r.AckedRate, r.CPUPerM, r.CPUCores, r.GenCores, r.RSSMiB, r.AnonMiB, r.FileMiB, ms(r.P50), ms(r.P99))
	if r.Failed > 0 {
		s += fmt.Sprintf("  %d failed requests (last: %s)", r.Failed, r.LastErr)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type snapshot struct {
	at                   time.Time
	sink, acked          int64
	collectorCPU, genCPU time.Duration
}

func (r *runner) snap(pid int, sig signal, g *generator) (snapshot, error) {
	s := snapshot{at: time.Now(), sink: r.sink.Items(sig), acked: g.Acked()}
	var err1, err2 error
	s.collectorCPU, err1 = procfs.CPU(pid)
	s.genCPU, err2 = procfs.CPU(0)
	return s, errors.Join(err1, err2)
}

// runOne starts a fresh collector (so peak RSS is this run's), loads it for warmup+window and measures
// the window. With profileTo set, it also saves a CPU profile of the window there (the pipeline must
// expose pprof on profileAddr).
func (r *runner) runOne(p pipeline, mode string, sig signal, round int, profileTo string) (res runResult) {
	res = runResult{Pipeline: p.Name, Mode: mode, Signal: sig, Round: round}
	name := fmt.Sprintf("%s-%s-%s-%d", p.Name, mode, sig, round)
	res.Err = runWith(name, r.tmp, r.o.Verbose, func(tb *runTB) {
		env := map[string]string{}
		for k, v := range p.Env {
			env[k] = v
		}
		var pprofAddr string
		if profileTo != "" {
			pprofAddr = e2etest.FreeAddr(tb)
			env["TFOCOL_BENCH_PPROF_ENDPOINT"] = pprofAddr
		}
		c := e2etest.Start(tb, e2etest.Options{Name: name, Configs: p.Configs, ShippedSampling: true, Env: env, Args: p.Args})
		running.Store(c)
		defer running.Store(nil)
		pid := c.Pid()

		spec := loadSpec{Signal: sig, Items: r.o.Items, Workers: r.o.Workers, Conns: r.o.Conns, Headers: r.headers}
		if mode == modeFixed {
			spec.Rate, spec.Workers = r.o.Rate, r.o.RateWorkers
		}
		g, err := startGenerator(c.Ports.OTLPGRPC, spec, r.bodies[sig])
		if err != nil {
			tb.Fatalf("generator: %v", err)
		}
		defer g.Stop()

		time.Sleep(r.o.Warmup)
		s0, err := r.snap(pid, sig, g)
		if err != nil {
			tb.Fatalf("measure: %v", err)
		}
		g.Record(true)
		r.sink.Record(true)
		profDone := make(chan error, 1)
		if profileTo != "" {
			go func() {
				secs := max(int((r.o.Window - time.Second).Seconds()), 1)
				cpuErr := fetch(pprofAddr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), profileTo)
				profDone <- cpuErr
			}()
			// Where goroutines wait (fsync, locks, queues) does not show in a CPU profile.
			time.AfterFunc(r.o.Window/2, func() {
				_ = fetch(pprofAddr, "/debug/pprof/goroutine?debug=1", strings.TrimSuffix(profileTo, ".pprof")+".goroutines.txt")
			})
		} else {
			profDone <- nil
		}
		time.Sleep(r.o.Window)
		if profileTo != "" {
			_ = fetch(pprofAddr, "/debug/pprof/heap", strings.TrimSuffix(profileTo, ".pprof")+".heap.pprof")
		}
		g.Record(false)
		r.sink.Record(false)
		s1, err := r.snap(pid, sig, g)
		if err != nil {
			tb.Fatalf("measure: %v", err)
		}
		rss, err := procfs.PeakRSS(pid)
		if err != nil {
			tb.Fatalf("measure: %v", err)
		}
		anon, _ := procfs.StatusBytes(pid, "RssAnon")
		file, _ := procfs.StatusBytes(pid, "RssFile")
		res.AnonMiB, res.FileMiB = float64(anon)/(1<<20), float64(file)/(1<<20)
		lat := g.Stop()
		if err := <-profDone; err != nil {
			tb.Fatalf("profile: %v", err)
		}
		if !c.Running() {
			tb.Fatalf("collector exited during the run\n%s", c.Logs())
		}

		window := s1.at.Sub(s0.at)
		secs := window.Seconds()
		delivered := s1.sink - s0.sink
		res.Delivered = deliveredRate(r.sink.Arrivals(sig), delivered, window)
		res.AckedRate = float64(s1.acked-s0.acked) / secs
		// A queue filling (accepted > delivered) or draining a backlog (delivered > accepted) is not a
		// rate the pipeline sustains; the lower of the two is.
		res.Throughput = min(res.Delivered, res.AckedRate)
		res.CPUCores = (s1.collectorCPU - s0.collectorCPU).Seconds() / secs
		res.GenCores = (s1.genCPU - s0.genCPU).Seconds() / secs
		if res.Throughput > 0 {
			res.CPUPerM = res.CPUCores / res.Throughput * 1e6
		}
		res.RSSMiB = float64(rss) / (1 << 20)
		res.P50, res.P99, res.Samples = percentile(lat, 50), percentile(lat, 99), len(lat)
		res.Failed, res.LastErr = g.Failures()
		if delivered == 0 {
			tb.Fatalf("nothing reached the sink in the window (%d failed requests, last: %s)", res.Failed, res.LastErr)
		}
	})
	return res
}

// profile runs the gateway once more per load and signal with the pprof extension added by an overlay,
// and saves CPU and heap profiles and a goroutine dump of the window.
func (r *runner) profile(tfocol pipeline, gw *gatewayConfig) ([]string, error) {
	if err := os.MkdirAll(r.o.ProfileDir, 0o755); err != nil {
		return nil, err
	}
	overlay, err := writePprofOverlay(gw, r.tmp)
	if err != nil {
		return nil, err
	}
	p := tfocol
	p.Configs = append(append([]string(nil), tfocol.Configs...), overlay)
	var files []string
	for _, mode := range r.o.Modes {
		for _, sig := range r.o.Signals {
			file, err := filepath.Abs(filepath.Join(r.o.ProfileDir, "tfocol-"+mode+"-"+sig.String()+".pprof"))
			if err != nil {
				return nil, err
			}
			res := r.runOne(p, mode, sig, 0, file)
			fmt.Fprintln(os.Stderr, "profile:", res.line())
			if res.Err != nil {
				return nil, res.Err
			}
			files = append(files, file)
		}
	}
	return files, nil
}

// writePprofOverlay writes the config overlay that adds a pprof extension on TFOCOL_BENCH_PPROF_ENDPOINT.
func writePprofOverlay(gw *gatewayConfig, dir string) (string, error) {
	overlay := filepath.Join(dir, "pprof.yaml")
	exts := append(append([]string(nil), gw.Extensions...), "pprof")
	yml := "extensions:\n  pprof:\n    endpoint: ${env:TFOCOL_BENCH_PPROF_ENDPOINT}\nservice:\n  extensions: [" +
		strings.Join(exts, ", ") + "]\n"
	return overlay, os.WriteFile(overlay, []byte(yml), 0o644)
}

func pprofOverlay(tb *runTB, gw *gatewayConfig, dir string) string {
	overlay, err := writePprofOverlay(gw, dir)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return overlay
}

// fetch GETs a pprof endpoint into file.
func fetch(addr, path, file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// running is the collector of the current run. It runs in its own process group, so an interrupt of
// the bench does not reach it: stopOnInterrupt stops it.
var running atomic.Pointer[e2etest.Collector]

func stopOnInterrupt(tmp string) {
	ch := make(chan os.Signal, 1)
	ossignal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		fmt.Fprintln(os.Stderr, "interrupted: stopping the collector")
		if c := running.Load(); c != nil {
			c.Kill()
		}
		_ = os.RemoveAll(tmp)
		os.Exit(130)
	}()
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(data), "module github.com/tfocol/tfocol\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the tfocol repository")
		}
		dir = parent
	}
}
