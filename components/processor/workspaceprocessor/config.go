package workspaceprocessor

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
)

// Store kinds.
const (
	StoreMemory  = "memory"
	StoreStorage = "storage"
	StoreRedis   = "redis"
)

// What to do when the idempotency store cannot be reached.
const (
	OnStoreErrorReject = "reject"
	OnStoreErrorAllow  = "allow"
)

// maxMemoryKeys keeps memory store slot numbers within uint32.
const maxMemoryKeys = 1 << 31

// Config is the workspace processor's configuration.
type Config struct {
	// RequireWorkspace rejects requests without an x-workspace-id header (400).
	RequireWorkspace bool `mapstructure:"require_workspace"`
	// Idempotency configures Idempotency-Key handling.
	Idempotency IdempotencyConfig `mapstructure:"idempotency"`
	// Telemetry bounds the processor's own metrics.
	Telemetry TelemetryConfig `mapstructure:"telemetry"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// IdempotencyConfig configures exactly-once ingest by Idempotency-Key.
type IdempotencyConfig struct {
	// Store is where keys are kept: memory, storage or redis.
	Store string `mapstructure:"store"`
	// TTL is how long a completed key is remembered.
	TTL time.Duration `mapstructure:"ttl"`
	// LeaseTTL bounds how long an in-flight mark survives a gateway that died mid-request (redis store);
	// a live request renews its lease every LeaseTTL/3.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
	// MaxKeys bounds the memory store (least recently used keys are evicted first) and the storage store.
	MaxKeys int `mapstructure:"max_keys"`
	// RequireIdempotencyKey rejects requests without an Idempotency-Key header (400).
	RequireIdempotencyKey bool `mapstructure:"require_idempotency_key"`
	// CheckPayload rejects (400) a key reused with a different payload.
	CheckPayload bool `mapstructure:"check_payload"`
	// RetryAfter is the retry hint sent with an in-flight conflict (503 + Retry-After / RetryInfo).
	RetryAfter time.Duration `mapstructure:"retry_after"`
	// OnStoreError is reject (503, retryable) or allow (pass on without dedup) when the store fails.
	OnStoreError string `mapstructure:"on_store_error"`
	// Storage is the storage extension used by store: storage (e.g. file_storage).
	Storage *component.ID `mapstructure:"storage"`
	// Redis configures store: redis.
	Redis RedisConfig `mapstructure:"redis"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RedisConfig configures the redis store.
type RedisConfig struct {
	// Endpoint is host:port, or a redis:// / rediss:// URL.
	Endpoint string `mapstructure:"endpoint"`
	// Username and Password authenticate to Redis (ACL / requirepass).
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	// DB selects the Redis database.
	DB int `mapstructure:"db"`
	// KeyPrefix namespaces the processor's keys.
	KeyPrefix string `mapstructure:"key_prefix"`
	// Timeout bounds each Redis call.
	Timeout time.Duration `mapstructure:"timeout"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TelemetryConfig bounds the cardinality of the processor's metrics.
type TelemetryConfig struct {
	// MaxWorkspaces is how many distinct workspace ids get their own `workspace` attribute value;
	// later ones are counted as "_other". 0 drops the attribute.
	MaxWorkspaces int `mapstructure:"max_workspaces"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() component.Config {
	return &Config{
		RequireWorkspace: true,
		Idempotency: IdempotencyConfig{
			Store:        StoreMemory,
			TTL:          24 * time.Hour,
			LeaseTTL:     30 * time.Second,
			MaxKeys:      1_000_000,
			CheckPayload: true,
			RetryAfter:   time.Second,
			OnStoreError: OnStoreErrorReject,
			Redis: RedisConfig{
				KeyPrefix: "tfocol:idem:",
				Timeout:   time.Second,
			},
		},
		Telemetry: TelemetryConfig{MaxWorkspaces: 100},
	}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	idem := cfg.Idempotency
	switch idem.Store {
	case StoreMemory:
		if idem.MaxKeys <= 0 || idem.MaxKeys > maxMemoryKeys {
			errs = append(errs, fmt.Errorf("idempotency.max_keys must be between 1 and %d for the memory store", maxMemoryKeys))
		}
	case StoreStorage:
		if idem.Storage == nil {
			errs = append(errs, errors.New("idempotency.storage must name a storage extension when store is \"storage\""))
		}
		if idem.MaxKeys <= 0 {
			errs = append(errs, errors.New("idempotency.max_keys must be positive for the storage store"))
		}
	case StoreRedis:
		if idem.Redis.Endpoint == "" {
			errs = append(errs, errors.New("idempotency.redis.endpoint is required when store is \"redis\""))
		}
		if idem.Redis.Timeout <= 0 {
			errs = append(errs, errors.New("idempotency.redis.timeout must be positive"))
		}
	default:
		errs = append(errs, fmt.Errorf("idempotency.store must be memory, storage or redis, got %q", idem.Store))
	}
	if idem.TTL <= 0 {
		errs = append(errs, errors.New("idempotency.ttl must be positive"))
	}
	if idem.LeaseTTL < 10*time.Millisecond {
		errs = append(errs, errors.New("idempotency.lease_ttl must be at least 10ms"))
	}
	if idem.RetryAfter < 0 {
		errs = append(errs, errors.New("idempotency.retry_after must not be negative"))
	}
	switch idem.OnStoreError {
	case OnStoreErrorReject, OnStoreErrorAllow:
	default:
		errs = append(errs, fmt.Errorf("idempotency.on_store_error must be reject or allow, got %q", idem.OnStoreError))
	}
	if cfg.Telemetry.MaxWorkspaces < 0 {
		errs = append(errs, errors.New("telemetry.max_workspaces must not be negative"))
	}
	return errors.Join(errs...)
}
