package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/checkpoint"
	"github.com/tfocol/tfocol/internal/receipts/merkle"
)

// A scroll the gateway sealed from real OTLP passes the strict verifier of the binary with the origin key, is
// UNVERIFIED (non-zero exit) without it, and a copy whose last line carries a duplicate key — chain, ROOT and
// signature made to agree with it — is refused (docs/receipts.md §5 "Line syntax").
func TestReceiptStrictVerify(t *testing.T) {
	keyFile, vkey := rcKeygen(t)
	gw := rcStart(t, keyFile, nil)
	dir := filepath.Join(gw.DataDir, "receipts")
	ctx := context.Background()
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), rcLogs(0, 20)))
	res, err := e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), e2etest.GenMetrics(8, map[string]string{"host.name": "brick-02"}))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
	res, err = e2etest.ExportHTTP(ctx, gw.HTTP(gw.Headers()), e2etest.GenTraces(6, map[string]string{"service.name": "portal"}))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
	rcWaitRecords(t, dir, 20+8+6, 30*time.Second)
	gw.Stop()

	out, err := rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
	require.Contains(t, out, "signature verified")
	require.NotContains(t, out, "UNVERIFIED")

	out, err = rcCLI(t, "verify", "--dir", dir)
	require.Error(t, err, "verify without --pubkey must not exit 0:\n%s", out)
	require.Contains(t, out, "UNVERIFIED")
	out, err = rcCLI(t, "verify", "--dir", dir, "--no-signature-check")
	require.NoError(t, err, out)
	require.Contains(t, out, "UNVERIFIED")

	// A copy of the scroll with a duplicate "type" key in its last line, re-chained and re-signed.
	scroll := filepath.Join(t.TempDir(), "copy")
	require.NoError(t, os.CopyFS(scroll, os.DirFS(filepath.Join(dir, e2etest.DefaultWorkspace))))
	lines, err := receipts.ScrollLines(scroll)
	require.NoError(t, err)
	last := len(lines) - 1
	lines[last] = bytes.Replace(lines[last], []byte(`{"type":"`), []byte(`{"type":"obs_bogus","type":"`), 1)
	require.NoError(t, os.WriteFile(filepath.Join(scroll, receipts.ReceiptsFile), append(bytes.Join(lines, []byte("\n")), '\n'), 0o644))
	rootRaw, err := os.ReadFile(filepath.Join(scroll, receipts.RootFile))
	require.NoError(t, err)
	cp, err := checkpoint.Parse(rootRaw, nil)
	require.NoError(t, err)
	skey, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	signer, err := checkpoint.NewSigner(string(skey))
	require.NoError(t, err)
	cp.Root = merkle.Root(merkle.BLAKE3, receipts.LeafHashes(lines))
	signed, err := cp.Marshal(signer)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(scroll, receipts.RootFile), signed, 0o644))

	out, err = rcCLI(t, "verify", "--dir", scroll, "--pubkey", vkey)
	require.Error(t, err, "a line with a duplicate key passed:\n%s", out)
	require.Contains(t, out, "FAIL")
	require.Contains(t, out, `duplicate key "type"`)
}
