package eventrouterconnector

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exported contract gives every fixture the verdict and reason the router stamps.
func TestExportedContractMatchesFixtures(t *testing.T) {
	fixtures := loadFixtures(t)
	contracts := map[string]*Contract{}
	for typ, file := range seedSchemas {
		c, err := LoadContract(file)
		require.NoError(t, err)
		contracts[typ] = c
	}
	for _, fx := range fixtures {
		c := contracts[fx.EventType()]
		require.NotNil(t, c, fx.Name)
		reason := c.Check(fixtureRecord(t, fx))
		if fx.Expect.Outcome == "rejected" {
			assert.Equal(t, fx.Expect.Reason, reason, fx.Name)
		} else {
			assert.Empty(t, reason, fx.Name)
		}
	}
	assert.Equal(t, "urn:tfocol:schema:backup_failure:v1", contracts["BackupFailure"].ID())
	_, err := LoadContract(filepath.Join("testdata", "not_json.schema.json"))
	assert.Error(t, err)
}
