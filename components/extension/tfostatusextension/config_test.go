package tfostatusextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"
)

func loadConfig(t *testing.T, id string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(id)
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigDefaultsAndFull(t *testing.T) {
	cfg := loadConfig(t, "tfo_status")
	require.NoError(t, xconfmap.Validate(cfg))
	assert.Equal(t, DefaultEndpoint, cfg.NetAddr.Endpoint)
	assert.Equal(t, component.MustNewID("tfo_log"), cfg.Log)
	assert.Equal(t, []string{"tfo_log/forward"}, cfg.UpstreamConsumers)
	assert.True(t, cfg.PublicEngineStatus)
	assert.Equal(t, 10*time.Second, cfg.FlushInterval)
	assert.Equal(t, 3, cfg.SilentAfterIntervals)
	assert.Equal(t, 10000, cfg.MaxInstances)

	full := loadConfig(t, "tfo_status/full")
	require.NoError(t, xconfmap.Validate(full))
	assert.Equal(t, component.MustNewIDWithName("tfo_log", "main"), full.Log)
	id, ok := full.workspaceAuthID()
	require.True(t, ok)
	assert.Equal(t, component.MustNewID("tfo_auth"), id)
	assert.False(t, full.PublicEngineStatus)
	assert.Equal(t, 2, full.SilentAfterIntervals)
	assert.Equal(t, 300, full.MaxInstances)
	ext := newStatusExtension(full, extensionSettings())
	assert.Equal(t, []component.ID{component.MustNewIDWithName("tfo_log", "main"), component.MustNewID("tfo_auth")}, ext.Dependencies())
}

// Beyond loopback the status is served only with credentials; confighttp's auth is refused (it would answer 401
// to the admin token).
func TestConfigRefusals(t *testing.T) {
	exposed := loadConfig(t, "tfo_status/exposed")
	assert.ErrorContains(t, xconfmap.Validate(exposed), "not a loopback address")
	exposed.AdminTokenFile = "admin.token"
	assert.NoError(t, xconfmap.Validate(exposed))

	for name, mut := range map[string]func(*Config){
		"no directory":   func(c *Config) { c.Directory = "" },
		"no endpoint":    func(c *Config) { c.NetAddr.Endpoint = "" },
		"auth":           func(c *Config) { c.Auth = configoptional.Some(confighttp.AuthConfig{}) },
		"bad auth id":    func(c *Config) { c.WorkspaceAuth = "not an id!" },
		"flush":          func(c *Config) { c.FlushInterval = time.Millisecond },
		"silent":         func(c *Config) { c.SilentAfterIntervals = 0 },
		"max workspaces": func(c *Config) { c.MaxWorkspaces = 0 },
		"max instances":  func(c *Config) { c.MaxInstances = 0 },
	} {
		cfg := loadConfig(t, "tfo_status")
		mut(cfg)
		assert.Error(t, xconfmap.Validate(cfg), name)
	}
	for ep, want := range map[string]bool{"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, ":1": false, "10.0.0.1:1": false} {
		assert.Equal(t, want, loopback(ep), ep)
	}
}
