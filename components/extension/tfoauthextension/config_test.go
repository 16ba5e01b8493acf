package tfoauthextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/tfocol/tfocol/components/extension/tfoauthextension/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.MustNewIDWithName(metadata.Type.String(), name)
	if name == "" {
		id = component.NewID(metadata.Type)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigServerDefaultsMergeIntoJWTBlock(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, xconfmap.Validate(cfg))
	assert.Equal(t, "/etc/tfocol/keys.yaml", cfg.KeysFile)
	require.True(t, cfg.JWT.HasValue())
	j := cfg.JWT.Get()
	assert.Equal(t, "https://anchor.example.com", j.Issuer)
	assert.Equal(t, "tfocol", j.Audience)
	assert.Equal(t, "workspace_id", j.WorkspaceClaim, "default kept when the block is given")
	assert.Equal(t, 30*time.Second, j.ClockSkew)
	assert.Equal(t, []string{"traces", "metrics", "logs"}, j.RoleScopes["edge-agent"])
	assert.Equal(t, 5, cfg.Throttle.MaxFailures)
	assert.Equal(t, 50, cfg.Throttle.MaxFailuresPerAddress)
	assert.Equal(t, 30*time.Second, cfg.Throttle.Window)
	assert.Equal(t, 100_000, cfg.Throttle.MaxTracked)
}

func TestConfigKeysOnlyHasNoJWT(t *testing.T) {
	cfg := loadConfig(t, "keys_only")
	require.NoError(t, xconfmap.Validate(cfg))
	assert.False(t, cfg.JWT.HasValue(), "jwt stays off unless its block is present")
}

func TestConfigClient(t *testing.T) {
	cfg := loadConfig(t, "agent")
	require.NoError(t, xconfmap.Validate(cfg))
	assert.Equal(t, "tfk_abc", cfg.KeyID)
	assert.Equal(t, "tfs_secretvalue", string(cfg.KeySecret))
	assert.True(t, cfg.IdempotencyKey)
	assert.True(t, cfg.RetryOnAuthFailure)
}

func TestConfigInvalid(t *testing.T) {
	err := xconfmap.Validate(loadConfig(t, "empty"))
	assert.ErrorContains(t, err, "configure keys_file and/or jwt")

	err = xconfmap.Validate(loadConfig(t, "bad_client"))
	require.Error(t, err)
	assert.ErrorContains(t, err, `key_id must start with "tfk_"`)
	assert.ErrorContains(t, err, `key_secret must be set and start with "tfs_"`)
	assert.NotContains(t, err.Error(), "hunter2", "a malformed secret is never echoed")

	err = xconfmap.Validate(loadConfig(t, "jwt_no_keys"))
	assert.ErrorContains(t, err, "set hmac_secret_file and/or public_keys_file")
}

func TestThrottleConfigValidate(t *testing.T) {
	assert.Error(t, (&ThrottleConfig{MaxFailures: 5, MaxFailuresPerAddress: -1, Window: time.Minute, MaxTracked: 1}).validate())
	assert.NoError(t, (&ThrottleConfig{MaxFailures: 5, Window: time.Minute, MaxTracked: 1}).validate())
	th, err := newThrottle(ThrottleConfig{MaxFailures: 5, Window: time.Minute, MaxTracked: 1})
	require.NoError(t, err)
	assert.Equal(t, 25, th.maxAddrFailures, "unset: 5 × max_failures")
	th, err = newThrottle(ThrottleConfig{MaxFailures: 5, MaxFailuresPerAddress: 7, Window: time.Minute, MaxTracked: 1})
	require.NoError(t, err)
	assert.Equal(t, 7, th.maxAddrFailures)
}
