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
	// MinBatchBytes and MaxBatchWait let a merging consumer wait for more entries: when one read of the log
	// brings fewer than MinBatchBytes, the receiver keeps reading for up to MaxBatchWait before it delivers.
	// The entries are durable already, so waiting costs only latency; it saves an export call (gzip stream,
	// gRPC round trip) per entry when requests arrive one at a time. 0 = deliver what one read brings. The wait
	// is for at most max_batch_bytes, and there is none when max_batch_bytes is 0 (entries are delivered alone).
	MinBatchBytes int           `mapstructure:"min_batch_bytes"`
	MaxBatchWait  time.Duration `mapstructure:"max_batch_wait"`
	// RetryInitial and RetryMax bound the backoff between attempts of a failing consumer; it is retried forever.
	RetryInitial time.Duration `mapstructure:"retry_initial_interval"`
	RetryMax     time.Duration `mapstructure:"retry_max_interval"`
	// StallAfter is how long the consumer may keep failing before health reports it.
	StallAfter time.Duration `mapstructure:"stall_after"`
	// Park bounds the retries: an entry past the bound is parked (kept on disk, counted, replayable with
	// `tfocol log parked replay`) and the cursor moves on. Off by default: retried forever.
	Park ParkConfig `mapstructure:"park"`

	_ struct{}
}

// ParkConfig says when a failing entry is parked instead of retried. Any bound set enables parking.
type ParkConfig struct {
	// Permanent parks an entry at once when its pipeline refuses it with a permanent error (an HTTP 400 or
	// gRPC InvalidArgument from an OTLP exporter: retrying cannot change the answer).
	Permanent bool `mapstructure:"permanent"`
	// AfterAttempts parks an entry after this many failed attempts; 0 = no attempt bound.
	AfterAttempts int `mapstructure:"after_attempts"`
	// After parks an entry that has kept failing this long (since its first failure); 0 = no time bound.
	After time.Duration `mapstructure:"after"`
	// MaxBytes bounds the parked store; an entry that does not fit is retried instead (never dropped); 0 =
	// unbounded.
	MaxBytes int64 `mapstructure:"max_bytes"`
}

// Enabled reports whether any bound is set.
func (p ParkConfig) Enabled() bool { return p.Permanent || p.AfterAttempts > 0 || p.After > 0 }

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
	if c.MinBatchBytes < 0 || c.MaxBatchWait < 0 {
		errs = append(errs, errors.New("min_batch_bytes and max_batch_wait must not be negative"))
	}
	if (c.MinBatchBytes > 0) != (c.MaxBatchWait > 0) {
		errs = append(errs, errors.New("min_batch_bytes and max_batch_wait are set together"))
	}
	if c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		errs = append(errs, errors.New("retry_initial_interval must be positive and at most retry_max_interval"))
	}
	if c.StallAfter <= 0 {
		errs = append(errs, errors.New("stall_after must be positive"))
	}
	if c.Park.AfterAttempts < 0 || c.Park.After < 0 || c.Park.MaxBytes < 0 {
		errs = append(errs, errors.New("park.after_attempts, park.after and park.max_bytes must not be negative"))
	}
	return errors.Join(errs...)
}
