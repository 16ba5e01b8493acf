// Package metadata holds the tfo_log extension's type, scope and stability (mdatagen's shape, written by hand).
package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("tfo_log")
	ScopeName = "github.com/tfocol/tfocol/components/extension/tfologextension"
)

const ExtensionStability = component.StabilityLevelAlpha
