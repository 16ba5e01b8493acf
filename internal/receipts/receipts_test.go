package receipts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/mod/sumdb/note"

	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

var t0 = time.Date(2025, 12, 6, 14, 0, 0, 0, time.UTC)

func testLeaves(n int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s-record-%d", tag, i))
	}
	return out
}

// buildScroll writes a scroll with two log batches and one alert, optionally signed.
func buildScroll(t *testing.T, signer note.Signer) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ws-1")
	s, _, err := OpenScroll(dir, DefaultOriginPrefix+"/ws-1", signer)
	require.NoError(t, err)
	for i, n := range []int{5, 3} {
		start := t0.Add(time.Duration(i) * time.Hour)
		r := &Receipt{Type: TypeLogBatch, ID: BatchID(SignalLogs, start), Timestamp: FormatTime(start.Add(time.Hour)),
			Workspace: "ws-1", Period: &Period{Start: FormatTime(start), End: FormatTime(start.Add(time.Hour))},
			LogCounts: &LogCounts{Info: uint64(n)}, ServicesReporting: []string{"guardian"}}
		require.NoError(t, s.SealFile(BatchPath(SignalLogs, start, time.Hour), testLeaves(n, fmt.Sprint(i)), r))
	}
	leaf := backupFailureLeaf(t)
	sum := merkle.Sum(leaf)
	require.NoError(t, s.Append(&Receipt{Type: TypeAlertFired, ID: AlertID(leaf), Timestamp: FormatTime(t0), Workspace: "ws-1",
		Name: "BackupFailure", Severity: "error", Record: leaf, ContentHash: FormatHash(sum[:]), MerkleRoot: FormatHash(merkle.BLAKE3.HashLeaf(leaf)), LeafCount: 1}))
	require.NoError(t, s.Close())
	return dir
}

func TestVerifyScrollPasses(t *testing.T) {
	dir := buildScroll(t, nil)
	rep, err := VerifyScroll(dir, VerifyOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(3), rep.Receipts)
	require.Equal(t, uint64(9), rep.Records)
	require.Empty(t, rep.Unsealed)
}

// Flipping any single byte of a batch file, the receipt log or ROOT makes verification fail and name the place.
func TestVerifyByteFlipsNameThePlace(t *testing.T) {
	dir := buildScroll(t, nil)
	batch := BatchPath(SignalLogs, t0, time.Hour)
	files := []string{batch, ReceiptsFile, RootFile}
	for _, rel := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		orig, err := os.ReadFile(path)
		require.NoError(t, err)
		lineStarts := []int{0}
		for i, c := range orig {
			if c == '\n' {
				lineStarts = append(lineStarts, i+1)
			}
		}
		for pos := range orig {
			for _, mask := range []byte{0x01, 0x20} {
				bad := bytes.Clone(orig)
				bad[pos] ^= mask
				require.NoError(t, os.WriteFile(path, bad, 0o644))
				_, err := VerifyScroll(dir, VerifyOptions{})
				require.Error(t, err, "%s byte %d ^%#x accepted", rel, pos, mask)
				msg := err.Error()
				switch rel {
				case ReceiptsFile:
					line := 0
					for i, s := range lineStarts {
						if pos >= s {
							line = i + 1
						}
					}
					if orig[pos] == '\n' {
						// A changed newline merges or splits lines; the damage is at this line or the next.
						require.Regexp(t, regexp.MustCompile(fmt.Sprintf(`line (%d|%d)\b`, line, line+1)), msg, "byte %d", pos)
						continue
					}
					require.Regexp(t, regexp.MustCompile(fmt.Sprintf(`line %d\b`, line)), msg, "byte %d (line %d)", pos, line)
				default:
					require.Contains(t, msg, rel, "byte %d", pos)
				}
			}
		}
		require.NoError(t, os.WriteFile(path, orig, 0o644))
	}
	_, err := VerifyScroll(dir, VerifyOptions{})
	require.NoError(t, err)
}

func TestVerifySignedRoot(t *testing.T) {
	skey, vkey, err := checkpoint.GenerateKey("test")
	require.NoError(t, err)
	signer, _ := checkpoint.NewSigner(skey)
	verifier, _ := checkpoint.NewVerifier(vkey)
	dir := buildScroll(t, signer)
	rep, err := VerifyScroll(dir, VerifyOptions{Verifier: verifier})
	require.NoError(t, err)
	require.True(t, rep.Verified)
	_, vkey2, _ := checkpoint.GenerateKey("test")
	other, _ := checkpoint.NewVerifier(vkey2)
	_, err = VerifyScroll(dir, VerifyOptions{Verifier: other})
	require.ErrorContains(t, err, RootFile)
	unsigned := buildScroll(t, nil)
	_, err = VerifyScroll(unsigned, VerifyOptions{Verifier: verifier})
	require.ErrorContains(t, err, RootFile)
}

func TestVerifyDetectsRemovedAndReorderedReceipts(t *testing.T) {
	dir := buildScroll(t, nil)
	p := filepath.Join(dir, ReceiptsFile)
	orig, _ := os.ReadFile(p)
	lines := strings.SplitAfter(string(orig), "\n")
	require.NoError(t, os.WriteFile(p, []byte(lines[0]+lines[2]), 0o644))
	_, err := VerifyScroll(dir, VerifyOptions{})
	require.ErrorContains(t, err, "line 2")
	require.NoError(t, os.WriteFile(p, []byte(lines[0]+lines[1]), 0o644))
	_, err = VerifyScroll(dir, VerifyOptions{})
	require.ErrorContains(t, err, RootFile)
}

func TestInclusionProofsForEveryRecord(t *testing.T) {
	dir := buildScroll(t, nil)
	id := BatchID(SignalLogs, t0)
	for i := uint64(0); i < 5; i++ {
		p, err := BuildInclusionProof(dir, id, i)
		require.NoError(t, err)
		require.Equal(t, testLeaves(5, "0")[i], p.Leaf)
		_, err = CheckInclusionProof(p, nil)
		require.NoError(t, err)

		bad := *p
		bad.Leaf = append(bytes.Clone(p.Leaf), 'x')
		_, err = CheckInclusionProof(&bad, nil)
		require.Error(t, err)
		bad = *p
		bad.LeafIndex = (i + 1) % 5
		_, err = CheckInclusionProof(&bad, nil)
		require.Error(t, err)
		for j := range p.Proof {
			bad = *p
			bad.Proof = append([]string(nil), p.Proof...)
			bad.Proof[j] = strings.Repeat("0", 64)
			_, err = CheckInclusionProof(&bad, nil)
			require.Error(t, err)
		}
		bad = *p
		bad.ReceiptLine = strings.Replace(p.ReceiptLine, `"info":5`, `"info":6`, 1)
		_, err = CheckInclusionProof(&bad, nil)
		require.Error(t, err)
	}
	p, err := BuildInclusionProof(dir, AlertID(backupFailureLeaf(t)), 0)
	require.NoError(t, err)
	_, err = CheckInclusionProof(p, nil)
	require.NoError(t, err)
	_, err = BuildInclusionProof(dir, id, 5)
	require.Error(t, err)
}

func TestConsistencyBetweenSuccessiveRoots(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ws")
	s, _, err := OpenScroll(dir, DefaultOriginPrefix+"/ws", nil)
	require.NoError(t, err)
	var roots []checkpoint.Checkpoint
	readRoot := func() {
		raw, err := os.ReadFile(filepath.Join(dir, RootFile))
		require.NoError(t, err)
		f, err := checkpoint.Parse(raw, nil)
		require.NoError(t, err)
		roots = append(roots, f.Checkpoint)
	}
	readRoot()
	for i := 0; i < 9; i++ {
		start := t0.Add(time.Duration(i) * time.Hour)
		r := &Receipt{Type: TypeLogBatch, ID: BatchID(SignalLogs, start), Timestamp: FormatTime(start), Workspace: "ws",
			Period: &Period{Start: FormatTime(start), End: FormatTime(start.Add(time.Hour))}, LogCounts: &LogCounts{Info: 2}}
		require.NoError(t, s.SealFile(BatchPath(SignalLogs, start, time.Hour), testLeaves(2, fmt.Sprint(i)), r))
		readRoot()
	}
	for i := range roots {
		for j := i; j < len(roots); j++ {
			p, err := BuildConsistencyProof(dir, roots[i], roots[j])
			require.NoError(t, err)
			require.NoError(t, CheckConsistencyProof(p, roots[i], roots[j]), "%d→%d", i, j)
			if len(p.Proof) > 0 {
				p.Proof[0] = strings.Repeat("1", 64)
				require.Error(t, CheckConsistencyProof(p, roots[i], roots[j]))
			}
		}
	}
	// A forked history is not consistent.
	forked := roots[5]
	forked.Root = bytes.Repeat([]byte{9}, 32)
	p, err := BuildConsistencyProof(dir, roots[3], roots[7])
	require.NoError(t, err)
	p.NewRoot = fmt.Sprintf("%x", forked.Root)
	require.Error(t, CheckConsistencyProof(p, roots[3], forked))
}

func TestLeafEncodingIsTheOneRecordRequest(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("tfo.workspace.id", "ws-9")
	rl.Resource().Attributes().PutStr("service.name", "svc")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("scope")
	for i := 0; i < 3; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(fmt.Sprint("msg", i))
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	}
	var recs []Record
	require.NoError(t, EncodeLogs(ld, "tfo.workspace.id", func(r Record) error { recs = append(recs, r); return nil }))
	require.Len(t, recs, 3)
	for i, r := range recs {
		// The leaf is exactly the record alone in a one-record ExportLogsServiceRequest.
		want := plog.NewLogs()
		wrl := want.ResourceLogs().AppendEmpty()
		rl.Resource().CopyTo(wrl.Resource())
		wsl := wrl.ScopeLogs().AppendEmpty()
		sl.Scope().CopyTo(wsl.Scope())
		sl.LogRecords().At(i).CopyTo(wsl.LogRecords().AppendEmpty())
		wantBytes, err := (&plog.ProtoMarshaler{}).MarshalLogs(want)
		require.NoError(t, err)
		require.Equal(t, wantBytes, r.Leaf)
		require.Equal(t, "ws-9", r.Workspace)
		require.Equal(t, int32(plog.SeverityNumberWarn), r.Info.Severity)
		// Re-encoding the leaf yields the same leaf: encoding is stable under a protobuf round trip.
		back, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(r.Leaf)
		require.NoError(t, err)
		var again []Record
		require.NoError(t, EncodeLogs(back, "tfo.workspace.id", func(x Record) error { again = append(again, x); return nil }))
		require.Equal(t, []Record{r}, again)
	}
}

func TestTraceLeafInfo(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "portal")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{2})
	sp.Status().SetCode(ptrace.StatusCodeError)
	var recs []Record
	require.NoError(t, EncodeTraces(td, "tfo.workspace.id", func(r Record) error { recs = append(recs, r); return nil }))
	require.Len(t, recs, 1)
	require.True(t, recs[0].Info.Error)
	require.Equal(t, "01000000000000000000000000000000", recs[0].Info.TraceID)
	require.Equal(t, "", recs[0].Workspace)
}

func TestWorkspaceDirCannotEscape(t *testing.T) {
	require.Equal(t, "ws-1", WorkspaceDir("ws-1"))
	require.Equal(t, DefaultWorkspace, WorkspaceDir(""))
	for _, ws := range []string{"..", ".", "../x", "a/b", "a\\b", ".hidden", strings.Repeat("a", 200), "\n"} {
		d := WorkspaceDir(ws)
		require.True(t, strings.HasPrefix(d, "~"), ws)
		require.NotContains(t, d, "/")
	}
	require.Error(t, CheckStoragePath("../etc/passwd"))
	require.Error(t, CheckStoragePath("/etc/passwd"))
	require.Error(t, CheckStoragePath("telemetry/../../x"))
	require.NoError(t, CheckStoragePath("telemetry/logs/2025-12-06/hour-14.binpb"))
}
