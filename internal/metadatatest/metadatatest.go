// Package metadatatest checks that the telemetry a component creates is the telemetry its metadata.yaml declares:
// the same metric names, units, descriptions, kinds, value types, monotonicity, histogram buckets and attributes.
// The metrics are hand-written in mdatagen's shape (mdatagen is not available at the collector's version), so this
// comparison is what keeps code and metadata.yaml from drifting apart.
package metadatatest

import (
	"context"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.yaml.in/yaml/v3"
)

// Instrument is one metric as metadata.yaml describes it, or as the code created it.
type Instrument struct {
	Description string
	Unit        string
	Kind        string // sum, gauge or histogram
	ValueType   string // int or double
	Monotonic   bool   // sums only
	Buckets     []float64
}

// metadataFile is the part of metadata.yaml this package reads (mdatagen's schema).
type metadataFile struct {
	Telemetry struct {
		Metrics map[string]struct {
			Enabled     bool     `yaml:"enabled"`
			Description string   `yaml:"description"`
			Unit        string   `yaml:"unit"`
			Attributes  []string `yaml:"attributes"`
			Sum         *struct {
				ValueType string `yaml:"value_type"`
				Monotonic bool   `yaml:"monotonic"`
			} `yaml:"sum"`
			Gauge *struct {
				ValueType string `yaml:"value_type"`
			} `yaml:"gauge"`
			Histogram *struct {
				ValueType string    `yaml:"value_type"`
				Buckets   []float64 `yaml:"bucket_boundaries"`
			} `yaml:"histogram"`
		} `yaml:"metrics"`
	} `yaml:"telemetry"`
	Attributes map[string]struct {
		Description string `yaml:"description"`
		Type        string `yaml:"type"`
	} `yaml:"attributes"`
}

// Declared is what a metadata.yaml declares.
type Declared struct {
	Metrics    map[string]Instrument
	Attributes map[string][]string // metric → attribute names
	Defined    map[string]bool     // top-level attributes
}

// Load reads the telemetry section of a metadata.yaml.
func Load(t testing.TB, path string) *Declared {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f metadataFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	d := &Declared{Metrics: map[string]Instrument{}, Attributes: map[string][]string{}, Defined: map[string]bool{}}
	for name, a := range f.Attributes {
		if a.Description == "" || a.Type == "" {
			t.Errorf("%s: attribute %s needs a description and a type", path, name)
		}
		d.Defined[name] = true
	}
	for name, m := range f.Telemetry.Metrics {
		if !m.Enabled {
			t.Errorf("%s: %s is not enabled; tfocol has no disabled internal metrics", path, name)
		}
		in := Instrument{Description: m.Description, Unit: m.Unit}
		switch {
		case m.Sum != nil:
			in.Kind, in.ValueType, in.Monotonic = "sum", m.Sum.ValueType, m.Sum.Monotonic
		case m.Gauge != nil:
			in.Kind, in.ValueType = "gauge", m.Gauge.ValueType
		case m.Histogram != nil:
			in.Kind, in.ValueType, in.Buckets = "histogram", m.Histogram.ValueType, m.Histogram.Buckets
		default:
			t.Errorf("%s: %s is neither a sum, a gauge nor a histogram", path, name)
		}
		d.Metrics[name] = in
		d.Attributes[name] = m.Attributes
		for _, a := range m.Attributes {
			if !d.Defined[a] {
				t.Errorf("%s: %s uses attribute %s, which is not defined under attributes", path, name, a)
			}
		}
	}
	return d
}

// Provider is a MeterProvider for a component under test: it records every instrument the component creates, and
// through an SDK reader the attributes it measures with.
type Provider struct {
	embedded.MeterProvider
	sdk    *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader

	mu      sync.Mutex
	created map[string]Instrument
}

// NewProvider returns an empty Provider.
func NewProvider() *Provider {
	r := sdkmetric.NewManualReader()
	return &Provider{sdk: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)), reader: r, created: map[string]Instrument{}}
}

// TelemetrySettings are nop settings that meter through p.
func (p *Provider) TelemetrySettings() component.TelemetrySettings {
	set := componenttest.NewNopTelemetrySettings()
	set.MeterProvider = p
	return set
}

// ownScope is the meter scope prefix of tfocol's components; the collector's helpers (exporterhelper,
// processorhelper) meter under their own scopes and document their metrics themselves.
const ownScope = "github.com/tfocol/tfocol/"

// Meter implements metric.MeterProvider.
func (p *Provider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	m := p.sdk.Meter(name, opts...)
	if !strings.HasPrefix(name, ownScope) {
		return m
	}
	return &meter{Meter: m, p: p}
}

func (p *Provider) record(name string, in Instrument) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.created[name] = in
}

// Created returns the instruments created so far, by name.
func (p *Provider) Created() map[string]Instrument {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]Instrument, len(p.created))
	for k, v := range p.created {
		out[k] = v
	}
	return out
}

// Measured returns the attribute names each metric was measured with so far (observable ones included).
func (p *Provider) Measured(t testing.TB) map[string][]string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := p.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, sm := range rm.ScopeMetrics {
		if !strings.HasPrefix(sm.Scope.Name, ownScope) {
			continue
		}
		for _, m := range sm.Metrics {
			keys := map[string]bool{}
			eachAttrs(m.Data, func(names []string) {
				for _, n := range names {
					keys[n] = true
				}
			})
			if _, ok := out[m.Name]; !ok || len(keys) > 0 {
				out[m.Name] = slices.Sorted(maps.Keys(keys))
			}
		}
	}
	return out
}

// Check fails t on every difference between the instruments p recorded and the metadata.yaml at path: a metric
// created but not declared or declared but not created, another unit, description, kind, value type, monotonicity
// or bucket list, and for every metric the component measured, attributes other than those declared.
func Check(t testing.TB, path string, p *Provider) {
	t.Helper()
	d := Load(t, path)
	created := p.Created()
	for _, name := range slices.Sorted(maps.Keys(created)) {
		want, ok := d.Metrics[name]
		if !ok {
			t.Errorf("%s: the code creates %s, which is not declared under telemetry.metrics", path, name)
			continue
		}
		if got := created[name]; !equal(got, want) {
			t.Errorf("%s: %s differs from the code\n  metadata.yaml: %+v\n  code:          %+v", path, name, want, got)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Metrics)) {
		if _, ok := created[name]; !ok {
			t.Errorf("%s: %s is declared but the code did not create it", path, name)
		}
	}
	for name, got := range p.Measured(t) {
		want := slices.Sorted(slices.Values(d.Attributes[name]))
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s is measured with attributes %v, metadata.yaml declares %v", path, name, got, want)
		}
	}
}

func equal(a, b Instrument) bool {
	return a.Description == b.Description && a.Unit == b.Unit && a.Kind == b.Kind && a.ValueType == b.ValueType &&
		a.Monotonic == b.Monotonic && slices.Equal(a.Buckets, b.Buckets)
}

// CheckBuilder creates a component's telemetry with build (its internal/metadata NewTelemetryBuilder) and checks
// it against the metadata.yaml at path, and that the builder names each instrument as mdatagen would: the metric
// name in CamelCase (tfocol_log_appends: TfocolLogAppends).
func CheckBuilder[T any](t testing.TB, path string, build func(component.TelemetrySettings) (T, error)) {
	t.Helper()
	p := NewProvider()
	tb, err := build(p.TelemetrySettings())
	if err != nil {
		t.Fatal(err)
	}
	Check(t, path, p)
	var fields []string
	v := reflect.Indirect(reflect.ValueOf(tb))
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() {
			fields = append(fields, f.Name)
		}
	}
	var want []string
	for name := range p.Created() {
		want = append(want, camelCase(name))
	}
	slices.Sort(fields)
	slices.Sort(want)
	if !slices.Equal(fields, want) {
		t.Errorf("TelemetryBuilder fields %v, mdatagen would name them %v", fields, want)
	}
}

func camelCase(name string) string {
	parts := strings.Split(name, "_")
	for i, s := range parts {
		if s != "" {
			parts[i] = strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return strings.Join(parts, "")
}
