// Package metadata holds the edge receiver's type, scope, stability and own metrics (mdatagen's shape, written
// by hand: mdatagen is not available in this build).
package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("edge")
	ScopeName = "github.com/tfocol/tfocol/components/receiver/edgereceiver"
)

const (
	LogsStability = component.StabilityLevelAlpha
)
