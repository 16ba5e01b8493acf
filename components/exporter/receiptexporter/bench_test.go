package receiptexporter

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/pdataleaves"
)

// realisticLogs builds n log records shaped like SDK output (~300-byte leaves).
func realisticLogs(n int, ts time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	a := rl.Resource().Attributes()
	a.PutStr("tfo.workspace.id", "0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11")
	a.PutStr("service.name", "treasury-engine")
	a.PutStr("service.version", "1.42.0")
	a.PutStr("host.name", "brick-01")
	a.PutStr("k8s.pod.name", "treasury-engine-7d9f8c6b5-x2x9q")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("go.opentelemetry.io/contrib/bridges/otelslog")
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("settlement settle-2025-12-06-%06d completed for 3 accounts in 150ms", i))
		lr.Attributes().PutStr("settlement_id", fmt.Sprintf("settle-%d", i))
		lr.Attributes().PutInt("accounts_involved", 3)
		lr.SetTraceID(pcommon.TraceID{byte(i), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		lr.SetSpanID(pcommon.SpanID{byte(i), 2, 3, 4, 5, 6, 7, 8})
	}
	return ld
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSealWindow1M seals a window holding 1M log records: fsync + rename of the spooled batch file, Merkle
// root over the leaf hashes, receipt line append + fsync, ROOT rewrite. Reports CPU seconds per seal.
func BenchmarkSealWindow1M(b *testing.B) {
	const n = 1 << 20
	ld := realisticLogs(1000, base)
	var recs []receipts.Record
	_ = pdataleaves.EncodeLogs(ld, "tfo.workspace.id", func(r receipts.Record) error { recs = append(recs, r); return nil })
	b.ReportAllocs()
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		clock := &fakeClock{now: base}
		cfg := testConfig(dir)
		cfg.Interval = time.Hour
		e := newReceiptExporter(cfg, exporterSettings())
		e.now = clock.Now
		eng, err := newEngine(cfg, e.set.Logger, mustTel(b), clock.Now)
		if err != nil {
			b.Fatal(err)
		}
		if err := eng.open(); err != nil {
			b.Fatal(err)
		}
		hk := holdKey{stream: newFakeStream(clock), seq: 1}
		for j := 0; j < n; j++ {
			r := recs[j%len(recs)]
			if err := eng.apply(receipts.SignalLogs, r, hk, base.UnixNano()); err != nil {
				b.Fatal(err)
			}
		}
		w := eng.windows[windowKey{signal: receipts.SignalLogs, wsDir: receipts.WorkspaceDir(recs[0].Workspace), start: base.Unix()}]
		c0 := cpuTime()
		b.StartTimer()
		if err := eng.seal(w, base.Add(2*time.Hour)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - c0
		_ = eng.close()
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/seal")
}

// BenchmarkIngestLogs pushes 500-record calls from concurrent callers through encoding, the engine loop and
// spooling. Reports records per second and records per engine commit.
func BenchmarkIngestLogs(b *testing.B) {
	for _, callers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { benchIngest(b, callers) })
	}
}

func benchIngest(b *testing.B, callers int) {
	const perReq = 500
	dir := b.TempDir()
	clock := &fakeClock{now: base}
	e := newReceiptExporter(testConfig(dir), exporterSettings())
	e.now = clock.Now
	if err := e.start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.shutdown(context.Background()) }()
	lg := newTestLog(clock)
	batches := make([]plog.Logs, callers)
	for i := range batches {
		batches[i] = realisticLogs(perReq, base)
	}
	b.ResetTimer()
	start, c0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; i < b.N; i += callers {
				if err := lg.logs(e, batches[c]); err != nil {
					b.Error(err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*perReq)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(b.N*perReq)/float64(e.eng.Load().commits), "records/commit")
	b.ReportMetric(float64(b.N*perReq)/(cpuTime()-c0).Seconds(), "records/cpu-s")
}

// BenchmarkVerify1M verifies a scroll whose window holds 1M log records. Reports records per second.
func BenchmarkVerify1M(b *testing.B) {
	const n = 1 << 20
	dir := b.TempDir()
	ld := realisticLogs(1000, base)
	var leaves [][]byte
	_ = pdataleaves.EncodeLogs(ld, "tfo.workspace.id", func(r receipts.Record) error { leaves = append(leaves, r.Leaf); return nil })
	all := make([][]byte, n)
	for i := range all {
		all[i] = leaves[i%len(leaves)]
	}
	scroll := filepath.Join(dir, "ws")
	s, _, err := receipts.OpenScroll(scroll, receipts.DefaultOriginPrefix+"/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	r := &receipts.Receipt{Type: receipts.TypeLogBatch, ID: "logs-x", Timestamp: receipts.FormatTime(base), Workspace: "ws",
		Period:    &receipts.Period{Start: receipts.FormatTime(base), End: receipts.FormatTime(base.Add(time.Hour))},
		LogCounts: &receipts.LogCounts{Info: n}}
	if err := s.SealFile(receipts.BatchPath(receipts.SignalLogs, base, time.Hour), all, r); err != nil {
		b.Fatal(err)
	}
	_ = s.Close()
	b.ResetTimer()
	start, c0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		rep, err := receipts.VerifyScroll(scroll, receipts.VerifyOptions{})
		if err != nil || rep.Records != n {
			b.Fatal(err, rep)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(b.N*n)/(cpuTime()-c0).Seconds(), "records/cpu-s")
}

// BenchmarkSealManyWorkspaces seals 1000 windows of 1000 new workspaces (10 records each), due at one tick, as
// the loop does (chunks, seal_concurrency workers). Reports wall milliseconds per window.
func BenchmarkSealManyWorkspaces(b *testing.B) {
	for _, conc := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("seal_concurrency=%d", conc), func(b *testing.B) {
			const n = 1000
			var wall time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				clock := &fakeClock{now: base}
				cfg := testConfig(dir)
				cfg.SealConcurrency = conc
				eng, err := newEngine(cfg, exporterSettings().Logger, mustTel(b), clock.Now)
				if err != nil {
					b.Fatal(err)
				}
				if err := eng.open(); err != nil {
					b.Fatal(err)
				}
				hk := holdKey{stream: newFakeStream(clock), seq: 1}
				for ws := 0; ws < n; ws++ {
					var recs []receipts.Record
					_ = pdataleaves.EncodeLogs(makeLogs(fmt.Sprintf("ws-%d", ws), 10, base, 9), "tfo.workspace.id",
						func(r receipts.Record) error { recs = append(recs, r); return nil })
					for _, r := range recs {
						if err := eng.apply(receipts.SignalLogs, r, hk, base.UnixNano()); err != nil {
							b.Fatal(err)
						}
					}
				}
				for _, w := range eng.windows {
					eng.sealDue = append(eng.sealDue, w)
				}
				t0 := time.Now()
				b.StartTimer()
				for len(eng.sealDue) > 0 {
					eng.sealNext()
				}
				b.StopTimer()
				wall += time.Since(t0)
				if len(eng.windows) != 0 || eng.fatal != nil {
					b.Fatalf("%d windows left open, fatal %v", len(eng.windows), eng.fatal)
				}
				_ = eng.close()
			}
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N*n), "ms/window")
		})
	}
}
