// Package metadata holds the workspace processor's type, stability and telemetry,
// written in the shape mdatagen generates.
package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("workspace")
	ScopeName = "github.com/tfocol/tfocol/components/processor/workspaceprocessor"
)

const (
	TracesStability  = component.StabilityLevelAlpha
	MetricsStability = component.StabilityLevelAlpha
	LogsStability    = component.StabilityLevelAlpha
)
