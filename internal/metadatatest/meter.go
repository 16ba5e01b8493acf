package metadatatest

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// meter records each instrument's declaration and creates it in the SDK.
type meter struct {
	metric.Meter
	p *Provider
}

type describer interface {
	Description() string
	Unit() string
}

func (m *meter) note(name string, c describer, kind, valueType string, monotonic bool, buckets []float64) {
	m.p.record(name, Instrument{Description: c.Description(), Unit: c.Unit(), Kind: kind, ValueType: valueType,
		Monotonic: monotonic, Buckets: buckets})
}

func (m *meter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	m.note(name, metric.NewInt64CounterConfig(opts...), "sum", "int", true, nil)
	return m.Meter.Int64Counter(name, opts...)
}

func (m *meter) Int64UpDownCounter(name string, opts ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	m.note(name, metric.NewInt64UpDownCounterConfig(opts...), "sum", "int", false, nil)
	return m.Meter.Int64UpDownCounter(name, opts...)
}

func (m *meter) Int64Histogram(name string, opts ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	c := metric.NewInt64HistogramConfig(opts...)
	m.note(name, c, "histogram", "int", false, c.ExplicitBucketBoundaries())
	return m.Meter.Int64Histogram(name, opts...)
}

func (m *meter) Int64Gauge(name string, opts ...metric.Int64GaugeOption) (metric.Int64Gauge, error) {
	m.note(name, metric.NewInt64GaugeConfig(opts...), "gauge", "int", false, nil)
	return m.Meter.Int64Gauge(name, opts...)
}

func (m *meter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	m.note(name, metric.NewInt64ObservableCounterConfig(opts...), "sum", "int", true, nil)
	return m.Meter.Int64ObservableCounter(name, opts...)
}

func (m *meter) Int64ObservableUpDownCounter(name string, opts ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	m.note(name, metric.NewInt64ObservableUpDownCounterConfig(opts...), "sum", "int", false, nil)
	return m.Meter.Int64ObservableUpDownCounter(name, opts...)
}

func (m *meter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	m.note(name, metric.NewInt64ObservableGaugeConfig(opts...), "gauge", "int", false, nil)
	return m.Meter.Int64ObservableGauge(name, opts...)
}

func (m *meter) Float64Counter(name string, opts ...metric.Float64CounterOption) (metric.Float64Counter, error) {
	m.note(name, metric.NewFloat64CounterConfig(opts...), "sum", "double", true, nil)
	return m.Meter.Float64Counter(name, opts...)
}

func (m *meter) Float64UpDownCounter(name string, opts ...metric.Float64UpDownCounterOption) (metric.Float64UpDownCounter, error) {
	m.note(name, metric.NewFloat64UpDownCounterConfig(opts...), "sum", "double", false, nil)
	return m.Meter.Float64UpDownCounter(name, opts...)
}

func (m *meter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	c := metric.NewFloat64HistogramConfig(opts...)
	m.note(name, c, "histogram", "double", false, c.ExplicitBucketBoundaries())
	return m.Meter.Float64Histogram(name, opts...)
}

func (m *meter) Float64Gauge(name string, opts ...metric.Float64GaugeOption) (metric.Float64Gauge, error) {
	m.note(name, metric.NewFloat64GaugeConfig(opts...), "gauge", "double", false, nil)
	return m.Meter.Float64Gauge(name, opts...)
}

func (m *meter) Float64ObservableCounter(name string, opts ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	m.note(name, metric.NewFloat64ObservableCounterConfig(opts...), "sum", "double", true, nil)
	return m.Meter.Float64ObservableCounter(name, opts...)
}

func (m *meter) Float64ObservableUpDownCounter(name string, opts ...metric.Float64ObservableUpDownCounterOption) (metric.Float64ObservableUpDownCounter, error) {
	m.note(name, metric.NewFloat64ObservableUpDownCounterConfig(opts...), "sum", "double", false, nil)
	return m.Meter.Float64ObservableUpDownCounter(name, opts...)
}

func (m *meter) Float64ObservableGauge(name string, opts ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	m.note(name, metric.NewFloat64ObservableGaugeConfig(opts...), "gauge", "double", false, nil)
	return m.Meter.Float64ObservableGauge(name, opts...)
}

// eachAttrs calls f with the attribute names of every data point of a collected metric.
func eachAttrs(data metricdata.Aggregation, f func([]string)) {
	names := func(s attribute.Set) []string {
		out := make([]string, 0, s.Len())
		for _, kv := range s.ToSlice() {
			out = append(out, string(kv.Key))
		}
		return out
	}
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			f(names(p.Attributes))
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			f(names(p.Attributes))
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			f(names(p.Attributes))
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			f(names(p.Attributes))
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			f(names(p.Attributes))
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			f(names(p.Attributes))
		}
	}
}
