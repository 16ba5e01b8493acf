package receiptexporter

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tfocol/tfocol/internal/receipts"
)

// BenchmarkRetentionMemory is the heap retention keeps per sealed batch file it may remove later: it holds
// every one in memory for the life of the file (one per window and signal, and one per significant trace).
func BenchmarkRetentionMemory(b *testing.B) {
	dir := b.TempDir()
	ws := "ws"
	const files = 100000
	var buf bytes.Buffer
	last := receipts.ZeroHash
	for i := range files {
		tid := fmt.Sprintf("%032x", i)
		r := &receipts.Receipt{Type: receipts.TypeTraceComplete, ID: "trace-" + tid, TraceID: tid, Timestamp: receipts.FormatTime(base.Add(time.Duration(i) * time.Second)),
			EventTime: receipts.FormatTime(base), SpanCount: 1, Status: "ok",
			Workspace: ws, StoragePath: receipts.TracePath(tid, base), MerkleRoot: receipts.FormatHash(make([]byte, 32)),
			ContentHash: receipts.FormatHash(make([]byte, 32)), LeafCount: 1, Seq: uint64(i), PrevHash: last}
		line, err := r.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		last = receipts.LineHash(line)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, ws, receipts.ReceiptsFile)), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ws, receipts.ReceiptsFile), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		e := &engine{cfg: testConfig(dir)}
		e.ret = newRetention(RetentionConfig{SignificantTraces: "400d"})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := e.retentionRead(ws); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := len(e.ret.scrolls[ws].files); n != files {
			b.Fatalf("%d files tracked", n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/files, "heap-B/file")
	}
}
