package receipts

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// SLO kinds and statuses (docs/receipts.md §5, obs_slo_report).
const (
	SLOAvailability = "availability"
	SLOLatency      = "latency"

	SLOMet    = "met"
	SLOAtRisk = "at_risk"
	SLOMissed = "missed"
	SLONoData = "no_data"
)

// SLOResult is one objective in an obs_slo_report.
type SLOResult struct {
	SLOID       string  `json:"slo_id"`
	Kind        string  `json:"kind"`
	Service     string  `json:"service"`
	ThresholdMs int64   `json:"threshold_ms,omitempty"`
	Target      Decimal `json:"target"`
	// AtRiskBudget is the fraction of the error budget consumed above which a met objective is at_risk.
	AtRiskBudget Decimal `json:"at_risk_budget"`
	Window       string  `json:"window"`
	Period       Period  `json:"period"`
	// Batches is the number of obs_trace_batch receipts inside Period that were counted.
	Batches     uint64      `json:"batches"`
	Good        uint64      `json:"good"`
	Bad         uint64      `json:"bad"`
	Achieved    *Decimal    `json:"achieved,omitempty"`
	Status      string      `json:"status"`
	ErrorBudget ErrorBudget `json:"error_budget"`
}

// ErrorBudget is an objective's budget in events: Total = (1 - target) x (good + bad) bad events allowed,
// Consumed = bad, Remaining = Total - Consumed (negative when missed), ConsumedRatio = Consumed / Total.
type ErrorBudget struct {
	Total         Decimal  `json:"total"`
	Consumed      uint64   `json:"consumed"`
	Remaining     Decimal  `json:"remaining"`
	ConsumedRatio *Decimal `json:"consumed_ratio,omitempty"`
}

// SLOIndicator is what decides an objective's good and bad events: the spans of kind SERVER or CONSUMER whose
// resource service.name is Service (the requests the service handled; client and internal spans would count one
// request several times). Availability: good unless status ERROR. Latency: good if end - start is at most
// ThresholdMs milliseconds (a span ending before it starts lasts 0).
type SLOIndicator struct {
	Service     string
	Kind        string
	ThresholdMs int64
}

// Key names the indicator in per-batch counts.
func (s SLOIndicator) Key() string {
	if s.Kind == SLOLatency {
		return SLOLatency + "|" + strconv.FormatInt(s.ThresholdMs, 10) + "|" + s.Service
	}
	return s.Kind + "|" + s.Service
}

// Classify tells whether a span counts for the indicator and whether it is good.
func (s SLOIndicator) Classify(info RecordInfo) (counted, good bool) {
	if info.Service != s.Service || (info.Kind != spanKindServer && info.Kind != spanKindConsumer) {
		return false, false
	}
	if s.Kind == SLOLatency {
		return true, max(info.End-info.Start, 0) <= s.ThresholdMs*int64(time.Millisecond)
	}
	return true, !info.Error
}

// SLOFigures computes an objective's achieved ratio, status and error budget from its counts, exactly: achieved =
// good / (good + bad) and consumed_ratio are rounded half up to six fractional digits; the budget total is exact;
// statuses compare exact values (missed: bad > total; at_risk: bad > at_risk_budget x total; no events: no_data).
func SLOFigures(good, bad uint64, target, atRisk Decimal) (achieved *Decimal, status string, eb ErrorBudget) {
	n := new(big.Int).Add(new(big.Int).SetUint64(good), new(big.Int).SetUint64(bad))
	eb.Consumed = bad
	if n.Sign() == 0 {
		return nil, SLONoData, eb
	}
	scale := big.NewInt(DecimalScale)
	badB := new(big.Int).SetUint64(bad)
	// budget in millionths of an event: (1e6 - target) x n
	budget := new(big.Int).Mul(big.NewInt(DecimalScale-int64(target)), n)
	eb.Total = clampDecimal(budget)
	eb.Remaining = clampDecimal(new(big.Int).Sub(budget, new(big.Int).Mul(badB, scale)))
	a := roundDiv(new(big.Int).Mul(new(big.Int).SetUint64(good), scale), n)
	achieved = &a
	badMicro := new(big.Int).Mul(badB, scale)
	if budget.Sign() > 0 {
		cr := roundDiv(new(big.Int).Mul(badMicro, scale), budget)
		eb.ConsumedRatio = &cr
	}
	switch {
	case badMicro.Cmp(budget) > 0:
		status = SLOMissed
	case new(big.Int).Mul(badMicro, scale).Cmp(new(big.Int).Mul(big.NewInt(int64(atRisk)), budget)) > 0:
		status = SLOAtRisk
	default:
		status = SLOMet
	}
	return achieved, status, eb
}

// roundDiv is a / b (both non-negative, b > 0) rounded half up, as a Decimal of that many millionths.
func roundDiv(a, b *big.Int) Decimal {
	q := new(big.Int).Mul(a, big.NewInt(2))
	q.Add(q, b)
	q.Quo(q, new(big.Int).Mul(b, big.NewInt(2)))
	return clampDecimal(q)
}

func clampDecimal(v *big.Int) Decimal {
	if !v.IsInt64() {
		if v.Sign() < 0 {
			return Decimal(-1 << 62)
		}
		return Decimal(1 << 62)
	}
	return Decimal(v.Int64())
}

// OverallStatus summarises a report: breached if any objective is missed, else at_risk if any is at risk, else
// healthy.
func OverallStatus(slos []SLOResult) string {
	out := "healthy"
	for _, s := range slos {
		switch s.Status {
		case SLOMissed:
			return "breached"
		case SLOAtRisk:
			out = "at_risk"
		}
	}
	return out
}

// FormatWindow spells an SLO window: whole days as "<n>d", else whole hours "<n>h", minutes "<n>m", seconds "<n>s".
func FormatWindow(d time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.s
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// ParseWindow reads "<n>d", "<n>h", "<n>m" or "<n>s" with n a positive integer without leading zeros.
func ParseWindow(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}
	if len(s) < 2 {
		return 0, fmt.Errorf("window %q: want <n>d, <n>h, <n>m or <n>s", s)
	}
	u, ok := units[s[len(s)-1]]
	num := s[:len(s)-1]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n <= 0 || strings.HasPrefix(num, "0") || strings.HasPrefix(num, "+") || n > 3650*24*3600 {
		return 0, fmt.Errorf("window %q: want <n>d, <n>h, <n>m or <n>s with a positive n", s)
	}
	return time.Duration(n) * u, nil
}

// SLOReportID is the id of the report for the boundary end.
func SLOReportID(end time.Time) string { return "slo-report-" + end.UTC().Format(time.RFC3339) }
