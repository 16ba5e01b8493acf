package timeline

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tfocol/tfocol/internal/receipts/query"
)

// A series is one metric name with one set of resource (service, node) and point attributes.
type seriesKey struct{ name, service, node, attrs string }

// point is where an extreme was seen.
type point struct {
	value   float64
	t       time.Time
	receipt query.Match
	record  int
}

type series struct {
	lo, hi point
	n      int
}

func checkPatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("--metric %q: %w", p, err)
		}
	}
	return nil
}

func (b *builder) wantMetric(name string) bool {
	if len(b.opts.Metrics) == 0 {
		return true
	}
	for _, p := range b.opts.Metrics {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// metrics folds the data points of a metric snapshot that fall in the range into their series' extremes.
func (b *builder) metrics(m query.Match) {
	eachRecord(b, m, "data point", decodeMetric, func(i int, _ []byte, rm pmetric.ResourceMetrics) {
		metric := rm.ScopeMetrics().At(0).Metrics().At(0)
		if !b.wantMetric(metric.Name()) {
			return
		}
		service, node := resourceNames(rm.Resource().Attributes())
		if !b.keeps(service, node) {
			return
		}
		lo, hi, attrs, ts, ok := pointRange(metric)
		t := ts.AsTime().UTC()
		if !ok || !b.inRange(t) {
			return
		}
		key := seriesKey{metric.Name(), service, node, attrString(attrs)}
		s := b.series[key]
		if s == nil {
			s = &series{lo: point{lo, t, m, i}, hi: point{hi, t, m, i}}
			b.series[key] = s
		}
		s.n++
		if lo < s.lo.value || (lo == s.lo.value && t.Before(s.lo.t)) {
			s.lo = point{lo, t, m, i}
		}
		if hi > s.hi.value || (hi == s.hi.value && t.Before(s.hi.t)) {
			s.hi = point{hi, t, m, i}
		}
	})
}

// decodeMetric reads a metric leaf: one resource with one scope with one metric (of one point).
func decodeMetric(leaf []byte) (pmetric.ResourceMetrics, bool) {
	md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(leaf)
	ok := err == nil && md.ResourceMetrics().Len() == 1 && md.ResourceMetrics().At(0).ScopeMetrics().Len() == 1 &&
		md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().Len() == 1
	if !ok {
		return pmetric.ResourceMetrics{}, false
	}
	return md.ResourceMetrics().At(0), true
}

// pointRange is the lowest and highest value one data point shows: its value for gauges and sums, its min and
// max for histograms that carry them. Summaries and histograms without min/max show none.
func pointRange(m pmetric.Metric) (lo, hi float64, attrs pcommon.Map, ts pcommon.Timestamp, ok bool) {
	number := func(p pmetric.NumberDataPoint) (float64, float64, pcommon.Map, pcommon.Timestamp, bool) {
		v := p.DoubleValue()
		if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
			v = float64(p.IntValue())
		}
		return v, v, p.Attributes(), p.Timestamp(), p.ValueType() != pmetric.NumberDataPointValueTypeEmpty
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		if m.Gauge().DataPoints().Len() == 1 {
			return number(m.Gauge().DataPoints().At(0))
		}
	case pmetric.MetricTypeSum:
		if m.Sum().DataPoints().Len() == 1 {
			return number(m.Sum().DataPoints().At(0))
		}
	case pmetric.MetricTypeHistogram:
		if m.Histogram().DataPoints().Len() == 1 {
			p := m.Histogram().DataPoints().At(0)
			return p.Min(), p.Max(), p.Attributes(), p.Timestamp(), p.HasMin() && p.HasMax()
		}
	case pmetric.MetricTypeExponentialHistogram:
		if m.ExponentialHistogram().DataPoints().Len() == 1 {
			p := m.ExponentialHistogram().DataPoints().At(0)
			return p.Min(), p.Max(), p.Attributes(), p.Timestamp(), p.HasMin() && p.HasMax()
		}
	}
	return 0, 0, pcommon.NewMap(), 0, false
}

// extremes turns each series into events: its highest and lowest value in the range, or one event when it
// stayed constant.
func (b *builder) extremes() []Event {
	var out []Event
	for key, s := range b.series {
		name := key.name
		if key.attrs != "" {
			name += "{" + key.attrs + "}"
		}
		mk := func(p point, extreme, text string) Event {
			e := b.event(p.receipt, KindMetric, p.t, text)
			v, rec := p.value, p.record
			e.Record, e.Service, e.Node = &rec, key.service, key.node
			e.Metric, e.Attributes, e.Extreme, e.Value, e.Points = key.name, key.attrs, extreme, &v, s.n
			return e
		}
		w := where(key.service, key.node)
		if s.lo.value == s.hi.value {
			out = append(out, mk(s.lo, "constant", fmt.Sprintf("%s %s = %s (%s, constant)", w, name, num(s.lo.value), pointCount(s.n))))
			continue
		}
		out = append(out,
			mk(s.hi, "max", fmt.Sprintf("%s %s max %s (%s; min %s at %s)", w, name, num(s.hi.value), pointCount(s.n), num(s.lo.value), s.lo.t.Format(time.RFC3339Nano))),
			mk(s.lo, "min", fmt.Sprintf("%s %s min %s (%s; max %s at %s)", w, name, num(s.lo.value), pointCount(s.n), num(s.hi.value), s.hi.t.Format(time.RFC3339Nano))))
	}
	return out
}

func pointCount(n int) string {
	if n == 1 {
		return "1 point"
	}
	return strconv.Itoa(n) + " points"
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// attrString renders attributes as sorted k=v pairs.
func attrString(m pcommon.Map) string {
	parts := make([]string, 0, m.Len())
	for k, v := range m.All() {
		parts = append(parts, k+"="+v.AsString())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// resourceNames are the service.name and host.name of a resource, as receipts count them.
func resourceNames(attrs pcommon.Map) (service, node string) {
	if v, ok := attrs.Get("service.name"); ok {
		service = v.AsString()
	}
	if v, ok := attrs.Get("host.name"); ok {
		node = v.AsString()
	}
	return service, node
}
