package ingeststatus

import (
	"cmp"
	"slices"
	"time"
)

// Hours is how far back the status counts: the current hour and the 23 before it.
const Hours = 24

// Signal indexes of the per-signal counters.
const (
	sigTraces = iota
	sigMetrics
	sigLogs
	numSignals
)

var signalNames = [numSignals]string{"traces", "metrics", "logs"}

func signalIndex(name string) (int, bool) {
	for i, n := range signalNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// Bounds on the labels one hour of one workspace keeps: event types are chosen by clients, and rejection
// reasons are validator messages. Beyond the bound they are counted under OtherLabel.
const (
	maxTypesPerHour   = 32
	maxReasonsPerType = 16
	// OtherLabel counts event types or rejection reasons beyond the bound.
	OtherLabel = "(other)"
)

// counts is one hour of one workspace. Its fields are persisted as they are (snapshot.go).
type counts struct {
	Hour       int64                        `json:"hour"` // Unix seconds / 3600
	Batches    [numSignals]uint64           `json:"batches"`
	Records    [numSignals]uint64           `json:"records"`
	Duplicates [numSignals]uint64           `json:"duplicates"`
	Sealed     [numSignals]uint64           `json:"sealed"`
	Heartbeats uint64                       `json:"heartbeats,omitempty"`
	Events     map[string]uint64            `json:"events,omitempty"`     // by event type
	Rejections map[string]map[string]uint64 `json:"rejections,omitempty"` // by event type, then reason
}

func (c *counts) addEvent(typ string) {
	if c.Events == nil {
		c.Events = map[string]uint64{}
	}
	c.Events[boundedKey(c.Events, typ, maxTypesPerHour)]++
}

func (c *counts) addRejection(typ, reason string) {
	if c.Rejections == nil {
		c.Rejections = map[string]map[string]uint64{}
	}
	typ = boundedKey(c.Rejections, typ, maxTypesPerHour)
	byReason := c.Rejections[typ]
	if byReason == nil {
		byReason = map[string]uint64{}
		c.Rejections[typ] = byReason
	}
	byReason[boundedKey(byReason, reason, maxReasonsPerType)]++
}

// boundedKey is k, or OtherLabel when m is full and does not hold k yet.
func boundedKey[V any](m map[string]V, k string, bound int) string {
	if _, ok := m[k]; ok || len(m) < bound {
		return k
	}
	return OtherLabel
}

// hourly holds the counters of the last Hours hours that had any, oldest first. Sparse: most workspaces send
// in a few hours of a day, and a full ring was 3 KB per workspace (30 MB at 10,000 workspaces).
type hourly struct{ hs []*counts }

func unixHour(t time.Time) int64 { return floorDiv(t.Unix(), 3600) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// slot is the ring index of Unix hour h (the per-consumer failure rings).
func slot(h int64) int { return int(((h % Hours) + Hours) % Hours) }

// at returns the counters of hour h, or nil when h is not in the last Hours hours of now, or of the latest hour
// already counted (the clock went back).
func (r *hourly) at(h, now int64) *counts {
	if h <= now-Hours || h > now {
		return nil
	}
	// Drop the hours that left the window; the rest stay sorted.
	r.hs = slices.DeleteFunc(r.hs, func(c *counts) bool { return c.Hour <= now-Hours })
	if n := len(r.hs); n > 0 && r.hs[n-1].Hour >= h+Hours {
		return nil
	}
	i, found := slices.BinarySearchFunc(r.hs, h, func(c *counts, h int64) int { return cmp.Compare(c.Hour, h) })
	if !found {
		r.hs = slices.Insert(r.hs, i, &counts{Hour: h})
	}
	return r.hs[i]
}

// each calls fn for every hour within the last Hours hours of now, oldest first.
func (r *hourly) each(now int64, fn func(*counts)) {
	for _, c := range r.hs {
		if c.Hour > now-Hours && c.Hour <= now {
			fn(c)
		}
	}
}
