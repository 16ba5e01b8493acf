package ingeststatus

import (
	"slices"

	"go.opentelemetry.io/collector/component"
)

// Recorder is what components report to the ingest status; the tfo_status extension implements it. Each call
// is cheap and never blocks on I/O. Components find it with FindRecorder at Start.
type Recorder interface {
	// Duplicate counts a request absorbed by its Idempotency-Key (workspace processor, tfo_log exporter).
	Duplicate(workspace, signal string)
	// Sealed counts a batch window sealed into a receipt (receipt exporter).
	Sealed(workspace, signal string)
	// PendingWindows replaces the number of open receipt windows per workspace (receipt exporter).
	PendingWindows(byWorkspace map[string]int)
	// DeliveryFailed and DeliveryRecovered report a durable log consumer's failed deliveries (tfo_log receiver).
	DeliveryFailed(consumer string)
	DeliveryRecovered(consumer string)
}

// RecorderProvider is implemented by the extension that owns the status.
type RecorderProvider interface {
	IngestStatusRecorder() Recorder
}

// FindRecorder returns the recorder of the status extension among host's extensions (the first by id if there
// are several), or a recorder that does nothing when none is configured.
func FindRecorder(host component.Host) Recorder {
	if host == nil {
		return Nop{}
	}
	exts := host.GetExtensions()
	ids := make([]component.ID, 0, len(exts))
	for id, ext := range exts {
		if _, ok := ext.(RecorderProvider); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return Nop{}
	}
	slices.SortFunc(ids, func(a, b component.ID) int {
		if a.String() < b.String() {
			return -1
		}
		return 1
	})
	return exts[ids[0]].(RecorderProvider).IngestStatusRecorder()
}

// Nop records nothing.
type Nop struct{}

func (Nop) Duplicate(string, string)      {}
func (Nop) Sealed(string, string)         {}
func (Nop) PendingWindows(map[string]int) {}
func (Nop) DeliveryFailed(string)         {}
func (Nop) DeliveryRecovered(string)      {}
