package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/receipts"
)

const sloOverlay = "tests/e2e/testdata/receipt/slo.yaml"

// sloWindow is what one workspace sent in one 2s window: checkout SERVER spans, of which errs have status ERROR
// and slow last 300 ms (the others 10 ms).
type sloWindow struct{ n, errs, slow int }

// checkoutSpans are n checkout server spans ending at end, as an SDK would export them.
func checkoutSpans(w sloWindow, end time.Time, tag byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "brick-03")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("checkout-http")
	for i := 0; i < w.n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{tag, byte(end.Unix()), byte(end.Unix() >> 8), byte(i), 9})
		sp.SetSpanID(pcommon.SpanID{byte(i), 1})
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetName("POST /cart/checkout")
		d := 10 * time.Millisecond
		if i >= w.n-w.slow {
			d = 300 * time.Millisecond
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-d)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		if i < w.errs {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

// TestReceiptSLOReportAndAnomalyFromOTLPTraces drives the shipped gateway with 2s receipt windows, SLOs over
// checkout and the anomaly detector: two workspaces send checkout spans every window over OTLP/HTTP, workspace A
// with one spike; the gateway is killed (SIGKILL) and restarted half-way. Every SLO report holds exactly the
// spans sent in its windows (nothing counted twice after the crash replay), A has exactly one anomaly (the
// spike) and B none, and `tfocol receipts verify` recounts all of it from the batch files.
func TestReceiptSLOReportAndAnomalyFromOTLPTraces(t *testing.T) {
	keyFile, vkey := rcKeygen(t)
	gw := e2etest.StartGateway(t, e2etest.Options{Configs: []string{rcOverlay, sloOverlay},
		Env: map[string]string{"TFOCOL_RECEIPT_SIGNING_KEY_FILE": keyFile, "TFOCOL_RECEIPT_ANOMALY": "true"}})
	ctx := context.Background()
	idB, secretB := e2etest.MintKey(t, gw.KeysFile, rcWorkspaceB, "traces,metrics,logs")
	headers := map[string]map[string]string{gw.Workspace: gw.Headers(), rcWorkspaceB: e2etest.KeyHeaders(idB, secretB, rcWorkspaceB)}
	e2etest.Eventually(t, 10*time.Second, func() bool {
		res, err := e2etest.ExportHTTP(ctx, gw.HTTP(headers[rcWorkspaceB]), ptrace.NewTraces())
		return err == nil && res.Status == 200
	}, "second workspace key accepted")

	const interval = 2 * time.Second
	const spikeSlot, killAfter, slots = 8, 4, 12
	noise := []int{20, 22, 19, 21, 18, 20, 22, 19, 21, 20, 18, 21}
	sent := map[string]map[time.Time]sloWindow{gw.Workspace: {}, rcWorkspaceB: {}}
	first := time.Now().Truncate(interval).Add(2 * interval)
	for i := 0; i < slots; i++ {
		start := first.Add(time.Duration(i) * interval)
		// Spans end 1s into their window and are sent then: well inside the window, whatever the send takes.
		end := start.Add(time.Second)
		if wait := time.Until(end); wait < -300*time.Millisecond {
			continue // the restart took this slot
		} else if wait > 0 {
			time.Sleep(wait)
		}
		for ws, h := range headers {
			w := sloWindow{n: noise[i], errs: 1, slow: i % 3}
			if ws == gw.Workspace && i == spikeSlot {
				w = sloWindow{n: 5 * noise[i], errs: 5, slow: 0}
			}
			res, err := e2etest.ExportHTTP(ctx, gw.HTTP(h), checkoutSpans(w, end, byte(i)))
			require.NoError(t, err)
			require.Equal(t, 200, res.Status, string(res.Body))
			sent[ws][start] = w
		}
		if i == killAfter {
			// Some windows and an SLO report are sealed; the current window is not.
			scroll := filepath.Join(gw.DataDir, "receipts", receipts.WorkspaceDir(gw.Workspace))
			e2etest.Eventually(t, 10*time.Second, func() bool {
				lines, _ := receipts.ScrollLines(scroll)
				return strings.Contains(string(bytes.Join(lines, nil)), `"type":"obs_slo_report"`)
			}, "an SLO report before the crash")
			gw.Kill()
			gw.Restart(t)
		}
	}

	dir := filepath.Join(gw.DataDir, "receipts")
	for ws, windows := range sent {
		want := expectedSLOReports(windows, 4*time.Second, 8*time.Second, interval)
		require.NotEmpty(t, want)
		last := want[len(want)-1].ID
		scroll := filepath.Join(dir, receipts.WorkspaceDir(ws))
		e2etest.Eventually(t, 30*time.Second, func() bool {
			rep, err := receipts.VerifyScroll(scroll, receipts.VerifyOptions{})
			return err == nil && rep != nil && hasReceipt(t, scroll, last)
		}, "workspace %s: report %s", ws, last)
		var got []receipts.Receipt
		var anomalies []*receipts.Receipt
		for _, r := range scrollReceipts(t, scroll) {
			switch r.Type {
			case receipts.TypeSLOReport:
				got = append(got, *r)
			case receipts.TypeAnomalyDetected:
				anomalies = append(anomalies, r)
			}
		}
		require.Len(t, got, len(want), "workspace %s: one report per boundary with trace batches, none twice", ws)
		for i, w := range want {
			require.Equal(t, w.ID, got[i].ID)
			require.Len(t, got[i].SLOs, 2)
			for j, s := range got[i].SLOs {
				require.Equal(t, w.SLOs[j], [3]uint64{s.Good, s.Bad, s.Batches}, "%s %s %s", ws, w.ID, s.SLOID)
			}
		}
		if ws == gw.Workspace {
			require.Len(t, anomalies, 1, "the spike fires once")
			a := anomalies[0]
			require.Equal(t, receipts.AnomalyID(first.Add(spikeSlot*interval), receipts.MetricSpans, "checkout"), a.ID)
			require.Equal(t, "above", a.Direction)
			require.Equal(t, fmt.Sprint(5*noise[spikeSlot]), a.ObservedValue.String())
		} else {
			require.Empty(t, anomalies, "steady traffic never fires")
		}
	}
	gw.Stop()
	out, err := rcCLI(t, "verify", "--dir", dir, "--pubkey", vkey)
	require.NoError(t, err, out)
	require.NotContains(t, out, "FAIL")
}

// wantReport is a report's expected id and, per objective in slo_id order (availability, latency), good, bad
// and batches.
type wantReport struct {
	ID   string
	SLOs [2][3]uint64
}

// expectedSLOReports are the reports docs/receipts.md §5 defines for the windows sent: one per boundary D (every
// ri, from the first after the oldest window) whose window [D - window, D) holds a sent window.
func expectedSLOReports(sent map[time.Time]sloWindow, ri, window, interval time.Duration) []wantReport {
	var oldest, newest time.Time
	for s := range sent {
		if oldest.IsZero() || s.Before(oldest) {
			oldest = s
		}
		if s.After(newest) {
			newest = s
		}
	}
	var out []wantReport
	for d := oldest.Truncate(ri).Add(ri); !d.Add(-window).After(newest); d = d.Add(ri) {
		var r wantReport
		for s, w := range sent {
			if s.Before(d.Add(-window)) || s.Add(interval).After(d) {
				continue
			}
			r.SLOs[0][0] += uint64(w.n - w.errs)
			r.SLOs[0][1] += uint64(w.errs)
			r.SLOs[0][2]++
			r.SLOs[1][0] += uint64(w.n - w.slow)
			r.SLOs[1][1] += uint64(w.slow)
			r.SLOs[1][2]++
		}
		if r.SLOs[0][2] == 0 {
			continue
		}
		r.ID = receipts.SLOReportID(d)
		out = append(out, r)
	}
	return out
}

func scrollReceipts(t *testing.T, scroll string) []*receipts.Receipt {
	t.Helper()
	lines, err := receipts.ScrollLines(scroll)
	require.NoError(t, err)
	out := make([]*receipts.Receipt, len(lines))
	for i, l := range lines {
		out[i], err = receipts.ParseReceipt(l)
		require.NoError(t, err)
	}
	return out
}

func hasReceipt(t *testing.T, scroll, id string) bool {
	lines, err := receipts.ScrollLines(scroll)
	if err != nil {
		return false
	}
	for _, l := range lines {
		if strings.Contains(string(l), `"id":"`+id+`"`) {
			return true
		}
	}
	return false
}
