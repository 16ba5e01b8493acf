// Package metadata holds the heartbeat receiver's type, scope and stability (mdatagen's shape, written by hand).
package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("heartbeat")
	ScopeName = "github.com/tfocol/tfocol/components/receiver/heartbeatreceiver"
)

const (
	LogsStability = component.StabilityLevelAlpha
)
