package receiptexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoadDerivedConfig(t *testing.T) {
	load := configLoader(t, "derived.yaml")
	def := NewFactory().CreateDefaultConfig().(*Config)
	require.Equal(t, 24*time.Hour, def.SLOReportInterval)
	require.False(t, def.Anomaly.Enabled)
	require.Nil(t, newDerivedState(def), "derived receipts are off by default")

	cfg, err := load("slos")
	require.NoError(t, err)
	require.Len(t, cfg.SLOs, 2)
	require.Equal(t, SLOConfig{Name: "checkout-latency", Workspace: "8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f", Service: "checkout",
		Kind: "latency", ThresholdMs: 300, Target: 0.99, Window: "7d", AtRiskBudget: 0.5}, cfg.SLOs[1])
	require.Equal(t, AnomalyConfig{Enabled: true, History: 48, MinHistory: 24, ThresholdSigma: 3.5, MinRelativeSigma: 0.1,
		RatioMinSpans: 20, Metrics: []string{"spans_per_window", "span_error_ratio"}}, cfg.Anomaly)
	d := newDerivedState(cfg)
	require.Len(t, d.slosFor("8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f"), 2)
	require.Len(t, d.slosFor("another"), 1, "the latency objective is of one workspace only")
	require.Equal(t, int64(30*24*3600), maxWindow(d.slos))
	require.Equal(t, "0.75", d.slosFor("another")[0].atRisk.String(), "default at_risk_budget")

	_, err = load("bad_slos")
	for _, msg := range []string{
		"slo_report_interval 1h30m0s must be a multiple of interval and divide 24h",
		"kind must be availability or latency",
		"target must be between 0 and 1",
		"name used twice",
		"service must be set",
		"latency objectives need a positive threshold_ms",
		"name must be",
		"threshold_ms is for latency objectives",
		`window "1w"`,
	} {
		require.ErrorContains(t, err, msg)
	}
	_, err = load("bad_anomaly")
	for _, msg := range []string{"min_history (4) <= history (3)", "threshold_sigma must be positive", "ratio_min_spans", `unknown metric "cpu"`} {
		require.ErrorContains(t, err, msg)
	}
}
