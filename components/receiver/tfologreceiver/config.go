package tfologreceiver

import (
	"errors"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config configures one consumer of the durable log.
type Config struct {
	// Log is the tfo_log extension whose log is read.
	Log component.ID `mapstructure:"log"`
	// Consumer names the cursor (default: the receiver's id, e.g. "tfo_log/forward"). Two receivers with one
	// consumer name would share a cursor: don't.
	Consumer string `mapstructure:"consumer"`
	// MaxBatchBytes merges consecutive entries of one signal into one request of up to this many bytes
	// (concatenated OTLP export requests are one export request). 0 delivers each entry alone, which consumers
	// that keep per-entry state (the receipt exporter) require.
	MaxBatchBytes int `mapstructure:"max_batch_bytes"`
	// RetryInitial and RetryMax bound the backoff between attempts of a failing consumer; it is retried forever.
	RetryInitial time.Duration `mapstructure:"retry_initial_interval"`
	RetryMax     time.Duration `mapstructure:"retry_max_interval"`
	// StallAfter is how long the consumer may keep failing before health reports it.
	StallAfter time.Duration `mapstructure:"stall_after"`

	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		Log:          component.MustNewID("tfo_log"),
		RetryInitial: 100 * time.Millisecond,
		RetryMax:     10 * time.Second,
		StallAfter:   30 * time.Second,
	}
}

var consumerName = regexp.MustCompile(`^[a-z0-9_./-]{1,100}$`)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Consumer != "" && !consumerName.MatchString(c.Consumer) {
		errs = append(errs, errors.New("consumer must be 1-100 of [a-z0-9_./-]"))
	}
	if c.MaxBatchBytes < 0 {
		errs = append(errs, errors.New("max_batch_bytes must not be negative"))
	}
	if c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		errs = append(errs, errors.New("retry_initial_interval must be positive and at most retry_max_interval"))
	}
	if c.StallAfter <= 0 {
		errs = append(errs, errors.New("stall_after must be positive"))
	}
	return errors.Join(errs...)
}
