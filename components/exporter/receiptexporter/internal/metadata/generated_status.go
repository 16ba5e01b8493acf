// Package metadata holds the receipt exporter's type, scope and stability (mdatagen's shape, written by hand).
package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("receipt")
	ScopeName = "github.com/tfocol/tfocol/components/exporter/receiptexporter"
)

const (
	TracesStability  = component.StabilityLevelAlpha
	MetricsStability = component.StabilityLevelAlpha
	LogsStability    = component.StabilityLevelAlpha
)
