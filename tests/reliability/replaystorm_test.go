package reliability

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/e2etest"
)

const (
	stormBatches = 40 // unique batches
	stormRecords = 25 // log records per batch
	stormReplays = 12 // times each batch is sent, concurrently
)

// stormSend sends one replay until the gateway accepts it, honouring Retry-After on 503/429 like an OTLP
// client, and returns the answers it saw.
func stormSend(gw *e2etest.Gateway, tag string, ld plog.Logs, replay int) ([]string, error) {
	headers := e2etest.KeyHeaders(gw.KeyID, gw.KeySecret, gw.Workspace)
	headers["Idempotency-Key"] = "storm/" + tag
	var seen []string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		delay := 200 * time.Millisecond
		var answer string
		if replay%2 == 1 {
			err := e2etest.ExportGRPC(ctx, gw.GRPC(headers), ld)
			answer = "gRPC " + status.Code(err).String()
			if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok {
						delay = ri.GetRetryDelay().AsDuration()
					}
				}
			}
		} else {
			res, err := e2etest.ExportHTTP(ctx, gw.HTTP(headers), ld)
			if err != nil {
				cancel()
				return seen, err
			}
			answer = "HTTP " + strconv.Itoa(res.Status)
			if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
				delay = time.Duration(s) * time.Second
			}
		}
		cancel()
		seen = append(seen, answer)
		if answer == "HTTP 200" || answer == "gRPC OK" {
			return seen, nil
		}
		if !retryable[answer] {
			return seen, fmt.Errorf("replay %d of %s: %s", replay, tag, answer)
		}
		time.Sleep(delay)
	}
	return seen, fmt.Errorf("replay %d of %s never accepted: %v", replay, tag, seen)
}

// TestReplayStorm replays each of 40 log batches 12 times concurrently (HTTP and gRPC, same Idempotency-Key)
// against the shipped gateway. Every replay is eventually answered 2xx, yet the upstream receives each record
// exactly once, the sealed receipts hold each record exactly once, and `tfocol receipts verify` counts exactly
// the unique records.
func TestReplayStorm(t *testing.T) {
	gw := e2etest.StartGateway(t, e2etest.Options{
		Configs: []string{fastReceiptsOverlay},
		Env: map[string]string{
			"TFOCOL_RECEIPT_INTERVAL":           "2s",
			"TFOCOL_SPANMETRICS_FLUSH_INTERVAL": "1h",
		},
	})

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers = map[string]int{}
		errs    []error
	)
	start := make(chan struct{})
	for b := range stormBatches {
		// A replay resends the very same bytes (same timestamps): build each batch once.
		tag := fmt.Sprintf("storm-%03d", b)
		ld := logsTagged(tag, stormRecords)
		for r := range stormReplays {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				seen, err := stormSend(gw, tag, ld, r)
				mu.Lock()
				defer mu.Unlock()
				for _, a := range seen {
					answers[a]++
				}
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	t.Logf("answers to %d sends of %d batches: %v", stormBatches*stormReplays, stormBatches, answers)
	require.Empty(t, errs[:min(len(errs), 5)], "%d replays failed", len(errs))
	assert.Equal(t, stormBatches*stormReplays, answers["HTTP 200"]+answers["gRPC OK"], "every replay is finally acknowledged")

	unique := stormBatches * stormRecords
	e2etest.Eventually(t, 30*time.Second, func() bool { return gw.Upstream.LogRecordCount() >= unique },
		"upstream never got the %d unique records (has %d)", unique, gw.Upstream.LogRecordCount())
	time.Sleep(2 * time.Second) // a late duplicate from the upstream queue would show now
	atSink := logRecordsAtSink(gw.Upstream)
	assert.Len(t, atSink, unique, "distinct records at the upstream")
	assert.Empty(t, firstN(duplicates(atSink), 10), "records the upstream received more than once")
	assert.Equal(t, unique, gw.Upstream.LogRecordCount(), "records at the upstream")

	dir := filepath.Join(gw.DataDir, "receipts")
	var sealed map[recordKey]int
	e2etest.Eventually(t, 30*time.Second, func() bool {
		var ok bool
		sealed, ok = sealedLogRecords(dir)
		return ok && len(sealed) >= unique
	}, "sealed receipts never covered the %d unique records", unique)
	time.Sleep(3 * time.Second) // windows still open would seal now
	sealed, ok := sealedLogRecords(dir)
	require.True(t, ok)
	assert.Len(t, sealed, unique, "distinct sealed records")
	assert.Empty(t, firstN(duplicates(sealed), 10), "records sealed more than once")

	// The user-facing check: the verifier passes and counts exactly the unique records.
	out, err := exec.Command(e2etest.Binary(t), "receipts", "verify", "--dir", dir, "--no-signature-check").CombinedOutput()
	require.NoError(t, err, "tfocol receipts verify:\n%s", out)
	assert.Equal(t, unique, verifiedRecords(t, string(out)), "records counted by tfocol receipts verify:\n%s", out)

	dupes, _ := e2etest.MetricSum(t, gw.ScrapeMetrics(t), "tfocol_workspace_requests_total", map[string]string{"outcome": "duplicate"})
	t.Logf("tfocol_workspace_requests_total{outcome=duplicate} = %v", dupes)
	assert.Positive(t, dupes, "replays were absorbed as duplicates")
}

var verifyLine = regexp.MustCompile(`(?m)^(?:OK|UNVERIFIED)\s+\S+: (\d+) receipts, (\d+) records`)

// verifiedRecords sums the record counts `tfocol receipts verify` printed for every scroll.
func verifiedRecords(t *testing.T, out string) int {
	t.Helper()
	n := 0
	for _, m := range verifyLine.FindAllStringSubmatch(out, -1) {
		v, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		n += v
	}
	return n
}
