package tfostatusextension

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pipeline"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/components/extension/tfostatusextension/internal/metadata"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
	"github.com/tfocol/tfocol/internal/ingeststatus"
	"github.com/tfocol/tfocol/internal/principal"
)

const testWorkspace = "8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f"

// extensionSettings names the extension tfo_status, its cursor's name across restarts.
func extensionSettings() extension.Settings {
	set := extensiontest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	return set
}

// logProvider offers a durable log as the tfo_log extension does.
type logProvider struct {
	component.StartFunc
	component.ShutdownFunc
	log *durablelog.Log
}

func (p logProvider) DurableLog() *durablelog.Log { return p.log }
func (p logProvider) ReportAppendError(error)     {}
func (p logProvider) ReportAppendOK()             {}

// workspaceAuth accepts "Bearer ws-token" for testWorkspace, like tfo_auth accepts a workspace's credentials.
type workspaceAuth struct {
	component.StartFunc
	component.ShutdownFunc
}

func (workspaceAuth) Authenticate(ctx context.Context, h map[string][]string) (context.Context, error) {
	if v := http.Header(h).Get("Authorization"); v == "Bearer ws-token" {
		return principal.NewContext(ctx, &principal.Principal{Workspaces: []string{testWorkspace}}), nil
	}
	return ctx, status.Error(codes.Unauthenticated, "authentication failed")
}

type testHost map[component.ID]component.Component

func (h testHost) GetExtensions() map[component.ID]component.Component { return h }

func openLog(t *testing.T, dir string) *durablelog.Log {
	t.Helper()
	l, _, err := durablelog.Open(durablelog.Options{Dir: dir, CursorSyncInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	return l
}

func appendLogs(t *testing.T, l *durablelog.Log, records int) {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(ingeststatus.AttrWorkspace, testWorkspace)
	for range records {
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	}
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	_, _, err = l.Append(context.Background(), durablelog.Record{Type: loghost.SignalLogs, Payload: raw})
	require.NoError(t, err)
}

type fixture struct {
	t    *testing.T
	set  extension.Settings
	cfg  *Config
	host testHost
	ext  *statusExtension
}

func newFixture(t *testing.T, l *durablelog.Log, dir string) *fixture {
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Directory = dir
	cfg.AdminTokenFile = "admin.token"
	cfg.WorkspaceAuth = "tfo_auth"
	cfg.FlushInterval = time.Hour // persisted at shutdown only, unless a test calls persist
	return &fixture{t: t, set: extensionSettings(), cfg: cfg, host: testHost{
		component.MustNewID("tfo_log"):  logProvider{log: l},
		component.MustNewID("tfo_auth"): workspaceAuth{},
	}}
}

// startOnFreshLog starts the extension on a new log and status directory; both are shut when the test ends.
func startOnFreshLog(t *testing.T) (*durablelog.Log, *fixture, *statusExtension) {
	t.Helper()
	l := openLog(t, filepath.Join(t.TempDir(), "log"))
	t.Cleanup(func() { l.Close() })
	f := newFixture(t, l, filepath.Join(t.TempDir(), "status"))
	ext := f.start()
	t.Cleanup(func() { ext.Shutdown(context.Background()) })
	return l, f, ext
}

func (f *fixture) start() *statusExtension {
	f.t.Helper()
	ext, err := NewFactory().Create(context.Background(), f.set, f.cfg)
	require.NoError(f.t, err)
	require.NoError(f.t, ext.Start(context.Background(), f.host))
	f.ext = ext.(*statusExtension)
	f.host[component.MustNewID("tfo_status")] = ext
	return f.ext
}

func (f *fixture) batches() uint64 {
	return f.ext.IngestStatus(ingeststatus.AllWorkspaces).Totals.Batches
}

func (f *fixture) waitBatches(n uint64) {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return f.batches() == n }, 10*time.Second, 5*time.Millisecond, "counted %d of %d", f.batches(), n)
}

// crash stops the extension as a killed process would: nothing persisted beyond what already was.
func (f *fixture) crash() {
	f.ext.cancel()
	f.ext.wg.Wait()
	_ = f.ext.server.Close()
	f.ext.tel.close()
}

// The counts come from the durable log with the extension's own cursor: a graceful restart continues from the
// snapshot, entries appended while the gateway was down are counted at the next start, and after a crash the
// entries the last snapshot did not cover are counted again from the log — each exactly once.
func TestCountsSurviveRestartAndCrash(t *testing.T) {
	logDir, dir := filepath.Join(t.TempDir(), "log"), filepath.Join(t.TempDir(), "status")
	l := openLog(t, logDir)
	f := newFixture(t, l, dir)
	f.start()
	appendLogs(t, l, 2)
	appendLogs(t, l, 3)
	f.waitBatches(2)
	require.NoError(t, f.ext.Shutdown(context.Background()))
	require.NoError(t, l.Close())

	l = openLog(t, logDir) // the next process
	appendLogs(t, l, 1)    // before the status counts again
	f = newFixture(t, l, dir)
	f.start()
	f.waitBatches(3)
	require.NoError(t, f.ext.persist()) // a periodic snapshot: covers 3 entries
	appendLogs(t, l, 4)
	f.waitBatches(4)
	f.ext.IngestStatusRecorder().Duplicate(testWorkspace, "logs") // after the snapshot: lost in the crash
	f.crash()
	require.NoError(t, l.Close())

	l = openLog(t, logDir)
	f = newFixture(t, l, dir)
	f.start()
	f.waitBatches(4)
	rep := f.ext.IngestStatus(ingeststatus.AllWorkspaces)
	assert.EqualValues(t, 10, rep.Totals.Records)
	assert.EqualValues(t, 0, rep.Totals.Duplicates, "recorder counts after the last snapshot are lost in a crash (documented)")
	var consumer *ingeststatus.Consumer
	for i, c := range rep.Upstream.Consumers {
		if c.Name == "tfo_status" {
			consumer = &rep.Upstream.Consumers[i]
		}
	}
	require.NotNil(t, consumer, "the extension's cursor is listed with the log's consumers")
	require.NoError(t, f.ext.Shutdown(context.Background()))
	require.NoError(t, l.Close())
}

// A snapshot that cannot be read is set aside and the log is counted from its oldest entry.
func TestDamagedSnapshotIsSetAside(t *testing.T) {
	logDir, dir := filepath.Join(t.TempDir(), "log"), filepath.Join(t.TempDir(), "status")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, snapshotFile), []byte("{not json"), 0o600))
	l := openLog(t, logDir)
	defer l.Close()
	appendLogs(t, l, 1)
	f := newFixture(t, l, dir)
	f.start()
	defer f.ext.Shutdown(context.Background())
	f.waitBatches(1)
	matches, _ := filepath.Glob(filepath.Join(dir, snapshotFile+".damaged-*"))
	assert.Len(t, matches, 1)
}

func getJSON(t *testing.T, url, auth string, into any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
	return resp.StatusCode
}

// Over HTTP: the admin token sees every workspace, a workspace credential its own, anything else is refused;
// the engine status is open and follows component status.
func TestServeOverHTTP(t *testing.T) {
	l, f, ext := startOnFreshLog(t)
	appendLogs(t, l, 1)
	f.waitBatches(1)
	base := "http://" + ext.listenAddr()

	tok, err := os.ReadFile(filepath.Join(f.cfg.Directory, "admin.token"))
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(f.cfg.Directory, "admin.token"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.True(t, strings.HasPrefix(string(tok), adminTokenPrefix))

	var rep ingeststatus.Report
	assert.Equal(t, 200, getJSON(t, base+ingeststatus.Path, "Bearer "+strings.TrimSpace(string(tok)), &rep))
	assert.Equal(t, ingeststatus.ScopeAll, rep.Scope)
	assert.EqualValues(t, 1, rep.Totals.Batches)
	rep = ingeststatus.Report{}
	assert.Equal(t, 200, getJSON(t, base+ingeststatus.Path, "Bearer ws-token", &rep))
	assert.Equal(t, ingeststatus.ScopeWorkspace, rep.Scope)
	var eb ingeststatus.ErrorBody
	assert.Equal(t, 403, getJSON(t, base+ingeststatus.Path+"?workspace=0b7e6c1a-8d2f-4c39-9a51-2f0f2b8e4d11", "Bearer ws-token", &eb))
	assert.Equal(t, 401, getJSON(t, base+ingeststatus.Path, "Bearer wrong", &eb))
	assert.Equal(t, 401, getJSON(t, base+ingeststatus.Path, "", &eb))

	var es ingeststatus.EngineStatus
	assert.Equal(t, 503, getJSON(t, base+EngineStatusPath, "", &es), "pipelines not running yet")
	assert.Equal(t, ingeststatus.EngineStarting, es.Status)
	require.NoError(t, ext.Ready())
	assert.Equal(t, 200, getJSON(t, base+EngineStatusPath, "", &es))
	assert.Equal(t, ingeststatus.EngineReady, es.Status)
	assert.Equal(t, "tfocol", es.Engine)

	fwd := component.MustNewIDWithName("tfo_log", "forward")
	for _, sig := range []pipeline.Signal{pipeline.SignalLogs, pipeline.SignalTraces} {
		src := componentstatus.NewInstanceID(fwd, component.KindReceiver, pipeline.NewIDWithName(sig, "forward"))
		ext.ComponentStatusChanged(src, componentstatus.NewRecoverableErrorEvent(errors.New("upstream down")))
	}
	es = ingeststatus.EngineStatus{}
	assert.Equal(t, 503, getJSON(t, base+EngineStatusPath, "", &es))
	assert.Equal(t, ingeststatus.EngineDegraded, es.Status)
	require.Len(t, es.Reasons, 1, "one component, reported in two pipelines")
	assert.Equal(t, "tfo_log/forward", es.Reasons[0].Component)
	assert.Equal(t, "receiver", es.Reasons[0].Kind)
	assert.Equal(t, []string{"logs/forward", "traces/forward"}, es.Reasons[0].Pipelines)
	assert.Equal(t, "upstream down", es.Reasons[0].Error)

	ext.ComponentStatusChanged(componentstatus.NewInstanceID(fwd, component.KindReceiver, pipeline.NewIDWithName(pipeline.SignalLogs, "forward")),
		componentstatus.NewEvent(componentstatus.StatusOK))
	assert.Equal(t, 200, getJSON(t, base+EngineStatusPath, "", &es))
	require.NoError(t, ext.NotReady())
	es = ingeststatus.EngineStatus{}
	getJSON(t, base+EngineStatusPath, "", &es)
	assert.Equal(t, ingeststatus.EngineStopping, es.Status)
}

// The admin token is compared by hash, re-read when its file is replaced, and must not be trivially short.
func TestAdminTokenRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	require.NoError(t, os.WriteFile(path, []byte("first-token-0123456789\n"), 0o600))
	tok, created, err := loadAdminToken(path)
	require.NoError(t, err)
	assert.False(t, created)
	assert.True(t, tok.matches("first-token-0123456789"))
	assert.False(t, tok.matches("first-token-012345678"))

	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte("second-token-abcdefghijkl"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	assert.True(t, tok.matches("second-token-abcdefghijkl"))
	assert.False(t, tok.matches("first-token-0123456789"))

	short := filepath.Join(t.TempDir(), "short.token")
	require.NoError(t, os.WriteFile(short, []byte("abc"), 0o600))
	_, _, err = loadAdminToken(short)
	assert.ErrorContains(t, err, "at least")
}

// Counters that cannot be persisted (here: the snapshot's path is taken by a directory) degrade the engine
// status, naming the extension, until a write succeeds again; the log keeps what the snapshot does not cover.
func TestPersistFailureDegradesTheEngine(t *testing.T) {
	_, f, ext := startOnFreshLog(t)
	require.NoError(t, ext.Ready())
	blocker := filepath.Join(f.cfg.Directory, snapshotFile)
	require.NoError(t, os.MkdirAll(filepath.Join(blocker, "x"), 0o755))

	require.Error(t, ext.persist())
	doc := ext.EngineStatus()
	assert.Equal(t, ingeststatus.EngineDegraded, doc.Status)
	require.Len(t, doc.Reasons, 1)
	assert.Equal(t, "tfo_status", doc.Reasons[0].Component)
	assert.Equal(t, "extension", doc.Reasons[0].Kind)

	require.NoError(t, os.RemoveAll(blocker))
	require.NoError(t, ext.persist())
	assert.Equal(t, ingeststatus.EngineReady, ext.EngineStatus().Status)
}
