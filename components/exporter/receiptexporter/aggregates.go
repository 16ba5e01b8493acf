package receiptexporter

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/tfocol/tfocol/internal/receipts"
)

// AggregateConfig is one figure of obs_metric_snapshot receipts: avg, min and max over the window of the number
// data points (gauge, sum) of Metric whose attributes include Attributes (e.g. system.cpu.utilization with
// state: user), written under Name in the receipt's aggregates.
type AggregateConfig struct {
	Name       string            `mapstructure:"name"`
	Metric     string            `mapstructure:"metric"`
	Attributes map[string]string `mapstructure:"attributes"`
}

var aggregateNameSyntax = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

func (c *Config) validateAggregates() error {
	var errs []error
	seen := map[string]bool{}
	for i, a := range c.Aggregates {
		if !aggregateNameSyntax.MatchString(a.Name) {
			errs = append(errs, fmt.Errorf("aggregates[%d]: name %q must be 1-100 letters, digits, '.', '_' or '-'", i, a.Name))
		}
		if seen[a.Name] {
			errs = append(errs, fmt.Errorf("aggregates[%d]: name %q is used twice", i, a.Name))
		}
		seen[a.Name] = true
		if a.Metric == "" {
			errs = append(errs, fmt.Errorf("aggregates[%d]: metric must be set", i))
		}
	}
	return errors.Join(errs...)
}

// aggregateMetrics are the metric names with an aggregate (only their points are decoded again).
func (c *Config) aggregateMetrics() map[string]bool {
	if len(c.Aggregates) == 0 {
		return nil
	}
	out := map[string]bool{}
	for _, a := range c.Aggregates {
		out[a.Metric] = true
	}
	return out
}

// windowAggregates are a metrics window's accumulators, by aggregate name.
type windowAggregates map[string]*receipts.AggregateAcc

// countAggregates adds a metric point to its window's aggregates. A leaf that does not decode cannot be in an
// aggregate (the verifier counts it out the same way: DecodeMetricPoint fails there too and it reports it).
func (e *engine) countAggregates(w *window, rec receipts.Record) {
	e.initAggregates(w)
	if !e.aggMetrics[rec.Info.MetricName] {
		return
	}
	p, err := receipts.DecodeMetricPoint(rec.Leaf)
	if err != nil {
		return
	}
	for _, a := range w.aggregates {
		if p.Matches(a.Spec) {
			a.Add(p.Value)
		}
	}
}

func (e *engine) initAggregates(w *window) {
	if w.aggregates != nil || len(e.cfg.Aggregates) == 0 {
		return
	}
	w.aggregates = windowAggregates{}
	for _, a := range e.cfg.Aggregates {
		w.aggregates[a.Name] = &receipts.AggregateAcc{Spec: receipts.AggregateSpec{Metric: a.Metric, Attributes: a.Attributes}}
	}
}

// aggregatesOf is the receipt's aggregates of a window: every configured one (points 0 when it had none).
func (w *window) aggregatesOf() map[string]*receipts.Aggregate {
	if w.aggregates == nil {
		return nil
	}
	out := make(map[string]*receipts.Aggregate, len(w.aggregates))
	for name, a := range w.aggregates {
		out[name] = a.Result()
	}
	return out
}
