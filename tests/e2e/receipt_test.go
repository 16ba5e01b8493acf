package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/receipts"
)

const rcOverlay = "tests/e2e/testdata/receipt/gateway.yaml"

// rcCLI runs `tfocol receipts <args>` from the built binary.
func rcCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(e2etest.Binary(t), append([]string{"receipts"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// rcKeygen creates a signing key with the binary and returns its file and verifier key.
func rcKeygen(t *testing.T) (keyFile, vkey string) {
	t.Helper()
	keyFile = filepath.Join(t.TempDir(), "receipts-signing.key")
	cmd := exec.Command(e2etest.Binary(t), "receipts", "keygen", "--out", keyFile)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	require.NoError(t, cmd.Run())
	return keyFile, strings.TrimSpace(stdout.String())
}

// rcStart runs the shipped gateway (auth, workspace processor, event router, receipt exporters) with the
// short-window overlay and ROOT signed by keyFile.
func rcStart(t *testing.T, keyFile string, env map[string]string) *e2etest.Gateway {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["TFOCOL_RECEIPT_SIGNING_KEY_FILE"] = keyFile
	return e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay}, Env: env})
}

// rcRecords counts the records receipted under dir once every scroll verifies (ROOT is rewritten right after
// each receipt line, so a read between the two is retried).
func rcRecords(dir string) (uint64, bool) { return rcRecordsOrigin(dir, "") }

// rcRecordsOrigin is rcRecords for scrolls whose checkpoint origin prefix is origin (a replica's).
func rcRecordsOrigin(dir, origin string) (uint64, bool) {
	scrolls, err := receipts.FindScrolls(dir)
	if err != nil {
		return 0, false
	}
	var n uint64
	for _, s := range scrolls {
		rep, err := receipts.VerifyScroll(s, receipts.VerifyOptions{OriginPrefix: origin})
		if err != nil {
			return 0, false
		}
		n += rep.Records
	}
	return n, true
}

func rcWaitRecords(t *testing.T, dir string, want uint64, timeout time.Duration) {
	t.Helper()
	rcWaitRecordsOrigin(t, dir, "", want, timeout)
}

func rcWaitRecordsOrigin(t *testing.T, dir, origin string, want uint64, timeout time.Duration) {
	t.Helper()
	var got uint64
	e2etest.Eventually(t, timeout, func() bool {
		n, ok := rcRecordsOrigin(dir, origin)
		got = n
		return ok && n >= want
	}, "receipted records under %s: want %d", dir, want)
	require.Equal(t, want, got)
}

func rcLogs(from, n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "guardian")
	rl.Resource().Attributes().PutStr("host.name", "brick-01")
	sl := rl.ScopeLogs().AppendEmpty()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := from; i < from+n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr(fmt.Sprintf("r-%d", i))
	}
	return ld
}

// The second workspace of TestReceiptSealVerifyTamperProve.
const rcWorkspaceB = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"

func TestReceiptSealVerifyTamperProve(t *testing.T) {
	keyFile, vkey := rcKeygen(t)
	gw := rcStart(t, keyFile, nil)
	dir := filepath.Join(gw.DataDir, "receipts")
	ctx := context.Background()
	idB, secretB := e2etest.MintKey(t, gw.KeysFile, rcWorkspaceB, "traces,metrics,logs")
	headersB := e2etest.KeyHeaders(idB, secretB, rcWorkspaceB)

	// Logs over gRPC, metrics and traces over HTTP, for two workspaces (the workspace processor stamps
	// tfo.workspace.id from the verified key).
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), rcLogs(0, 50)))
	res, err := e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), e2etest.GenMetrics(20, map[string]string{"host.name": "brick-02"}))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
	res, err = e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), e2etest.GenTraces(10, map[string]string{"service.name": "portal"}))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
	// The second key is picked up when the key file reloads.
	e2etest.Eventually(t, 10*time.Second, func() bool {
		return e2etest.ExportGRPC(ctx, gw.GRPC(headersB), rcLogs(1000, 30)) == nil
	}, "second workspace key accepted")

	rcWaitRecords(t, dir, 50+20+10+30, 30*time.Second)
	scroll := filepath.Join(dir, e2etest.DefaultWorkspace)
	oldRoot, err := os.ReadFile(filepath.Join(scroll, receipts.RootFile))
	require.NoError(t, err)
	oldRootFile := filepath.Join(t.TempDir(), "old-ROOT.txt")
	require.NoError(t, os.WriteFile(oldRootFile, oldRoot, 0o644))

	// A later window extends the same log: successive ROOTs are consistent.
	time.Sleep(2 * time.Second)
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), rcLogs(50, 5)))
	rcWaitRecords(t, dir, 50+20+10+30+5, 30*time.Second)
	metrics := gw.ScrapeMetrics(t)
	gw.Stop()

	out, err := rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
	require.Contains(t, out, "signature verified")
	require.NotContains(t, out, "FAIL")
	require.Contains(t, out, rcWorkspaceB)

	sealed, found := e2etest.MetricSum(t, metrics, "tfocol_receipt_windows_sealed_total", nil)
	require.True(t, found, "tfocol_receipt_windows_sealed_total exported")
	require.GreaterOrEqual(t, sealed, 5.0)
	accepted, _ := e2etest.MetricSum(t, metrics, "tfocol_receipt_records_accepted_total", nil)
	require.Equal(t, float64(115), accepted)

	newRootFile := filepath.Join(scroll, receipts.RootFile)
	out, err = rcCLI(t, "consistency", oldRootFile, newRootFile, "--dir", scroll, "--pubkey", vkey)
	require.NoError(t, err, out)
	proofFile := filepath.Join(t.TempDir(), "consistency.json")
	require.NoError(t, os.WriteFile(proofFile, []byte(out), 0o644))
	out, err = rcCLI(t, "consistency", oldRootFile, newRootFile, "--proof", proofFile, "--pubkey", vkey)
	require.NoError(t, err, out)

	lines, err := receipts.ScrollLines(scroll)
	require.NoError(t, err)
	var logBatch *receipts.Receipt
	for _, l := range lines {
		r, err := receipts.ParseReceipt(l)
		require.NoError(t, err)
		require.Equal(t, e2etest.DefaultWorkspace, r.Workspace)
		if r.Type == receipts.TypeLogBatch && r.LeafCount == 50 {
			logBatch = r
		}
	}
	require.NotNil(t, logBatch, "one window holds the 50 logs")
	require.Equal(t, uint64(50), logBatch.LogCounts.Info)
	require.Equal(t, []string{"guardian"}, logBatch.ServicesReporting)

	// Every record of the window has an inclusion proof that checks; a mutated proof is rejected.
	for i := 0; i < 50; i++ {
		out, err := rcCLI(t, "prove", "--dir", scroll, "--receipt", logBatch.ID, "--index", fmt.Sprint(i))
		require.NoError(t, err, out)
		p, err := receipts.ParseInclusionProof([]byte(out))
		require.NoError(t, err)
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(p.Leaf)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("r-%d", i), ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
		pf := filepath.Join(t.TempDir(), "p.json")
		require.NoError(t, os.WriteFile(pf, []byte(out), 0o644))
		res, err := rcCLI(t, "check-proof", pf, "--pubkey", vkey)
		require.NoError(t, err, res)
		if i%10 == 0 {
			p.Leaf[len(p.Leaf)-1] ^= 1
			bad, _ := json.Marshal(p)
			require.NoError(t, os.WriteFile(pf, bad, 0o644))
			res, err = rcCLI(t, "check-proof", pf, "--pubkey", vkey)
			require.Error(t, err, res)
		}
	}

	// Flipping single bytes anywhere in a batch file, the receipt log or ROOT fails verification, naming it.
	lineOf := func(data []byte, pos int) int { return bytes.Count(data[:pos], []byte("\n")) + 1 }
	for _, rel := range []string{logBatch.StoragePath, receipts.ReceiptsFile, receipts.RootFile} {
		path := filepath.Join(scroll, filepath.FromSlash(rel))
		orig, err := os.ReadFile(path)
		require.NoError(t, err)
		positions := []int{0, len(orig) - 1}
		for i := 0; i < 18; i++ {
			positions = append(positions, rand.IntN(len(orig)))
		}
		for _, pos := range positions {
			bad := bytes.Clone(orig)
			bad[pos] ^= 0x10
			require.NoError(t, os.WriteFile(path, bad, 0o644))
			out, err := rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
			require.Error(t, err, "%s byte %d flipped but verify passed:\n%s", rel, pos, out)
			if rel == receipts.ReceiptsFile && orig[pos] != '\n' {
				require.Regexp(t, regexp.MustCompile(fmt.Sprintf(`line %d\b`, lineOf(orig, pos))), out, "byte %d", pos)
			} else if rel != receipts.ReceiptsFile {
				require.Contains(t, out, rel, "byte %d", pos)
			}
		}
		require.NoError(t, os.WriteFile(path, orig, 0o644))
	}
	out, err = rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
}

// Kill -9 the collector at random points while clients ingest and windows seal (1s windows, no grace). After
// restarts every acknowledged record is sealed exactly once; records of requests whose answer was lost in a
// kill may be sealed too (once), nothing else.
func TestReceiptCrashRecoveryKill9(t *testing.T) {
	keyFile, vkey := rcKeygen(t)
	gw := rcStart(t, keyFile, map[string]string{"TFOCOL_RECEIPT_INTERVAL": "1s", "TFOCOL_RECEIPT_GRACE": "0s"})
	c := gw.Collector
	dir := filepath.Join(c.DataDir, "receipts")

	var (
		mu        sync.Mutex
		acked     = map[string]bool{}
		uncertain = map[string]bool{}
		next      int
	)
	const batch = 200
	send := func(ctx context.Context) {
		for ctx.Err() == nil {
			mu.Lock()
			from := next
			next += batch
			mu.Unlock()
			err := e2etest.ExportGRPC(context.Background(), c.GRPC(gw.Headers()), rcLogs(from, batch))
			mu.Lock()
			for i := from; i < from+batch; i++ {
				if err == nil {
					acked[fmt.Sprintf("r-%d", i)] = true
				} else {
					uncertain[fmt.Sprintf("r-%d", i)] = true
				}
			}
			mu.Unlock()
			if err != nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); send(ctx) }()
	}
	for i := range 6 {
		time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
		if i%2 == 1 {
			// Land in the sealing that starts at each 1s window boundary.
			now := time.Now()
			time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now) + time.Duration(rand.IntN(60))*time.Millisecond)
		}
		c.Kill()
		c.Restart(t)
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()
	require.Greater(t, nAcked, 1000)

	// Let the last windows seal, then check every record sealed.
	e2etest.Eventually(t, 30*time.Second, func() bool {
		n, ok := rcRecords(dir)
		return ok && n >= uint64(nAcked)
	}, "acknowledged records sealed")
	time.Sleep(2 * time.Second)
	c.Stop()
	out, err := rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)

	seen := map[string]int{}
	scroll := filepath.Join(dir, e2etest.DefaultWorkspace)
	lines, err := receipts.ScrollLines(scroll)
	require.NoError(t, err)
	for _, l := range lines {
		r, err := receipts.ParseReceipt(l)
		require.NoError(t, err)
		leaves, err := receipts.ReceiptLeaves(scroll, r)
		require.NoError(t, err)
		for _, leaf := range leaves {
			ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(leaf)
			require.NoError(t, err)
			seen[ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()]++
		}
	}
	for id := range acked {
		require.Equal(t, 1, seen[id], "acknowledged record %s sealed %d times", id, seen[id])
	}
	extra := 0
	for id, n := range seen {
		require.Equal(t, 1, n, "record %s sealed %d times", id, n)
		if !acked[id] {
			require.True(t, uncertain[id], "record %s sealed but never sent", id)
			extra++
		}
	}
	logs := c.Logs()
	t.Logf("acknowledged %d records, sealed %d (%d from requests whose answer was lost in a kill), %d receipts; "+
		"restarts replayed the WAL %d times, cut %d torn WAL tails, %d torn receipt lines, rebuilt ROOT %d times",
		nAcked, len(seen), extra, len(lines), strings.Count(logs, "receipt WAL replayed"),
		strings.Count(logs, "receipt WAL had a torn tail"), strings.Count(logs, "receipt log had a torn last line"),
		strings.Count(logs, "ROOT was behind"))
	require.Equal(t, nAcked+extra, len(seen))
}

// Valid failure events become one obs_alert_fired receipt each, in the same scroll as the workspace's batch
// receipts (one receipt log, one ROOT, one origin), as soon as the seal consumer reads them from the durable
// log; a retry of the same request (same records) adds none; invalid failure events and other events are not
// alerts.
func TestReceiptAlertsFromEventRouter(t *testing.T) {
	keyFile, vkey := rcKeygen(t)
	gw := rcStart(t, keyFile, nil)
	fixtures, err := eventtest.Load(filepath.Join(e2etest.RepoRoot(t), "testdata", "events"))
	require.NoError(t, err)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("host.name", "brick-02")
	sl := rl.ScopeLogs().AppendEmpty()
	want := map[string]int{}
	for _, fx := range fixtures {
		lr := sl.LogRecords().AppendEmpty()
		require.NoError(t, fx.CopyTo(lr))
		typ := fx.EventName
		if typ == "" {
			typ, _ = fx.Attributes["event.name"].(string)
		}
		if fx.Expect.Outcome == "routed" && (typ == "BackupFailure" || typ == "ServiceDegraded" || typ == "PipelineFailure") {
			want[typ]++
		}
	}
	require.NotEmpty(t, want)
	ctx := context.Background()
	headers := gw.Headers()
	headers["x-request-id"] = "alerts-e2e-1"
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(headers), ld))

	dir := filepath.Join(gw.DataDir, "receipts")
	scroll := filepath.Join(dir, e2etest.DefaultWorkspace)
	alerts := func() (map[string]int, int) {
		got, n := map[string]int{}, 0
		lines, _ := receipts.ScrollLines(scroll)
		for _, l := range lines {
			r, err := receipts.ParseReceipt(l)
			require.NoError(t, err)
			if r.Type != receipts.TypeAlertFired {
				continue
			}
			require.Equal(t, "prod-server-01", r.Node, "the event's own host.name, not the resource's")
			require.Equal(t, e2etest.DefaultWorkspace, r.Workspace)
			got[r.Name]++
			n++
		}
		return got, n
	}
	var got map[string]int
	e2etest.Eventually(t, 10*time.Second, func() bool {
		got, _ = alerts()
		return len(got) == len(want)
	}, "alert receipts in the workspace's scroll")
	time.Sleep(500 * time.Millisecond)
	got, nAlerts := alerts()
	require.Equal(t, want, got)

	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(headers), ld))
	time.Sleep(2 * time.Second)
	_, again := alerts()
	require.Equal(t, nAlerts, again, "a retried event is not receipted twice")
	// Let the windows seal, so the scroll also holds the batch receipts, then verify it whole.
	time.Sleep(3 * time.Second)
	gw.Stop()
	out, err := rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
	out, err = rcCLI(t, "list", "--dir", dir, "--type", receipts.TypeAlertFired)
	require.NoError(t, err)
	require.Equal(t, nAlerts+1, strings.Count(out, "\n"))
}
