package durablelog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func open(t testing.TB, opts Options) (*Log, *Report) {
	t.Helper()
	l, rep, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, rep
}

func payload(i int) []byte { return []byte(fmt.Sprintf("request-%04d", i)) }

func key(i int) (k [16]byte) {
	copy(k[:], fmt.Sprintf("key-%012d", i))
	return k
}

func appendN(t testing.TB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		_, _, err := l.Append(context.Background(), Record{Type: 1, Payload: payload(i)})
		require.NoError(t, err)
	}
}

// readAll drains a cursor until it is caught up.
func readAll(t testing.TB, c *Cursor) []Entry {
	t.Helper()
	var all []Entry
	for {
		if at, _ := c.Head(); at {
			return all
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		es, err := c.Next(ctx, 7, 1<<20)
		cancel()
		require.NoError(t, err)
		for _, e := range es {
			e.Payload = append([]byte(nil), e.Payload...)
			all = append(all, e)
		}
	}
}

func seqs(es []Entry) []uint64 {
	var s []uint64
	for _, e := range es {
		s = append(s, e.Seq)
	}
	return s
}

func TestConcurrentAppendsShareFsyncs(t *testing.T) {
	dir := t.TempDir()
	var commits, entries atomic.Int64
	l, _ := open(t, Options{Dir: dir, SegmentBytes: 4096, OnCommit: func(n, _ int, _ time.Duration) {
		commits.Add(1)
		entries.Add(int64(n))
	}})
	const g, per = 64, 20
	var wg sync.WaitGroup
	got := make([][]uint64, g)
	for w := 0; w < g; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				seq, dup, err := l.Append(context.Background(), Record{Type: 2, Payload: payload(w*per + i)})
				if err != nil || dup {
					t.Errorf("append: %v dup=%v", err, dup)
					return
				}
				got[w] = append(got[w], seq)
			}
		}()
	}
	wg.Wait()
	// OnCommit runs after the group's appenders are released; Close waits for the committer, so every call
	// has happened once it returns.
	require.NoError(t, l.Close())
	require.EqualValues(t, g*per, entries.Load())
	t.Logf("%d appends in %d group commits", g*per, commits.Load())
	require.Less(t, commits.Load(), int64(g*per/4), "concurrent appends must share fsyncs")

	l2, rep := open(t, Options{Dir: dir})
	require.True(t, rep.Clean())
	require.EqualValues(t, g*per, rep.Entries)
	c, err := l2.Cursor("reader")
	require.NoError(t, err)
	all := readAll(t, c)
	require.Len(t, all, g*per)
	byPayload := map[string]uint64{}
	var lastArrival int64
	for i, e := range all {
		require.EqualValues(t, i+1, e.Seq)
		require.Greater(t, e.Arrival, lastArrival, "arrival strictly increases")
		lastArrival = e.Arrival
		byPayload[string(e.Payload)] = e.Seq
	}
	for w := range got {
		for i, seq := range got[w] {
			require.Equal(t, seq, byPayload[string(payload(w*per+i))], "Append's seq is the entry's")
		}
	}
	require.Greater(t, rep.Segments, 1, "segments rotate at SegmentBytes")
}

func TestKeyDedup(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	opts := Options{Dir: dir, SegmentBytes: 200, KeyRetention: time.Hour, CursorSyncInterval: 5 * time.Millisecond, Now: clock}
	l, _ := open(t, opts)
	ctx := context.Background()

	seq, dup, err := l.Append(ctx, Record{HasKey: true, Key: key(1), Payload: []byte("a")})
	require.NoError(t, err)
	require.False(t, dup)
	seq2, dup, err := l.Append(ctx, Record{HasKey: true, Key: key(1), Payload: []byte("a again")})
	require.NoError(t, err)
	require.True(t, dup, "key in the log")
	require.Equal(t, seq, seq2)

	// Two appends of one key in one group: hold the fsync of a first group so both queue behind it.
	release := make(chan struct{})
	var held atomic.Bool
	l.hooks.sync = func(f *os.File) error {
		if held.CompareAndSwap(false, true) {
			<-release
		}
		return f.Sync()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.Append(ctx, Record{Payload: []byte("blocker")}) }()
	require.Eventually(t, held.Load, 5*time.Second, time.Millisecond)
	type res struct {
		seq uint64
		dup bool
	}
	results := make(chan res, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, d, err := l.Append(ctx, Record{HasKey: true, Key: key(2), Payload: []byte("b")})
			require.NoError(t, err)
			results <- res{s, d}
		}()
	}
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.pending) == 2 }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	r1, r2 := <-results, <-results
	require.NotEqual(t, r1.dup, r2.dup, "exactly one of the two is written")
	require.Equal(t, r1.seq, r2.seq)
	l.hooks.sync = nil
	keyedSeq := r1.seq

	// Reclaim the segments holding both keys: the sidecars still deduplicate.
	c, err := l.Cursor("c")
	require.NoError(t, err)
	appendN(t, l, 0, 20) // rotates several segments
	readAll(t, c)
	c.Commit(l.Stats().NextSeq)
	require.Eventually(t, func() bool { return l.Stats().FirstSeq > keyedSeq }, 5*time.Second, time.Millisecond)
	require.FileExists(t, filepath.Join(dir, keysName(1)))
	s, dup, err := l.Append(ctx, Record{HasKey: true, Key: key(2), Payload: []byte("b")})
	require.NoError(t, err)
	require.True(t, dup, "key of a reclaimed segment")
	require.Equal(t, keyedSeq, s)

	// Across a restart.
	require.NoError(t, l.Close())
	l2, rep := open(t, opts)
	require.True(t, rep.Clean(), "%+v", rep)
	for _, k := range []int{1, 2} {
		_, dup, err = l2.Append(ctx, Record{HasKey: true, Key: key(k), Payload: []byte("x")})
		require.NoError(t, err)
		require.True(t, dup, "key %d after restart", k)
	}
	// After KeyRetention the key is new again and its sidecar goes.
	advance(2 * time.Hour)
	l2.reclaim()
	_, dup, err = l2.Append(ctx, Record{HasKey: true, Key: key(1), Payload: []byte("x")})
	require.NoError(t, err)
	require.False(t, dup)
	require.NoFileExists(t, filepath.Join(dir, keysName(1)))
}

func TestFullThenReclaimFreesRoom(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir, SegmentBytes: 300, MaxBytes: 1000, CursorSyncInterval: 5 * time.Millisecond})
	c, err := l.Cursor("exporter")
	require.NoError(t, err)
	ctx := context.Background()
	n := 0
	for {
		_, _, err = l.Append(ctx, Record{Payload: payload(n)})
		if err != nil {
			break
		}
		n++
	}
	require.ErrorIs(t, err, ErrFull)
	st := l.Stats()
	require.True(t, st.Full)
	require.LessOrEqual(t, st.Bytes, int64(1000))
	// Still full while the cursor has not committed.
	time.Sleep(30 * time.Millisecond)
	_, _, err = l.Append(ctx, Record{Payload: payload(n)})
	require.ErrorIs(t, err, ErrFull)

	es := readAll(t, c)
	require.Len(t, es, n)
	c.Commit(es[len(es)-1].Seq + 1)
	require.Eventually(t, func() bool { return !l.Stats().Full }, 5*time.Second, time.Millisecond, "reclaim clears Full")
	seq, _, err := l.Append(ctx, Record{Payload: payload(n)})
	require.NoError(t, err)
	require.EqualValues(t, n+1, seq)
}

func TestWriteFailureThenRecovery(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir})
	appendN(t, l, 0, 3)
	l.hooks.write = func(f *os.File, b []byte) (int, error) {
		n, _ := f.Write(b[:len(b)/2]) // a partial frame reaches the file
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	_, _, err := l.Append(context.Background(), Record{Payload: []byte("lost")})
	require.Error(t, err)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorIs(t, err, ErrNoSpace)
	require.Contains(t, l.Stats().LastAppendError, "no space")

	l.hooks.write = nil
	l.hooks.sync = func(*os.File) error { return syscall.EIO }
	_, _, err = l.Append(context.Background(), Record{Payload: []byte("lost too")})
	require.ErrorIs(t, err, syscall.EIO)

	l.hooks.sync = nil
	seq, _, err := l.Append(context.Background(), Record{Payload: []byte("kept")})
	require.NoError(t, err)
	require.EqualValues(t, 4, seq, "seqs of failed groups are reused")
	require.Empty(t, l.Stats().LastAppendError)
	require.NoError(t, l.Close())

	rep, err := Check(dir)
	require.NoError(t, err)
	require.True(t, rep.Clean(), "no partial frame is left: %+v", rep)
	require.EqualValues(t, 4, rep.Entries)
	require.GreaterOrEqual(t, rep.Segments, 2, "a fresh segment after the failure")
	l2, _ := open(t, Options{Dir: dir})
	c, _ := l2.Cursor("r")
	es := readAll(t, c)
	require.Equal(t, []uint64{1, 2, 3, 4}, seqs(es))
	require.Equal(t, "kept", string(es[3].Payload))
}

func lastSegment(t *testing.T, dir string) string {
	ids, err := listNumbered(dir, segExt)
	require.NoError(t, err)
	return filepath.Join(dir, segName(ids[len(ids)-1]))
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir})
	appendN(t, l, 0, 5)
	require.NoError(t, l.Close())
	seg := lastSegment(t, dir)
	frame := appendFrame(nil, 6, 1, &Record{Payload: []byte("never acknowledged")})
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(frame[:len(frame)-3])
	f.Close()

	rep, err := Check(dir)
	require.NoError(t, err)
	require.NotNil(t, rep.TornTail)
	require.False(t, rep.Clean())

	l2, rep := open(t, Options{Dir: dir, OnCorruption: PolicyFail})
	require.NotNil(t, rep.TornTail, "a crash tail is cut even under PolicyFail")
	require.Empty(t, rep.Damaged)
	require.EqualValues(t, 5, rep.TornTail.AfterSeq)
	require.FileExists(t, rep.TornTail.SavedTo)
	require.Zero(t, l2.Stats().Damaged)
	c, _ := l2.Cursor("r")
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, seqs(readAll(t, c)))
	seq, _, err := l2.Append(context.Background(), Record{Payload: []byte("6")})
	require.NoError(t, err)
	require.EqualValues(t, 6, seq)
}

// frameOffset returns the byte offset of the frame of seq in a segment file.
func frameOffset(t *testing.T, path string, seq uint64) int {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	for off := 0; off < len(data); {
		e, n, ok := frameAt(data, off)
		require.True(t, ok)
		if e.Seq == seq {
			return off
		}
		off += n
	}
	t.Fatalf("seq %d not in %s", seq, path)
	return 0
}

func flipByte(t *testing.T, path string, off int) {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[off] ^= 0x20
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

func TestFlippedByteMidNewestSegment(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir})
	appendN(t, l, 1, 10)
	require.NoError(t, l.Close())
	seg := lastSegment(t, dir)
	flipByte(t, seg, frameOffset(t, seg, 5)+headerSize+20) // inside entry 5's payload

	rep, err := Check(dir)
	require.NoError(t, err)
	require.Nil(t, rep.TornTail, "valid frames follow: corruption, not a torn tail")
	require.Len(t, rep.Damaged, 1)
	d := rep.Damaged[0]
	require.EqualValues(t, 4, d.AfterSeq)
	require.EqualValues(t, 6, d.BeforeSeq)
	require.EqualValues(t, 1, d.LostEntries)
	require.EqualValues(t, frameOffset(t, seg, 4)+frameSize(&Record{Payload: payload(4)}), d.Offset)
	require.EqualValues(t, frameSize(&Record{Payload: payload(5)}), d.Length)

	l2, rep := open(t, Options{Dir: dir})
	require.Len(t, rep.Damaged, 1)
	require.EqualValues(t, 1, rep.Damaged[0].LostEntries)
	require.FileExists(t, rep.Damaged[0].SavedTo)
	require.True(t, rep.Repaired)
	require.EqualValues(t, 1, l2.Stats().Damaged)
	c, _ := l2.Cursor("r")
	es := readAll(t, c)
	require.Equal(t, []uint64{1, 2, 3, 4, 6, 7, 8, 9, 10}, seqs(es))
	for _, e := range es {
		require.Equal(t, string(payload(int(e.Seq))), string(e.Payload))
	}
	seq, _, err := l2.Append(context.Background(), Record{Payload: []byte("11")})
	require.NoError(t, err)
	require.EqualValues(t, 11, seq)
	require.NoError(t, l2.Close())

	rep, err = Check(dir)
	require.NoError(t, err)
	require.True(t, rep.Clean(), "salvaged log checks clean: %+v", rep)
}

func TestOlderSegmentCorruptionSalvaged(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir, SegmentBytes: 150})
	appendN(t, l, 1, 30)
	require.NoError(t, l.Close())
	ids, _ := listNumbered(dir, segExt)
	require.Greater(t, len(ids), 3)
	older := filepath.Join(dir, segName(ids[1]))
	// Damage the frame header of the segment's second entry (its length).
	flipByte(t, older, frameOffset(t, older, ids[1]+1)+5)

	_, _, err := Open(Options{Dir: dir, OnCorruption: PolicyFail})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "tfocol log repair")
	require.Contains(t, err.Error(), segName(ids[1]))

	rep, err := Repair(dir)
	require.NoError(t, err)
	require.Len(t, rep.Damaged, 1)
	require.EqualValues(t, ids[1], rep.Damaged[0].AfterSeq)
	require.EqualValues(t, 1, rep.Damaged[0].LostEntries)
	rep, err = Check(dir)
	require.NoError(t, err)
	require.True(t, rep.Clean(), "%+v", rep)
	require.EqualValues(t, 29, rep.Entries)

	l2, _ := open(t, Options{Dir: dir, OnCorruption: PolicyFail})
	c, _ := l2.Cursor("r")
	es := readAll(t, c)
	require.Len(t, es, 29)
	for _, e := range es {
		require.NotEqual(t, ids[1]+1, e.Seq)
		require.Equal(t, string(payload(int(e.Seq))), string(e.Payload))
	}
}

func TestPolicyFailChangesNothing(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir})
	appendN(t, l, 1, 5)
	require.NoError(t, l.Close())
	seg := lastSegment(t, dir)
	flipByte(t, seg, frameOffset(t, seg, 2)+headerSize+3)
	before, _ := os.ReadFile(seg)
	_, rep, err := Open(Options{Dir: dir, OnCorruption: PolicyFail})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "tfocol log check")
	require.Len(t, rep.Damaged, 1)
	after, _ := os.ReadFile(seg)
	require.Equal(t, before, after)
	// Not locked after a refused open.
	_, err = Check(dir)
	require.NoError(t, err)
}

func TestGapBetweenSegmentsReported(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir, SegmentBytes: 150})
	appendN(t, l, 1, 30)
	require.NoError(t, l.Close())
	ids, _ := listNumbered(dir, segExt)
	require.NoError(t, os.Remove(filepath.Join(dir, segName(ids[1]))))
	rep, err := Check(dir)
	require.NoError(t, err)
	require.Len(t, rep.Damaged, 1)
	d := rep.Damaged[0]
	require.Equal(t, segName(ids[2]), d.Segment)
	require.EqualValues(t, ids[1]-1, d.AfterSeq)
	require.EqualValues(t, ids[2], d.BeforeSeq)
	require.EqualValues(t, ids[2]-ids[1], d.LostEntries)
	_, err = Repair(dir)
	require.NoError(t, err)
	rep, err = Check(dir)
	require.NoError(t, err)
	require.True(t, rep.Clean())
}

func TestDamagedKeyIndexSkipped(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 100, CursorSyncInterval: 5 * time.Millisecond}
	l, _ := open(t, opts)
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		_, _, err := l.Append(ctx, Record{HasKey: true, Key: key(i), Payload: payload(i)})
		require.NoError(t, err)
	}
	c, _ := l.Cursor("c")
	readAll(t, c)
	c.Commit(7)
	require.Eventually(t, func() bool { return l.Stats().Segments == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, l.Close())
	sidecars, _ := listNumbered(dir, keysExt)
	require.NotEmpty(t, sidecars)
	flipByte(t, filepath.Join(dir, keysName(sidecars[0])), 10)

	rep, err := Check(dir)
	require.NoError(t, err)
	require.Equal(t, []string{keysName(sidecars[0])}, rep.KeyIndexDamaged)
	l2, rep := open(t, Options{Dir: dir, OnCorruption: PolicyFail})
	require.Equal(t, []string{keysName(sidecars[0])}, rep.KeyIndexDamaged, "reported, never fatal")
	// The keys of the intact sidecars still deduplicate; those of the damaged one are forgotten.
	damagedKeys := 0
	for i := 0; i < 6; i++ {
		_, dup, err := l2.Append(ctx, Record{HasKey: true, Key: key(i), Payload: payload(i)})
		require.NoError(t, err)
		if !dup {
			damagedKeys++
		}
	}
	require.Positive(t, damagedKeys)
	require.Less(t, damagedKeys, 6)
}

func TestCursorPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir, CursorSyncInterval: time.Hour})
	appendN(t, l, 1, 10)
	a, err := l.Cursor("exporter/a")
	require.NoError(t, err)
	b, err := l.Cursor("b")
	require.NoError(t, err)
	_, err = l.Cursor("b")
	require.Error(t, err, "one holder per cursor")
	_, err = l.Cursor("Bad Name")
	require.Error(t, err)
	readAll(t, a)
	a.Commit(8)
	a.Commit(3) // never backwards
	require.EqualValues(t, 8, a.Committed())
	require.EqualValues(t, 1, b.Committed())
	require.NoError(t, l.Close()) // persists on Close

	l2, rep := open(t, Options{Dir: dir})
	require.Equal(t, []CursorStats{{Name: "b", Committed: 1, Read: 1, LagEntries: 10, LagBytes: rep.Cursors[0].LagBytes},
		{Name: "exporter/a", Committed: 8, Read: 8, LagEntries: 3, LagBytes: rep.Cursors[1].LagBytes}}, rep.Cursors)
	require.Greater(t, rep.Cursors[0].LagBytes, rep.Cursors[1].LagBytes)
	a2, err := l2.Cursor("exporter/a")
	require.NoError(t, err)
	require.EqualValues(t, 8, a2.Committed())
	require.Equal(t, []uint64{8, 9, 10}, seqs(readAll(t, a2)))
	require.NoError(t, l2.DropCursor("b"))
	require.Len(t, l2.Stats().Cursors, 1)
	require.NoFileExists(t, filepath.Join(dir, cursorDir, "b"))
}

func TestHead(t *testing.T) {
	dir := t.TempDir()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	l, _ := open(t, Options{Dir: dir, Now: clock})
	c, _ := l.Cursor("c")
	at, asOf := c.Head()
	require.True(t, at, "empty log: at head")
	appendN(t, l, 1, 3)
	at, _ = c.Head()
	require.False(t, at)
	es, err := c.Next(context.Background(), 10, 1<<20)
	require.NoError(t, err)
	require.Len(t, es, 3)
	require.GreaterOrEqual(t, es[0].Arrival, asOf.UnixNano())
	at, asOf = c.Head()
	require.True(t, at)
	// Next blocks until an entry arrives, and that entry's arrival is not before asOf.
	got := make(chan []Entry)
	go func() {
		es, _ := c.Next(context.Background(), 10, 1<<20)
		got <- es
	}()
	select {
	case <-got:
		t.Fatal("Next returned without a new entry")
	case <-time.After(20 * time.Millisecond):
	}
	appendN(t, l, 4, 1)
	es = <-got
	require.EqualValues(t, 4, es[0].Seq)
	require.GreaterOrEqual(t, es[0].Arrival, asOf.UnixNano())

	// A clock that goes backwards does not break the promise.
	offset.Store(int64(-time.Hour))
	readAll(t, c)
	_, asOf = c.Head()
	appendN(t, l, 5, 1)
	es, err = c.Next(context.Background(), 1, 1<<20)
	require.NoError(t, err)
	require.GreaterOrEqual(t, es[0].Arrival, asOf.UnixNano())
}

func TestNextLimitsAndCancel(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir})
	big := make([]byte, 200<<10)
	for i := range big {
		big[i] = byte(i)
	}
	_, _, err := l.Append(context.Background(), Record{Payload: big})
	require.NoError(t, err)
	appendN(t, l, 2, 5)
	c, _ := l.Cursor("c")
	es, err := c.Next(context.Background(), 10, 1000)
	require.NoError(t, err)
	require.Len(t, es, 1, "one entry even if it alone exceeds maxBytes")
	require.Equal(t, big, es[0].Payload)
	es, err = c.Next(context.Background(), 2, 1<<20)
	require.NoError(t, err)
	require.Equal(t, []uint64{2, 3}, seqs(es))
	es, err = c.Next(context.Background(), 100, 2*len(payload(0)))
	require.NoError(t, err)
	require.Equal(t, []uint64{4, 5}, seqs(es))
	es, err = c.Next(context.Background(), 100, 1<<20)
	require.NoError(t, err)
	require.Equal(t, []uint64{6}, seqs(es))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = c.Next(ctx, 1, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	done := make(chan error)
	go func() { _, err := c.Next(context.Background(), 1, 1); done <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-done, ErrClosed)
	_, _, err = l.Append(context.Background(), Record{})
	require.ErrorIs(t, err, ErrClosed)
}

func TestCheckIsReadOnlyAndLocking(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, Options{Dir: dir})
	appendN(t, l, 1, 4)
	_, _, err := Open(Options{Dir: dir})
	require.ErrorIs(t, err, ErrLocked)
	_, err = Check(dir)
	require.ErrorIs(t, err, ErrLocked)
	_, err = Repair(dir)
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, l.Close())

	seg := lastSegment(t, dir)
	flipByte(t, seg, frameOffset(t, seg, 2)+headerSize+3)
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("torn"))
	f.Close()
	snapshot := func() map[string]string {
		m := map[string]string{}
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b, _ := os.ReadFile(p)
				m[p] = string(b) + fi.ModTime().String()
			}
			return nil
		})
		return m
	}
	before := snapshot()
	rep, err := Check(dir)
	require.NoError(t, err)
	require.Len(t, rep.Damaged, 1)
	require.NotNil(t, rep.TornTail)
	require.False(t, rep.Repaired)
	require.Equal(t, before, snapshot(), "Check changes nothing")
}

func TestErrorsAreDistinct(t *testing.T) {
	require.False(t, errors.Is(ErrFull, ErrClosed))
	require.True(t, errors.Is(fmt.Errorf("x: %w", syscall.ENOSPC), ErrNoSpace))
}
