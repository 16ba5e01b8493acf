package durablelog

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A parked entry reads back as it was written (key, reason, payload); a damaged file is reported, not decoded;
// counts follow park, replay, re-park and delivery.
func TestParkedStoreRoundTripAndCounts(t *testing.T) {
	dir := ParkedDir(t.TempDir(), "tfo_log/forward")
	s, err := OpenParked(dir)
	require.NoError(t, err)
	e := &ParkedEntry{Entry: Entry{Seq: 42, Arrival: 7, Type: 1, HasKey: true, Key: [16]byte{1, 2, 3}, Payload: []byte("otlp")},
		ParkedAt: time.Unix(0, 99), Reason: "400 Bad Request"}
	require.NoError(t, s.Park(e))
	require.NoError(t, s.Park(e), "parking a parked seq again is a no-op")
	n, _ := s.Held()
	assert.EqualValues(t, 1, n)
	got, damaged, err := s.List(false)
	require.NoError(t, err)
	require.Empty(t, damaged)
	require.Len(t, got, 1)
	assert.Equal(t, e.Entry, got[0].Entry)
	assert.Equal(t, e.Reason, got[0].Reason)
	assert.Equal(t, e.ParkedAt.UnixNano(), got[0].ParkedAt.UnixNano())

	moved, err := s.Replay(nil)
	require.NoError(t, err)
	assert.Equal(t, []uint64{42}, moved)
	assert.True(t, s.IsParked(42), "waiting for replay still counts as parked")
	e.Reason = "still 400"
	require.NoError(t, s.ParkAgain(e))
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, ParkedStats{Entries: 1, Bytes: st.Bytes}, st)
	_, err = s.Replay([]uint64{42})
	require.NoError(t, err)
	require.NoError(t, s.Replayed(42))
	n, b := s.Held()
	assert.Zero(t, n)
	assert.Zero(t, b)

	// Damage: one flipped byte.
	require.NoError(t, s.Park(e))
	path := filepath.Join(dir, parkedName(42))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	raw[40] ^= 0xff
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	got, damaged, err = s.List(false)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, []string{path}, damaged)

	consumers, err := ParkedConsumers(filepath.Dir(filepath.Dir(dir)))
	require.NoError(t, err)
	assert.Equal(t, []string{"tfo_log/forward"}, consumers)
}
