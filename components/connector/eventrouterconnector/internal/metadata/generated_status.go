// Package metadata holds the component's identity and self-telemetry (hand-written in mdatagen's shape).
package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("event_router")
	ScopeName = "github.com/tfocol/tfocol/components/connector/eventrouterconnector"
)

const LogsToLogsStability = component.StabilityLevelAlpha
