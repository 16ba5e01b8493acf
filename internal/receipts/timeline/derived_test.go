package timeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/query"
)

// SLO reports and anomalies are their own kinds on the timeline, not batch windows.
func TestDerivedReceiptsOnTimeline(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	scroll := &query.Scroll{Dir: "ws"}
	observed, low, high, sigma := receipts.Decimal(900*receipts.DecimalScale), receipts.Decimal(90*receipts.DecimalScale), receipts.Decimal(110*receipts.DecimalScale), receipts.Decimal(8*receipts.DecimalScale)
	matches := []query.Match{
		{Scroll: scroll, Time: at, Receipt: &receipts.Receipt{Type: receipts.TypeSLOReport, ID: "slo-report-2026-12-01", OverallStatus: "missed",
			SLOs: []receipts.SLOResult{{SLOID: "checkout-availability", Status: "missed", Good: 90, Bad: 10}}}},
		{Scroll: scroll, Time: at.Add(time.Minute), Receipt: &receipts.Receipt{Type: receipts.TypeAnomalyDetected, ID: "anomaly-1", Metric: "spans_per_window",
			Service: "checkout", Direction: "high", ObservedValue: &observed, ExpectedRange: &receipts.DecimalRange{Min: low, Max: high}, DeviationSigma: &sigma}},
	}
	events, err := Build(matches, Options{})
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, KindSLO, events[0].Kind)
	require.Equal(t, "SLO report missed: checkout-availability missed (90 good, 10 bad)", events[0].Text)
	require.Equal(t, KindAnomaly, events[1].Kind)
	require.Equal(t, "checkout", events[1].Service)
	require.Equal(t, "anomaly spans_per_window of checkout high: observed 900, expected 90 – 110 (8 sigma)", events[1].Text)
}
