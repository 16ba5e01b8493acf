package eventrouterconnector

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
)

const (
	schemaDir  = "../../../configs/schemas"
	fixtureDir = "../../../testdata/events"
)

// seedSchemas are the shipped contracts for the five seed event types.
var seedSchemas = map[string]string{
	"HostHeartbeat":   schemaDir + "/host_heartbeat.v2.json",
	"PatchCompliance": schemaDir + "/patch_compliance.v1.json",
	"BackupFailure":   schemaDir + "/backup_failure.v1.json",
	"ServiceDegraded": schemaDir + "/service_degraded.v1.json",
	"PipelineFailure": schemaDir + "/pipeline_failure.v1.json",
}

func loadFixtures(t testing.TB) []eventtest.Fixture {
	t.Helper()
	fxs, err := eventtest.Load(fixtureDir)
	require.NoError(t, err)
	require.NotEmpty(t, fxs)
	return fxs
}

func fixtureRecord(t testing.TB, fx eventtest.Fixture) plog.LogRecord {
	t.Helper()
	lr := plog.NewLogRecord()
	require.NoError(t, fx.CopyTo(lr))
	return lr
}

// Every fixture gets exactly the decision, reason and metric label written in it.
func TestContractsAgainstFixtures(t *testing.T) {
	contracts := map[string]*contract{}
	for name, path := range seedSchemas {
		c, err := loadContract(path)
		require.NoError(t, err, name)
		contracts[name] = c
	}
	for _, fx := range loadFixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			typ := fx.EventName
			if typ == "" {
				typ, _ = fx.Attributes["event.name"].(string)
			}
			c := contracts[typ]
			require.NotNil(t, c, "fixture names no seed event type")
			doc := map[string]any{}
			require.NoError(t, buildDocument(doc, fixtureRecord(t, fx)))
			rej := c.validate(doc)
			switch fx.Expect.Outcome {
			case "routed":
				assert.Nil(t, rej)
			case "rejected":
				require.NotNil(t, rej)
				assert.Equal(t, fx.Expect.Reason, rej.reason)
				assert.Equal(t, fx.Expect.Label, rej.label)
			default:
				t.Fatalf("unknown expected outcome %q", fx.Expect.Outcome)
			}
		})
	}
}

// Each seed type has a valid example and the four required kinds of violation.
func TestFixtureCatalogueIsComplete(t *testing.T) {
	for typ := range seedSchemas {
		for _, name := range []string{"valid", "missing_required", "wrong_type", "bad_enum", "extra_field"} {
			_, err := os.Stat(filepath.Join(fixtureDir, typ, name+".json"))
			assert.NoError(t, err, "%s/%s", typ, name)
		}
	}
}
