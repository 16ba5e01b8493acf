package sharedinstance

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type counter struct{ starts, stops int }

func (c *counter) Start(context.Context, component.Host) error { c.starts++; return nil }
func (c *counter) Shutdown(context.Context) error              { c.stops++; return nil }

// The traces, metrics and logs instances of one receiver share one cursor: it starts once and stops with the last.
func TestStartsOnceStopsWithLast(t *testing.T) {
	var m Map[string, *counter]
	c := &counter{}
	hs := []*Handle[string, *counter]{m.Get("a", func() *counter { return c }), m.Get("a", nil), m.Get("a", nil)}
	host := componenttest.NewNopHost()
	for _, h := range hs {
		if err := h.Start(context.Background(), host); err != nil {
			t.Fatal(err)
		}
		if h.Value() != c {
			t.Fatal("handles of one key must share the instance")
		}
	}
	if c.starts != 1 {
		t.Fatalf("started %d times, want 1", c.starts)
	}
	for i, h := range hs {
		_ = h.Shutdown(context.Background())
		_ = h.Shutdown(context.Background()) // a second call must not count
		if want := 0; i < 2 && c.stops != want {
			t.Fatalf("stopped before the last handle (after %d)", i+1)
		}
	}
	if c.stops != 1 {
		t.Fatalf("stopped %d times, want 1", c.stops)
	}
	// A new Get after the last Shutdown creates a new instance.
	c2 := &counter{}
	if h := m.Get("a", func() *counter { return c2 }); h.Value() != c2 {
		t.Fatal("a released key must create a new instance")
	}
}

// A create that fails (the workspace processor's telemetry) holds no entry, and the next pipeline creates afresh.
func TestFailedCreateLeavesNothing(t *testing.T) {
	var m Map[string, *counter]
	boom := errors.New("boom")
	if _, err := m.GetOrCreate("a", func() (*counter, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if m.Len() != 0 {
		t.Fatalf("a failed create left %d entries", m.Len())
	}
	c := &counter{}
	h, err := m.GetOrCreate("a", func() (*counter, error) { return c, nil })
	if err != nil || h.Value() != c {
		t.Fatalf("second create: %v", err)
	}
	_ = h.Shutdown(context.Background())
	if m.Len() != 0 {
		t.Fatal("the last Shutdown must drop the entry")
	}
}
