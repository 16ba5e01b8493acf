// Package tfologextension implements the tfo_log extension: the gateway's one durable log. The tfo_log exporter
// appends each acknowledged request to it once (group commit, fsync); tfo_log receivers read it with cursors of
// their own and feed the consumer pipelines (receipts, upstream, span metrics). See docs/design/durable-log.md.
package tfologextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/tfocol/tfocol/components/extension/tfologextension/internal/metadata"
)

// NewFactory returns the tfo_log extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, func() component.Config { return createDefaultConfig() },
		createExtension, metadata.ExtensionStability)
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newLogExtension(cfg.(*Config), set), nil
}
