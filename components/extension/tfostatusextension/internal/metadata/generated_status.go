// Package metadata holds the tfo_status extension's type, scope and stability (mdatagen's shape, written by hand).
package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("tfo_status")
	ScopeName = "github.com/tfocol/tfocol/components/extension/tfostatusextension"
)

const ExtensionStability = component.StabilityLevelAlpha
