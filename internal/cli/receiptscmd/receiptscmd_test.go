package receiptscmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
	"github.com/tfocol/tfocol/internal/receipts/pdataleaves"
)

var t0 = time.Date(2025, 12, 6, 14, 0, 0, 0, time.UTC)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := New()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// writeScroll seals hours of real OTLP log leaves, signed with skey, and saves a copy of ROOT after each.
func writeScroll(t *testing.T, skey string, hours int) (exporterDir string, roots []string) {
	t.Helper()
	exporterDir = t.TempDir()
	dir := filepath.Join(exporterDir, "ws-1")
	signer, err := checkpoint.NewSigner(skey)
	require.NoError(t, err)
	s, _, err := receipts.OpenScroll(dir, receipts.DefaultOriginPrefix+"/ws-1", signer)
	require.NoError(t, err)
	for h := 0; h < hours; h++ {
		start := t0.Add(time.Duration(h) * time.Hour)
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("tfo.workspace.id", "ws-1")
		sl := rl.ScopeLogs().AppendEmpty()
		for i := 0; i < 6; i++ {
			lr := sl.LogRecords().AppendEmpty()
			lr.Body().SetStr(fmt.Sprintf("hour %d record %d", h, i))
			lr.SetTimestamp(pcommon.NewTimestampFromTime(start))
		}
		var leaves [][]byte
		require.NoError(t, pdataleaves.EncodeLogs(ld, "tfo.workspace.id", func(r receipts.Record) error {
			leaves = append(leaves, r.Leaf)
			return nil
		}))
		r := &receipts.Receipt{Type: receipts.TypeLogBatch, ID: receipts.BatchID("logs", start), Timestamp: receipts.FormatTime(start.Add(time.Hour)),
			Workspace: "ws-1", Period: &receipts.Period{Start: receipts.FormatTime(start), End: receipts.FormatTime(start.Add(time.Hour))},
			LogCounts: &receipts.LogCounts{Unspecified: 6}}
		require.NoError(t, s.SealFile(receipts.BatchPath("logs", start, time.Hour), leaves, r))
		raw, err := os.ReadFile(filepath.Join(dir, receipts.RootFile))
		require.NoError(t, err)
		p := filepath.Join(t.TempDir(), fmt.Sprintf("root-%d.txt", h))
		require.NoError(t, os.WriteFile(p, raw, 0o644))
		roots = append(roots, p)
	}
	require.NoError(t, s.Close())
	return exporterDir, roots
}

func keygen(t *testing.T) (skey, vkey, keyFile string) {
	keyFile = filepath.Join(t.TempDir(), "signing.key")
	out, err := run(t, "keygen", "--out", keyFile)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	vkey = lines[len(lines)-1]
	raw, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	fi, _ := os.Stat(keyFile)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	_, err = run(t, "keygen", "--out", keyFile)
	require.Error(t, err, "keygen must not overwrite a key")
	return strings.TrimSpace(string(raw)), vkey, keyFile
}

func TestVerifyAndTamper(t *testing.T) {
	skey, vkey, _ := keygen(t)
	dir, _ := writeScroll(t, skey, 3)
	out, err := run(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
	require.Contains(t, out, "3 receipts, 18 records")
	require.Contains(t, out, "signature verified")

	batch := filepath.Join(dir, "ws-1", "telemetry/logs/2025-12-06/hour-15.binpb")
	data, _ := os.ReadFile(batch)
	data[len(data)/2] ^= 0x04
	require.NoError(t, os.WriteFile(batch, data, 0o644))
	out, err = run(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.Error(t, err)
	require.Contains(t, out, "telemetry/logs/2025-12-06/hour-15.binpb")
	require.Contains(t, out, "line 2")

	_, otherV, _ := keygen(t)
	data[len(data)/2] ^= 0x04
	require.NoError(t, os.WriteFile(batch, data, 0o644))
	out, err = run(t, "verify", "--dir", dir, "--pubkey", otherV)
	require.Error(t, err)
	require.Contains(t, out, receipts.RootFile)
}

func TestProveAndCheckProof(t *testing.T) {
	skey, vkey, _ := keygen(t)
	dir, _ := writeScroll(t, skey, 2)
	id := receipts.BatchID("logs", t0.Add(time.Hour))
	for i := 0; i < 6; i++ {
		out, err := run(t, "prove", "--dir", dir, "--receipt", id, "--index", fmt.Sprint(i))
		require.NoError(t, err, out)
		pf := filepath.Join(t.TempDir(), "proof.json")
		require.NoError(t, os.WriteFile(pf, []byte(out), 0o644))
		res, err := run(t, "check-proof", pf, "--pubkey", vkey)
		require.NoError(t, err, res)
		require.Contains(t, res, "signature verified")

		var p map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &p))
		p["leaf_index"] = float64((i + 1) % 6)
		bad, _ := json.Marshal(p)
		require.NoError(t, os.WriteFile(pf, bad, 0o644))
		_, err = run(t, "check-proof", pf)
		require.ErrorContains(t, err, "proof rejected")
	}
	_, err := run(t, "prove", "--dir", dir, "--receipt", id, "--index", "6")
	require.Error(t, err)
}

func TestConsistency(t *testing.T) {
	skey, vkey, _ := keygen(t)
	dir, roots := writeScroll(t, skey, 4)
	scroll := filepath.Join(dir, "ws-1")
	out, err := run(t, "consistency", roots[0], roots[3], "--dir", scroll, "--pubkey", vkey)
	require.NoError(t, err, out)
	pf := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(pf, []byte(out), 0o644))
	res, err := run(t, "consistency", roots[0], roots[3], "--proof", pf)
	require.NoError(t, err, res)
	require.Contains(t, res, "size 4 extends size 1")
	// The proof does not fit other checkpoints, and a fork is rejected.
	_, err = run(t, "consistency", roots[1], roots[3], "--proof", pf)
	require.Error(t, err)
	forked := checkpoint.Checkpoint{Origin: receipts.DefaultOriginPrefix + "/ws-1", Size: 2, Root: bytes.Repeat([]byte{7}, 32)}
	fp := filepath.Join(t.TempDir(), "forked.txt")
	require.NoError(t, os.WriteFile(fp, forked.Body(), 0o644))
	_, err = run(t, "consistency", fp, roots[3], "--dir", scroll)
	require.ErrorContains(t, err, "NOT consistent")
}

func TestListAndShow(t *testing.T) {
	skey, _, _ := keygen(t)
	dir, _ := writeScroll(t, skey, 3)
	out, err := run(t, "list", "--dir", dir, "--type", "obs_log_batch", "--from", "2025-12-06T15:00:00Z", "--to", "2025-12-06T16:00:00Z")
	require.NoError(t, err)
	require.Contains(t, out, "logs-2025-12-06T15:00:00Z")
	require.NotContains(t, out, "logs-2025-12-06T14:00:00Z")
	require.NotContains(t, out, "logs-2025-12-06T16:00:00Z")
	out, err = run(t, "list", "--dir", dir, "--type", "obs_alert_fired")
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(out, "\n"))

	out, err = run(t, "show", "--dir", dir, "--receipt", "logs-2025-12-06T16:00:00Z", "--records")
	require.NoError(t, err)
	require.Contains(t, out, `"leaf_count": 6`)
	require.Contains(t, out, `hour 2 record 5`)
	_, err = run(t, "show", "--dir", dir, "--receipt", "nope")
	require.Error(t, err)
}

// Without --pubkey a passing scroll is UNVERIFIED and verify fails, unless --no-signature-check is given; a
// corrupted signature is then still reported UNVERIFIED, never OK.
func TestVerifyWithoutPubkeyIsUnverified(t *testing.T) {
	skey, vkey, _ := keygen(t)
	dir, _ := writeScroll(t, skey, 2)
	out, err := run(t, "verify", "--dir", dir)
	require.ErrorIs(t, err, ErrUnverified)
	require.Contains(t, out, "UNVERIFIED "+filepath.Join(dir, "ws-1"))
	require.NotContains(t, out, "OK ")

	out, err = run(t, "verify", "--dir", dir, "--no-signature-check")
	require.NoError(t, err, out)
	require.Contains(t, out, "UNVERIFIED "+filepath.Join(dir, "ws-1"))

	_, err = run(t, "verify", "--dir", dir, "--no-signature-check", "--pubkey", vkey)
	require.ErrorContains(t, err, "contradict")

	// Corrupt one byte of the signature (keeping canonical base64).
	root := filepath.Join(dir, "ws-1", receipts.RootFile)
	raw, err := os.ReadFile(root)
	require.NoError(t, err)
	i := bytes.LastIndexByte(raw[:len(raw)-3], ' ') + 10
	raw[i] = map[bool]byte{true: 'B', false: 'A'}[raw[i] == 'A']
	require.NoError(t, os.WriteFile(root, raw, 0o644))
	out, err = run(t, "verify", "--dir", dir)
	require.ErrorIs(t, err, ErrUnverified)
	require.NotContains(t, out, "OK ")
	out, err = run(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.Error(t, err)
	require.Contains(t, out, "FAIL")
	require.Contains(t, out, "does not verify")
}

// A witness cosignature made with `cosign` is listed unchecked without its key and verified with
// --witness-pubkey; a cosignature missing or by another key fails with --witness-pubkey.
func TestCosignAndWitnessVerify(t *testing.T) {
	skey, vkey, _ := keygen(t)
	_, wkey, wkeyFile := keygen(t)
	_, otherW, _ := keygen(t)
	dir, _ := writeScroll(t, skey, 1)
	scroll := filepath.Join(dir, "ws-1")
	root := filepath.Join(scroll, receipts.RootFile)

	_, err := run(t, "verify", "--dir", dir, "--pubkey", vkey, "--witness-pubkey", wkey)
	require.ErrorContains(t, err, "no signature line by witness")

	_, err = run(t, "cosign", root, "--key", wkeyFile, "--pubkey", otherW)
	require.Error(t, err, "cosign checks the origin signature first")
	out, err := run(t, "cosign", root, "--key", wkeyFile, "--pubkey", vkey)
	require.NoError(t, err, out)
	_, err = run(t, "cosign", root, "--key", wkeyFile, "--pubkey", vkey)
	require.ErrorContains(t, err, "already carries a signature")

	out, err = run(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
	require.Contains(t, out, "signature verified")
	require.Contains(t, out, "cosignature 1 by tfocol-receipts+")
	require.Contains(t, out, "NOT checked")

	out, err = run(t, "verify", "--dir", dir, "--pubkey", vkey, "--witness-pubkey", wkey)
	require.NoError(t, err, out)
	require.Contains(t, out, ": verified")
	require.NotContains(t, out, "NOT checked")

	_, err = run(t, "verify", "--dir", dir, "--pubkey", vkey, "--witness-pubkey", otherW)
	require.ErrorContains(t, err, "no signature line by witness")
}

// A receipt line with a duplicate key is refused by verify even when chain, ROOT and signature agree with it.
func TestVerifyRefusesDuplicateKey(t *testing.T) {
	skey, vkey, _ := keygen(t)
	dir, _ := writeScroll(t, skey, 1)
	scroll := filepath.Join(dir, "ws-1")
	log := filepath.Join(scroll, receipts.ReceiptsFile)
	raw, err := os.ReadFile(log)
	require.NoError(t, err)
	line := bytes.Replace(bytes.TrimSuffix(raw, []byte("\n")), []byte(`{"type":"obs_log_batch"`), []byte(`{"type":"obs_bogus","type":"obs_log_batch"`), 1)
	require.NoError(t, os.WriteFile(log, append(line, '\n'), 0o644))
	signer, err := checkpoint.NewSigner(skey)
	require.NoError(t, err)
	cp := checkpoint.Checkpoint{Origin: receipts.DefaultOriginPrefix + "/ws-1", Size: 1, Root: merkle.BLAKE3.HashLeaf(line)}
	signed, err := cp.Marshal(signer)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(scroll, receipts.RootFile), signed, 0o644))
	out, err := run(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.Error(t, err)
	require.Contains(t, out, `duplicate key "type"`)
}
