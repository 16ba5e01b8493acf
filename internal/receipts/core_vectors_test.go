package receipts

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// Core conformance vectors (testdata/conformance/core/README.md): each directory is a scroll with an EXPECT file,
// and PUBKEY / WITNESS_PUBKEYS when the verdict is for those keys. This file generates them
// (go test -run TestCoreConformanceVectors -update-core-vectors) and runs the Go verifier on every directory.
var updateCoreVectors = flag.Bool("update-core-vectors", false, "rewrite testdata/conformance/core")

const coreVectorsDir = "testdata/conformance/core"

// coreWorkspace is the workspace of every core vector; the vector directories are named after the case, so every
// vector also shows that the origin follows the workspace field, not the directory name.
const coreWorkspace = "ws-conformance"

var coreStart = time.Date(2025, 12, 6, 14, 0, 0, 0, time.UTC)

// detKey makes a note key pair from a fixed seed, so regenerated vectors are byte-identical.
func detKey(t *testing.T, name string) (note.Signer, string) {
	seed := sha256.Sum256([]byte("tfocol conformance vectors: " + name))
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), name)
	require.NoError(t, err)
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	return s, vkey
}

// coreScroll is a vector's content before it is written: receipts with their leaves, and edits.
type coreScroll struct {
	receipts []*Receipt
	leaves   map[int][][]byte // receipt index -> leaves of its batch file
	// origin is the checkpoint origin (the derived one unless a vector changes it).
	origin string
	// lineEdit changes a marshaled line (its prev_hash already set); later lines chain to the edited bytes.
	lineEdit map[int]func([]byte) []byte
	// tamper changes a stored line after the next line took its hash (and before ROOT is computed).
	tamper map[int]func([]byte) []byte
	// fileEdit changes a batch file's bytes after its receipt was made.
	fileEdit map[int]func([]byte) []byte
	unsigned bool
	// rootEdit changes the ROOT file (signed by the origin key, plus cosigned when cosign is set).
	cosign   bool
	rootEdit func(t *testing.T, raw []byte, witness note.Signer) []byte
	// pubkey and witness say which keys the verdict is for.
	pubkey, witness bool
}

type expectation struct {
	verdict, class, where, goError string
}

func (e expectation) String() string {
	s := "verdict: " + e.verdict + "\n"
	if e.class != "" {
		s += "class: " + e.class + "\n"
	}
	if e.where != "" {
		s += "where: " + e.where + "\n"
	}
	if e.goError != "" {
		s += "go-error-contains: " + e.goError + "\n"
	}
	return s
}

func ok() expectation         { return expectation{verdict: "ok"} }
func unverified() expectation { return expectation{verdict: "unverified"} }
func failAt(class, where, goError string) expectation {
	return expectation{verdict: "fail", class: class, where: where, goError: goError}
}

// baseScroll seals one hour of every core type: logs (one of them an alert event), metrics, spans, one complete
// trace and its alert.
func baseScroll(t *testing.T) *coreScroll {
	end := coreStart.Add(time.Hour)
	sealed := FormatTime(end.Add(5 * time.Second))
	period := func() *Period { return &Period{Start: FormatTime(coreStart), End: FormatTime(end)} }
	c := &coreScroll{leaves: map[int][][]byte{}, origin: DefaultOriginPrefix + "/" + coreWorkspace,
		lineEdit: map[int]func([]byte) []byte{}, tamper: map[int]func([]byte) []byte{}, fileEdit: map[int]func([]byte) []byte{}, pubkey: true}

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "guardian")
	rl.Resource().Attributes().PutStr("host.name", "brick-01")
	sl := rl.ScopeLogs().AppendEmpty()
	for i, sev := range []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError} {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(coreStart.Add(time.Duration(10+i) * time.Minute)))
		lr.SetSeverityNumber(sev)
		lr.Body().SetStr([]string{"backup started", "disk slow", "backup failed"}[i])
		if i == 2 {
			lr.SetEventName("BackupFailure")
		}
	}
	var logLeaves [][]byte
	var counts LogCounts
	require.NoError(t, EncodeLogs(ld, "tfo.workspace.id", func(r Record) error {
		logLeaves = append(logLeaves, r.Leaf)
		counts.Add(r.Info.Severity)
		return nil
	}))
	c.add(&Receipt{Type: TypeLogBatch, ID: BatchID(SignalLogs, coreStart), Timestamp: sealed, Period: period(), LogCounts: &counts,
		ServicesReporting: []string{"guardian"}, NodesReporting: []string{"brick-01"}, StoragePath: BatchPath(SignalLogs, coreStart, time.Hour),
		Tags: []string{"observability", "logs", "hourly"}}, logLeaves)

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "guardian")
	rm.Resource().Attributes().PutStr("host.name", "brick-01")
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("cpu_percent")
	for i, v := range []float64{12.5, 87.25} {
		p := g.SetEmptyGauge().DataPoints().AppendEmpty()
		if i == 1 {
			p = g.Gauge().DataPoints().AppendEmpty()
		}
		p.SetTimestamp(pcommon.NewTimestampFromTime(coreStart.Add(time.Duration(20+i) * time.Minute)))
		p.SetDoubleValue(v)
	}
	var metricLeaves [][]byte
	require.NoError(t, EncodeMetrics(md, "tfo.workspace.id", func(r Record) error {
		metricLeaves = append(metricLeaves, r.Leaf)
		return nil
	}))
	c.add(&Receipt{Type: TypeMetricSnapshot, ID: BatchID(SignalMetrics, coreStart), Timestamp: sealed, Period: period(),
		MetricsCollected: uint64(len(metricLeaves)), MetricNames: 1, DataPointTypes: map[string]uint64{"gauge": uint64(len(metricLeaves))},
		ServicesReporting: []string{"guardian"}, NodesReporting: []string{"brick-01"}, StoragePath: BatchPath(SignalMetrics, coreStart, time.Hour),
		Tags: []string{"observability", "metrics", "hourly"}}, metricLeaves)

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "portal")
	rs.Resource().Attributes().PutStr("host.name", "brick-02")
	ss := rs.ScopeSpans().AppendEmpty()
	traceA := pcommon.TraceID{0xa1, 0xa2, 0xa3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	traceB := pcommon.TraceID{0xb1, 0xb2, 0xb3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	for i, tid := range []pcommon.TraceID{traceA, traceA, traceB} {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1), 1, 2, 3, 4, 5, 6, 7})
		sp.SetName([]string{"settle", "ledger.write", "login"}[i])
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(coreStart.Add(30 * time.Minute)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(coreStart.Add(30*time.Minute + time.Duration(100*(i+1))*time.Millisecond)))
		if i == 1 {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	var spanLeaves [][]byte
	require.NoError(t, EncodeTraces(td, "tfo.workspace.id", func(r Record) error {
		spanLeaves = append(spanLeaves, r.Leaf)
		return nil
	}))
	c.add(&Receipt{Type: TypeTraceBatch, ID: BatchID(SignalTraces, coreStart), Timestamp: sealed, Period: period(), SpanCount: 3,
		TraceCount: 2, ErrorSpans: 1, ServicesReporting: []string{"portal"}, NodesReporting: []string{"brick-02"},
		StoragePath: BatchPath(SignalTraces, coreStart, time.Hour), Tags: []string{"observability", "traces", "hourly"}}, spanLeaves)

	idA := hex.EncodeToString(traceA[:])
	traceEnd := coreStart.Add(30*time.Minute + 200*time.Millisecond)
	c.add(&Receipt{Type: TypeTraceComplete, ID: "trace-" + idA, Timestamp: FormatTime(traceEnd.Add(30 * time.Second)), TraceID: idA,
		Name: "settle", DurationMs: 200, Status: "error", SpanCount: 2, ErrorSpans: 1, EventTime: FormatTime(traceEnd),
		ServicesReporting: []string{"portal"}, NodesReporting: []string{"brick-02"}, StoragePath: TracePath(idA, traceEnd),
		Tags: []string{"observability", "trace"}}, spanLeaves[:2])

	alert := logLeaves[2]
	sum := merkle.Sum(alert)
	c.receipts = append(c.receipts, &Receipt{Type: TypeAlertFired, ID: AlertID(alert), Timestamp: FormatTime(coreStart.Add(12 * time.Minute)),
		Name: "BackupFailure", Severity: "error", Node: "brick-01", Service: "guardian", EventTime: FormatTime(coreStart.Add(12 * time.Minute)),
		Record: alert, ContentHash: FormatHash(sum[:]), MerkleRoot: FormatHash(merkle.BLAKE3.HashLeaf(alert)), LeafCount: 1,
		Tags: []string{"observability", "alert", "fired"}})
	for _, r := range c.receipts {
		r.Workspace = coreWorkspace
	}
	return c
}

// add appends a receipt whose batch file holds leaves, filling its commitment.
func (c *coreScroll) add(r *Receipt, leaves [][]byte) {
	var body []byte
	for _, l := range leaves {
		body = AppendRecord(body, l)
	}
	sum := merkle.Sum(body)
	r.ContentHash, r.MerkleRoot, r.LeafCount = FormatHash(sum[:]), FormatHash(merkle.Root(merkle.BLAKE3, LeafHashes(leaves))), uint64(len(leaves))
	c.leaves[len(c.receipts)] = leaves
	c.receipts = append(c.receipts, r)
}

// write writes the scroll and its EXPECT, PUBKEY and WITNESS_PUBKEYS files into dir.
func (c *coreScroll) write(t *testing.T, dir string, expect expectation) {
	require.NoError(t, os.RemoveAll(dir))
	origin, originV := detKey(t, "tfocol-conformance-origin")
	witness, witnessV := detKey(t, "tfocol-conformance-witness")
	prev := ZeroHash
	var log []byte
	var hashes [][]byte
	for i, r := range c.receipts {
		if leaves, ok := c.leaves[i]; ok {
			var body []byte
			for _, l := range leaves {
				body = AppendRecord(body, l)
			}
			if e := c.fileEdit[i]; e != nil {
				body = e(body)
			}
			require.NoError(t, atomicfile.WriteFile(filepath.Join(dir, filepath.FromSlash(r.StoragePath)), body, 0o600))
		}
		r.Seq, r.PrevHash = uint64(i), prev
		line, err := r.Marshal()
		require.NoError(t, err)
		if e := c.lineEdit[i]; e != nil {
			line = e(line)
		}
		prev = LineHash(line)
		if e := c.tamper[i]; e != nil {
			line = e(line)
		}
		hashes = append(hashes, merkle.BLAKE3.HashLeaf(line))
		log = append(append(log, line...), '\n')
	}
	require.NoError(t, atomicfile.WriteFile(filepath.Join(dir, ReceiptsFile), log, 0o600))
	cp := checkpoint.Checkpoint{Origin: c.origin, Size: uint64(len(hashes)), Root: merkle.Root(merkle.BLAKE3, hashes)}
	var signer note.Signer = origin
	if c.unsigned {
		signer = nil
	}
	raw, err := cp.Marshal(signer)
	require.NoError(t, err)
	if c.cosign {
		raw, err = checkpoint.Cosign(raw, witness)
		require.NoError(t, err)
	}
	if c.rootEdit != nil {
		raw = c.rootEdit(t, raw, witness)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, RootFile), raw, 0o644))
	if c.pubkey {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "PUBKEY"), []byte(originV+"\n"), 0o644))
	}
	if c.witness {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "WITNESS_PUBKEYS"), []byte(witnessV+"\n"), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "EXPECT"), []byte(expect.String()), 0o644))
}

// replaceOnce edits line i of the log, failing the generator if old is not in the line exactly once.
func (c *coreScroll) replaceOnce(t *testing.T, i int, old, new string) *coreScroll {
	c.lineEdit[i] = func(line []byte) []byte {
		require.Equal(t, 1, bytes.Count(line, []byte(old)), "line %d: %q once in %s", i, old, line)
		return bytes.Replace(line, []byte(old), []byte(new), 1)
	}
	return c
}

// sigLines splits a ROOT file into its body (with the blank line) and its signature lines.
func sigLines(raw []byte) (head []byte, lines []string) {
	body, sigs, _ := bytes.Cut(raw, []byte("\n\n"))
	return append(body, '\n', '\n'), strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n")
}

func joinSigs(head []byte, lines []string) []byte {
	return append(head, strings.Join(lines, "\n")+"\n"...)
}

// flipSignatureByte changes one byte of the signature (not the key hash) of signature line n, keeping canonical
// base64.
func flipSignatureByte(t *testing.T, raw []byte, n int) []byte {
	head, lines := sigLines(raw)
	prefix, b64, _ := strings.Cut(lines[n], " ")
	name, b64, _ := strings.Cut(b64, " ")
	b, err := decodeStd(b64)
	require.NoError(t, err)
	b[20] ^= 0x01
	lines[n] = prefix + " " + name + " " + encodeStd(b)
	return joinSigs(head, lines)
}

// sortLeafFields re-encodes a log leaf with the fields of its LogRecord in ascending field-number order, the
// reverse of what pdata writes: the same record, other bytes.
func sortLeafFields(t *testing.T, leaf []byte, path ...protowire.Number) []byte {
	type field struct {
		num protowire.Number
		raw []byte
	}
	var fields []field
	for b := leaf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		require.Greater(t, n, 0)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		require.GreaterOrEqual(t, m, 0)
		raw := b[:n+m]
		if len(path) > 0 && num == path[0] && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[n:])
			raw = protowire.AppendBytes(protowire.AppendTag(nil, num, typ), sortLeafFields(t, v, path[1:]...))
		}
		fields = append(fields, field{num, raw})
		b = b[n+m:]
	}
	if len(path) == 0 {
		slices.SortStableFunc(fields, func(a, b field) int { return int(a.num) - int(b.num) })
	}
	var out []byte
	for _, f := range fields {
		out = append(out, f.raw...)
	}
	return out
}

// coreVectors are the cases: the defect classes of docs/receipts.md §12, each with its verdict.
func coreVectors(t *testing.T) map[string]func() (*coreScroll, expectation) {
	const log, metrics, traces, trace, alert = 0, 1, 2, 3, 4
	b := func() *coreScroll { return baseScroll(t) }
	return map[string]func() (*coreScroll, expectation){
		// ---- valid scrolls and signature verdicts ----
		"valid-signed": func() (*coreScroll, expectation) { return b(), ok() },
		"valid-signed-without-pubkey": func() (*coreScroll, expectation) {
			c := b()
			c.pubkey = false
			return c, unverified()
		},
		"valid-unsigned": func() (*coreScroll, expectation) {
			c := b()
			c.unsigned, c.pubkey = true, false
			return c, unverified()
		},
		"unsigned-with-pubkey": func() (*coreScroll, expectation) {
			c := b()
			c.unsigned = true
			return c, failAt("signature", "ROOT", "not signed")
		},
		"corrupted-signature-without-pubkey": func() (*coreScroll, expectation) {
			c := b()
			c.pubkey = false
			c.rootEdit = func(t *testing.T, raw []byte, _ note.Signer) []byte { return flipSignatureByte(t, raw, 0) }
			return c, unverified()
		},
		"corrupted-signature": func() (*coreScroll, expectation) {
			c := b()
			c.rootEdit = func(t *testing.T, raw []byte, _ note.Signer) []byte { return flipSignatureByte(t, raw, 0) }
			return c, failAt("signature", "ROOT", "does not verify")
		},
		"signature-key-hash-changed": func() (*coreScroll, expectation) {
			c := b()
			c.rootEdit = func(t *testing.T, raw []byte, _ note.Signer) []byte {
				head, lines := sigLines(raw)
				prefix, b64, _ := strings.Cut(lines[0], " ")
				name, b64, _ := strings.Cut(b64, " ")
				sig, err := decodeStd(b64)
				require.NoError(t, err)
				sig[0] ^= 0x80
				lines[0] = prefix + " " + name + " " + encodeStd(sig)
				return joinSigs(head, lines)
			}
			return c, failAt("signature", "ROOT", "not by the given key")
		},
		"signature-line-repeated": func() (*coreScroll, expectation) {
			c := b()
			c.rootEdit = func(t *testing.T, raw []byte, _ note.Signer) []byte {
				head, lines := sigLines(raw)
				return joinSigs(head, append(lines, lines[0]))
			}
			return c, failAt("signature", "ROOT", "one line per key")
		},
		"valid-cosigned-witness-checked": func() (*coreScroll, expectation) {
			c := b()
			c.cosign, c.witness = true, true
			return c, ok()
		},
		"valid-cosigned-witness-not-given": func() (*coreScroll, expectation) {
			c := b()
			c.cosign = true
			return c, ok()
		},
		"cosignature-corrupted": func() (*coreScroll, expectation) {
			c := b()
			c.cosign, c.witness = true, true
			c.rootEdit = func(t *testing.T, raw []byte, _ note.Signer) []byte { return flipSignatureByte(t, raw, 1) }
			return c, failAt("cosignature", "ROOT", "does not verify")
		},
		"cosignature-missing": func() (*coreScroll, expectation) {
			c := b()
			c.witness = true
			return c, failAt("cosignature", "ROOT", "no signature line by witness")
		},
		"cosignature-before-origin-signature": func() (*coreScroll, expectation) {
			c := b()
			c.cosign = true
			c.rootEdit = func(t *testing.T, raw []byte, _ note.Signer) []byte {
				head, lines := sigLines(raw)
				return joinSigs(head, []string{lines[1], lines[0]})
			}
			return c, failAt("signature", "ROOT", "first signature line (the origin's) is by key tfocol-conformance-witness")
		},
		// ---- leaf bytes (§3): verifiers hash leaves as stored and never re-encode ----
		"valid-leaf-fields-in-ascending-order": func() (*coreScroll, expectation) {
			c := b()
			leaves := slices.Clone(c.leaves[log])
			leaves[0] = sortLeafFields(t, leaves[0], 1, 2, 2)
			require.NotEqual(t, c.leaves[log][0], leaves[0])
			// The same record: both decode to the same OTLP.
			for _, l := range [][]byte{c.leaves[log][0], leaves[0]} {
				ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(l)
				require.NoError(t, err)
				require.Equal(t, "backup started", ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
			}
			c.setLeaves(log, leaves)
			return c, ok()
		},
		// ---- line syntax (§5): one reading for every parser ----
		"duplicate-key-top-level": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, log, `{"type":"obs_log_batch"`, `{"type":"obs_bogus","type":"obs_log_batch"`),
				failAt("duplicate-key", "line 1", `duplicate key "type"`)
		},
		"duplicate-key-nested": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, metrics, `"period":{"start":"2025-12-06T14:00:00Z"`, `"period":{"start":"2025-12-06T13:00:00Z","start":"2025-12-06T14:00:00Z"`),
				failAt("duplicate-key", "line 2", `duplicate key "start"`)
		},
		"key-differs-in-case": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, traces, `"span_count":`, `"Span_count":`), failAt("line-syntax", "line 3", `is not a field name`)
		},
		"null-value": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, log, `"tags":["observability","logs","hourly"]`, `"tags":null`), failAt("line-syntax", "line 1", "null is not allowed")
		},
		"carriage-return-at-line-end": func() (*coreScroll, expectation) {
			c := b()
			c.lineEdit[trace] = func(l []byte) []byte { return append(l, '\r') }
			return c, failAt("line-syntax", "line 4", "whitespace after the object")
		},
		"whitespace-between-tokens": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, alert, `"name":"BackupFailure"`, `"name": "BackupFailure"`), failAt("line-syntax", "line 5", "whitespace outside strings")
		},
		"invalid-utf8": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, log, `"hourly"]`, "\"hourly\xff\"]"), failAt("line-syntax", "line 1", "not valid UTF-8")
		},
		"lone-surrogate-escape": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, log, `"hourly"]`, `"hourly\ud800"]`), failAt("line-syntax", "line 1", "lone high surrogate")
		},
		"number-with-exponent": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, alert, `"leaf_count":1,`, `"leaf_count":1e0,`), failAt("line-syntax", "line 5", "exponent")
		},
		"integer-above-2-pow-53": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, alert, `"leaf_count":1,`, `"leaf_count":18446744073709551617,`), failAt("line-syntax", "line 5", "larger than 2^53-1")
		},
		// ---- common fields (§5) ----
		"timestamp-with-offset": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, log, `"timestamp":"2025-12-06T15:00:05Z"`, `"timestamp":"2025-12-06T17:00:05+02:00"`),
				failAt("timestamp", "line 1", "not canonical RFC 3339 UTC")
		},
		"timestamp-trailing-zero-fraction": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, log, `"timestamp":"2025-12-06T15:00:05Z"`, `"timestamp":"2025-12-06T15:00:05.500Z"`),
				failAt("timestamp", "line 1", "not canonical RFC 3339 UTC")
		},
		"period-with-offset": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, traces, `"end":"2025-12-06T15:00:00Z"`, `"end":"2025-12-06T15:00:00+00:00"`),
				failAt("timestamp", "line 3", "not whole-second RFC 3339 UTC")
		},
		"tags-missing": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, metrics, `"tags":["observability","metrics","hourly"],`, ``), failAt("missing-field", "line 2", `no "tags" field`)
		},
		"seq-missing": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, log, `"seq":0,`, ``), failAt("missing-field", "line 1", `no "seq" field`)
		},
		// ---- type invariants (§5, "Invariants checked") ----
		"metrics-collected-not-leaf-count": func() (*coreScroll, expectation) {
			c := b()
			c.receipts[metrics].MetricsCollected = 3
			return c, failAt("type-invariant", "line 2", "metrics_collected 3 differs from leaf_count 2")
		},
		"services-reporting-unsorted": func() (*coreScroll, expectation) {
			// Marshal writes names sorted, so the line is edited.
			return b().replaceOnce(t, traces, `"services_reporting":["portal"]`, `"services_reporting":["portal","ledger"]`), failAt("type-invariant", "line 3", "services_reporting is not sorted")
		},
		"period-disagrees-with-id": func() (*coreScroll, expectation) {
			c := b()
			c.receipts[log].Period = &Period{Start: FormatTime(coreStart.Add(time.Hour)), End: FormatTime(coreStart.Add(2 * time.Hour))}
			return c, failAt("type-invariant", "line 1", "disagrees with period start")
		},
		"period-disagrees-with-storage-path": func() (*coreScroll, expectation) {
			return b().replaceOnce(t, log, `"storage_path":"telemetry/logs/2025-12-06/hour-14.binpb"`, `"storage_path":"telemetry/logs/2025-12-06/hour-15.binpb"`),
				failAt("type-invariant", "line 1", "storage_path")
		},
		"trace-status-disagrees-with-error-spans": func() (*coreScroll, expectation) {
			c := b()
			c.receipts[trace].Status = "ok"
			return c, failAt("type-invariant", "line 4", `status "ok", want "error"`)
		},
		"alert-id-not-from-record": func() (*coreScroll, expectation) {
			c := b()
			c.receipts[alert].ID = "alert-00000000000000000000000000000000"
			return c, failAt("type-invariant", "line 5", "id must be alert-")
		},
		"field-of-another-type": func() (*coreScroll, expectation) {
			c := b()
			c.receipts[log].SpanCount = 3
			return c, failAt("type-invariant", "line 1", `field "span_count" does not belong to obs_log_batch`)
		},
		// ---- chain, files and ROOT (§7) ----
		"batch-file-changed": func() (*coreScroll, expectation) {
			c := b()
			c.fileEdit[traces] = func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-3] ^= 0x01; return b }
			return c, failAt("content", "telemetry/traces/2025-12-06/hour-14.binpb", "does not match merkle_root")
		},
		"line-changed-after-chaining": func() (*coreScroll, expectation) {
			c := b()
			// Line 2 is changed after line 3 took its hash: line 3's prev_hash names the change.
			c.tamper[metrics] = func(l []byte) []byte { return bytes.Replace(l, []byte(`"hourly"`), []byte(`"daily"`), 1) }
			return c, failAt("chain", "line 3", "does not match the hash of line 2")
		},
		"origin-from-directory-name": func() (*coreScroll, expectation) {
			c := b()
			c.origin = DefaultOriginPrefix + "/origin-from-directory-name"
			return c, failAt("origin", "ROOT", "want \"tfocol/observability/ws-conformance\"")
		},
		"valid-hashed-workspace-dir": func() (*coreScroll, expectation) {
			c := b()
			for _, r := range c.receipts {
				r.Workspace = "Team A/ops"
			}
			c.origin = DefaultOriginPrefix + "/" + WorkspaceDir("Team A/ops")
			return c, ok()
		},
	}
}

// setLeaves replaces the batch of receipt i and its commitment.
func (c *coreScroll) setLeaves(i int, leaves [][]byte) {
	var body []byte
	for _, l := range leaves {
		body = AppendRecord(body, l)
	}
	sum := merkle.Sum(body)
	r := c.receipts[i]
	r.ContentHash, r.MerkleRoot, r.LeafCount = FormatHash(sum[:]), FormatHash(merkle.Root(merkle.BLAKE3, LeafHashes(leaves))), uint64(len(leaves))
	c.leaves[i] = leaves
}

func decodeStd(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
func encodeStd(b []byte) string          { return base64.StdEncoding.EncodeToString(b) }

func readExpect(t *testing.T, dir string) expectation {
	raw, err := os.ReadFile(filepath.Join(dir, "EXPECT"))
	require.NoError(t, err)
	var e expectation
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		require.True(t, ok, "EXPECT line %q is not key: value", line)
		switch k {
		case "verdict":
			e.verdict = v
		case "class":
			e.class = v
		case "where":
			e.where = v
		case "go-error-contains":
			e.goError = v
		default:
			t.Fatalf("EXPECT: unknown key %q", k)
		}
	}
	return e
}

func readKeys(t *testing.T, file string) []note.Verifier {
	raw, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []note.Verifier
	for _, k := range strings.Fields(string(raw)) {
		v, err := checkpoint.NewVerifier(k)
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

func treeFiles(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(raw)
		return err
	}))
	return out
}

func TestCoreConformanceVectors(t *testing.T) {
	vectors := coreVectors(t)
	if *updateCoreVectors {
		for name, v := range vectors {
			c, e := v()
			c.write(t, filepath.Join(coreVectorsDir, name), e)
		}
	}
	entries, err := os.ReadDir(coreVectorsDir)
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	require.Len(t, dirs, len(vectors), "one directory per vector (go test -run TestCoreConformanceVectors -update-core-vectors)")
	for _, name := range dirs {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(coreVectorsDir, name)
			build, known := vectors[name]
			require.True(t, known, "vector %s is not generated by coreVectors", name)
			// The stored vector is what the generator writes: vectors stay in step with the format.
			c, e := build()
			rebuilt := filepath.Join(t.TempDir(), name)
			c.write(t, rebuilt, e)
			require.Equal(t, treeFiles(t, rebuilt), treeFiles(t, dir), "%s is stale: go test -run TestCoreConformanceVectors -update-core-vectors", name)

			expect := readExpect(t, dir)
			keys := readKeys(t, filepath.Join(dir, "PUBKEY"))
			var origin note.Verifier
			if len(keys) > 0 {
				origin = keys[0]
			}
			rep, err := VerifyScroll(dir, VerifyOptions{Verifier: origin, Witnesses: readKeys(t, filepath.Join(dir, "WITNESS_PUBKEYS"))})
			switch expect.verdict {
			case "ok":
				require.NoError(t, err)
				require.True(t, rep.Verified, "ok means the origin signature was verified")
			case "unverified":
				require.NoError(t, err)
				require.False(t, rep.Verified)
			case "fail":
				require.Error(t, err)
				require.ErrorContains(t, err, expect.goError)
				var f *Failure
				require.ErrorAs(t, err, &f)
				switch {
				case expect.where == "ROOT":
					require.Equal(t, RootFile, f.File)
				case strings.HasPrefix(expect.where, "line "):
					require.Equal(t, ReceiptsFile, f.File)
					require.Equal(t, expect.where, "line "+strconv.Itoa(f.Line))
				default:
					require.Equal(t, expect.where, f.File)
				}
			default:
				t.Fatalf("EXPECT verdict %q is not ok, unverified or fail", expect.verdict)
			}
		})
	}
}
