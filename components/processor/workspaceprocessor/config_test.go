package workspaceprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/tfocol/tfocol/components/processor/workspaceprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestDefaultConfig(t *testing.T) {
	cfg := loadConfig(t, "")
	assert.True(t, cfg.RequireWorkspace)
	assert.Equal(t, StoreMemory, cfg.Idempotency.Store)
	assert.Equal(t, 24*time.Hour, cfg.Idempotency.TTL)
	assert.Equal(t, 1_000_000, cfg.Idempotency.MaxKeys)
	assert.True(t, cfg.Idempotency.CheckPayload)
	assert.False(t, cfg.Idempotency.RequireIdempotencyKey)
	assert.Equal(t, OnStoreErrorReject, cfg.Idempotency.OnStoreError)
	require.NoError(t, xconfmap.Validate(cfg))
}

func TestCustomConfig(t *testing.T) {
	cfg := loadConfig(t, "custom")
	require.NoError(t, xconfmap.Validate(cfg))
	assert.False(t, cfg.RequireWorkspace)
	idem := cfg.Idempotency
	assert.Equal(t, StoreRedis, idem.Store)
	assert.Equal(t, time.Hour, idem.TTL)
	assert.Equal(t, 10*time.Second, idem.LeaseTTL)
	assert.True(t, idem.RequireIdempotencyKey)
	assert.False(t, idem.CheckPayload)
	assert.Equal(t, 2*time.Second, idem.RetryAfter)
	assert.Equal(t, OnStoreErrorAllow, idem.OnStoreError)
	assert.Equal(t, "redis://127.0.0.1:6379/2", idem.Redis.Endpoint)
	assert.Equal(t, "hunter2", string(idem.Redis.Password))
	assert.Equal(t, "gw:", idem.Redis.KeyPrefix)
	assert.Equal(t, 250*time.Millisecond, idem.Redis.Timeout)
	assert.Equal(t, 10, cfg.Telemetry.MaxWorkspaces)

	opts, err := redisOptions(idem.Redis)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6379", opts.Addr)
	assert.Equal(t, 2, opts.DB)
	assert.Equal(t, "hunter2", opts.Password)
}

func TestStorageConfig(t *testing.T) {
	cfg := loadConfig(t, "storage")
	require.NoError(t, xconfmap.Validate(cfg))
	require.NotNil(t, cfg.Idempotency.Storage)
	assert.Equal(t, "file_storage/idem", cfg.Idempotency.Storage.String())
}

func TestInvalidConfigs(t *testing.T) {
	for name, want := range map[string]string{
		"bad_store":       `idempotency.store must be memory, storage or redis, got "etcd"`,
		"storage_missing": "idempotency.storage must name a storage extension",
		"redis_missing":   "idempotency.redis.endpoint is required",
		"bad_policy":      "idempotency.on_store_error must be reject or allow",
	} {
		t.Run(name, func(t *testing.T) {
			err := xconfmap.Validate(loadConfig(t, name))
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
	err := xconfmap.Validate(loadConfig(t, "bad_policy"))
	assert.Contains(t, err.Error(), "idempotency.ttl must be positive")
}

func TestRedisEndpointURLErrorHidesPassword(t *testing.T) {
	_, err := redisOptions(RedisConfig{Endpoint: "redis://user:s3cret@[::1:bad/0", Timeout: time.Second})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}
