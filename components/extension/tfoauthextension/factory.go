// Package tfoauthextension implements the tfo_auth extension: TelemetryFlow API-key and enrollment-token
// authentication for OTLP receivers (server side) and the matching headers for OTLP exporters (client side).
package tfoauthextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"

	"github.com/tfocol/tfocol/components/extension/tfoauthextension/internal/metadata"
)

// NewFactory returns the tfo_auth extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func defaultJWTConfig() JWTConfig {
	return JWTConfig{
		WorkspaceClaim: "workspace_id",
		ScopeClaim:     "scope",
		RoleClaim:      "role",
		ClockSkew:      30 * time.Second,
		CacheSize:      10_000,
	}
}

func createDefaultConfig() component.Config {
	return &Config{
		JWT: configoptional.Default(defaultJWTConfig()),
		Throttle: ThrottleConfig{
			MaxFailures: 20,
			Window:      time.Minute,
			MaxTracked:  100_000,
		},
		ReloadInterval:     10 * time.Second,
		IdempotencyKey:     true,
		RetryOnAuthFailure: true,
	}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newAuthExtension(cfg.(*Config), set.TelemetrySettings)
}
