package receipts

import (
	"errors"
	"maps"
	"math"
	"math/big"
)

// Aggregate is one configured figure of an obs_metric_snapshot (docs/receipts.md §5): the number data points
// (gauge and sum) of one metric in the window whose attributes include Attributes, and their average, minimum
// and maximum. Each value is first rounded to a Decimal; avg is their exact sum divided by points, rounded half
// away from zero, so every implementation gets the same digits. Avg, Min and Max are absent when points is 0.
type Aggregate struct {
	Metric     string            `json:"metric"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Points     uint64            `json:"points"`
	Avg        *Decimal          `json:"avg,omitempty"`
	Min        *Decimal          `json:"min,omitempty"`
	Max        *Decimal          `json:"max,omitempty"`
}

// AggregateSpec selects the points of one aggregate.
type AggregateSpec struct {
	Metric     string
	Attributes map[string]string
}

// AggregateAcc accumulates one aggregate.
type AggregateAcc struct {
	Spec     AggregateSpec
	points   uint64
	sum      big.Int
	min, max Decimal
}

// Add counts one value.
func (a *AggregateAcc) Add(v Decimal) {
	if a.points == 0 || v < a.min {
		a.min = v
	}
	if a.points == 0 || v > a.max {
		a.max = v
	}
	a.points++
	a.sum.Add(&a.sum, big.NewInt(int64(v)))
}

// Result is the aggregate so far.
func (a *AggregateAcc) Result() *Aggregate {
	out := &Aggregate{Metric: a.Spec.Metric, Points: a.points}
	if len(a.Spec.Attributes) > 0 {
		out.Attributes = maps.Clone(a.Spec.Attributes)
	}
	if a.points == 0 {
		return out
	}
	// Round half away from zero: (|sum| + n/2) / n with the sign of sum.
	n := new(big.Int).SetUint64(a.points)
	abs := new(big.Int).Abs(&a.sum)
	q := new(big.Int).Add(abs, new(big.Int).Rsh(n, 1))
	q.Quo(q, n)
	if a.sum.Sign() < 0 {
		q.Neg(q)
	}
	avg := Decimal(q.Int64())
	lo, hi := a.min, a.max
	out.Avg, out.Min, out.Max = &avg, &lo, &hi
	return out
}

// MetricPoint is the one data point of a metrics leaf (§3).
type MetricPoint struct {
	Metric string
	attrs  attributes
	// Value is the point's value rounded to a Decimal; ok is false for points without one number (histograms,
	// summaries, and number points without a value).
	Value Decimal
	ok    bool
}

// DecodeMetricPoint decodes the leaf of one data point.
func DecodeMetricPoint(leaf []byte) (MetricPoint, error) {
	lp, err := splitLeaf(SignalMetrics, leaf)
	if err != nil {
		return MetricPoint{}, err
	}
	p := MetricPoint{Metric: lastString(lp.metric, 1)}
	if lp.dataNum != 5 && lp.dataNum != 7 { // gauge, sum: NumberDataPoint
		return p, nil
	}
	p.attrs = attributes{}.read(lp.record, 7)
	eachField(lp.record, func(f wireField) {
		switch f.num {
		case 4: // as_double
			p.Value, p.ok = DecimalOf(math.Float64frombits(f.v)), true
		case 6: // as_int
			p.Value, p.ok = Decimal(int64(f.v))*DecimalScale, true
		}
	})
	return p, nil
}

// Matches reports whether the point counts toward an aggregate of spec.
func (p MetricPoint) Matches(spec AggregateSpec) bool {
	if !p.ok || p.Metric != spec.Metric {
		return false
	}
	for k, want := range spec.Attributes {
		v, ok := p.attrs.get(k)
		if !ok || v.asString() != want {
			return false
		}
	}
	return true
}

// ComputeAggregates computes the aggregates of a batch file's leaves for the given specs, by name.
func ComputeAggregates(leaves [][]byte, specs map[string]AggregateSpec) (map[string]*Aggregate, error) {
	accs := map[string]*AggregateAcc{}
	for name, s := range specs {
		accs[name] = &AggregateAcc{Spec: s}
	}
	for i, leaf := range leaves {
		p, err := DecodeMetricPoint(leaf)
		if err != nil {
			return nil, &RecordError{Index: i, Err: err}
		}
		for _, a := range accs {
			if p.Matches(a.Spec) {
				a.Add(p.Value)
			}
		}
	}
	out := make(map[string]*Aggregate, len(accs))
	for name, a := range accs {
		out[name] = a.Result()
	}
	return out, nil
}

// checkAggregate checks what an aggregate says of itself.
func checkAggregate(name string, a *Aggregate) error {
	if a == nil || !aggregateName.MatchString(name) || a.Metric == "" {
		return errors.New("aggregate needs a name of letters, digits, '.', '_' or '-' and a metric")
	}
	if (a.Points == 0) != (a.Avg == nil) || (a.Avg == nil) != (a.Min == nil) || (a.Min == nil) != (a.Max == nil) {
		return errors.New("avg, min and max are set exactly when points > 0")
	}
	if a.Points > 0 && (*a.Min > *a.Avg || *a.Avg > *a.Max) {
		return errors.New("min <= avg <= max does not hold")
	}
	return nil
}
