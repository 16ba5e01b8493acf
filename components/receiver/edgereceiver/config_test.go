package edgereceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/tfocol/tfocol/components/receiver/edgereceiver/internal/metadata"
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
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
	cfg := loadConfig(t, "")
	require.NoError(t, xconfmap.Validate(cfg))
	assert.Equal(t, "127.0.0.1:8088", cfg.NetAddr.Endpoint)
	assert.Equal(t, int64(4<<20), cfg.MaxRequestBodySize)
	assert.Equal(t, 1000, cfg.Ingest.MaxEvents)
	assert.True(t, cfg.Ingest.RequireIdempotencyKey)
	assert.Equal(t, 24*time.Hour, cfg.Enrollment.Rotation.Overlap)
	assert.Empty(t, cfg.Enrollment.Rotation.SigningKeyFile, "rotation is off unless a signing key is given")
	assert.Equal(t, 30*time.Second, cfg.Policy.Default.FlushInterval)
	assert.Equal(t, 5*time.Minute, cfg.Policy.Default.Interval)
	assert.False(t, cfg.Sirveo.Enabled)
	assert.Equal(t, "InstanceLifecycle", cfg.Sirveo.EventType)
	assert.Equal(t, MismatchFlag, cfg.Sirveo.OnChecksumMismatch)
	assert.Nil(t, cfg.Status)
}

func TestFullConfig(t *testing.T) {
	cfg := loadConfig(t, "full")
	require.NoError(t, xconfmap.Validate(cfg))
	assert.Equal(t, "0.0.0.0:8443", cfg.NetAddr.Endpoint)
	assert.Equal(t, 200, cfg.Ingest.MaxEvents)
	assert.False(t, cfg.Ingest.RequireIdempotencyKey)
	rot := cfg.Enrollment.Rotation
	assert.Equal(t, time.Hour, rot.Overlap)
	assert.Equal(t, 720*time.Hour, rot.TTL)
	assert.Equal(t, []string{"tfk_admin01"}, rot.AdminKeys)
	assert.Equal(t, []string{"edge-admin"}, rot.AdminRoles)
	assert.Equal(t, time.Minute, cfg.Policy.Default.Events["HostHeartbeat"].Interval)
	assert.False(t, *cfg.Policy.Default.Events["InstanceLifecycle"].Enabled)
	assert.Equal(t, 5*time.Second, cfg.Policy.Workspaces[wsA].FlushInterval)
	assert.Equal(t, MismatchReject, cfg.Sirveo.OnChecksumMismatch)
	assert.Equal(t, []string{wsB}, cfg.Sirveo.AnonymousWorkspaces)
	assert.Equal(t, component.MustNewID("ingest_status"), *cfg.Status)
}

func TestBrokenConfig(t *testing.T) {
	err := xconfmap.Validate(loadConfig(t, "broken"))
	require.Error(t, err)
	for _, want := range []string{
		"endpoint must be set",
		"auth.authenticator must be set",
		"schemas must name at least one event contract",
		"ingest.max_events must be at least 1",
		"enrollment.public_url must be an http(s) URL",
		"enrollment.rotation needs enrollment.tokens_file",
		"enrollment.rotation needs admin_keys or admin_roles",
		"overlap and ttl must not be negative",
		"flush_interval and interval must be positive",
		`"DiskFull" has no contract in schemas`,
		`policy.workspaces: "not-a-uuid"`,
		`sirveo.event_type "InstanceLifecycle" has no contract`,
		`sirveo.anonymous_workspaces: "nope"`,
		"sirveo.on_checksum_mismatch must be flag or reject",
		"sirveo.max_instances must be at least 1",
	} {
		assert.ErrorContains(t, err, want)
	}
}

// A contract file that does not compile fails Validate and Start with the file and the reason.
func TestBrokenContract(t *testing.T) {
	f := newFixture(t)
	f.cfg.Schemas["BackupFailure"] = filepath.Join("..", "..", "connector", "eventrouterconnector", "testdata", "not_json.schema.json")
	require.ErrorContains(t, f.cfg.Validate(), "schemas::BackupFailure")
	rcv, err := newReceiver(f.cfg, receiverSettings(f), f.pipe)
	require.NoError(t, err)
	err = rcv.Start(t.Context(), f.host)
	require.ErrorContains(t, err, "schemas::BackupFailure")
	require.ErrorContains(t, err, "not valid JSON")
}
