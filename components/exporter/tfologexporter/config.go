package tfologexporter

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config configures the tfo_log exporter.
type Config struct {
	// Log is the tfo_log extension whose log the requests are appended to.
	Log component.ID `mapstructure:"log"`
	// RetryAfter is the delay suggested to clients (gRPC RetryInfo, HTTP Retry-After) when an append is refused.
	RetryAfter time.Duration `mapstructure:"retry_after"`

	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{Log: component.MustNewID("tfo_log"), RetryAfter: time.Second}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.RetryAfter <= 0 {
		return errors.New("retry_after must be positive")
	}
	return nil
}
