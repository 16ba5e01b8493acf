// Package loghost finds the durable log a tfo_log exporter or receiver names among the collector's extensions.
package loghost

import (
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/tfocol/tfocol/internal/durablelog"
)

// Provider is implemented by the tfo_log extension.
type Provider interface {
	DurableLog() *durablelog.Log
	// ReportAppendError and ReportAppendOK let the exporter tell the extension (and health) that appends are
	// refused or accepted again.
	ReportAppendError(err error)
	ReportAppendOK()
}

// Find returns the extension id from host, which must be a started tfo_log extension.
func Find(host component.Host, id component.ID) (Provider, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("extension %q not found: add it to service.extensions", id)
	}
	p, ok := ext.(Provider)
	if !ok {
		return nil, fmt.Errorf("extension %q is not a tfo_log extension", id)
	}
	if p.DurableLog() == nil {
		return nil, fmt.Errorf("extension %q has not opened its log", id)
	}
	return p, nil
}

// Entry types: the signal of the OTLP export request an entry holds.
const (
	SignalLogs    uint8 = 1
	SignalMetrics uint8 = 2
	SignalTraces  uint8 = 3
)

// SignalName names an entry type in metrics and logs.
func SignalName(t uint8) string {
	switch t {
	case SignalLogs:
		return "logs"
	case SignalMetrics:
		return "metrics"
	case SignalTraces:
		return "traces"
	}
	return "unknown"
}
