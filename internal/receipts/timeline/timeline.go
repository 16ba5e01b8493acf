// Package timeline builds the timeline of `tfocol receipts correlate`: the receipts around a moment (batch
// windows, alerts, significant traces) and what their sealed records show (error logs, metric extremes). Only
// the batch files of windows that overlap the range are read, and log batches only when they counted errors.
package timeline

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/receipts/query"
)

// Event kinds, in the order events at the same instant are listed.
const (
	KindWindow  = "window"  // a batch receipt (logs, metrics or traces of one window)
	KindMetric  = "metric"  // the highest or lowest value of a metric series in the range
	KindLog     = "log"     // a sealed log record with severity ERROR or FATAL
	KindTrace   = "trace"   // an obs_trace_complete receipt
	KindAlert   = "alert"   // an obs_alert_fired receipt
	KindSLO     = "slo"     // an obs_slo_report receipt
	KindAnomaly = "anomaly" // an obs_anomaly_detected receipt
)

var kindOrder = []string{KindWindow, KindMetric, KindLog, KindTrace, KindAlert, KindSLO, KindAnomaly}

// Event is one line of the timeline.
type Event struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Instance  string    `json:"instance"`
	Workspace string    `json:"workspace"`
	// Receipt is the id of the receipt that holds it; Record its index in that receipt's batch file.
	Receipt string `json:"receipt"`
	Type    string `json:"type"`
	Record  *int   `json:"record,omitempty"`
	Service string `json:"service,omitempty"`
	Node    string `json:"node,omitempty"`
	Text    string `json:"text"`

	Severity   string   `json:"severity,omitempty"`
	TraceID    string   `json:"trace_id,omitempty"`
	DurationMs *int64   `json:"duration_ms,omitempty"`
	Status     string   `json:"status,omitempty"`
	Metric     string   `json:"metric,omitempty"`
	Attributes string   `json:"attributes,omitempty"`
	Extreme    string   `json:"extreme,omitempty"`
	Value      *float64 `json:"value,omitempty"`
	Points     int      `json:"points,omitempty"`
}

// Options say what to build.
type Options struct {
	// From and To bound the records taken from batch files (both inclusive).
	From, To time.Time
	// Nodes and Services, when set, keep only records whose host.name / service.name is listed.
	Nodes, Services []string
	// Metrics are path.Match patterns of the metric names whose extremes are listed; empty lists every metric.
	Metrics []string
	// Warn receives notes that do not stop the timeline (a batch file that cannot be read).
	Warn func(msg string)
}

// Build returns the timeline of matches (receipts selected around the moment, batches by window overlap),
// sorted by time.
func Build(matches []query.Match, opts Options) ([]Event, error) {
	if err := checkPatterns(opts.Metrics); err != nil {
		return nil, err
	}
	b := &builder{opts: opts, alerts: map[string]bool{}, series: map[seriesKey]*series{}}
	for _, m := range matches {
		if m.Receipt.Type == receipts.TypeAlertFired {
			b.alerts[m.Scroll.Dir+"\x00"+m.Receipt.MerkleRoot] = true
		}
	}
	for _, m := range matches {
		b.add(m)
	}
	events := append(b.events, b.extremes()...)
	slices.SortStableFunc(events, compare)
	return events, nil
}

func compare(a, b Event) int {
	return cmp.Or(a.Time.Compare(b.Time),
		cmp.Compare(slices.Index(kindOrder, a.Kind), slices.Index(kindOrder, b.Kind)),
		cmp.Compare(a.Instance, b.Instance), cmp.Compare(a.Workspace, b.Workspace),
		cmp.Compare(a.Receipt, b.Receipt), cmp.Compare(a.Text, b.Text))
}

type builder struct {
	opts   Options
	events []Event
	// alerts are the leaf hashes (merkle_root) of alert receipts per scroll: their records are in the log
	// batches too and are listed once, as the alert.
	alerts map[string]bool
	series map[seriesKey]*series
}

func (b *builder) warn(format string, args ...any) {
	if b.opts.Warn != nil {
		b.opts.Warn(fmt.Sprintf(format, args...))
	}
}

func (b *builder) event(m query.Match, kind string, t time.Time, text string) Event {
	return Event{Time: t, Kind: kind, Instance: m.Scroll.Instance, Workspace: m.Receipt.Workspace, Receipt: m.Receipt.ID,
		Type: m.Receipt.Type, Text: text}
}

func (b *builder) add(m query.Match) {
	r := m.Receipt
	switch r.Type {
	case receipts.TypeAlertFired:
		e := b.event(m, KindAlert, m.Time, fmt.Sprintf("%s fired (%s) on %s", r.Name, orDash(r.Severity), where(r.Service, r.Node)))
		e.Service, e.Node, e.Severity = r.Service, r.Node, r.Severity
		b.events = append(b.events, e)
	case receipts.TypeTraceComplete:
		d := r.DurationMs
		e := b.event(m, KindTrace, m.Time, fmt.Sprintf("trace %s %s completed (%d ms, %s, %d spans, %d with errors)",
			r.TraceID, r.Name, d, r.Status, r.SpanCount, r.ErrorSpans))
		e.TraceID, e.DurationMs, e.Status = r.TraceID, &d, r.Status
		b.events = append(b.events, e)
	case receipts.TypeSLOReport:
		b.events = append(b.events, b.event(m, KindSLO, m.Time, sloText(r)))
	case receipts.TypeAnomalyDetected:
		e := b.event(m, KindAnomaly, m.Time, anomalyText(r))
		e.Service = r.Service
		b.events = append(b.events, e)
	default:
		b.events = append(b.events, b.event(m, KindWindow, m.Time, windowText(r)))
		switch {
		case r.Type == receipts.TypeLogBatch && r.LogCounts != nil && r.LogCounts.Error+r.LogCounts.Fatal > 0:
			b.errorLogs(m)
		case r.Type == receipts.TypeMetricSnapshot:
			b.metrics(m)
		}
	}
}

func sloText(r *receipts.Receipt) string {
	parts := make([]string, 0, len(r.SLOs))
	for _, o := range r.SLOs {
		parts = append(parts, fmt.Sprintf("%s %s (%d good, %d bad)", o.SLOID, o.Status, o.Good, o.Bad))
	}
	return fmt.Sprintf("SLO report %s: %s", r.OverallStatus, strings.Join(parts, "; "))
}

func anomalyText(r *receipts.Receipt) string {
	text := fmt.Sprintf("anomaly %s of %s %s", r.Metric, orDash(r.Service), r.Direction)
	if r.ObservedValue != nil && r.ExpectedRange != nil && r.DeviationSigma != nil {
		text += fmt.Sprintf(": observed %s, expected %s – %s (%s sigma)", r.ObservedValue, r.ExpectedRange.Min, r.ExpectedRange.Max, r.DeviationSigma)
	}
	return text
}

func windowText(r *receipts.Receipt) string {
	span := r.Period.Start + " – " + r.Period.End
	switch r.Type {
	case receipts.TypeLogBatch:
		c := r.LogCounts
		return fmt.Sprintf("logs %s: %d records, %d error, %d fatal, %d warn", span, r.LeafCount, c.Error, c.Fatal, c.Warn)
	case receipts.TypeMetricSnapshot:
		return fmt.Sprintf("metrics %s: %d data points of %d metrics", span, r.MetricsCollected, r.MetricNames)
	default:
		return fmt.Sprintf("traces %s: %d spans in %d traces, %d with errors", span, r.SpanCount, r.TraceCount, r.ErrorSpans)
	}
}

// eachRecord hands fn every record of m's batch file that decode accepts. A batch file that cannot be read,
// or a leaf that is not a one-record OTLP request, is a note, not the end of the timeline.
func eachRecord[T any](b *builder, m query.Match, what string, decode func([]byte) (T, bool), fn func(i int, leaf []byte, rec T)) {
	leaves, err := receipts.ReceiptLeaves(m.Scroll.Dir, m.Receipt)
	if err != nil {
		b.warn("%s: %s (receipt %s): %v; its records are left out", m.Scroll.Dir, m.Receipt.StoragePath, m.Receipt.ID, err)
		return
	}
	for i, leaf := range leaves {
		rec, ok := decode(leaf)
		if !ok {
			b.warn("%s: %s record %d is not a one-%s OTLP request; skipped (verify the scroll)", m.Scroll.Dir, m.Receipt.StoragePath, i, what)
			continue
		}
		fn(i, leaf, rec)
	}
}

func (b *builder) inRange(t time.Time) bool {
	return !t.Before(b.opts.From) && !t.After(b.opts.To)
}

func (b *builder) keeps(service, node string) bool {
	return (len(b.opts.Nodes) == 0 || slices.Contains(b.opts.Nodes, node)) &&
		(len(b.opts.Services) == 0 || slices.Contains(b.opts.Services, service))
}

func where(service, node string) string {
	switch {
	case service != "" && node != "":
		return service + "@" + node
	case service != "":
		return service
	default:
		return orDash(node)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
