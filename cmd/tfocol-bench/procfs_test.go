package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields (utime=1234, stime=56).
	stat := "4242 (tfo col) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 12 0 500 1000000 2000 " +
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	ticks, err := parseStatCPU([]byte(stat))
	require.NoError(t, err)
	assert.Equal(t, uint64(1234+56), ticks)

	_, err = parseStatCPU([]byte("4242 (x) S 1 2"))
	assert.Error(t, err, "truncated stat")
	_, err = parseStatCPU([]byte("garbage"))
	assert.Error(t, err)
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\ttfocol\nVmPeak:\t 2000000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\n"
	hwm, err := parseStatusKB([]byte(status), "VmHWM")
	require.NoError(t, err)
	assert.Equal(t, uint64(81234*1024), hwm)

	_, err = parseStatusKB([]byte(status), "VmSwap")
	assert.Error(t, err, "missing line")
	_, err = parseStatusKB([]byte("VmHWM:\t12 MB\n"), "VmHWM")
	assert.Error(t, err, "unexpected unit")
}

// The /proc readers work on a live process: CPU time grows while it computes and the peak RSS covers
// memory it touched.
func TestProcReadersOnSelf(t *testing.T) {
	before, err := processCPU(os.Getpid())
	require.NoError(t, err)
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		now, err := processCPU(0)
		require.NoError(t, err)
		if now-before >= 50*time.Millisecond {
			break
		}
		require.True(t, time.Now().Before(deadline), "CPU time did not grow while computing (x=%d)", x)
	}

	const size = 64 << 20
	buf := make([]byte, size)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	hwm, err := peakRSS(0)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, hwm, uint64(size))
	assert.Equal(t, byte(1), buf[size-4096])
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, percentile(d, 50))
	assert.Equal(t, 99*time.Millisecond, percentile(d, 99))
	assert.Equal(t, 100*time.Millisecond, percentile(d, 100))
	assert.Equal(t, time.Millisecond, percentile(d, 0.5))

	// Nearest rank: with 10 samples p99 is the largest, p50 the 5th.
	assert.Equal(t, 10*time.Millisecond, percentile(d[:10], 99))
	assert.Equal(t, 5*time.Millisecond, percentile(d[:10], 50))
	assert.Equal(t, 7*time.Millisecond, percentile(d[6:7], 99))
	assert.Equal(t, time.Duration(0), percentile(nil, 50))
}

func TestSpreadOf(t *testing.T) {
	assert.Equal(t, spread{Min: 1, Median: 3, Max: 9}, spreadOf([]float64{9, 1, 3}))
	assert.Equal(t, spread{Min: 1, Median: 2.5, Max: 4}, spreadOf([]float64{4, 2, 3, 1}))
	in := []float64{3, 1, 2}
	spreadOf(in)
	assert.Equal(t, []float64{3, 1, 2}, in, "input left unsorted")
}

func TestDeliveredRate(t *testing.T) {
	// Batches of 8192 items every 0.8 s (10240 items/s). A 3 s window sees 4 of them; counting the
	// window's items would say 10923/s, from batch to batch it is exact.
	t0 := time.Unix(1000, 0)
	var arr []arrival
	for i := range 4 {
		arr = append(arr, arrival{At: t0.Add(time.Duration(i) * 800 * time.Millisecond), Total: int64(i+1) * 8192})
	}
	assert.InDelta(t, 10240, deliveredRate(arr, 4*8192, 3*time.Second), 0.01)
	// Too few arrivals: items in the window over the window.
	assert.InDelta(t, 8192.0/3, deliveredRate(arr[:2], 8192, 3*time.Second), 0.01)
}

func TestParseLimitsSoft(t *testing.T) {
	limits := []byte("Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max cpu time              unlimited            unlimited            seconds   \n" +
		"Max open files            1024                 524288               files     \n")
	v, err := parseLimitsSoft(limits, "Max open files")
	require.NoError(t, err)
	assert.Equal(t, uint64(1024), v)
	v, err = parseLimitsSoft(limits, "Max cpu time")
	require.NoError(t, err)
	assert.Equal(t, uint64(0), v)
	_, err = parseLimitsSoft(limits, "Max processes")
	assert.Error(t, err)
}

func TestOpenFDsOnSelf(t *testing.T) {
	before, err := openFDs(0)
	require.NoError(t, err)
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer f.Close()
	after, err := openFDs(0)
	require.NoError(t, err)
	assert.Greater(t, after, before-1) // other goroutines may close fds meanwhile; at least not fewer
	limit, err := openFilesLimit(0)
	require.NoError(t, err)
	if limit > 0 {
		assert.LessOrEqual(t, uint64(after), limit)
	}
}
