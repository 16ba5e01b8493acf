package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func collect(t *testing.T, dir string) (*WAL, Recovery, [][]byte) {
	t.Helper()
	var got [][]byte
	w, rec, err := Open(dir, 1<<20, func(_ uint64, p []byte) error {
		got = append(got, bytes.Clone(p))
		return nil
	})
	require.NoError(t, err)
	return w, rec, got
}

func TestAppendReplay(t *testing.T) {
	dir := t.TempDir()
	w, _, got := collect(t, dir)
	require.Empty(t, got)
	var want [][]byte
	for i := 0; i < 10; i++ {
		batch := [][]byte{[]byte(fmt.Sprint("a", i)), []byte(fmt.Sprint("b", i))}
		_, err := w.Append(batch)
		require.NoError(t, err)
		want = append(want, batch...)
	}
	require.NoError(t, w.Close())
	w, rec, got := collect(t, dir)
	require.Equal(t, want, got)
	require.Zero(t, rec.TornBytes)
	require.NoError(t, w.Close())
}

func TestTornTailIsCopiedAsideAndCut(t *testing.T) {
	for _, tail := range [][]byte{
		{5, 0},                                // short header
		{50, 0, 0, 0, 1, 2, 3, 4, 'x'},        // payload runs past EOF
		AppendFrame(nil, []byte("zzzz"))[:10], // cut inside payload
		func() []byte { f := AppendFrame(nil, []byte("crc!")); f[9] ^= 1; return f }(), // checksum mismatch
		make([]byte, 64), // zero-filled blocks after a crash
	} {
		dir := t.TempDir()
		w, _, _ := collect(t, dir)
		seg, err := w.Append([][]byte{[]byte("one"), []byte("two")})
		require.NoError(t, err)
		require.NoError(t, w.Close())
		path := filepath.Join(dir, segName(seg))
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		_, _ = f.Write(tail)
		f.Close()

		w, rec, got := collect(t, dir)
		require.Equal(t, [][]byte{[]byte("one"), []byte("two")}, got)
		require.Equal(t, len(tail), rec.TornBytes)
		aside, err := os.ReadFile(rec.TornFile)
		require.NoError(t, err)
		require.Equal(t, tail, aside)
		// Appends continue after the cut and replay cleanly.
		_, err = w.Append([][]byte{[]byte("three")})
		require.NoError(t, err)
		require.NoError(t, w.Close())
		_, rec, got = collect(t, dir)
		require.Equal(t, [][]byte{[]byte("one"), []byte("two"), []byte("three")}, got)
		require.Zero(t, rec.TornBytes)
	}
}

func TestCorruptionInOlderSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := collect(t, dir)
	seg, err := w.Append([][]byte{[]byte("one")})
	require.NoError(t, err)
	require.NoError(t, w.Rotate())
	_, err = w.Append([][]byte{[]byte("two")})
	require.NoError(t, err)
	require.NoError(t, w.Close())
	path := filepath.Join(dir, segName(seg))
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	require.NoError(t, os.WriteFile(path, data, 0o644))
	_, _, err = Open(dir, 1<<20, func(uint64, []byte) error { return nil })
	require.ErrorContains(t, err, "refusing to drop acknowledged data")
}

func TestRotateAndRemove(t *testing.T) {
	dir := t.TempDir()
	w, err := func() (*WAL, error) {
		w, _, err := Open(dir, 10, func(uint64, []byte) error { return nil })
		return w, err
	}()
	require.NoError(t, err)
	s1, _ := w.Append([][]byte{bytes.Repeat([]byte{1}, 20)})
	s2, _ := w.Append([][]byte{[]byte("x")}) // segment over size: rotates first
	require.NotEqual(t, s1, s2)
	require.NoError(t, w.Remove(s1))
	require.NoError(t, w.Remove(s2)) // active: kept
	require.Equal(t, []uint64{s2}, w.Segments())
	require.NoError(t, w.Close())
	_, _, got := collect(t, dir)
	require.Equal(t, [][]byte{[]byte("x")}, got)
}

func TestEntryRoundTrip(t *testing.T) {
	e := &Entry{Signal: SignalTraces, Arrival: -5, Windows: []int64{1733493600, -60}, Assign: []uint32{0, 1, 1, 0}, Request: []byte("req")}
	raw := AppendEntry(nil, e)
	back, err := DecodeEntry(raw)
	require.NoError(t, err)
	require.Equal(t, e, back)
	for i := 0; i < len(raw); i++ {
		_, err := DecodeEntry(raw[:i])
		require.Error(t, err, "truncated at %d", i)
	}
	_, err = DecodeEntry(append(raw, 0))
	require.Error(t, err)
	bad := AppendEntry(nil, &Entry{Signal: SignalLogs, Windows: []int64{1}, Assign: []uint32{1}})
	_, err = DecodeEntry(bad)
	require.ErrorContains(t, err, "window index")
}

func TestRetiredSegmentsAreScannedNotReplayed(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := collect(t, dir)
	seg, err := w.Append([][]byte{[]byte("sealed-1"), []byte("sealed-2")})
	require.NoError(t, err)
	require.NoError(t, w.Rotate())
	require.NoError(t, w.Retire(seg))
	require.NoError(t, w.Retire(w.Active())) // the active segment is never retired
	_, err = w.Append([][]byte{[]byte("open")})
	require.NoError(t, err)
	require.NoError(t, w.Close())

	w, _, got := collect(t, dir)
	require.Equal(t, [][]byte{[]byte("open")}, got, "a retired segment is not replayed")
	require.Equal(t, []uint64{seg}, w.Retired())
	require.Greater(t, w.Active(), seg)
	var scanned [][]byte
	require.NoError(t, w.ScanRetired(seg, func(p []byte) error {
		scanned = append(scanned, bytes.Clone(p))
		return nil
	}))
	require.Equal(t, [][]byte{[]byte("sealed-1"), []byte("sealed-2")}, scanned)
	require.NoError(t, w.RemoveRetired(seg))
	require.Empty(t, w.Retired())
	_, err = os.Stat(filepath.Join(dir, retiredName(seg)))
	require.True(t, os.IsNotExist(err))
	require.NoError(t, w.Close())
}
