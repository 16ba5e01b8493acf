package receipts

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// validAlertLine is a receipt line that parses; the cases below change one thing in it.
func validAlertLine(t *testing.T) string {
	leaf := []byte("backup failed")
	r := &Receipt{Type: TypeAlertFired, ID: AlertID(leaf), Timestamp: "2025-12-06T14:35:00.25Z", Workspace: "ws-1",
		Name: "BackupFailure", Severity: "error", Record: leaf, ContentHash: ZeroHash, MerkleRoot: ZeroHash, LeafCount: 1,
		Tags: []string{"alert"}, PrevHash: ZeroHash}
	line, err := r.Marshal()
	require.NoError(t, err)
	_, err = ParseReceipt(line)
	require.NoError(t, err)
	return string(line)
}

func TestParseReceiptLineSyntax(t *testing.T) {
	line := validAlertLine(t)
	for name, c := range map[string]struct{ old, new, want string }{
		"escaped duplicate key":  {`"name":"BackupFailure"`, `"name":"BackupFailure","n\u0061me":"X"`, `duplicate key "name"`},
		"key with Kelvin sign":   {`"workspace"`, `"wor\u212aspace"`, "is not a field name"},
		"null inside array":      {`"tags":["alert"]`, `"tags":["alert",null]`, "null is not allowed"},
		"negative zero":          {`"leaf_count":1`, `"leaf_count":-0`, "negative zero"},
		"raw tab in string":      {`"BackupFailure"`, "\"Backup\tFailure\"", "raw control character"},
		"leading space":          {`{"type"`, ` {"type"`, "starting with '{'"},
		"trailing data":          {`"}`, `"}{}`, "trailing data"},
		"lowercase z":            {`14:35:00.25Z`, `14:35:00.25z`, "timestamp"},
		"workspace missing":      {`"workspace":"ws-1",`, ``, `no "workspace" field`},
		"unknown field":          {`"tags":`, `"color":"red","tags":`, "unknown field"},
		"leap second":            {`14:35:00.25Z`, `23:59:60Z`, "timestamp"},
		"high surrogate, no low": {`"alert"]`, `"\ud83d\u0041"]`, "not followed by a low surrogate"},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, 1, strings.Count(line, c.old), "case edits the line once")
			_, err := ParseReceipt([]byte(strings.Replace(line, c.old, c.new, 1)))
			require.ErrorContains(t, err, c.want)
		})
	}
	// A surrogate pair is one character, accepted.
	_, err := ParseReceipt([]byte(strings.Replace(line, `"alert"]`, `"\ud83d\ude00"]`, 1)))
	require.NoError(t, err)
}

// Names with invalid UTF-8 are written as U+FFFD: the written list is sorted and distinct, so the line parses.
func TestMarshalInvalidUTF8NamesStaySorted(t *testing.T) {
	r := &Receipt{Type: TypeTraceBatch, ID: BatchID(SignalTraces, t0), Timestamp: FormatTime(t0.Add(time.Hour)), Workspace: "ws",
		Period: &Period{Start: FormatTime(t0), End: FormatTime(t0.Add(time.Hour))}, SpanCount: 3, TraceCount: 1,
		ServicesReporting: []string{"a\xff", "a\xfe", "a\x7f"}, StoragePath: BatchPath(SignalTraces, t0, time.Hour),
		ContentHash: ZeroHash, MerkleRoot: ZeroHash, LeafCount: 3, PrevHash: ZeroHash}
	line, err := r.Marshal()
	require.NoError(t, err)
	got, err := ParseReceipt(line)
	require.NoError(t, err, "%s", line)
	require.Equal(t, []string{"a\x7f", "a\uFFFD"}, got.ServicesReporting)
}
