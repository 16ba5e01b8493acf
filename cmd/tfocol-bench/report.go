package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tfocol/tfocol/internal/procfs"
)

// Targets of issue 11 (one durable log): CPU per item at the fixed rate within 1.5× of stock (in-memory) for every
// signal; at saturation at least 0.6× stock's throughput and ahead of both durable peers in throughput and CPU
// per item; RSS as before.
const (
	targetCPURatio   = 1.5
	targetSatVsStock = 0.6
	targetRSSMiB     = 100
)

type report struct {
	table   string // markdown table
	targets string // markdown list of the targets, met or missed
	body    string // the whole generated section of docs/benchmarks.md
	machine string
}

// group holds the runs of one (load, signal), per pipeline.
type group map[string][]runResult

func (g group) of(name string) []runResult { return g[name] }

func values(rs []runResult, f func(runResult) float64) []float64 {
	var out []float64
	for _, r := range rs {
		if r.Err == nil {
			out = append(out, f(r))
		}
	}
	return out
}

type metric struct {
	title string
	get   func(runResult) float64
	fmt   func(float64) string
}

func fmt2(v float64) string { return fmt.Sprintf("%.2f", v) }

var (
	colThroughput = metric{"items/s sustained", func(r runResult) float64 { return r.Throughput }, fmtRate}
	colDelivered  = metric{"delivered/s (sink)", func(r runResult) float64 { return r.Delivered }, fmtRate}
	colAccepted   = metric{"accepted/s (client)", func(r runResult) float64 { return r.AckedRate }, fmtRate}
	colCPU        = metric{"CPU s / M items", func(r runResult) float64 { return r.CPUPerM }, fmt2}
	colRSS        = metric{"peak RSS MiB", func(r runResult) float64 { return r.RSSMiB }, func(v float64) string { return fmt.Sprintf("%.0f", v) }}
	colP50        = metric{"p50 ms (client)", func(r runResult) float64 { return ms(r.P50) }, fmt2}
	colP99        = metric{"p99 ms (client)", func(r runResult) float64 { return ms(r.P99) }, fmt2}

	metricsCols = []metric{colThroughput, colDelivered, colAccepted, colCPU, colRSS, colP50, colP99}
)

func fmtRate(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtSpread(vals []float64, f func(float64) string) string {
	if len(vals) == 0 {
		return "failed"
	}
	s := spreadOf(vals)
	if len(vals) == 1 {
		return f(s.Median)
	}
	return fmt.Sprintf("%s [%s–%s]", f(s.Median), f(s.Min), f(s.Max))
}

func (o options) loadName(mode string) string {
	if mode == modeFixed {
		return fmtRate(o.Rate) + " items/s"
	}
	return fmt.Sprintf("saturation (%d×%d)", o.Workers, o.Items)
}

func ratio(stock, tfocol []float64) (float64, bool) {
	if len(stock) == 0 || len(tfocol) == 0 {
		return 0, false
	}
	s, t := spreadOf(stock).Median, spreadOf(tfocol).Median
	if s == 0 {
		return 0, false
	}
	return t / s, true
}

func buildReport(o options, results []runResult, gw *gatewayConfig, elapsed time.Duration, profiles []string, tmp string) report {
	groups := map[string]group{}
	key := func(mode string, sig signal) string { return mode + "/" + sig.String() }
	for _, r := range results {
		g := groups[key(r.Mode, r.Signal)]
		if g == nil {
			g = group{}
			groups[key(r.Mode, r.Signal)] = g
		}
		g[r.Pipeline] = append(g[r.Pipeline], r)
	}
	// The gateway is compared with each stock peer that ran.
	var bases []string
	for _, p := range o.Peers {
		if p != peerTfocol {
			bases = append(bases, p)
		}
	}

	var t strings.Builder
	t.WriteString("| load | signal | pipeline |")
	for _, m := range metricsCols {
		t.WriteString(" " + m.title + " |")
	}
	t.WriteString("\n|---|---|---|" + strings.Repeat("---:|", len(metricsCols)) + "\n")
	var targets []string
	allMet := true
	check := func(ok bool, format string, args ...any) {
		mark := "met"
		if !ok {
			mark, allMet = "**missed**", false
		}
		targets = append(targets, fmt.Sprintf("- %s — %s", fmt.Sprintf(format, args...), mark))
	}
	for _, mode := range o.Modes {
		for _, sig := range o.Signals {
			g := groups[key(mode, sig)]
			if g == nil {
				continue
			}
			for _, p := range o.Peers {
				fmt.Fprintf(&t, "| %s | %s | %s |", o.loadName(mode), sig, p)
				for _, m := range metricsCols {
					fmt.Fprintf(&t, " %s |", fmtSpread(values(g.of(p), m.get), m.fmt))
				}
				t.WriteString("\n")
			}
			if len(g.of(peerTfocol)) > 0 {
				for _, base := range bases {
					fmt.Fprintf(&t, "| | | *tfocol/%s* |", base)
					for _, m := range metricsCols {
						if r, ok := ratio(values(g.of(base), m.get), values(g.of(peerTfocol), m.get)); ok {
							fmt.Fprintf(&t, " *%.2f×* |", r)
						} else {
							t.WriteString(" – |")
						}
					}
					t.WriteString("\n")
				}
			}

			cpu := colCPU.get
			if mode == modeFixed {
				if r, ok := ratio(values(g.of(peerStock), cpu), values(g.of(peerTfocol), cpu)); ok {
					check(r <= targetCPURatio, "CPU per item ≤ %.2f× stock, %s %s: %.2f×", targetCPURatio, sig, o.loadName(mode), r)
				}
			}
			if mode == modeSat {
				tput := colThroughput.get
				if r, ok := ratio(values(g.of(peerStock), tput), values(g.of(peerTfocol), tput)); ok {
					check(r >= targetSatVsStock, "saturation throughput ≥ %.1f× stock, %s: %.2f×", targetSatVsStock, sig, r)
				}
				for _, peer := range []string{peerDurable, peerDurableSync} {
					if r, ok := ratio(values(g.of(peer), tput), values(g.of(peerTfocol), tput)); ok {
						check(r >= 1, "saturation throughput ahead of %s, %s: %.2f×", peer, sig, r)
					}
					if r, ok := ratio(values(g.of(peer), cpu), values(g.of(peerTfocol), cpu)); ok {
						check(r <= 1, "CPU per item at saturation below %s, %s: %.2f×", peer, sig, r)
					}
				}
			}
			// Accepted == delivered, per peer: a difference is a queue filling (acknowledged, not yet delivered)
			// or draining.
			for _, p := range o.Peers {
				for _, r := range g.of(p) {
					if r.Err == nil && r.AckedRate > 0 && math.Abs(r.AckedRate-r.Delivered) > 0.03*r.AckedRate {
						targets = append(targets, fmt.Sprintf("- note: %s %s %s round %d accepted %s/s but delivered %s/s",
							r.Pipeline, sig, o.loadName(mode), r.Round, fmtRate(r.AckedRate), fmtRate(r.Delivered)))
					}
				}
			}
			if mode == modeFixed {
				if rss := values(g.of(peerTfocol), colRSS.get); len(rss) > 0 {
					peak := spreadOf(rss).Max
					check(peak <= targetRSSMiB, "RSS ≤ 100 MiB at %s, %s: peak %.0f MiB (max of rounds)", o.loadName(mode), sig, peak)
				}
				for _, p := range o.Peers {
					for _, r := range g.of(p) {
						if r.Err == nil && r.Throughput < 0.97*o.Rate {
							targets = append(targets, fmt.Sprintf("- note: %s %s round %d delivered only %s/s of the %s/s offered",
								r.Pipeline, sig, r.Round, fmtRate(r.Throughput), fmtRate(o.Rate)))
						}
					}
				}
			}
		}
	}
	if allMet && len(targets) > 0 {
		targets = append([]string{"All targets met."}, targets...)
	}

	rep := report{table: t.String(), targets: "Targets (medians over rounds):\n\n" + strings.Join(targets, "\n") + "\n",
		machine: machine(tmp)}

	var b strings.Builder
	fmt.Fprintf(&b, "## Results\n\n")
	fmt.Fprintf(&b, "Run %s, %d round(s), %s in total, `%s`.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		o.Rounds, elapsed.Round(time.Second), strings.Join(os.Args[1:], " "))
	fmt.Fprintf(&b, "Machine: %s.\n\n", rep.machine)
	b.WriteString("Cells are the median over rounds with [min–max]. *Sustained* is the lower of *delivered* (items/s\n" +
		"reaching the sink) and *accepted* (items/s the collector acknowledged to the client); where they differ the\n" +
		"collector's queue was filling or draining, and CPU per item (CPU / sustained items) is an upper bound.\n" +
		"Latency is client-side: the generator's export call, from its scheduled start.\n\n")
	b.WriteString(rep.table)
	b.WriteString("\n" + rep.targets + "\n")
	b.WriteString("### Pipelines measured\n\n")
	for _, p := range o.Peers {
		switch p {
		case peerStock:
			fmt.Fprintf(&b, "- **stock** (`%s`): `otlp` → `batch` → `otlp_grpc` (in-memory queue), same binary.\n", o.Stock)
		case peerDurable:
			fmt.Fprintf(&b, "- **durable** (`%s`, `TFOCOL_BENCH_QUEUE_FSYNC=false`): `otlp` → `otlp_grpc` with a persistent sending queue on `file_storage` (`fsync: false`), no batch processor, queue sizing and batching as the gateway's; same binary, no auth.\n", o.Durable)
		case peerDurableSync:
			fmt.Fprintf(&b, "- **durable-sync** (`%s`, `TFOCOL_BENCH_QUEUE_FSYNC=true`): the same with `fsync: true`.\n", o.Durable)
		}
	}
	mods := "unmodified"
	var diag []string
	for _, kv := range o.GatewaySet {
		diag = append(diag, "`--set="+kv+"`")
	}
	for k, v := range o.GatewayEnv {
		diag = append(diag, "`"+k+"="+v+"`")
	}
	if len(diag) > 0 {
		mods = "**modified for diagnosis** with " + strings.Join(diag, ", ")
	}
	if !slices.Contains(o.Peers, peerTfocol) {
		mods = "not run"
	}
	fmt.Fprintf(&b, "- **tfocol** (`%s`, %s; auth: %s):\n", gw.Path, mods, orNone(gw.Authenticator))
	for _, p := range gw.Pipelines {
		fmt.Fprintf(&b, "  - `%s`\n", p)
	}
	b.WriteString("\n### Runs\n\n```\n")
	for _, r := range results {
		b.WriteString(r.line() + "\n")
	}
	b.WriteString("```\n")
	if len(profiles) > 0 {
		b.WriteString("\nCPU profiles of the gateway at saturation (not included in the numbers above): ")
		for i, p := range profiles {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("`" + p + "`")
		}
		b.WriteString("; read with `go tool pprof -top <file>`.\n")
	}
	b.WriteString("\n" + methodText(o))
	rep.body = b.String()
	return rep
}

func orNone(s string) string {
	if s == "" {
		return "none configured"
	}
	return "`" + s + "`"
}

func methodText(o options) string {
	return fmt.Sprintf(`### Method

- `+"`make bench`"+` builds `+"`bin/tfocol`"+` once and runs `+"`go run ./cmd/tfocol-bench`"+`. All pipelines (peers) run in that
  same binary: stock from `+"`%s`"+`, durable and durable-sync from `+"`%s`"+` (persistent queue on `+"`file_storage`"+`
  with `+"`fsync`"+` false / true), the gateway from `+"`%s`"+` unmodified, with only the `+"`TFOCOL_*`"+` variables
  documented at the top of that file set: its OTLP exporters at the sink, its data directory at a fresh temporary
  directory and (when the receiver authenticates with `+"`tfo_auth`"+`) its key file at a key minted with
  `+"`tfocol keys new`"+`. `+"`TFOCOL_*`"+` variables of the bench's own environment are not passed on.
- Every run starts a fresh collector (so peak RSS is that run's), loads it for %s of warm-up, then measures a
  %s window. Rounds rotate which pipeline runs first, so slow drift on the shared machine affects all alike.
  After each run its files are deleted and the disk is synced (sync(2)), so no run inherits writeback of the one
  before: a saturation run leaves hundreds of MB of dirty pages, whose writeback stalled the next run's fsyncs.
- Load: an in-process generator sends real OTLP/gRPC export requests of %d items, pre-marshaled (64 distinct
  requests per signal, cycled), uncompressed, over %d connections. Every request carries the same headers to every
  peer: `+"`X-TelemetryFlow-Key-ID`/`-Key-Secret`/`-Agent-ID`, `x-workspace-id`"+` and a unique
  `+"`Idempotency-Key`"+`. Logs are %.0f%% TelemetryFlow event records (the valid examples in `+"`testdata/events`"+`,
  each with a fresh `+"`event.id`"+`: 90%% HostHeartbeat, 8%% PatchCompliance, 2%% failure events) and plain application
  logs otherwise; traces are 10-span
  traces with HTTP attributes; metrics mix gauges, cumulative sums and 10-bucket histograms (items = data points).
  Fixed rate: %s on an absolute timetable with up to %d requests in flight (latency includes any wait for a
  late send, no coordinated omission). Saturation: %d workers sending back to back.
- Sink: an in-process OTLP/gRPC server that only counts items in the wire format (no pdata, keeps nothing).
  Delivered rate: items between the first and the last export request that arrive in the window, over the time
  between them (collectors deliver in batches of up to 8192 items; counting a fixed window would be off by a batch).
- CPU: utime+stime of the collector process from `+"`/proc/<pid>/stat`"+` over the window, divided by the sustained items
  in it. RSS: `+"`VmHWM`"+` from `+"`/proc/<pid>/status`"+` at the end of the run (it includes resident
  file-backed pages, e.g. the mmap'd bbolt file of a persistent queue; the run lines split the final RSS).
  Latency: client-side duration of the export call (p50/p99 of the requests started in the window).
- The generator and sink share the machine's cores with the collector; they run with GOMAXPROCS=%d (their own
  CPU use is the "gen" figure in the run lines). At saturation the collector therefore gets what the generator
  leaves; all pipelines are measured under the same conditions.
`, o.Stock, o.Durable, o.Gateway, o.Warmup, o.Window, o.Items, o.Conns, o.EventShare*100, o.loadName(modeFixed),
		o.RateWorkers, o.Workers, o.Procs)
}

// startLoad is the 1/5/15-minute load average when the bench started: other work on the machine
// skews the numbers.
var startLoad = loadAverage()

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func machine(dataDir string) string {
	model := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := procfs.ParseKB(raw, "MemTotal"); err == nil {
			mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<30))
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	dirty, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	rev := strings.TrimSpace(string(commit))
	if len(dirty) > 0 {
		rev += " + uncommitted changes"
	}
	disk := ""
	if d, err := fsyncLatency(dataDir); err == nil {
		disk = fmt.Sprintf(", 4 KiB write+fdatasync %.2f ms (median) in the data directory's file system", ms(d))
	}
	return fmt.Sprintf("%d CPUs (nproc), %s%s%s, Linux %s, %s, commit %s; load average at the start %s, at the end %s",
		runtime.NumCPU(), model, mem, disk, strings.TrimSpace(string(kernel)), runtime.Version(), rev, startLoad, loadAverage())
}

// Markers delimit the generated part of docs/benchmarks.md; text outside them (findings, profiles)
// is kept when the bench rewrites the file.
const (
	beginMarker = "<!-- tfocol-bench:begin (generated by make bench; edit outside these markers) -->"
	endMarker   = "<!-- tfocol-bench:end -->"
)

func writeReport(path string, rep report) error {
	section := beginMarker + "\n" + rep.body + endMarker + "\n"
	old, err := os.ReadFile(path)
	var doc string
	switch {
	case os.IsNotExist(err):
		doc = "# Benchmarks: tfocol gateway vs stock collector\n\n`make bench` (see Method below) regenerates the section between the markers.\n\n" +
			section + "\n## Findings\n\n(profiles and fixes go here)\n"
	case err != nil:
		return err
	default:
		s := string(old)
		i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
		if i < 0 || j < i {
			doc = s + "\n" + section
		} else {
			doc = s[:i] + section + strings.TrimPrefix(s[j+len(endMarker):], "\n")
		}
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
