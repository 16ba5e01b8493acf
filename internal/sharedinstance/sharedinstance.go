// Package sharedinstance shares one instance of a component between the per-signal instances the collector
// creates for it (a receiver or exporter in a traces, a metrics and a logs pipeline), so that they share one
// cursor, one file or one store. The first Start starts it, the last Shutdown stops it.
package sharedinstance

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Component is what is shared.
type Component interface {
	Start(ctx context.Context, host component.Host) error
	Shutdown(ctx context.Context) error
}

// Map holds the shared instances by key (usually the component's *Config).
type Map[K comparable, V Component] struct {
	mu sync.Mutex
	m  map[K]*entry[V]
}

type entry[V Component] struct {
	v       V
	refs    int
	started bool
}

// Handle is one per-signal user of a shared instance.
type Handle[K comparable, V Component] struct {
	m   *Map[K, V]
	key K
	e   *entry[V]
	// once makes a handle's Shutdown count once even if the collector calls it twice.
	startOnce, stopOnce sync.Once
}

// Get returns a handle on the instance for key, creating it with create on first use.
func (m *Map[K, V]) Get(key K, create func() V) *Handle[K, V] {
	h, _ := m.GetOrCreate(key, func() (V, error) { return create(), nil })
	return h
}

// GetOrCreate is Get for a create that can fail; a failed create leaves nothing behind, so the next call tries again.
func (m *Map[K, V]) GetOrCreate(key K, create func() (V, error)) (*Handle[K, V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[K]*entry[V]{}
	}
	e, ok := m.m[key]
	if !ok {
		v, err := create()
		if err != nil {
			return nil, err
		}
		e = &entry[V]{v: v}
		m.m[key] = e
	}
	e.refs++
	return &Handle[K, V]{m: m, key: key, e: e}, nil
}

// Len is the number of instances held: zero once every handle is shut down.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

// Value is the shared instance.
func (h *Handle[K, V]) Value() V { return h.e.v }

// Start starts the shared instance unless another handle already did.
func (h *Handle[K, V]) Start(ctx context.Context, host component.Host) error {
	var err error
	h.startOnce.Do(func() {
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		if h.e.started {
			return
		}
		if err = h.e.v.Start(ctx, host); err == nil {
			h.e.started = true
		}
	})
	return err
}

// Shutdown releases the handle; the last one shuts the instance down.
func (h *Handle[K, V]) Shutdown(ctx context.Context) error {
	var err error
	h.stopOnce.Do(func() {
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		h.e.refs--
		if h.e.refs > 0 {
			return
		}
		delete(h.m.m, h.key)
		if h.e.started {
			h.e.started = false
			err = h.e.v.Shutdown(ctx)
		}
	})
	return err
}
