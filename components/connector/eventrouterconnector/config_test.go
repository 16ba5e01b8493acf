package eventrouterconnector

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.MustNewIDWithName(metadata.Type.String(), name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
	assert.Equal(t, DefaultEventNameAttribute, createDefaultConfig().(*Config).EventNameAttribute)
}

func TestLoadFullConfig(t *testing.T) {
	cfg := loadConfig(t, "full")
	require.NoError(t, xconfmap.Validate(cfg))
	assert.Equal(t, "event.type", cfg.EventNameAttribute)
	assert.Len(t, cfg.Schemas, 5)
	require.Len(t, cfg.Routes, 3)
	assert.Equal(t, []string{"BackupFailure", "ServiceDegraded", "PipelineFailure"}, cfg.Routes[2].Events)
	assert.Equal(t, []pipeline.ID{
		pipeline.NewIDWithName(pipeline.SignalLogs, "failures"),
		pipeline.NewIDWithName(pipeline.SignalLogs, "archive"),
	}, cfg.Routes[2].Pipelines)
	assert.Equal(t, []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalLogs, "default")}, cfg.DefaultPipelines)
	assert.Equal(t, []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalLogs, "rejected")}, cfg.RejectedPipelines)

	require.NoError(t, xconfmap.Validate(loadConfig(t, "")))
}

// A broken configuration fails validation with a message naming what to fix.
func TestInvalidConfigs(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"bad_schema", []string{`schemas::HostHeartbeat: contract "testdata/bad_keyword.schema.json"`, "not a valid JSON Schema 2020-12 document: at '/properties/uptime/type': value must be one of 'array'"}},
		{"not_json", []string{`contract "testdata/not_json.schema.json"`, "not valid JSON"}},
		{"draft7", []string{`contract "testdata/draft7.schema.json"`, "draft-07", "not supported"}},
		{"missing_file", []string{`contract "testdata/does_not_exist.json"`, "no such file"}},
		{"route_without_schema", []string{`event type "AuditLog" has no schema`}},
		{"duplicate_route", []string{`routes[1]: event type "HostHeartbeat" is already routed by routes[0]`}},
		{"traces_pipeline", []string{`default_pipelines: "traces/default" is not a logs pipeline`}},
		{"empty_route", []string{"routes[0]: events must not be empty", "routes[0]: pipelines must not be empty"}},
		{"nothing", []string{"at least one of routes or default_pipelines must be set"}},
		{"reserved_type", []string{`event type "unknown" is empty or reserved`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := xconfmap.Validate(loadConfig(t, tt.name))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
