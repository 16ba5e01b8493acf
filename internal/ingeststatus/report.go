package ingeststatus

import (
	"slices"
	"strings"
	"time"
)

// Scope is what a caller may see: every workspace, or the listed ones (lower case).
type Scope struct {
	All        bool
	Workspaces []string
}

// AllWorkspaces is the admin scope.
var AllWorkspaces = Scope{All: true}

// OneWorkspace is the scope of a caller that may see ws only.
func OneWorkspace(ws string) Scope { return Scope{Workspaces: []string{canonicalWorkspace(ws)}} }

func (s Scope) allows(ws string) bool { return s.All || slices.Contains(s.Workspaces, ws) }

// Live is the state the report reads at the moment it is made: the durable log's consumers and fill.
type Live struct {
	Consumers []LiveConsumer
	Log       *LogState
	// Upstream names the consumers that forward to the upstream.
	Upstream []string
}

// LiveConsumer is one durable log cursor's lag.
type LiveConsumer struct {
	Name       string
	LagEntries uint64
	LagBytes   int64
}

// Report is the status of scope now.
func (t *Tally) Report(scope Scope, live Live) *Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	nowH := unixHour(now)
	r := &Report{
		GeneratedAt: now.UTC(), From: time.Unix((nowH-Hours+1)*3600, 0).UTC(), Hours: Hours,
		CountingSince: t.countingSince.UTC(), Scope: ScopeWorkspace,
		Workspaces: []WorkspaceStatus{}, Agents: []Agent{}, AgentsByState: map[string]int{}, Instances: []Instance{},
		Accounting: Accounting{NextSeq: t.next, EvictedWorkspaces: t.evictedWS, EvictedAgents: t.evictedAgents,
			EvictedInstances: t.evictedInst, Undecodable: t.undecodable},
	}
	if scope.All {
		r.Scope = ScopeAll
	}
	if !t.persistedAt.IsZero() {
		p := t.persistedAt.UTC()
		r.Accounting.PersistedAt = &p
	}
	seen := map[string]bool{}
	for _, w := range t.workspaces.Values() {
		if !scope.allows(w.id) {
			continue
		}
		ws := w.status(nowH, t.pending[w.id])
		if ws.Batches == 0 && ws.Duplicates == 0 && ws.ReceiptsSealed == 0 && ws.WindowsPending == 0 && !scope.named(w.id) {
			continue // nothing in the last Hours hours
		}
		seen[w.id] = true
		r.Workspaces = append(r.Workspaces, ws)
	}
	for ws, n := range t.pending {
		if !seen[ws] && n > 0 && scope.allows(ws) {
			seen[ws] = true
			r.Workspaces = append(r.Workspaces, (&workspace{id: ws}).status(nowH, n))
		}
	}
	for _, ws := range scope.Workspaces {
		if !seen[ws] {
			r.Workspaces = append(r.Workspaces, (&workspace{id: ws}).status(nowH, 0))
		}
	}
	slices.SortFunc(r.Workspaces, func(a, b WorkspaceStatus) int { return strings.Compare(a.Workspace, b.Workspace) })
	for _, ws := range r.Workspaces {
		r.Totals.add(ws.Totals)
	}
	for _, s := range States {
		r.AgentsByState[s] = 0
	}
	for _, a := range t.agents.Values() {
		if scope.allows(a.Workspace) {
			r.Agents = append(r.Agents, a.view())
			r.AgentsByState[a.state()]++
		}
	}
	slices.SortFunc(r.Agents, func(a, b Agent) int {
		return strings.Compare(a.Workspace+"\x00"+a.HostName+"\x00"+a.InstanceID, b.Workspace+"\x00"+b.HostName+"\x00"+b.InstanceID)
	})
	for _, i := range t.instances.Values() {
		if scope.allows(i.Workspace) {
			r.Instances = append(r.Instances, i.view())
		}
	}
	slices.SortFunc(r.Instances, func(a, b Instance) int {
		return strings.Compare(a.Workspace+"\x00"+a.InstanceID, b.Workspace+"\x00"+b.InstanceID)
	})
	r.Upstream = t.upstreamLocked(nowH, live)
	return r
}

// named reports whether the scope lists ws explicitly (it is shown even when empty).
func (s Scope) named(ws string) bool { return !s.All && slices.Contains(s.Workspaces, ws) }

func (x *Totals) add(y Totals) {
	x.Batches += y.Batches
	x.Records += y.Records
	x.Events += y.Events
	x.Rejections += y.Rejections
	x.Duplicates += y.Duplicates
	x.Heartbeats += y.Heartbeats
	x.ReceiptsSealed += y.ReceiptsSealed
	x.WindowsPending += y.WindowsPending
}

// totals are the hour's counts as Totals (WindowsPending is not counted by hour).
func (h Hour) totals() Totals {
	return Totals{Batches: h.Batches, Records: h.Records, Events: h.Events, Rejections: h.Rejections,
		Duplicates: h.Duplicates, Heartbeats: h.Heartbeats, ReceiptsSealed: h.ReceiptsSealed}
}

func (w *workspace) status(nowH int64, pending int) WorkspaceStatus {
	ws := WorkspaceStatus{Workspace: w.id, BatchesBySignal: map[string]uint64{}, RecordsBySignal: map[string]uint64{},
		DuplicatesBySignal: map[string]uint64{}, SealedBySignal: map[string]uint64{}, EventsByType: map[string]uint64{},
		RejectionsByType: map[string]Rejections{}, Hourly: []Hour{}}
	ws.WindowsPending = pending
	if !w.lastBatch.IsZero() {
		t := w.lastBatch.UTC()
		ws.LastBatchAt = &t
	}
	for _, s := range signalNames {
		ws.BatchesBySignal[s], ws.RecordsBySignal[s], ws.DuplicatesBySignal[s], ws.SealedBySignal[s] = 0, 0, 0, 0
	}
	w.hours.each(nowH, func(c *counts) {
		hr := Hour{Start: time.Unix(c.Hour*3600, 0).UTC(), Heartbeats: c.Heartbeats}
		for i, s := range signalNames {
			ws.BatchesBySignal[s] += c.Batches[i]
			ws.RecordsBySignal[s] += c.Records[i]
			ws.DuplicatesBySignal[s] += c.Duplicates[i]
			ws.SealedBySignal[s] += c.Sealed[i]
			hr.Batches += c.Batches[i]
			hr.Records += c.Records[i]
			hr.Duplicates += c.Duplicates[i]
			hr.ReceiptsSealed += c.Sealed[i]
		}
		for typ, n := range c.Events {
			ws.EventsByType[typ] += n
			hr.Events += n
		}
		for typ, reasons := range c.Rejections {
			rj := ws.RejectionsByType[typ]
			if rj.Reasons == nil {
				rj.Reasons = map[string]uint64{}
			}
			for reason, n := range reasons {
				rj.Reasons[reason] += n
				rj.Total += n
				hr.Rejections += n
			}
			ws.RejectionsByType[typ] = rj
		}
		if hr != (Hour{Start: hr.Start}) {
			ws.Hourly = append(ws.Hourly, hr)
		}
		ws.add(hr.totals())
	})
	return ws
}

func (t *Tally) upstreamLocked(nowH int64, live Live) Upstream {
	up := Upstream{Consumers: []Consumer{}, Log: live.Log}
	names := map[string]bool{}
	for _, lc := range live.Consumers {
		names[lc.Name] = true
	}
	for name := range t.consumers {
		names[name] = true
	}
	lags := map[string]LiveConsumer{}
	for _, lc := range live.Consumers {
		lags[lc.Name] = lc
	}
	for name := range names {
		c := Consumer{Name: name, Upstream: slices.Contains(live.Upstream, name), LagEntries: lags[name].LagEntries,
			LagBytes: lags[name].LagBytes}
		if tc := t.consumers[name]; tc != nil {
			for _, f := range tc.failures {
				if f.Hour > nowH-Hours && f.Hour <= nowH {
					c.Failures += f.Count
				}
			}
			c.FailingSince = utcPtr(tc.failingSince)
		}
		if c.Upstream {
			up.PendingEntries += c.LagEntries
			up.PendingBytes += c.LagBytes
			up.Failures += c.Failures
		}
		up.Consumers = append(up.Consumers, c)
	}
	slices.SortFunc(up.Consumers, func(a, b Consumer) int { return strings.Compare(a.Name, b.Name) })
	return up
}
