package ingeststatus

import (
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Limits bound what a Tally keeps and say when an agent is silent.
type Limits struct {
	// MaxWorkspaces and MaxAgents bound memory: beyond them the least recently active is dropped (counted).
	MaxWorkspaces int
	MaxAgents     int
	// MaxInstances bounds the server instances followed by their InstanceLifecycle events.
	MaxInstances int
	// SilentAfter is how many heartbeat intervals may pass without one before an agent is reported silent.
	SilentAfter int
}

// maxConsumers bounds the durable log consumers whose failures are counted (a gateway has a handful).
const maxConsumers = 64

// Tally is a gateway's ingest status: what the durable log holds (counted from its entries, in log order, by
// Apply), what components report through the Recorder methods, and the agents' heartbeat state. It is safe for
// concurrent use.
type Tally struct {
	limits Limits
	now    func() time.Time

	mu            sync.Mutex
	workspaces    *simplelru.LRU[string, *workspace]
	agents        *simplelru.LRU[agentKey, *agent]
	instances     *simplelru.LRU[agentKey, *instance]
	consumers     map[string]*consumer
	pending       map[string]int
	next          uint64
	countingSince time.Time
	// graceFrom is when this process started counting: silence is measured from it at the earliest.
	graceFrom     time.Time
	persistedAt   time.Time
	evictedWS     uint64
	evictedAgents uint64
	evictedInst   uint64
	undecodable   uint64
	// changes counts mutations; saved is its value at the last Save (Dirty).
	changes, saved uint64
}

type workspace struct {
	id        string
	hours     hourly
	lastBatch time.Time
}

type consumer struct {
	failures     [Hours]hourFailures
	failingSince *time.Time
}

type hourFailures struct {
	Hour  int64  `json:"hour"`
	Count uint64 `json:"count"`
}

// NewTally returns an empty tally; now is its clock (time.Now outside tests).
func NewTally(limits Limits, now func() time.Time) *Tally {
	t := &Tally{limits: limits, now: now, consumers: map[string]*consumer{}, pending: map[string]int{}}
	t.workspaces, _ = simplelru.NewLRU(max(limits.MaxWorkspaces, 1), func(string, *workspace) { t.evictedWS++ })
	t.agents, _ = simplelru.NewLRU(max(limits.MaxAgents, 1), func(agentKey, *agent) { t.evictedAgents++ })
	t.instances, _ = simplelru.NewLRU(max(limits.MaxInstances, 1), func(agentKey, *instance) { t.evictedInst++ })
	start := now()
	t.countingSince, t.graceFrom = start, start
	return t
}

// Next is the sequence number of the first durable log entry not counted yet.
func (t *Tally) Next() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}

// Rebase makes next the first entry to count: for a log that is not the one the counts came from (its
// sequence numbers end before next).
func (t *Tally) Rebase(next uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next = next
	t.changes++
}

// workspaceLocked returns the workspace, created (and marked most recently active) on use.
func (t *Tally) workspaceLocked(id string) *workspace {
	id = canonicalWorkspace(id)
	if w, ok := t.workspaces.Get(id); ok {
		return w
	}
	w := &workspace{id: id}
	t.workspaces.Add(id, w)
	return w
}

func canonicalWorkspace(id string) string {
	if id == "" {
		return NoWorkspace
	}
	return strings.ToLower(id)
}

// Apply counts the durable log entry seq, which arrived at arrival, once: entries before Next are skipped (they
// are in the counts already). It returns the agents whose state changed (a silent agent back, an agent stopped
// or started again).
func (t *Tally) Apply(seq uint64, arrival time.Time, s *Summary) []Transition {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq < t.next {
		return nil
	}
	t.next = seq + 1
	t.changes++
	now := unixHour(t.now())
	h := unixHour(arrival)
	w := t.workspaceLocked(s.Workspace)
	if arrival.After(w.lastBatch) {
		w.lastBatch = arrival
	}
	if c := w.hours.at(h, now); c != nil {
		c.Batches[s.Signal]++
	}
	for ws, n := range s.Records {
		if c := t.workspaceLocked(ws).hours.at(h, now); c != nil {
			c.Records[s.Signal] += n
		}
	}
	for _, ev := range s.Events {
		c := t.workspaceLocked(ev.Workspace).hours.at(h, now)
		if c == nil {
			continue
		}
		c.addEvent(ev.Type)
		if ev.Reason != "" {
			c.addRejection(ev.Type, ev.Reason)
		}
	}
	var out []Transition
	for _, hb := range s.Heartbeats {
		if c := t.workspaceLocked(hb.Workspace).hours.at(h, now); c != nil {
			c.Heartbeats++
		}
		if tr, ok := t.heartbeatLocked(hb, arrival); ok {
			out = append(out, tr)
		}
	}
	for _, l := range s.Lifecycles {
		t.lifecycleLocked(l, arrival)
	}
	return out
}

func (t *Tally) heartbeatLocked(hb Heartbeat, at time.Time) (Transition, bool) {
	k := agentKey{canonicalWorkspace(hb.Workspace), hb.InstanceID}
	a, ok := t.agents.Get(k)
	if !ok {
		a = &agent{Workspace: k.Workspace, InstanceID: k.InstanceID, FirstSeen: at}
		t.agents.Add(k, a)
	}
	before := a.state()
	a.heartbeat(hb, at)
	if after := a.state(); after != before {
		return Transition{Agent: a.view(), From: before, To: after}, true
	}
	return Transition{}, false
}

// Skip passes over entry seq, which could not be decoded (counted in Accounting.Undecodable).
func (t *Tally) Skip(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq >= t.next {
		t.next = seq + 1
		t.undecodable++
		t.changes++
	}
}

// CheckAgents declares silent the agents whose heartbeats stopped, and returns them.
func (t *Tally) CheckAgents() []Transition {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var out []Transition
	for _, a := range t.agents.Values() {
		if a.checkSilent(now, t.graceFrom, t.limits.SilentAfter) {
			t.changes++
			out = append(out, Transition{Agent: a.view(), From: StateAlive, To: StateSilent})
		}
	}
	return out
}

// AgentStates counts the agents by state.
func (t *Tally) AgentStates() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(States))
	for _, s := range States {
		out[s] = 0
	}
	for _, a := range t.agents.Values() {
		out[a.state()]++
	}
	return out
}

// Duplicate counts a request absorbed by its Idempotency-Key (Recorder).
func (t *Tally) Duplicate(workspace, signal string) {
	t.count(workspace, signal, func(c *counts, sig int) { c.Duplicates[sig]++ })
}

// Sealed counts a batch window sealed into a receipt (Recorder).
func (t *Tally) Sealed(workspace, signal string) {
	t.count(workspace, signal, func(c *counts, sig int) { c.Sealed[sig]++ })
}

func (t *Tally) count(workspace, signal string, fn func(*counts, int)) {
	sig, ok := signalIndex(signal)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := unixHour(t.now())
	if c := t.workspaceLocked(workspace).hours.at(now, now); c != nil {
		fn(c, sig)
		t.changes++
	}
}

// PendingWindows replaces the number of receipt windows open per workspace (Recorder).
func (t *Tally) PendingWindows(byWorkspace map[string]int) {
	pending := make(map[string]int, len(byWorkspace))
	for ws, n := range byWorkspace {
		pending[canonicalWorkspace(ws)] += n
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = pending
}

// DeliveryFailed counts a failed delivery of durable log entries to a consumer's pipelines (Recorder).
func (t *Tally) DeliveryFailed(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.consumerLocked(name)
	if c == nil {
		return
	}
	now := t.now()
	h := unixHour(now)
	f := &c.failures[slot(h)]
	if f.Hour != h {
		*f = hourFailures{Hour: h}
	}
	f.Count++
	t.changes++
	if c.failingSince == nil {
		c.failingSince = &now
	}
}

// DeliveryRecovered ends a consumer's failing run (Recorder).
func (t *Tally) DeliveryRecovered(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.consumers[name]; c != nil {
		c.failingSince = nil
	}
}

func (t *Tally) consumerLocked(name string) *consumer {
	c := t.consumers[name]
	if c == nil && len(t.consumers) < maxConsumers {
		c = &consumer{}
		t.consumers[name] = c
	}
	return c
}

var _ Recorder = (*Tally)(nil)

// Dirty reports whether anything persisted changed since the last Save.
func (t *Tally) Dirty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changes != t.saved
}

// Accounting returns the evicted and undecodable counts.
func (t *Tally) Accounting() Accounting {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Accounting{NextSeq: t.next, EvictedWorkspaces: t.evictedWS, EvictedAgents: t.evictedAgents,
		EvictedInstances: t.evictedInst, Undecodable: t.undecodable}
}
