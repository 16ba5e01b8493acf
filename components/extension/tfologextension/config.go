package tfologextension

import (
	"errors"
	"fmt"
	"time"

	"github.com/tfocol/tfocol/internal/durablelog"
)

// Config configures the durable log.
type Config struct {
	// Directory holds the segments, cursors, key sidecars and damaged/ (one log per directory; locked).
	Directory string `mapstructure:"directory"`
	// SegmentSize rotates the active segment beyond this many bytes; space is reclaimed a segment at a time.
	SegmentSize int64 `mapstructure:"segment_size"`
	// MaxBytes bounds the log; appends beyond it are refused with a retryable error until consumers catch up.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// KeyRetention is how long the Idempotency-Keys of reclaimed segments still deduplicate.
	KeyRetention time.Duration `mapstructure:"key_retention"`
	// OnCorruption is salvage (report, save the damaged bytes aside, keep every intact entry) or fail (refuse
	// to start; run `tfocol log check` / `tfocol log repair`).
	OnCorruption durablelog.Policy `mapstructure:"on_corruption"`
	// CursorSyncInterval is how often consumer cursors are persisted (a crash re-delivers at most this much).
	CursorSyncInterval time.Duration `mapstructure:"cursor_sync_interval"`

	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		SegmentSize:        64 << 20,
		MaxBytes:           8 << 30,
		KeyRetention:       24 * time.Hour,
		OnCorruption:       durablelog.PolicySalvage,
		CursorSyncInterval: time.Second,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New("directory must be set"))
	}
	if c.SegmentSize < 1<<20 {
		errs = append(errs, errors.New("segment_size must be at least 1MiB"))
	}
	if c.MaxBytes != 0 && c.MaxBytes < 4*c.SegmentSize {
		errs = append(errs, fmt.Errorf("max_bytes must be 0 (unbounded) or at least 4 segments (%d)", 4*c.SegmentSize))
	}
	if c.KeyRetention <= 0 {
		errs = append(errs, errors.New("key_retention must be positive"))
	}
	switch c.OnCorruption {
	case durablelog.PolicySalvage, durablelog.PolicyFail:
	default:
		errs = append(errs, fmt.Errorf("on_corruption must be %q or %q, got %q", durablelog.PolicySalvage, durablelog.PolicyFail, c.OnCorruption))
	}
	if c.CursorSyncInterval <= 0 {
		errs = append(errs, errors.New("cursor_sync_interval must be positive"))
	}
	return errors.Join(errs...)
}
