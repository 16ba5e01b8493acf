package ingeststatus

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tfocol/tfocol/internal/atomicfile"
)

// The snapshot is the tally on disk: written atomically (temporary file, fsync, rename) every flush interval and
// at shutdown, together with Next, the first durable log entry it does not count. The counts of entries from
// Next on are recounted from the log at the next start, so a crash loses none of them; what components
// reported through the Recorder (duplicates, seals, delivery failures) since the last write is lost.

const snapshotVersion = 1

type snapshot struct {
	Version       int                       `json:"version"`
	Next          uint64                    `json:"next_seq"`
	SavedAt       time.Time                 `json:"saved_at"`
	CountingSince time.Time                 `json:"counting_since"`
	Workspaces    []snapshotWorkspace       `json:"workspaces"`          // least recently active first
	Agents        []*agent                  `json:"agents"`              // least recently heard first
	Instances     []*instance               `json:"instances,omitempty"` // least recently seen first
	Consumers     map[string][]hourFailures `json:"consumers,omitempty"`
	EvictedWS     uint64                    `json:"evicted_workspaces"`
	EvictedAgents uint64                    `json:"evicted_agents"`
	EvictedInst   uint64                    `json:"evicted_instances,omitempty"`
	Undecodable   uint64                    `json:"undecodable"`
}

type snapshotWorkspace struct {
	ID        string    `json:"id"`
	LastBatch time.Time `json:"last_batch,omitzero"`
	Hours     []counts  `json:"hours"`
}

// Save writes the tally to path and returns the Next it covers: the caller may let the log reclaim everything
// before it.
func (t *Tally) Save(path string) (uint64, error) {
	t.mu.Lock()
	now := t.now()
	nowH := unixHour(now)
	s := snapshot{Version: snapshotVersion, Next: t.next, SavedAt: now.UTC(), CountingSince: t.countingSince.UTC(),
		EvictedWS: t.evictedWS, EvictedAgents: t.evictedAgents, EvictedInst: t.evictedInst, Undecodable: t.undecodable}
	for _, w := range t.workspaces.Values() {
		sw := snapshotWorkspace{ID: w.id, LastBatch: w.lastBatch, Hours: []counts{}}
		w.hours.each(nowH, func(c *counts) { sw.Hours = append(sw.Hours, *c) })
		s.Workspaces = append(s.Workspaces, sw)
	}
	for _, a := range t.agents.Values() {
		cp := *a
		s.Agents = append(s.Agents, &cp)
	}
	for _, i := range t.instances.Values() {
		cp := *i
		s.Instances = append(s.Instances, &cp)
	}
	for name, c := range t.consumers {
		var hs []hourFailures
		for _, f := range c.failures {
			if f.Count > 0 && f.Hour > nowH-Hours {
				hs = append(hs, f)
			}
		}
		if len(hs) > 0 {
			if s.Consumers == nil {
				s.Consumers = map[string][]hourFailures{}
			}
			s.Consumers[name] = hs
		}
	}
	changes := t.changes
	data, err := json.Marshal(&s)
	t.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return 0, err
	}
	t.mu.Lock()
	t.persistedAt, t.saved = now, changes
	t.mu.Unlock()
	return s.Next, nil
}

// ErrNoSnapshot is returned by Load when path does not exist.
var ErrNoSnapshot = errors.New("ingeststatus: no snapshot")

// Load returns the tally saved at path. Silence of the agents alive in it is measured from now at the earliest.
func Load(path string, limits Limits, now func() time.Time) (*Tally, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoSnapshot
	}
	if err != nil {
		return nil, err
	}
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("ingeststatus: snapshot %s: %w", path, err)
	}
	if s.Version != snapshotVersion {
		return nil, fmt.Errorf("ingeststatus: snapshot %s has version %d, want %d", path, s.Version, snapshotVersion)
	}
	t := NewTally(limits, now)
	t.next, t.countingSince, t.persistedAt = s.Next, s.CountingSince, s.SavedAt
	// The counters continue from the saved ones (a lower max_workspaces / max_agents evicts, counted, below).
	t.evictedWS, t.evictedAgents, t.evictedInst, t.undecodable = s.EvictedWS, s.EvictedAgents, s.EvictedInst, s.Undecodable
	nowH := unixHour(now())
	for _, sw := range s.Workspaces {
		w := &workspace{id: canonicalWorkspace(sw.ID), lastBatch: sw.LastBatch}
		for _, c := range sw.Hours {
			if dst := w.hours.at(c.Hour, nowH); dst != nil {
				*dst = c
			}
		}
		t.workspaces.Add(w.id, w)
	}
	for _, a := range s.Agents {
		if a == nil || a.InstanceID == "" {
			continue
		}
		t.agents.Add(agentKey{a.Workspace, a.InstanceID}, a)
	}
	for _, i := range s.Instances {
		if i == nil || i.InstanceID == "" {
			continue
		}
		t.instances.Add(agentKey{i.Workspace, i.InstanceID}, i)
	}
	for name, hs := range s.Consumers {
		c := t.consumerLocked(name)
		if c == nil {
			break
		}
		for _, f := range hs {
			if f.Hour > nowH-Hours && f.Hour <= nowH {
				c.failures[slot(f.Hour)] = f
			}
		}
	}
	return t, nil
}
