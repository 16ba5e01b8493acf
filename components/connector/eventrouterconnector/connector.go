package eventrouterconnector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/internal/metadata"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Attributes stamped on rejected records.
const (
	AttrRejectionReason = requestcontract.AttrRejectionReason
	AttrSchemaID        = requestcontract.AttrSchemaID
)

// Event type labels for records that carry no known type.
const (
	labelUnknownType = "unknown" // an event name without a contract
	labelNoType      = "none"    // no event name at all
)

// outcome is where a record ended up; every record has exactly one.
type outcome int

const (
	outcomeRouted   outcome = iota // valid, sent to its route
	outcomeDefault                 // no type, no contract, or a valid type without a route: default_pipelines
	outcomeRejected                // broke its contract: rejected_pipelines, or dropped when there are none
	outcomeDropped                 // would go to default_pipelines, but there are none
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"routed", "default", "rejected", "dropped"}

// maxReasonLabels bounds distinct rejection reason labels per event type; further ones count as "other".
const maxReasonLabels = 64

// drop is the destination of records no pipeline receives.
const drop = -1

// eventType is the routing and accounting entry for one configured event type.
type eventType struct {
	name     string
	slot     int // metrics slot
	contract *contract
	dest     int // destination of valid events
	outcome  outcome

	router  string // the router's component id, a label of its metrics
	mu      sync.Mutex
	reasons map[string]metric.AddOption // bounded rejection label cache
}

type eventRouter struct {
	component.StartFunc
	component.ShutdownFunc

	nameAttr     string
	types        map[string]*eventType
	typeList     []*eventType
	consumers    []consumer.Logs // destinations: one per route, then default, then rejected
	defaultDest  int
	rejectedDest int

	telemetry   *metadata.TelemetryBuilder
	eventsOpts  [][numOutcomes]metric.AddOption // by slot
	unknownSlot int
	noneSlot    int

	scratch sync.Pool
}

// scratch is per-call working memory, pooled so routing a request allocates little.
type scratch struct {
	dest       []int32 // destination per record, in request order
	rejections []pendingRejection
	counts     []int64 // slot*numOutcomes + outcome
	doc        map[string]any
}

type pendingRejection struct {
	record int // index into dest
	reason string
	schema string
}

var errTooFewPipelines = errors.New("event_router must be used as a receiver in at least one logs pipeline")

func newEventRouter(set connector.Settings, cfg *Config, next consumer.Logs) (*eventRouter, error) {
	router, ok := next.(connector.LogsRouterAndConsumer)
	if !ok {
		return nil, errTooFewPipelines
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &eventRouter{
		nameAttr:  cfg.EventNameAttribute,
		types:     make(map[string]*eventType, len(cfg.Schemas)),
		telemetry: tb,
	}

	// Routes with the same set of pipelines are one destination, so a request whose records all go to the same
	// pipelines (e.g. valid and rejected records both to the durable log) is passed on whole, as one call.
	destBySet := map[string]int{}
	pipelineConsumer := func(field string, ids []pipeline.ID) (int, error) {
		if len(ids) == 0 {
			return drop, nil
		}
		names := make([]string, len(ids))
		for i, id := range ids {
			names[i] = id.String()
		}
		slices.Sort(names)
		set := strings.Join(slices.Compact(names), "\x00")
		if d, ok := destBySet[set]; ok {
			return d, nil
		}
		c, err := router.Consumer(ids...)
		if err != nil {
			return drop, fmt.Errorf("%s: %w", field, err)
		}
		r.consumers = append(r.consumers, c)
		destBySet[set] = len(r.consumers) - 1
		return len(r.consumers) - 1, nil
	}

	routeDest := make(map[string]int)
	for i, route := range cfg.Routes {
		d, err := pipelineConsumer(fmt.Sprintf("routes[%d]", i), route.Pipelines)
		if err != nil {
			return nil, err
		}
		for _, ev := range route.Events {
			routeDest[ev] = d
		}
	}
	if r.defaultDest, err = pipelineConsumer("default_pipelines", cfg.DefaultPipelines); err != nil {
		return nil, err
	}
	if r.rejectedDest, err = pipelineConsumer("rejected_pipelines", cfg.RejectedPipelines); err != nil {
		return nil, err
	}

	for _, name := range sortedKeys(cfg.Schemas) {
		c, err := loadContract(cfg.Schemas[name])
		if err != nil {
			return nil, fmt.Errorf("schemas::%s: contract %q: %w", name, cfg.Schemas[name], err)
		}
		t := &eventType{name: name, slot: len(r.typeList), contract: c, router: set.ID.String(), reasons: map[string]metric.AddOption{}}
		if d, ok := routeDest[name]; ok {
			t.dest, t.outcome = d, outcomeRouted
		} else {
			t.dest, t.outcome = r.defaultDest, outcomeDefault
			if r.defaultDest == drop {
				t.outcome = outcomeDropped
			}
		}
		r.types[name] = t
		r.typeList = append(r.typeList, t)
	}
	r.unknownSlot = len(r.typeList)
	r.noneSlot = r.unknownSlot + 1
	labels := make([]string, 0, r.noneSlot+1)
	for _, t := range r.typeList {
		labels = append(labels, t.name)
	}
	labels = append(labels, labelUnknownType, labelNoType)
	r.eventsOpts = make([][numOutcomes]metric.AddOption, len(labels))
	for slot, l := range labels {
		for o := range numOutcomes {
			r.eventsOpts[slot][o] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("router", set.ID.String()), attribute.String("event_type", l), attribute.String("outcome", outcomeNames[o])))
		}
	}
	nSlots := len(labels)
	r.scratch.New = func() any {
		return &scratch{counts: make([]int64, nSlots*int(numOutcomes)), doc: make(map[string]any, 16)}
	}
	return r, nil
}

func (r *eventRouter) Capabilities() consumer.Capabilities {
	// Records are moved, not copied, into per-destination batches and rejected ones annotated in place.
	// When the pipeline shares the request with other consumers the collector hands us our own copy, so a
	// record is copied at most once on its way through.
	return consumer.Capabilities{MutatesData: true}
}

// ConsumeLogs classifies every record, then forwards. A request whose records all share a destination
// is passed on as is; otherwise the largest group stays in the request and the other records are moved
// into one batch per destination, under copies of their resource and scope.
func (r *eventRouter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	s := r.scratch.Get().(*scratch)
	defer r.putScratch(s)

	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				r.classify(ctx, s, lrs.At(k))
			}
		}
	}
	r.recordCounts(ctx, s)
	if len(s.dest) == 0 {
		return nil
	}
	if len(s.rejections) > 0 {
		annotate(ld, s)
	}
	if d, uniform := s.uniformDest(); uniform {
		if d == drop {
			return nil
		}
		return r.consumers[d].ConsumeLogs(ctx, ld)
	}
	return r.fanOut(ctx, ld, s)
}

// classify decides one record's destination and outcome; contract violations are noted for fanOut.
func (r *eventRouter) classify(ctx context.Context, s *scratch, lr plog.LogRecord) {
	name := lr.EventName()
	if name == "" && r.nameAttr != "" {
		if v, ok := lr.Attributes().Get(r.nameAttr); ok {
			name = v.AsString()
		}
	}
	var t *eventType
	if name != "" {
		t = r.types[name]
	}
	if t == nil {
		slot := r.noneSlot
		if name != "" {
			slot = r.unknownSlot
		}
		o := outcomeDefault
		if r.defaultDest == drop {
			o = outcomeDropped
		}
		s.counts[slot*int(numOutcomes)+int(o)]++
		s.dest = append(s.dest, int32(r.defaultDest))
		return
	}

	rej := t.contract.check(s.doc, lr)
	if rej == nil {
		s.counts[t.slot*int(numOutcomes)+int(t.outcome)]++
		s.dest = append(s.dest, int32(t.dest))
		return
	}
	s.counts[t.slot*int(numOutcomes)+int(outcomeRejected)]++
	r.telemetry.TfocolEventRouterRejections.Add(ctx, 1, t.reasonOption(rej.label))
	if r.rejectedDest != drop {
		s.rejections = append(s.rejections, pendingRejection{record: len(s.dest), reason: rej.reason, schema: t.contract.id})
	}
	s.dest = append(s.dest, int32(r.rejectedDest))
}

// annotate stamps the rejection reason and schema id on rejected records, in place.
func annotate(ld plog.Logs, s *scratch) {
	next, n := 0, 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len() && next < len(s.rejections); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len() && next < len(s.rejections); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if next < len(s.rejections) && s.rejections[next].record == n {
					attrs := lrs.At(k).Attributes()
					attrs.PutStr(AttrRejectionReason, s.rejections[next].reason)
					attrs.PutStr(AttrSchemaID, s.rejections[next].schema)
					next++
				}
				n++
			}
		}
	}
}

// fanOut keeps the largest destination's records in ld and moves every other record into a batch for
// its destination; dropped records are removed.
func (r *eventRouter) fanOut(ctx context.Context, ld plog.Logs, s *scratch) error {
	keep := s.largestDest(len(r.consumers))
	type target struct {
		logs         plog.Logs
		rl           plog.ResourceLogs
		sl           plog.ScopeLogs
		rlIdx, slIdx int
	}
	targets := make([]*target, len(r.consumers))
	n := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				d := int(s.dest[n])
				n++
				if d == drop || d == keep {
					continue
				}
				tg := targets[d]
				if tg == nil {
					tg = &target{logs: plog.NewLogs(), rlIdx: -1, slIdx: -1}
					targets[d] = tg
				}
				if tg.rlIdx != i {
					tg.rl = tg.logs.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(tg.rl.Resource())
					tg.rl.SetSchemaUrl(rl.SchemaUrl())
					tg.rlIdx, tg.slIdx = i, -1
				}
				if tg.slIdx != j {
					tg.sl = tg.rl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(tg.sl.Scope())
					tg.sl.SetSchemaUrl(sl.SchemaUrl())
					tg.slIdx = j
				}
				lrs.At(k).MoveTo(tg.sl.LogRecords().AppendEmpty())
			}
		}
	}

	// What remains in ld is the kept destination's records plus the husks of moved and dropped ones.
	n = 0
	rls.RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(plog.LogRecord) bool {
				d := int(s.dest[n])
				n++
				return d != keep
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})

	type call struct {
		next consumer.Logs
		ld   plog.Logs
	}
	calls := make([]call, 0, len(targets)+1)
	for d, tg := range targets {
		if tg != nil {
			calls = append(calls, call{r.consumers[d], tg.logs})
		}
	}
	if keep != drop {
		calls = append(calls, call{r.consumers[keep], ld})
	}
	if len(calls) == 1 {
		return calls[0].next.ConsumeLogs(ctx, calls[0].ld)
	}
	// The routed parts are disjoint, so their pipelines run at once: an exporter shared by several of them
	// (e.g. a durable log) then serves them in one group commit instead of one after another.
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() { errs[i] = c.next.ConsumeLogs(ctx, c.ld) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *eventRouter) recordCounts(ctx context.Context, s *scratch) {
	for i, n := range s.counts {
		if n != 0 {
			r.telemetry.TfocolEventRouterEvents.Add(ctx, n, r.eventsOpts[i/int(numOutcomes)][i%int(numOutcomes)])
		}
	}
}

func (r *eventRouter) putScratch(s *scratch) {
	s.dest = s.dest[:0]
	clear(s.rejections) // drop references to reason strings
	s.rejections = s.rejections[:0]
	clear(s.counts)
	r.scratch.Put(s)
}

// largestDest is the destination with the most records (not drop); drop if there is none.
func (s *scratch) largestDest(nDests int) int {
	counts := make([]int, nDests)
	for _, d := range s.dest {
		if d != drop {
			counts[d]++
		}
	}
	best := drop
	for d, c := range counts {
		if c > 0 && (best == drop || c > counts[best]) {
			best = d
		}
	}
	return best
}

func (s *scratch) uniformDest() (int, bool) {
	d := s.dest[0]
	for _, x := range s.dest[1:] {
		if x != d {
			return 0, false
		}
	}
	return int(d), true
}

// reasonOption returns the metric attributes for a rejection label, folding labels beyond the bound.
func (t *eventType) reasonOption(label string) metric.AddOption {
	t.mu.Lock()
	defer t.mu.Unlock()
	if opt, ok := t.reasons[label]; ok {
		return opt
	}
	if len(t.reasons) >= maxReasonLabels {
		label = "other"
		if opt, ok := t.reasons[label]; ok {
			return opt
		}
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attribute.String("router", t.router),
		attribute.String("event_type", t.name), attribute.String("reason", label)))
	t.reasons[label] = opt
	return opt
}
