package e2etest

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricSum parses a Prometheus text exposition and returns the sum of the samples of the metric family
// `name` whose labels include every label in `match` (counter, gauge or untyped value; histogram count).
// found is false when no sample matched.
func MetricSum(t testing.TB, exposition, name string, match map[string]string) (sum float64, found bool) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	family, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range family.GetMetric() {
		if !hasLabels(m, match) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, found
}

func hasLabels(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		ok := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
