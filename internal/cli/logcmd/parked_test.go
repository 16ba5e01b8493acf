package logcmd

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
)

// `log parked list` shows what a consumer parked and why; `log parked replay` hands it back (all, or by seq)
// into the consumer's replay/ directory, where the running receiver picks it up; a second replay finds nothing.
func TestParkedListAndReplay(t *testing.T) {
	dir := t.TempDir()
	s, err := durablelog.OpenParked(durablelog.ParkedDir(dir, "tfo_log/forward"))
	require.NoError(t, err)
	for _, seq := range []uint64{7, 9} {
		require.NoError(t, s.Park(&durablelog.ParkedEntry{
			Entry:    durablelog.Entry{Seq: seq, Arrival: time.Now().UnixNano(), Type: loghost.SignalLogs, Payload: []byte("payload")},
			ParkedAt: time.Now(), Reason: "Permanent error: 400 Bad Request",
		}))
	}

	out, code := run(t, "parked", "list", "--dir", dir)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "tfo_log/forward")
	assert.Contains(t, out, "400 Bad Request")
	assert.Contains(t, out, "2 entries, 14 bytes of payload")

	out, code = run(t, "parked", "replay", "--dir", dir, "9")
	require.Equal(t, 2, code, "seqs need --consumer: %s", out)
	out, code = run(t, "parked", "replay", "--dir", dir, "--consumer", "tfo_log/forward", "9")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "1 entries handed back")

	out, code = run(t, "parked", "list", "--dir", dir, "--json")
	require.Equal(t, 0, code, out)
	var got struct {
		Entries []struct {
			Seq    uint64 `json:"seq"`
			State  string `json:"state"`
			Signal string `json:"signal"`
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got.Entries, 2)
	assert.Equal(t, uint64(7), got.Entries[0].Seq)
	assert.Equal(t, "parked", got.Entries[0].State)
	assert.Equal(t, "replaying", got.Entries[1].State)
	assert.Equal(t, "logs", got.Entries[1].Signal)

	out, code = run(t, "parked", "replay", "--dir", dir)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "1 entries handed back")
	out, _ = run(t, "parked", "replay", "--dir", dir)
	assert.Contains(t, out, "nothing parked")
	st, err := s.Stats()
	require.NoError(t, err)
	assert.EqualValues(t, 2, st.ReplayEntries)
}
