package tfostatusextension

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/internal/atomicfile"
	"github.com/tfocol/tfocol/internal/buildinfo"
	"github.com/tfocol/tfocol/internal/durablelog"
	"github.com/tfocol/tfocol/internal/durablelog/loghost"
	"github.com/tfocol/tfocol/internal/ingeststatus"
)

// EngineStatusPath is the engine status document's path.
const EngineStatusPath = "/.well-known/engine-status"

// snapshotFile is the persisted tally inside Config.Directory.
const snapshotFile = "status.json"

type statusExtension struct {
	cfg *Config
	set extension.Settings
	now func() time.Time

	started time.Time
	tally   atomic.Pointer[ingeststatus.Tally]
	log     *durablelog.Log
	cursor  *durablelog.Cursor
	auth    *authorizer
	engine  *engineState
	tel     *telemetry

	server *http.Server
	addr   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// persistFailing is set while the counters cannot be persisted (reported once per run of failures).
	persistFailing bool
}

var (
	_ extensioncapabilities.Dependent       = (*statusExtension)(nil)
	_ extensioncapabilities.PipelineWatcher = (*statusExtension)(nil)
	_ componentstatus.Watcher               = (*statusExtension)(nil)
	_ ingeststatus.RecorderProvider         = (*statusExtension)(nil)
	_ ingeststatus.Source                   = (*statusExtension)(nil)
)

func newStatusExtension(cfg *Config, set extension.Settings) *statusExtension {
	return &statusExtension{cfg: cfg, set: set, now: time.Now, engine: newEngineState()}
}

// Dependencies makes the collector start the log and the workspace authenticator first (and stop them after).
func (e *statusExtension) Dependencies() []component.ID {
	deps := []component.ID{e.cfg.Log}
	if id, ok := e.cfg.workspaceAuthID(); ok {
		deps = append(deps, id)
	}
	return deps
}

func (e *statusExtension) Start(ctx context.Context, host component.Host) error {
	e.started = e.now()
	if err := atomicfile.MkdirAllDurable(e.cfg.Directory); err != nil {
		return fmt.Errorf("status directory: %w", err)
	}
	t, loaded := e.loadTally()
	p, err := loghost.Find(host, e.cfg.Log)
	if err != nil {
		return err
	}
	e.log = p.DurableLog()
	if e.cursor, err = e.log.Cursor(e.set.ID.String()); err != nil {
		return err
	}
	e.alignWithLog(t, loaded)
	e.tally.Store(t)
	if e.auth, err = e.newAuthorizer(host); err != nil {
		return err
	}
	if e.tel, err = newTelemetry(e.set.TelemetrySettings, e); err != nil {
		return err
	}
	if err := e.serve(ctx, host); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(2)
	go e.count(runCtx)
	go e.housekeep(runCtx)
	return nil
}

// loadTally reads the persisted counters; a damaged file is set aside and counting starts afresh (loaded false).
func (e *statusExtension) loadTally() (t *ingeststatus.Tally, loaded bool) {
	path := filepath.Join(e.cfg.Directory, snapshotFile)
	limits := ingeststatus.Limits{MaxWorkspaces: e.cfg.MaxWorkspaces, MaxAgents: e.cfg.MaxAgents,
		MaxInstances: e.cfg.MaxInstances, SilentAfter: e.cfg.SilentAfterIntervals}
	t, err := ingeststatus.Load(path, limits, e.now)
	switch {
	case err == nil:
		return t, true
	case errors.Is(err, ingeststatus.ErrNoSnapshot):
	default:
		aside := fmt.Sprintf("%s.damaged-%d", path, e.now().Unix())
		_ = os.Rename(path, aside)
		e.set.Logger.Error("ingest status counters could not be read; set aside, counting from the durable log's oldest entry",
			zap.String("file", aside), zap.Error(err))
	}
	return ingeststatus.NewTally(limits, e.now), false
}

// alignWithLog checks the tally against the log it counts: a new tally counts what the log retains, and so
// does a tally whose log ends before the position it counted to (a new log directory).
func (e *statusExtension) alignWithLog(t *ingeststatus.Tally, loaded bool) {
	if !loaded {
		t.Rebase(e.cursor.Committed())
		return
	}
	st := e.log.Stats()
	if next := t.Next(); next > st.NextSeq {
		e.set.Logger.Warn("the durable log is not the one the ingest status counted (it ends before the counted position); counting it from its start",
			zap.Uint64("counted_next_seq", next), zap.Uint64("log_next_seq", st.NextSeq))
		t.Rebase(e.cursor.Committed())
	} else if c := e.cursor.Committed(); c > next {
		e.set.Logger.Warn("durable log entries were reclaimed before the ingest status counted them; they are missing from its counts",
			zap.Uint64("counted_next_seq", next), zap.Uint64("cursor", c))
	}
}

func (e *statusExtension) newAuthorizer(host component.Host) (*authorizer, error) {
	a := &authorizer{}
	if id, ok := e.cfg.workspaceAuthID(); ok {
		ext, found := host.GetExtensions()[id]
		if !found {
			return nil, fmt.Errorf("workspace_auth: extension %q not found: add it to service.extensions", id)
		}
		srv, isAuth := ext.(extensionauth.Server)
		if !isAuth {
			return nil, fmt.Errorf("workspace_auth: extension %q is not a server authenticator", id)
		}
		a.workspace = srv
	}
	if path := e.adminTokenPath(); path != "" {
		tok, created, err := loadAdminToken(path)
		if err != nil {
			return nil, err
		}
		if created {
			e.set.Logger.Info("generated the status admin token", zap.String("file", path))
		}
		a.admin = tok
	}
	return a, nil
}

// adminTokenPath is admin_token_file, relative to the directory unless absolute.
func (e *statusExtension) adminTokenPath() string {
	p := e.cfg.AdminTokenFile
	if p != "" && !filepath.IsAbs(p) {
		p = filepath.Join(e.cfg.Directory, p)
	}
	return p
}

func (e *statusExtension) serve(ctx context.Context, host component.Host) error {
	mux := http.NewServeMux()
	mux.Handle(ingeststatus.Path, ingeststatus.Handler(e, e.auth.authorize, e.tel.answered(ingeststatus.Path)))
	mux.HandleFunc(EngineStatusPath, e.serveEngineStatus)
	ln, err := e.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("tfo_status: listening on %s: %w", e.cfg.NetAddr.Endpoint, err)
	}
	srv, err := e.cfg.ToServer(ctx, host.GetExtensions(), e.set.TelemetrySettings, mux)
	if err != nil {
		_ = ln.Close()
		return err
	}
	e.server, e.addr = srv, ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.set.Logger.Error("status server stopped", zap.Error(err))
		}
	}()
	return nil
}

// listenAddr is the address the server listens on.
func (e *statusExtension) listenAddr() string { return e.addr }

func (e *statusExtension) serveEngineStatus(w http.ResponseWriter, r *http.Request) {
	done := e.tel.answered(EngineStatusPath)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		done(ingeststatus.WriteError(w, http.StatusMethodNotAllowed, "use GET"))
		return
	}
	if !e.cfg.PublicEngineStatus {
		if _, err := e.auth.authorize(r); err != nil {
			done(ingeststatus.WriteAuthError(w, err))
			return
		}
	}
	doc := e.EngineStatus()
	done(ingeststatus.WriteJSON(w, engineStatusCode(doc), doc))
}

// EngineStatus is the engine status document now.
func (e *statusExtension) EngineStatus() *ingeststatus.EngineStatus {
	st, reasons := e.engine.status()
	commit, built := buildinfo.Read()
	now := e.now()
	return &ingeststatus.EngineStatus{Status: st, Engine: "tfocol", Version: e.set.BuildInfo.Version,
		Build: ingeststatus.Build{Commit: commit, Time: built}, InstanceID: e.instanceID(), StartedAt: e.started.UTC(),
		UptimeSeconds: int64(now.Sub(e.started) / time.Second), Reasons: reasons}
}

func (e *statusExtension) instanceID() string {
	if e.cfg.InstanceID != "" {
		return e.cfg.InstanceID
	}
	h, _ := os.Hostname()
	return h
}

// IngestStatus is the report of scope now (ingeststatus.Source).
func (e *statusExtension) IngestStatus(scope ingeststatus.Scope) *ingeststatus.Report {
	t := e.tally.Load()
	if t == nil { // not started: nothing counted yet
		t = ingeststatus.NewTally(ingeststatus.Limits{}, e.now)
	}
	live := ingeststatus.Live{Upstream: e.cfg.UpstreamConsumers}
	if e.log != nil {
		st := e.log.Stats()
		live.Log = &ingeststatus.LogState{Bytes: st.Bytes, MaxBytes: st.MaxBytes, Refusing: st.Full || st.LastAppendError != ""}
		for _, c := range st.Cursors {
			live.Consumers = append(live.Consumers, ingeststatus.LiveConsumer{Name: c.Name, LagEntries: c.LagEntries, LagBytes: c.LagBytes})
		}
	}
	return t.Report(scope, live)
}

// reportSelf records the extension's own status in the engine status. (In collector v0.149.0 an extension's
// componentstatus.ReportStatus reaches no watcher: its host is not a status reporter.)
func (e *statusExtension) reportSelf(ev *componentstatus.Event) {
	e.engine.record(componentstatus.NewInstanceID(e.set.ID, component.KindExtension), ev)
}

// ComponentStatusChanged follows component status (componentstatus.Watcher).
func (e *statusExtension) ComponentStatusChanged(src *componentstatus.InstanceID, ev *componentstatus.Event) {
	e.engine.record(src, ev)
}

// Ready and NotReady are told when the pipelines run and stop (extensioncapabilities.PipelineWatcher).
func (e *statusExtension) Ready() error {
	e.engine.setReady(true)
	return nil
}

func (e *statusExtension) NotReady() error {
	e.engine.setReady(false)
	return nil
}

// IngestStatusRecorder returns the recorder components report to; calls before Start are dropped.
func (e *statusExtension) IngestStatusRecorder() ingeststatus.Recorder { return (*recorder)(e) }

func (e *statusExtension) Shutdown(ctx context.Context) error {
	var errs []error
	if e.server != nil {
		errs = append(errs, e.server.Shutdown(ctx))
	}
	if e.cancel != nil {
		e.cancel()
		e.wg.Wait()
	}
	if e.cursor != nil && e.tel != nil {
		errs = append(errs, e.persist())
	}
	if e.tel != nil {
		e.tel.close()
	}
	return errors.Join(errs...)
}
