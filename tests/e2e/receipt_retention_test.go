package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/receipts"
)

const rcRetentionOverlay = "tests/e2e/testdata/receipt/retention.yaml"

// rcErrorLogs are n error records (a batch holding them is of retention class error_logs).
func rcErrorLogs(from, n int) plog.Logs {
	ld := rcLogs(from, n)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := 0; i < lrs.Len(); i++ {
		lrs.At(i).SetSeverityNumber(plog.SeverityNumberError)
	}
	return ld
}

// Retention through the shipped gateway: the info log batch is removed 4 s after it is sealed, with an
// obs_retention_applied receipt under the signed ROOT; the error log batch is kept; `tfocol receipts verify`
// passes and names the file removed by retention; the gateway's metrics count the removal and show the
// directory's size; a batch file deleted by hand is MISSING and verify fails.
func TestReceiptRetentionRemovesRecordsAndVerifies(t *testing.T) {
	keyFile, vkey := rcKeygen(t)
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay, rcRetentionOverlay},
		Env: map[string]string{"TFOCOL_RECEIPT_SIGNING_KEY_FILE": keyFile}})
	dir := filepath.Join(gw.DataDir, "receipts")
	scroll := filepath.Join(dir, e2etest.DefaultWorkspace)
	ctx := context.Background()

	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), rcLogs(0, 20)))
	rcWaitRecords(t, dir, 20, 30*time.Second)
	time.Sleep(2500 * time.Millisecond) // the next 2 s window
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), rcErrorLogs(100, 7)))

	byType := func() map[string][]*receipts.Receipt {
		lines, err := receipts.ScrollLines(scroll)
		require.NoError(t, err)
		out := map[string][]*receipts.Receipt{}
		for _, l := range lines {
			r, err := receipts.ParseReceipt(l)
			require.NoError(t, err)
			out[r.Type] = append(out[r.Type], r)
		}
		return out
	}
	var info, errLogs, removal *receipts.Receipt
	e2etest.Eventually(t, 30*time.Second, func() bool {
		rs := byType()
		info, errLogs, removal = nil, nil, nil
		for _, r := range rs[receipts.TypeLogBatch] {
			if r.LogCounts.Error > 0 {
				errLogs = r
			} else {
				info = r
			}
		}
		if len(rs[receipts.TypeRetentionApplied]) > 0 {
			removal = rs[receipts.TypeRetentionApplied][0]
		}
		return info != nil && errLogs != nil && removal != nil
	}, "both log batches sealed and a retention receipt appended")
	require.Equal(t, []receipts.RetentionRemoval{{ReceiptID: info.ID, StoragePath: info.StoragePath, MerkleRoot: info.MerkleRoot,
		Class: receipts.ClassLogs, Retain: "4s", Reason: receipts.ReasonExpired}}, removal.Removed)
	sealedAt, _ := time.Parse(time.RFC3339Nano, info.Timestamp)
	removedAt, _ := time.Parse(time.RFC3339Nano, removal.Timestamp)
	require.GreaterOrEqual(t, removedAt.Sub(sealedAt), 4*time.Second)
	e2etest.Eventually(t, 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(scroll, filepath.FromSlash(info.StoragePath)))
		return os.IsNotExist(err)
	}, "the info log batch file is deleted")

	// Metrics on the gateway's own telemetry endpoint.
	var removed, dirBytes float64
	e2etest.Eventually(t, 10*time.Second, func() bool {
		prom := gw.ScrapeMetrics(t)
		var ok1, ok2 bool
		removed, ok1 = e2etest.MetricSum(t, prom, "tfocol_receipt_batch_files_removed_total", map[string]string{"class": "logs", "reason": "expired"})
		dirBytes, ok2 = e2etest.MetricSum(t, prom, "tfocol_receipt_directory_bytes", nil)
		return ok1 && ok2 && removed >= 1
	}, "retention metrics exported")
	require.Equal(t, 1.0, removed)
	require.Positive(t, dirBytes)
	time.Sleep(5 * time.Second) // error logs are not removed at 4 s: their class is kept an hour
	gw.Stop()
	require.FileExists(t, filepath.Join(scroll, filepath.FromSlash(errLogs.StoragePath)))

	out, err := rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
	require.Contains(t, out, "signature verified")
	require.Contains(t, out, "removed by retention: "+info.StoragePath+" (receipt "+info.ID+"; "+removal.ID+" at "+removal.Timestamp+", expired")
	require.NotContains(t, out, "FAIL")

	// Deleted by hand, without a removal receipt: MISSING, and verify fails.
	require.NoError(t, os.Remove(filepath.Join(scroll, filepath.FromSlash(errLogs.StoragePath))))
	out, err = rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.Error(t, err, out)
	require.Contains(t, out, "FAIL")
	require.Contains(t, out, "MISSING")
	require.Contains(t, out, errLogs.StoragePath)
}

// The receipts directory bound through the shipped gateway (TFOCOL_RECEIPT_MAX_BYTES): a log batch larger than
// the bound is removed early, shortest-kept class first (info logs, 30d, before error logs, 400d), with reason
// max_bytes in its obs_retention_applied receipt and in the counter; the directory gauge comes back under the
// bound and verify passes.
func TestReceiptRetentionMaxBytesRemovesEarly(t *testing.T) {
	const maxBytes = 60000
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay, rcRetentionOverlay},
		Env: map[string]string{"TFOCOL_RECEIPT_MAX_BYTES": fmt.Sprint(maxBytes), "TFOCOL_TEST_RETAIN_LOGS": "30d",
			"TFOCOL_TEST_RETAIN_ERROR_LOGS": "400d"}})
	dir := filepath.Join(gw.DataDir, "receipts")
	scroll := filepath.Join(dir, e2etest.DefaultWorkspace)
	ctx := context.Background()
	require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), rcErrorLogs(0, 5)))
	rcWaitRecords(t, dir, 5, 30*time.Second)
	time.Sleep(2500 * time.Millisecond) // the next window
	for i := 0; i < 4; i++ {
		require.NoError(t, e2etest.ExportGRPC(ctx, gw.GRPC(gw.Headers()), rcLogs(100+i*500, 500)))
	}

	var removal *receipts.Receipt
	var batches []*receipts.Receipt
	e2etest.Eventually(t, 60*time.Second, func() bool {
		lines, err := receipts.ScrollLines(scroll)
		require.NoError(t, err)
		batches, removal = nil, nil
		for _, l := range lines {
			r, err := receipts.ParseReceipt(l)
			require.NoError(t, err)
			switch r.Type {
			case receipts.TypeLogBatch:
				batches = append(batches, r)
			case receipts.TypeRetentionApplied:
				removal = r
			}
		}
		return removal != nil
	}, "an obs_retention_applied receipt")
	require.Len(t, batches, 2)
	errLogs, info := batches[0], batches[1]
	require.EqualValues(t, 5, errLogs.LogCounts.Error)
	require.EqualValues(t, 2000, info.LeafCount)
	require.Equal(t, []receipts.RetentionRemoval{{ReceiptID: info.ID, StoragePath: info.StoragePath, MerkleRoot: info.MerkleRoot,
		Class: receipts.ClassLogs, Retain: "30d", Reason: receipts.ReasonMaxBytes}}, removal.Removed)
	require.EqualValues(t, maxBytes, removal.MaxBytes)
	require.Greater(t, removal.DirectoryBytes, uint64(maxBytes))

	e2etest.Eventually(t, 10*time.Second, func() bool {
		prom := gw.ScrapeMetrics(t)
		n, _ := e2etest.MetricSum(t, prom, "tfocol_receipt_batch_files_removed_total", map[string]string{"class": "logs", "reason": "max_bytes"})
		b, ok := e2etest.MetricSum(t, prom, "tfocol_receipt_directory_bytes", nil)
		return n == 1 && ok && b > 0 && b <= maxBytes
	}, "one file removed for max_bytes and the directory under the bound")
	gw.Stop()
	require.FileExists(t, filepath.Join(scroll, filepath.FromSlash(errLogs.StoragePath)), "error logs are kept longer")
	out, err := rcCLI(t, "verify", "--dir", dir, "--no-signature-check") // this gateway does not sign
	require.NoError(t, err, out)
	require.Contains(t, out, "removed by retention: "+info.StoragePath)
	require.Contains(t, out, "max_bytes")
}
