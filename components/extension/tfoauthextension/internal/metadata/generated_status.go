// Code written in mdatagen's shape (mdatagen is not available in this build).

package metadata

import "go.opentelemetry.io/collector/component"

var (
	Type      = component.MustNewType("tfo_auth")
	ScopeName = "github.com/tfocol/tfocol/components/extension/tfoauthextension"
)

const ExtensionStability = component.StabilityLevelAlpha
