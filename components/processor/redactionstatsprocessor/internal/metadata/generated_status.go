// Package metadata holds the redaction_stats processor's type, scope and stability (mdatagen's shape, written
// by hand).
package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("redaction_stats")
	ScopeName = "github.com/tfocol/tfocol/components/processor/redactionstatsprocessor"
)

const (
	TracesStability  = component.StabilityLevelAlpha
	MetricsStability = component.StabilityLevelAlpha
	LogsStability    = component.StabilityLevelAlpha
)
