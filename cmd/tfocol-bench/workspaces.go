package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/procfs"
	"github.com/tfocol/tfocol/internal/receipts"
)

// Targets of the workspace-scaling mode.
const (
	targetWSIntakeRatio = 1.2 // intake at the largest count within 1.2× of the smallest count's
	targetWSRSSMiB      = 200
	targetWSSealLate    = 30 * time.Second // every window sealed within grace + 30 s of its end
	targetWSFDGrowth    = 2.0              // peak fds at the largest count ≤ 2× the smallest count's
)

// wsOptions configure the workspace-scaling mode (-workspaces).
type wsOptions struct {
	Counts   []int
	Interval time.Duration
	Grace    time.Duration
	Threads  int
	Records  int
	Timeout  time.Duration
	Keys     string
}

func (w *wsOptions) flags() {
	flag.DurationVar(&w.Interval, "ws-interval", 10*time.Second, "workspaces mode: receipt window (TFOCOL_RECEIPT_INTERVAL; must divide 24h)")
	flag.DurationVar(&w.Grace, "ws-grace", time.Second, "workspaces mode: receipt grace (TFOCOL_RECEIPT_GRACE)")
	flag.IntVar(&w.Threads, "ws-threads", 8, "workspaces mode: concurrent OTLP/HTTP clients")
	flag.IntVar(&w.Records, "ws-records", 10, "workspaces mode: log records per workspace (one request each)")
	flag.DurationVar(&w.Timeout, "ws-timeout", 3*time.Minute, "workspaces mode: give up waiting for seals this long after the last window's end + grace")
	flag.StringVar(&w.Keys, "ws-keys", "per-workspace", "workspaces mode: per-workspace (one key bound to each workspace, written in-process) or wildcard (one key for workspace *, minted with tfocol keys new)")
}

// wsResult is what one workspace count measured.
type wsResult struct {
	Workspaces int
	Accepted   int   // requests answered 2xx
	Failed     int   // requests that failed after retries
	Retries    int64 // retryable answers (429/5xx) that were retried
	LastErr    string
	Intake     float64 // requests/s over the send phase
	SendTime   time.Duration
	RSSMiB     float64 // VmHWM before the stop
	PeakFDs    int     // max of /proc/<pid>/fd over the run (sampled every 100 ms)
	EndFDs     int     // open fds after the seals, before the stop
	FDLimit    uint64  // soft RLIMIT_NOFILE of the gateway
	Sealed     int     // workspaces whose receipt log has an obs_log_batch line
	AllSealed  time.Duration
	MaxLate    time.Duration // max over workspaces of (sealed at) − (window end + grace)
	Delivered  int64         // log records that reached the sink
	StopTime   time.Duration
	StopKilled bool
	Err        error
}

func benchWorkspaces(o options) error {
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
	_ = os.Setenv("TFOCOL_BIN", filepath.Join(root, "bin", "tfocol"))
	if o.WS.Keys != "per-workspace" && o.WS.Keys != "wildcard" {
		return fmt.Errorf("-ws-keys: want per-workspace or wildcard, got %q", o.WS.Keys)
	}
	tmp, err := os.MkdirTemp("", "tfocol-bench-ws-")
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
	if len(gw.ReceiptDirs) == 0 {
		return fmt.Errorf("%s: no receipt exporter (other than mode: alerts) to watch for sealed windows", gw.Path)
	}
	for _, name := range []string{"TFOCOL_RECEIPT_INTERVAL", "TFOCOL_RECEIPT_GRACE"} {
		if !gw.Documented[name] {
			return fmt.Errorf("%s does not document %s: cannot shorten the receipt windows", gw.Path, name)
		}
	}

	var results []wsResult
	for _, n := range o.WS.Counts {
		res := runWorkspaces(o, gw, sink, tmp, n)
		fmt.Fprintln(os.Stderr, res.line())
		results = append(results, res)
	}
	fmt.Println(wsReport(o, gw, results))
	for _, r := range results {
		if r.Err != nil {
			return errors.New("some runs failed (see above)")
		}
	}
	return nil
}

func (r wsResult) line() string {
	if r.Err != nil {
		return fmt.Sprintf("workspaces %6d FAILED: %v", r.Workspaces, r.Err)
	}
	s := fmt.Sprintf("workspaces %6d  intake %7.0f req/s (%d ok, %d failed, %d retried, %.1f s)  rss %6.1f MiB  fds %4d (end %d, limit %d)  sealed %d/%d, all after %.1f s, max lateness %.1f s  delivered %d  stop %.2f s",
		r.Workspaces, r.Intake, r.Accepted, r.Failed, r.Retries, r.SendTime.Seconds(), r.RSSMiB, r.PeakFDs, r.EndFDs, r.FDLimit,
		r.Sealed, r.Accepted, r.AllSealed.Seconds(), r.MaxLate.Seconds(), r.Delivered, r.StopTime.Seconds())
	if r.StopKilled {
		s += " (SIGKILLed)"
	}
	if r.LastErr != "" {
		s += "  last error: " + r.LastErr
	}
	return s
}

// wsKeys writes a key file for the workspaces and returns the credentials of each (index-aligned).
func wsKeys(tb *runTB, mode, file string, workspaces []string) []credentials {
	creds := make([]credentials, len(workspaces))
	if mode == "wildcard" {
		id, secret := e2etest.MintKey(tb, file, "*", "logs")
		for i, ws := range workspaces {
			creds[i] = credentials{KeyID: id, KeySecret: secret, AgentID: agentID, Workspace: ws, KeysFile: file}
		}
		return creds
	}
	f := &keyfile.File{Version: keyfile.CurrentVersion}
	now := time.Now()
	for i, ws := range workspaces {
		k, secret, err := keyfile.NewKey([]string{ws}, []string{"logs"}, nil, "tfocol-bench workspaces", now)
		if err != nil {
			tb.Fatalf("new key: %v", err)
		}
		f.Keys = append(f.Keys, k)
		creds[i] = credentials{KeyID: k.ID, KeySecret: secret, AgentID: agentID, Workspace: ws, KeysFile: file}
	}
	if err := keyfile.Save(file, f); err != nil {
		tb.Fatalf("save keys: %v", err)
	}
	return creds
}

func runWorkspaces(o options, gw *gatewayConfig, sink *countingSink, tmp string, n int) (res wsResult) {
	res = wsResult{Workspaces: n}
	name := fmt.Sprintf("tfocol-workspaces-%d", n)
	res.Err = runWith(name, tmp, o.Verbose, func(tb *runTB) {
		workspaces := make([]string, n)
		for i := range workspaces {
			workspaces[i] = uuid.NewString()
		}
		keysFile := filepath.Join(tb.TempDir(), "keys.yaml")
		creds := wsKeys(tb, o.WS.Keys, keysFile, workspaces)
		p, err := gatewayPipeline(o, gw, creds[0], sink.Addr)
		if err != nil {
			tb.Fatalf("%v", err)
		}
		p.Env["TFOCOL_RECEIPT_INTERVAL"] = o.WS.Interval.String()
		p.Env["TFOCOL_RECEIPT_GRACE"] = o.WS.Grace.String()
		var pprofAddr string
		if o.ProfileDir != "" {
			pprofAddr = e2etest.FreeAddr(tb)
			p.Env["TFOCOL_BENCH_PPROF_ENDPOINT"] = pprofAddr
			p.Configs = append(p.Configs, pprofOverlay(tb, gw, tb.TempDir()))
		}
		c := e2etest.Start(tb, e2etest.Options{Name: name, Configs: p.Configs, ShippedSampling: true, Env: p.Env, Args: p.Args})
		running.Store(c)
		defer running.Store(nil)
		pid := c.Pid()
		res.FDLimit, _ = procfs.OpenFilesLimit(pid)

		env := map[string]string{"TFOCOL_DATA_DIR": c.DataDir}
		for k, v := range p.Env {
			env[k] = v
		}
		var dirs []string
		for _, d := range gw.ReceiptDirs {
			dirs = append(dirs, expandEnv(d, env))
		}

		// fd sampler: the whole run, until the stop.
		var peakFDs atomic.Int64
		sampleCtx, stopSampling := context.WithCancel(context.Background())
		var sampler sync.WaitGroup
		sampler.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				if k, err := procfs.OpenFDs(pid); err == nil && int64(k) > peakFDs.Load() {
					peakFDs.Store(int64(k))
				}
				select {
				case <-sampleCtx.Done():
					return
				case <-t.C:
				}
			}
		})
		defer func() { stopSampling(); sampler.Wait() }()

		delivered0 := sink.Items(logs)
		sent := sendWorkspaces(c.Ports.OTLPHTTP, creds, o.WS)
		res.Accepted, res.Failed, res.Retries, res.LastErr = sent.ok, sent.failed, sent.retries, sent.lastErr
		res.SendTime = sent.elapsed
		res.Intake = float64(n) / sent.elapsed.Seconds()
		if res.Accepted == 0 {
			tb.Fatalf("no request accepted (last error: %s)", res.LastErr)
		}

		// Every accepted workspace's window ends at the interval boundary after its records' timestamp and
		// is due grace later.
		due := map[string]time.Time{}
		var lastDue time.Time
		for i, ws := range workspaces {
			if !sent.accepted[i] {
				continue
			}
			d := sent.stamp[i].Truncate(o.WS.Interval).Add(o.WS.Interval + o.WS.Grace)
			due[ws] = d
			if d.After(lastDue) {
				lastDue = d
			}
		}
		sealed := waitSealed(dirs, due, lastDue.Add(o.WS.Timeout))
		res.Sealed = len(sealed)
		for ws, at := range sealed {
			res.MaxLate = max(res.MaxLate, at.Sub(due[ws]))
			res.AllSealed = max(res.AllSealed, at.Sub(sent.end))
		}
		if res.Sealed < len(due) {
			res.AllSealed = 0 // not all: the report says how many
		}
		if rss, err := procfs.PeakRSS(pid); err == nil {
			res.RSSMiB = float64(rss) / (1 << 20)
		}
		if pprofAddr != "" {
			if err := os.MkdirAll(o.ProfileDir, 0o755); err == nil {
				_ = fetch(pprofAddr, "/debug/pprof/heap", filepath.Join(o.ProfileDir, fmt.Sprintf("tfocol-workspaces-%d.heap.pprof", n)))
			}
		}
		if !c.Running() {
			tb.Fatalf("gateway exited during the run\n%s", c.Logs())
		}
		// Upstream delivery has had the seal wait to catch up; give it a few more seconds if it is behind.
		want := int64(res.Accepted * o.WS.Records)
		for deadline := time.Now().Add(10 * time.Second); sink.Items(logs)-delivered0 < want && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		res.Delivered = sink.Items(logs) - delivered0

		stopSampling()
		sampler.Wait()
		res.PeakFDs = int(peakFDs.Load())
		res.EndFDs, _ = procfs.OpenFDs(pid)
		start := time.Now()
		c.Stop()
		res.StopTime = time.Since(start)
		res.StopKilled = res.StopTime >= 30*time.Second // e2etest.Collector.Stop SIGKILLs after 30 s
	})
	return res
}

type wsSent struct {
	ok, failed int
	retries    int64
	lastErr    string
	elapsed    time.Duration
	end        time.Time
	accepted   []bool
	stamp      []time.Time // the records' timestamp, per workspace
}

// sendWorkspaces sends one OTLP/HTTP logs request of w.Records records per workspace with w.Threads clients.
// Retryable answers (429, 502–504: the memory limiter or a full queue) are retried up to 5 times.
func sendWorkspaces(addr string, creds []credentials, w wsOptions) wsSent {
	out := wsSent{accepted: make([]bool, len(creds)), stamp: make([]time.Time, len(creds))}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: w.Threads, MaxIdleConnsPerHost: w.Threads,
	}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var retries atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range max(w.Threads, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(creds) {
					return
				}
				ld := e2etest.GenLogs(w.Records, map[string]string{"service.name": "tfocol-bench-workspaces"})
				// The records' own timestamp picks their receipt window.
				now := time.Now()
				recs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
				for j := range recs.Len() {
					recs.At(j).SetTimestamp(pcommon.NewTimestampFromTime(now))
				}
				body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
				if err == nil {
					err = postLogs(client, addr, creds[i], body, &retries)
				}
				mu.Lock()
				out.stamp[i] = now
				if err != nil {
					out.failed++
					out.lastErr = err.Error()
				} else {
					out.ok++
					out.accepted[i] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	out.end = time.Now()
	out.elapsed = out.end.Sub(start)
	out.retries = retries.Load()
	return out
}

func postLogs(client *http.Client, addr string, c credentials, body []byte, retries *atomic.Int64) error {
	idem := uuid.NewString() // the same for the retries of one request
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/logs", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Idempotency-Key", idem)
		req.Header.Set("X-TelemetryFlow-Agent-ID", c.AgentID)
		for k, v := range e2etest.KeyHeaders(c.KeyID, c.KeySecret, c.Workspace) {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case (resp.StatusCode == 429 || resp.StatusCode >= 502 && resp.StatusCode <= 504) && attempt < 5:
			retries.Add(1)
			time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
		default:
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		}
	}
}

// waitSealed polls the receipt directories until every workspace in due has an obs_log_batch receipt or the
// deadline passes, and returns when each was first seen sealed.
func waitSealed(dirs []string, due map[string]time.Time, deadline time.Time) map[string]time.Time {
	sealed := map[string]time.Time{}
	marker := []byte(`"` + receipts.TypeLogBatch + `"`)
	for {
		now := time.Now()
		for ws := range due {
			if _, ok := sealed[ws]; ok {
				continue
			}
			for _, d := range dirs {
				raw, err := os.ReadFile(filepath.Join(d, receipts.WorkspaceDir(ws), receipts.ReceiptsFile))
				if err == nil && bytes.Contains(raw, marker) {
					sealed[ws] = now
					break
				}
			}
		}
		if len(sealed) == len(due) || now.After(deadline) {
			return sealed
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func wsReport(o options, gw *gatewayConfig, results []wsResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Workspace scaling: %s, receipt interval %s, grace %s, %d records per workspace in one OTLP/HTTP request, %d clients, keys %s.\nMachine: %s\n\n",
		gw.Path, o.WS.Interval, o.WS.Grace, o.WS.Records, o.WS.Threads, o.WS.Keys, machine(os.TempDir()))
	b.WriteString("| workspaces | accepted / failed | intake req/s | peak RSS MiB | peak fds (end) | sealed | all sealed after intake (s) | max seal lateness (s) | delivered records | SIGTERM stop (s) |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var ok []wsResult
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(&b, "| %d | failed: %v | | | | | | | | |\n", r.Workspaces, r.Err)
			continue
		}
		ok = append(ok, r)
		all := "–"
		if r.Sealed == r.Accepted {
			all = fmt.Sprintf("%.1f", r.AllSealed.Seconds())
		}
		stop := fmt.Sprintf("%.2f", r.StopTime.Seconds())
		if r.StopKilled {
			stop += " (killed)"
		}
		fmt.Fprintf(&b, "| %d | %d / %d | %.0f | %.1f | %d (%d) | %d/%d | %s | %.1f | %d/%d | %s |\n", r.Workspaces, r.Accepted, r.Failed,
			r.Intake, r.RSSMiB, r.PeakFDs, r.EndFDs, r.Sealed, r.Accepted, all, r.MaxLate.Seconds(), r.Delivered, r.Accepted*o.WS.Records, stop)
	}
	b.WriteString("\nTargets:\n\n")
	mark := func(met bool) string {
		if met {
			return "met"
		}
		return "**missed**"
	}
	if len(ok) >= 2 {
		lo, hi := ok[0], ok[0]
		for _, r := range ok {
			if r.Workspaces < lo.Workspaces {
				lo = r
			}
			if r.Workspaces > hi.Workspaces {
				hi = r
			}
		}
		fmt.Fprintf(&b, "- intake at %d workspaces within %.1f× of the %d-workspace rate: %.0f vs %.0f req/s (smallest/largest %.2f×) — %s\n",
			hi.Workspaces, targetWSIntakeRatio, lo.Workspaces, hi.Intake, lo.Intake, lo.Intake/hi.Intake, mark(hi.Intake*targetWSIntakeRatio >= lo.Intake))
		fmt.Fprintf(&b, "- fds bounded: peak at %d workspaces ≤ %.0f× the %d-workspace peak: %d vs %d (limit %d) — %s\n",
			hi.Workspaces, targetWSFDGrowth, lo.Workspaces, hi.PeakFDs, lo.PeakFDs, hi.FDLimit, mark(float64(hi.PeakFDs) <= targetWSFDGrowth*float64(lo.PeakFDs)))
	}
	for _, r := range ok {
		fmt.Fprintf(&b, "- %d workspaces: RSS ≤ %d MiB: %.1f — %s; every window sealed within grace + %s: %d/%d, max lateness %.1f s — %s\n",
			r.Workspaces, targetWSRSSMiB, r.RSSMiB, mark(r.RSSMiB <= targetWSRSSMiB), targetWSSealLate, r.Sealed, r.Accepted,
			r.MaxLate.Seconds(), mark(r.Sealed == r.Accepted && r.Failed == 0 && r.MaxLate <= targetWSSealLate))
	}
	return b.String()
}
