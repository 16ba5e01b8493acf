package receiptexporter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/receipts"
)

// SLOConfig is one service level objective, reported in obs_slo_report receipts (docs/receipts.md §5).
type SLOConfig struct {
	// Name identifies the objective (slo_id "slo:<name>").
	Name string `mapstructure:"name"`
	// Workspace limits the objective to one workspace id; empty: every workspace's scroll reports it.
	Workspace string `mapstructure:"workspace"`
	// Service is the resource service.name whose SERVER and CONSUMER spans are the objective's events.
	Service string `mapstructure:"service"`
	// Kind is availability (good: status not ERROR) or latency (good: duration <= threshold_ms).
	Kind        string `mapstructure:"kind"`
	ThresholdMs int64  `mapstructure:"threshold_ms"`
	// Target is the good fraction aimed at, between 0 and 1 (at most 6 decimals), e.g. 0.999.
	Target float64 `mapstructure:"target"`
	// Window is the rolling period each report covers: <n>d, <n>h, <n>m or <n>s (e.g. 30d).
	Window string `mapstructure:"window"`
	// AtRiskBudget is the fraction of the error budget consumed above which a met objective is reported at_risk.
	AtRiskBudget float64 `mapstructure:"at_risk_budget"`
}

// defaultAtRiskBudget: at risk once three quarters of the budget are consumed (a quarter remaining).
const defaultAtRiskBudget = 0.75

var sloName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// decimalOf converts a config value with at most 6 decimals.
func decimalOf(v float64) (receipts.Decimal, bool) {
	d := receipts.DecimalOf(v)
	return d, math.Abs(v*receipts.DecimalScale-float64(d)) < 1e-6
}

func (c *Config) validateSLOs() error {
	var errs []error
	if len(c.SLOs) == 0 {
		return nil
	}
	ri := c.SLOReportInterval
	if ri < c.Interval || c.Interval <= 0 || ri%c.Interval != 0 || (24*time.Hour)%ri != 0 {
		errs = append(errs, fmt.Errorf("slo_report_interval %s must be a multiple of interval and divide 24h", ri))
	}
	seen := map[string]bool{}
	for i, s := range c.SLOs {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("slos[%d] (%s): %s", i, s.Name, fmt.Sprintf(format, args...)))
		}
		if !sloName.MatchString(s.Name) {
			bad("name must be 1-100 letters, digits, '.', '_' or '-'")
		} else if seen[s.Name] {
			bad("name used twice")
		}
		seen[s.Name] = true
		if s.Service == "" {
			bad("service must be set")
		}
		switch s.Kind {
		case receipts.SLOAvailability:
			if s.ThresholdMs != 0 {
				bad("threshold_ms is for latency objectives")
			}
		case receipts.SLOLatency:
			if s.ThresholdMs <= 0 {
				bad("latency objectives need a positive threshold_ms")
			}
		default:
			bad("kind must be availability or latency")
		}
		if _, ok := decimalOf(s.Target); !ok || s.Target <= 0 || s.Target >= 1 {
			bad("target must be between 0 and 1 exclusive, with at most 6 decimals")
		}
		if _, ok := decimalOf(s.AtRiskBudget); !ok || s.AtRiskBudget < 0 || s.AtRiskBudget >= 1 {
			bad("at_risk_budget must be between 0 and 1 (0: the default %v), with at most 6 decimals", defaultAtRiskBudget)
		}
		w, err := receipts.ParseWindow(s.Window)
		if err != nil {
			bad("%v", err)
		} else if c.Interval > 0 && w%c.Interval != 0 {
			bad("window %s must be a multiple of interval %s", s.Window, c.Interval)
		}
	}
	return errors.Join(errs...)
}

// sloDef is a validated objective.
type sloDef struct {
	id, workspace string
	ind           receipts.SLOIndicator
	window        int64 // seconds
	target        receipts.Decimal
	atRisk        receipts.Decimal
}

func sloDefs(cfgs []SLOConfig) []sloDef {
	out := make([]sloDef, 0, len(cfgs))
	for _, s := range cfgs {
		w, _ := receipts.ParseWindow(s.Window)
		target, _ := decimalOf(s.Target)
		atRisk, _ := decimalOf(s.AtRiskBudget)
		if atRisk == 0 {
			atRisk, _ = decimalOf(defaultAtRiskBudget)
		}
		out = append(out, sloDef{id: "slo:" + s.Name, workspace: s.Workspace, window: int64(w / time.Second), target: target, atRisk: atRisk,
			ind: receipts.SLOIndicator{Service: s.Service, Kind: s.Kind, ThresholdMs: s.ThresholdMs}})
	}
	slices.SortFunc(out, func(a, b sloDef) int { return strings.Compare(a.id, b.id) })
	return out
}

// slosFor are the objectives reported in a workspace's scroll, sorted by slo_id.
func (d *derivedState) slosFor(workspace string) []sloDef {
	var out []sloDef
	for _, s := range d.slos {
		if s.workspace == "" || s.workspace == workspace {
			out = append(out, s)
		}
	}
	return out
}

func maxWindow(slos []sloDef) int64 {
	var m int64
	for _, s := range slos {
		m = max(m, s.window)
	}
	return m
}

// emitSLOReports appends the scroll's SLO reports that are due: the report for boundary D once the present is
// past D + grace and no trace window of the scroll before D is open (every span before D is sealed), when the
// scroll has at least one trace batch inside the longest window ending at D. Boundaries without such a batch
// are skipped.
func (e *engine) emitSLOReports(h *history, present, now time.Time, openTrace map[string]int64) {
	if present.Before(time.Unix(h.nextReport, 0).Add(e.grace)) {
		return // the common case at a tick: nothing due
	}
	slos := e.derived.slosFor(h.workspace)
	if len(slos) == 0 {
		return
	}
	longest, ri := maxWindow(slos), e.derived.reportIvl
	var out []*receipts.Receipt
	next := h.nextReport
	for {
		d := next
		if present.Before(time.Unix(d, 0).Add(e.grace)) {
			break
		}
		if m, ok := openTrace[h.wsDir]; ok && m < d {
			break
		}
		var in []*histBatch
		later := int64(1 << 62)
		for _, b := range h.batches {
			if b.signal != receipts.SignalTraces {
				continue
			}
			if b.start >= d-longest && b.start+e.interval <= d {
				in = append(in, b)
			} else if b.start >= d {
				later = min(later, b.start)
			}
		}
		if len(in) == 0 {
			if later == 1<<62 {
				break // nothing to report until a later trace batch is sealed
			}
			next = boundaryAfter(later, ri)
			continue
		}
		if r := e.sloReport(h, slos, in, d, longest, now); r != nil {
			out = append(out, r)
		}
		next = d + ri
	}
	if next == h.nextReport {
		return
	}
	if len(out) > 0 {
		s, err := e.scroll(h.wsDir)
		if err == nil {
			err = e.appendReceipts(s, out...)
		}
		if err != nil {
			e.logger.Error("appending SLO reports failed; will retry", zap.String("scroll", h.wsDir), zap.Error(err))
			return
		}
		e.tel.TfocolReceiptWindowsSealed.Add(context.Background(), int64(len(out)), metric.WithAttributes(attribute.String("type", receipts.TypeSLOReport)))
	}
	h.nextReport, h.changed = next, true
}

// sloReport is the report for boundary d over the trace batches in (those inside the longest window), or nil
// when the scroll has it already.
func (e *engine) sloReport(h *history, slos []sloDef, in []*histBatch, d, longest int64, now time.Time) *receipts.Receipt {
	end := time.Unix(d, 0).UTC()
	id := receipts.SLOReportID(end)
	if s, ok := e.scrolls[h.wsDir]; ok && s.Has(id) {
		return nil
	}
	results := make([]receipts.SLOResult, 0, len(slos))
	for _, s := range slos {
		res := receipts.SLOResult{SLOID: s.id, Kind: s.ind.Kind, Service: s.ind.Service, ThresholdMs: s.ind.ThresholdMs,
			Target: s.target, AtRiskBudget: s.atRisk, Window: receipts.FormatWindow(time.Duration(s.window) * time.Second),
			Period: receipts.Period{Start: receipts.FormatTime(time.Unix(d-s.window, 0)), End: receipts.FormatTime(end)}}
		key := s.ind.Key()
		for _, b := range in {
			if b.start < d-s.window {
				continue
			}
			gb := b.facts.SLO[key]
			res.Good += gb.Good
			res.Bad += gb.Bad
			res.Batches++
		}
		res.Achieved, res.Status, res.ErrorBudget = receipts.SLOFigures(res.Good, res.Bad, s.target, s.atRisk)
		results = append(results, res)
	}
	tags := []string{"observability", "slo"}
	if e.derived.reportIvl == 24*3600 {
		tags = append(tags, "daily-report")
	}
	r := &receipts.Receipt{
		Type: receipts.TypeSLOReport, ID: id, Timestamp: receipts.FormatTime(now), Workspace: h.workspace,
		Period: &receipts.Period{Start: receipts.FormatTime(time.Unix(d-longest, 0)), End: receipts.FormatTime(end)},
		SLOs:   results, OverallStatus: receipts.OverallStatus(results), Tags: tags,
	}
	r.ContentHash, r.MerkleRoot, r.LeafCount = commitment(in)
	return r
}
