package metadatatest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// recorder is a testing.TB that keeps the errors Check reports instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// example creates the instruments of testdata/metadata.yaml, each changed by what the case sets.
type example struct {
	desc    string
	unit    string
	buckets []float64
	attr    string
	extra   bool
	skip    bool
}

func (e example) run(t *testing.T) []string {
	t.Helper()
	p := NewProvider()
	m := p.Meter(ownScope + "example")
	c, err := m.Int64Counter("tfocol_example_requests", metric.WithDescription(e.desc), metric.WithUnit(e.unit))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 1, metric.WithAttributes(attribute.String(e.attr, "accepted")))
	if !e.skip {
		if _, err := m.Float64Histogram("tfocol_example_duration", metric.WithDescription("Latency."), metric.WithUnit("s"),
			metric.WithExplicitBucketBoundaries(e.buckets...)); err != nil {
			t.Fatal(err)
		}
	}
	if e.extra {
		if _, err := m.Int64Counter("tfocol_example_undeclared"); err != nil {
			t.Fatal(err)
		}
	}
	// The collector's own helpers meter under their scope; they are not the component's to declare.
	if _, err := p.Meter("go.opentelemetry.io/collector/processor/processorhelper").Int64Counter("otelcol_x"); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	Check(r, "testdata/metadata.yaml", p)
	return r.errs
}

func TestCheck(t *testing.T) {
	ok := example{desc: "Requests, by outcome.", unit: "{request}", buckets: []float64{0.1, 1}, attr: "outcome"}
	assertErrs := func(t *testing.T, e example, want string) {
		t.Helper()
		errs := e.run(t)
		if want == "" && len(errs) > 0 || want != "" && (len(errs) != 1 || !strings.Contains(errs[0], want)) {
			t.Fatalf("want one error containing %q, got %q", want, errs)
		}
	}
	t.Run("matches", func(t *testing.T) { assertErrs(t, ok, "") })
	for name, tc := range map[string]struct {
		change func(*example)
		want   string
	}{
		"description": {func(e *example) { e.desc = "Requests." }, "tfocol_example_requests differs"},
		"unit":        {func(e *example) { e.unit = "1" }, "tfocol_example_requests differs"},
		"buckets":     {func(e *example) { e.buckets = []float64{0.5} }, "tfocol_example_duration differs"},
		"attribute":   {func(e *example) { e.attr = "result" }, "measured with attributes [result]"},
		"undeclared":  {func(e *example) { e.extra = true }, "tfocol_example_undeclared, which is not declared"},
		"not created": {func(e *example) { e.skip = true }, "tfocol_example_duration is declared but the code did not create it"},
	} {
		t.Run(name, func(t *testing.T) {
			e := ok
			tc.change(&e)
			assertErrs(t, e, tc.want)
		})
	}
}

func TestCamelCase(t *testing.T) {
	if got := camelCase("tfocol_log_consumer_lag_bytes"); got != "TfocolLogConsumerLagBytes" {
		t.Fatal(got)
	}
}
