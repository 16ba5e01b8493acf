package ingeststatus

import (
	"fmt"
	"runtime"
	"testing"
)

// A workspace that sent in one hour keeps one hour of counters, not a day's ring: at 10,000 workspaces the ring
// was ~33 MB of the gateway's heap (make bench-workspaces, issue 11).
func TestWorkspaceMemoryFollowsTheHoursItSent(t *testing.T) {
	c := newClock()
	const n = 10000
	tl := NewTally(Limits{MaxWorkspaces: n, MaxAgents: 10, MaxInstances: 10, SilentAfter: 3}, c.now)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		ws := fmt.Sprintf("ws-%05d", i)
		tl.Apply(uint64(i+1), c.now(), &Summary{Signal: sigLogs, Workspace: ws, Records: map[string]uint64{ws: 10}})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perWorkspace := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	if perWorkspace > 1024 {
		t.Fatalf("%d bytes of heap per workspace with one hour of counts", perWorkspace)
	}
	runtime.KeepAlive(tl)
}

// The sparse hours keep the ring's rules: hours in any order come out oldest first, an hour that left the last
// Hours is dropped, and an hour a day older than the latest counted is refused.
func TestHourlyKeepsTheLastHoursInOrder(t *testing.T) {
	var r hourly
	now := int64(1000)
	for _, h := range []int64{998, 1000, 990, 999} {
		r.at(h, now).Records[sigLogs]++
	}
	var got []int64
	r.each(now, func(c *counts) { got = append(got, c.Hour) })
	if fmt.Sprint(got) != "[990 998 999 1000]" {
		t.Fatalf("hours %v", got)
	}
	if r.at(now-Hours, now) != nil || r.at(now+1, now) != nil {
		t.Fatal("an hour outside the last Hours was given counters")
	}
	if c := r.at(1000, now+15); c == nil || c.Records[sigLogs] != 1 {
		t.Fatal("a counted hour was lost")
	}
	got = nil
	r.each(now+15, func(c *counts) { got = append(got, c.Hour) })
	if fmt.Sprint(got) != "[998 999 1000]" {
		t.Fatalf("after 15 hours: %v (990 left the last %d hours)", got, Hours)
	}
	if r.at(1000-Hours+16, now+15) == nil {
		t.Fatal("an hour within the last Hours was refused")
	}
	if len(r.hs) != 4 {
		t.Fatalf("%d hours kept", len(r.hs))
	}
	// The clock went back a day: an hour a day older than the latest one counted is refused, as the ring did.
	if r.at(1000-Hours, 1000-Hours+1) != nil {
		t.Fatal("an hour a day older than the latest counted was given counters")
	}
}
