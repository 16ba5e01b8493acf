package query

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Receipt lines shaped as the exporter writes them (docs/receipts.md §5).
const (
	logLine   = `{"type":"obs_log_batch","id":"logs-2025-12-06T14:00:00Z","seq":0,"timestamp":"2025-12-06T15:01:00Z","workspace":"ws-1","period":{"start":"2025-12-06T14:00:00Z","end":"2025-12-06T15:00:00Z"},"log_counts":{"unspecified":0,"trace":0,"debug":0,"info":40,"warn":3,"error":12,"fatal":0},"services_reporting":["guardian","treasury"],"nodes_reporting":["brick-01"],"storage_path":"telemetry/logs/2025-12-06/hour-14.binpb","content_hash":"blake3:00","merkle_root":"blake3:00","leaf_count":55,"prev_hash":"blake3:00"}`
	traceLine = `{"type":"obs_trace_complete","id":"trace-0a","seq":1,"timestamp":"2025-12-06T14:31:00Z","workspace":"ws-1","span_count":4,"error_spans":1,"trace_id":"0a","name":"treasury_settlement","duration_ms":6345,"status":"error","event_time":"2025-12-06T14:30:02.345Z","services_reporting":["portal","treasury"],"storage_path":"telemetry/traces/complete/2025-12-06/trace-0a.binpb","content_hash":"blake3:00","merkle_root":"blake3:00","leaf_count":4,"prev_hash":"blake3:00"}`
	okTrace   = `{"type":"obs_trace_complete","id":"trace-0b","seq":2,"timestamp":"2025-12-06T14:31:00Z","workspace":"ws-1","span_count":2,"trace_id":"0b","name":"anchor","duration_ms":5200,"status":"ok","event_time":"2025-12-06T14:30:00Z","storage_path":"telemetry/traces/complete/2025-12-06/trace-0b.binpb","content_hash":"blake3:00","merkle_root":"blake3:00","leaf_count":2,"prev_hash":"blake3:00"}`
	alertLine = `{"type":"obs_alert_fired","id":"alert-01","seq":3,"timestamp":"2025-12-06T14:35:00Z","workspace":"ws-1","name":"BackupFailure","severity":"ERROR","node":"brick-02","service":"backup","event_time":"2025-12-06T14:35:00Z","record":"AAAA","content_hash":"blake3:00","merkle_root":"blake3:00","leaf_count":1,"tags":["alert"],"prev_hash":"blake3:00"}`
)

func eval(t *testing.T, src string, lines ...string) []bool {
	t.Helper()
	e, err := CompileExpr(src)
	require.NoError(t, err, src)
	ev := e.NewEvaluator()
	var out []bool
	for _, l := range lines {
		ok, err := ev.Match([]byte(l))
		require.NoError(t, err, "%s on %s", src, l)
		out = append(out, ok)
	}
	return out
}

func TestExprSeedExamples(t *testing.T) {
	all := []string{logLine, traceLine, okTrace, alertLine}
	for _, c := range []struct {
		src  string
		want []bool
	}{
		// The seed's examples (docs/receipts-cli.md).
		{`log_counts.error > 0`, []bool{true, false, false, false}},
		{`duration_ms > 5000`, []bool{false, true, true, false}},
		{`status != "ok"`, []bool{false, true, false, false}},
		{`status != ok`, []bool{false, true, false, false}},
		{`status != 'ok'`, []bool{false, true, false, false}},
		// Missing fields: false in comparisons, presence tests with nil, `not` of a comparison is true.
		{`status == nil`, []bool{true, false, false, true}},
		{`status != nil`, []bool{false, true, true, false}},
		{`not (status == ok)`, []bool{true, true, false, true}},
		{`log_counts.error + log_counts.fatal >= 12`, []bool{true, false, false, false}},
		{`period.start >= "2025-12-06T14:00:00Z"`, []bool{true, false, false, false}},
		{`len(services_reporting) == 2`, []bool{true, true, false, false}},
		// Other operators of the language.
		{`"treasury" in services_reporting`, []bool{true, true, false, false}},
		{`name in [BackupFailure, ServiceDegraded]`, []bool{false, false, false, true}},
		{`name matches "^treasury"`, []bool{false, true, false, false}},
		{`type == obs_trace_complete && error_spans > 0`, []bool{false, true, false, false}},
		{`log_counts.error > 0 || duration_ms > 6000`, []bool{true, true, false, false}},
		{`any(services_reporting, # startsWith "treas")`, []bool{true, true, false, false}},
		{`leaf_count / 11 == 5`, []bool{true, false, false, false}},
		{`-duration_ms < -6000`, []bool{false, true, false, false}},
		{`let e = log_counts.error; e > 10`, []bool{true, false, false, false}},
		{`$env.node == "brick-02"`, []bool{false, false, false, true}},
	} {
		require.Equal(t, c.want, eval(t, c.src, all...), c.src)
	}
}

// The examples of docs/receipts-cli.md compile and evaluate over receipts of every type.
func TestExprDocExamples(t *testing.T) {
	for _, src := range []string{
		`log_counts.error > 0`, `duration_ms > 5000`, `status != ok`, `log_counts.error + log_counts.fatal >= 10`,
		`"treasury" in services_reporting && error_spans > 0`, `name in [BackupFailure, PipelineFailure]`,
		`name matches "^treasury_" and duration_ms > 2000`, `any(nodes_reporting, # startsWith "brick-0")`,
		`len(services_reporting) > 3`, `data_point_types.histogram > 0`, `overall_status != 'healthy'`,
		`event_time >= "2025-12-06T14:00:00Z"`, `node == "brick-02"`, `status == nil`, `trace_id != nil`, `$env.node == "brick-02"`,
	} {
		if src == `overall_status != 'healthy'` {
			_, err := CompileExpr(src)
			require.NoError(t, err, "obs_slo_report carries overall_status")
			continue
		}
		eval(t, src, logLine, traceLine, okTrace, alertLine)
	}
	require.Equal(t, []bool{false, true, false, false}, eval(t, `name matches "^treasury_" and duration_ms > 2000`, logLine, traceLine, okTrace, alertLine))
}

func TestExprErrors(t *testing.T) {
	for _, src := range []string{
		`statsu != "ok"`, // typo in a field name
		`statsu != ok`,
		`duration_ms >`,      // syntax
		`nosuchfunc(status)`, // unknown function
	} {
		_, err := CompileExpr(src)
		require.Error(t, err, src)
	}
	_, err := CompileExpr(`statsu != "ok"`)
	require.ErrorContains(t, err, `unknown field "statsu"`)

	e, err := CompileExpr(`duration_ms`)
	require.NoError(t, err)
	_, err = e.NewEvaluator().Match([]byte(traceLine))
	require.ErrorContains(t, err, "not true or false")
	ok, err := e.NewEvaluator().Match([]byte(logLine))
	require.NoError(t, err, "a missing result is false")
	require.False(t, ok)
}

func TestExprReadsOnlyItsFields(t *testing.T) {
	e, err := CompileExpr(`log_counts.error > 0 && "guardian" in services_reporting`)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"log_counts": true, "services_reporting": true}, e.fields)
	e, err = CompileExpr(`$env.status == ok`)
	require.NoError(t, err)
	require.Nil(t, e.fields, "$env reads every field")
}
