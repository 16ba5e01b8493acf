package receipts

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fields of obs_alert_resolved and aggregates are refused on other types.
func TestAlertResolvedFieldsAndAggregatesStayOnTheirTypes(t *testing.T) {
	const h = `"content_hash":"blake3:` + "0000000000000000000000000000000000000000000000000000000000000000" + `"`
	common := h + `,"merkle_root":"blake3:0000000000000000000000000000000000000000000000000000000000000000","leaf_count":1,"prev_hash":"blake3:0000000000000000000000000000000000000000000000000000000000000000"}`
	fired := `{"type":"obs_alert_fired","id":"alert-1","seq":0,"timestamp":"2025-12-06T14:35:00Z","workspace":"ws","name":"X","record":"AA==",`
	_, err := ParseReceipt([]byte(fired + common))
	require.NoError(t, err)
	_, err = ParseReceipt([]byte(fired + `"alert_id":"alert-2",` + common))
	require.ErrorContains(t, err, "has obs_alert_resolved fields")
	logs := `{"type":"obs_log_batch","id":"logs-1","seq":0,"timestamp":"2025-12-06T14:35:00Z","workspace":"ws","period":{"start":"2025-12-06T14:00:00Z","end":"2025-12-06T15:00:00Z"},"log_counts":{"unspecified":1,"trace":0,"debug":0,"info":0,"warn":0,"error":0,"fatal":0},`
	_, err = ParseReceipt([]byte(logs + `"aggregates":{"a":{"metric":"m","points":0}},"storage_path":"telemetry/x.binpb",` + common))
	require.ErrorContains(t, err, "only obs_metric_snapshot has")
	snap := strings.Replace(logs, `"obs_log_batch"`, `"obs_metric_snapshot"`, 1)
	snap = strings.Replace(snap, `"log_counts":{"unspecified":1,"trace":0,"debug":0,"info":0,"warn":0,"error":0,"fatal":0},`, "", 1)
	_, err = ParseReceipt([]byte(snap + `"aggregates":{"a":{"metric":"m","points":2,"avg":1}},"storage_path":"telemetry/x.binpb",` + common))
	require.ErrorContains(t, err, "avg, min and max are set exactly when points > 0")
	_, err = ParseReceipt([]byte(snap + `"aggregates":{"a":{"metric":"m","points":2,"avg":3,"min":1,"max":2}},"storage_path":"telemetry/x.binpb",` + common))
	require.ErrorContains(t, err, "min <= avg <= max")
	_, err = ParseReceipt([]byte(snap + `"aggregates":{"a":{"metric":"m","points":2,"avg":1.5,"min":1,"max":2}},"storage_path":"telemetry/x.binpb",` + common))
	require.NoError(t, err)
}

func TestAggregateAverageRoundsHalfAwayFromZero(t *testing.T) {
	a := AggregateAcc{Spec: AggregateSpec{Metric: "m"}}
	for _, v := range []Decimal{1, 2} { // 0.000001 and 0.000002: avg 0.0000015 -> 0.000002
		a.Add(v)
	}
	require.Equal(t, Decimal(2), *a.Result().Avg)
	b := AggregateAcc{Spec: AggregateSpec{Metric: "m"}}
	for _, v := range []Decimal{-1, -2} {
		b.Add(v)
	}
	require.Equal(t, Decimal(-2), *b.Result().Avg)
	require.Equal(t, Decimal(-2), *b.Result().Min)
}
