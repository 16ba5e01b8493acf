package tfostatusextension

import (
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/tfocol/tfocol/internal/ingeststatus"
)

// engineState follows component status the way health_check does (componentstatus.Watcher, PipelineWatcher):
// the engine is degraded while any component's last event is an error — a stalled durable log consumer, a log
// that refuses appends (full, disk full) — and ready again when it reports OK.
type engineState struct {
	mu       sync.Mutex
	ready    bool
	stopping bool
	comps    map[string]*componentState
}

type componentState struct {
	id, kind  string
	pipelines map[string]bool
	status    componentstatus.Status
	err       string
	since     time.Time
}

func newEngineState() *engineState { return &engineState{comps: map[string]*componentState{}} }

// record notes one status event. A component reported in several pipelines (a receiver shared by them) is one
// entry; its pipelines are merged.
func (s *engineState) record(src *componentstatus.InstanceID, ev *componentstatus.Event) {
	key := src.Kind().String() + "/" + src.ComponentID().String()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.comps[key]
	if c == nil {
		c = &componentState{id: src.ComponentID().String(), kind: strings.ToLower(src.Kind().String()), pipelines: map[string]bool{}}
		s.comps[key] = c
	}
	src.AllPipelineIDs(func(p pipeline.ID) bool {
		c.pipelines[p.String()] = true
		return true
	})
	if ev.Status() != c.status {
		c.since = ev.Timestamp()
	}
	c.status = ev.Status()
	c.err = ""
	if ev.Err() != nil {
		c.err = ev.Err().Error()
	}
}

func (s *engineState) setReady(ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ready {
		s.ready = true
	} else if s.ready {
		s.stopping = true
	}
}

// status is the engine's state and the components in error.
func (s *engineState) status() (string, []ingeststatus.Reason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reasons := []ingeststatus.Reason{}
	for _, c := range s.comps {
		if !componentstatus.StatusIsError(c.status) {
			continue
		}
		r := ingeststatus.Reason{Component: c.id, Kind: c.kind, Status: statusName(c.status), Error: c.err, Since: c.since.UTC()}
		for p := range c.pipelines {
			r.Pipelines = append(r.Pipelines, p)
		}
		slices.Sort(r.Pipelines)
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b ingeststatus.Reason) int {
		return strings.Compare(a.Kind+"/"+a.Component, b.Kind+"/"+b.Component)
	})
	switch {
	case s.stopping:
		return ingeststatus.EngineStopping, reasons
	case len(reasons) > 0:
		return ingeststatus.EngineDegraded, reasons
	case !s.ready:
		return ingeststatus.EngineStarting, reasons
	}
	return ingeststatus.EngineReady, reasons
}

func statusName(st componentstatus.Status) string {
	switch st {
	case componentstatus.StatusRecoverableError:
		return "recoverable_error"
	case componentstatus.StatusPermanentError:
		return "permanent_error"
	case componentstatus.StatusFatalError:
		return "fatal_error"
	}
	return strings.ToLower(st.String())
}
