// Package tfostatusextension implements the tfo_status extension: the gateway's ingest status (per workspace, the
// last 24 h of accepted batches and records, contract rejections, duplicates, receipts, agents' heartbeats,
// upstream lag) counted from the durable log and persisted across restarts, and the engine status document. Both
// are served over HTTP: GET /v1/ingest-status and GET /.well-known/engine-status (docs/operations.md).
package tfostatusextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/tfocol/tfocol/components/extension/tfostatusextension/internal/metadata"
)

// NewFactory returns the tfo_status extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, func() component.Config { return createDefaultConfig() },
		createExtension, metadata.ExtensionStability)
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newStatusExtension(cfg.(*Config), set), nil
}
