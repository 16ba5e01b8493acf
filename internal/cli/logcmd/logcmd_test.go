package logcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tfocol/tfocol/internal/durablelog"
)

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := New()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return out.String(), 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return out.String() + err.Error(), ee.Code
	}
	return out.String() + err.Error(), 2
}

func writeLog(t *testing.T, n int) string {
	dir := t.TempDir()
	l, _, err := durablelog.Open(durablelog.Options{Dir: dir})
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		_, _, err := l.Append(context.Background(), durablelog.Record{Payload: []byte(fmt.Sprintf("entry %03d", i))})
		require.NoError(t, err)
	}
	c, err := l.Cursor("exporter")
	require.NoError(t, err)
	c.Commit(4)
	require.NoError(t, l.Close())
	return dir
}

func segment(t *testing.T, dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	require.Len(t, m, 1)
	return m[0]
}

func TestCheckRepair(t *testing.T) {
	dir := writeLog(t, 10)
	out, code := run(t, "check", "--dir", dir)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "10 entries")
	require.Contains(t, out, "clean")

	seg := segment(t, dir)
	data, _ := os.ReadFile(seg)
	data[len(data)/2] ^= 0x40 // inside entry 5 or 6
	require.NoError(t, os.WriteFile(seg, data, 0o644))
	before, _ := os.ReadFile(seg)

	out, code = run(t, "check", "--dir", dir)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, filepath.Base(seg))
	require.Contains(t, out, "1 entries lost")
	after, _ := os.ReadFile(seg)
	require.Equal(t, before, after, "check is read-only")

	cmd := New()
	var jsonOut bytes.Buffer
	cmd.SetOut(&jsonOut)
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"check", "--dir", dir, "--json"})
	require.Error(t, cmd.Execute())
	out = jsonOut.String()
	var rep struct {
		Clean   bool
		Damaged []durablelog.Damage
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.False(t, rep.Clean)
	require.Len(t, rep.Damaged, 1)
	require.EqualValues(t, 1, rep.Damaged[0].LostEntries)

	out, code = run(t, "repair", "--dir", dir)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "1 entries lost")
	out, code = run(t, "check", "--dir", dir)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "9 entries")

	// repair refuses while the log is open.
	l, _, err := durablelog.Open(durablelog.Options{Dir: dir})
	require.NoError(t, err)
	out, code = run(t, "repair", "--dir", dir)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "locked")
	require.NoError(t, l.Close())
}

func TestCursorsAndDrop(t *testing.T) {
	dir := writeLog(t, 10)
	out, code := run(t, "cursors", "--dir", dir)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `exporter\s+4\s+7\s+\d+`, out)
	out, code = run(t, "drop-cursor", "--dir", dir, "exporter")
	require.Equal(t, 0, code, out)
	out, _ = run(t, "cursors", "--dir", dir)
	require.NotContains(t, out, "exporter")
	_, code = run(t, "drop-cursor", "--dir", dir)
	require.Equal(t, 2, code)
	_, code = run(t, "check")
	require.Equal(t, 2, code)
	_, code = run(t, "check", "--dir", filepath.Join(dir, "missing"))
	require.Equal(t, 2, code)
}
