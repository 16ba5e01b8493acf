package procfs

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
	before, err := CPU(os.Getpid())
	require.NoError(t, err)
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		now, err := CPU(0)
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
	hwm, err := PeakRSS(0)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, hwm, uint64(size))
	assert.Equal(t, byte(1), buf[size-4096])
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
	before, err := OpenFDs(0)
	require.NoError(t, err)
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer f.Close()
	after, err := OpenFDs(0)
	require.NoError(t, err)
	assert.Greater(t, after, before-1) // other goroutines may close fds meanwhile; at least not fewer
	limit, err := OpenFilesLimit(0)
	require.NoError(t, err)
	if limit > 0 {
		assert.LessOrEqual(t, uint64(after), limit)
	}
}
