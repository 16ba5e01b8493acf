package edgereceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector"
	"github.com/tfocol/tfocol/components/receiver/edgereceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/principal"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Paths of the edge API.
const (
	pathIngest       = "/api/v1/events/ingest"
	pathEnrollment   = "/api/v1/edge-agent/enrollment"
	pathRotate       = "/api/v1/edge-agent/enrollment/rotate"
	pathPolicy       = "/api/v1/edge-agent/policy"
	pathIngestStatus = "/api/v1/edge-agent/ingest-status"
	pathEngineStatus = "/.well-known/engine-status"
	pathSirveo       = "/api/v1/sirveo/telemetry"
)

type edgeReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs
	obs  *receiverhelper.ObsReport
	tel  *metadata.TelemetryBuilder
	now  func() time.Time

	contracts map[string]*eventrouterconnector.Contract
	typeNames []string // sorted, for messages
	auth      extensionauth.Server
	status    StatusProvider
	checksums *checksumTable
	rotateMu  sync.Mutex // one rotation at a time in this process; the state file lock covers other processes

	server *http.Server
	addr   net.Addr // where it listens (tests listen on port 0)
	wg     sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*edgeReceiver, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "http", ReceiverCreateSettings: set})
	if err != nil {
		return nil, err
	}
	return &edgeReceiver{cfg: cfg, set: set, next: next, obs: obs, tel: tel, now: time.Now,
		checksums: newChecksumTable(cfg.Sirveo.MaxInstances)}, nil
}

// Start compiles the contracts, finds the authenticator (and the status extension) and starts the HTTP server.
func (r *edgeReceiver) Start(ctx context.Context, host component.Host) error {
	r.contracts = make(map[string]*eventrouterconnector.Contract, len(r.cfg.Schemas))
	for typ, file := range r.cfg.Schemas {
		c, err := eventrouterconnector.LoadContract(file)
		if err != nil {
			return fmt.Errorf("edge: schemas::%s: contract %q: %w", typ, file, err)
		}
		r.contracts[typ] = c
		r.typeNames = append(r.typeNames, typ)
	}
	slices.Sort(r.typeNames)

	exts := host.GetExtensions()
	// The receiver runs the `auth:` authenticator itself, per endpoint: confighttp's own interceptor would answer
	// every refusal with 401 (losing tfo_auth's 403 and 429) and would guard engine status and the anonymous
	// Sirveo workspaces too.
	auth, err := r.cfg.Auth.Get().GetServerAuthenticator(ctx, exts)
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	r.auth = auth
	if r.cfg.Status != nil {
		ext, ok := exts[*r.cfg.Status]
		if !ok {
			return fmt.Errorf("edge: status extension %s not found", r.cfg.Status)
		}
		if r.status, ok = ext.(StatusProvider); !ok {
			return fmt.Errorf("edge: extension %s does not serve ingest and engine status", r.cfg.Status)
		}
	}
	if key := r.cfg.Enrollment.Rotation.SigningKeyFile; key != "" {
		if _, err := loadSigningKey(key); err != nil {
			return fmt.Errorf("edge: enrollment.rotation.signing_key_file: %w", err)
		}
	}

	srvCfg := r.cfg.ServerConfig
	srvCfg.Auth = configoptional.None[confighttp.AuthConfig]()
	r.server, err = srvCfg.ToServer(ctx, exts, r.set.TelemetrySettings, r.routes(),
		confighttp.WithErrorHandler(r.transportError))
	if err != nil {
		return err
	}
	ln, err := srvCfg.ToListener(ctx)
	if err != nil {
		return err
	}
	r.addr = ln.Addr()
	r.set.Logger.Info("Starting edge API server", zap.String("endpoint", ln.Addr().String()))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

// Shutdown stops accepting requests and waits for those in flight.
func (r *edgeReceiver) Shutdown(ctx context.Context) error {
	var err error
	if r.server != nil {
		err = r.server.Shutdown(ctx)
	}
	r.wg.Wait()
	return err
}

// handler serves one endpoint; it writes its own success answer and returns a refusal otherwise.
type handler func(w http.ResponseWriter, req *http.Request) *refusal

func (r *edgeReceiver) routes() http.Handler {
	mux := http.NewServeMux()
	r.handle(mux, pathIngest, epIngest, http.MethodPost, r.handleIngest)
	r.handle(mux, pathEnrollment, epEnrollment, http.MethodGet, r.handleEnrollment)
	r.handle(mux, pathRotate, epRotate, http.MethodPost, r.handleRotate)
	r.handle(mux, pathPolicy, epPolicy, http.MethodGet, r.handlePolicy)
	if r.status != nil {
		r.handle(mux, pathIngestStatus, epIngestStatus, http.MethodGet, r.handleIngestStatus)
		r.handle(mux, pathEngineStatus, epEngineStatus, http.MethodGet, r.handleEngineStatus)
	}
	if r.cfg.Sirveo.Enabled {
		r.handle(mux, pathSirveo, epSirveo, http.MethodPost, r.handleSirveo)
		r.handle(mux, pathSirveo+"/{workspace}", epSirveo, http.MethodPost, r.handleSirveo)
	}
	r.handle(mux, "/", epOther, "", func(http.ResponseWriter, *http.Request) *refusal {
		return refuse(codes.NotFound, "not_found", "no such endpoint")
	})
	return mux
}

func (r *edgeReceiver) handle(mux *http.ServeMux, pattern, endpoint, method string, h handler) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
		if method != "" && req.Method != method {
			w.Header().Set("Allow", method)
			r.writeRefusal(req.Context(), w, endpoint,
				refuse(codes.InvalidArgument, "method_not_allowed", req.Method+" is not allowed; use "+method).withHTTP(http.StatusMethodNotAllowed))
			return
		}
		if f := h(w, req); f != nil {
			r.writeRefusal(req.Context(), w, endpoint, f)
		}
	})
}

// transportError answers what confighttp refuses before a handler runs (unsupported or corrupt Content-Encoding).
func (r *edgeReceiver) transportError(w http.ResponseWriter, req *http.Request, msg string, code int) {
	r.writeRefusal(req.Context(), w, endpointOf(req.URL.Path), refuse(codes.InvalidArgument, "bad_encoding", msg).withHTTP(code))
}

func endpointOf(path string) string {
	switch {
	case path == pathIngest:
		return epIngest
	case strings.HasPrefix(path, pathSirveo):
		return epSirveo
	case path == pathRotate:
		return epRotate
	}
	return epOther
}

// authenticate runs the authenticator over the request's headers plus extra (e.g. the Sirveo path's workspace
// as x-workspace-id, so tfo_auth checks it against the credential). A principal already attached (tfo_auth as a
// confighttp middleware) is kept.
func (r *edgeReceiver) authenticate(req *http.Request, extra map[string]string) (context.Context, *refusal) {
	ctx := req.Context()
	if _, ok := principal.FromContext(ctx); ok {
		return ctx, nil
	}
	sources := map[string][]string(req.Header.Clone())
	for k, v := range extra {
		sources[k] = []string{v}
	}
	ctx, err := r.auth.Authenticate(ctx, sources)
	if err != nil {
		return nil, fromError(err, "")
	}
	return ctx, nil
}

// caller authenticates the request and resolves its workspace, for the endpoints that answer about the caller's
// own credential and workspace (enrollment, rotation, policy, ingest status): they need a tfo_auth principal.
func (r *edgeReceiver) caller(req *http.Request) (context.Context, *principal.Principal, string, *refusal) {
	ctx, f := r.authenticate(req, nil)
	if f != nil {
		return nil, nil, "", f
	}
	p, ok := principal.FromContext(ctx)
	if !ok {
		return nil, nil, "", refuse(codes.PermissionDenied, "no_principal", "the authenticator did not identify the caller (use tfo_auth)")
	}
	ws, f := workspaceOf(req.Header, p)
	if f != nil {
		return nil, nil, "", f
	}
	return ctx, p, ws, nil
}

// workspaceOf is the request's workspace: its x-workspace-id (which the credential must allow), else the
// credential's only workspace.
func workspaceOf(h http.Header, p *principal.Principal) (string, *refusal) {
	ws, err := requestcontract.WorkspaceHeader(h.Values(requestcontract.HeaderWorkspaceID))
	if err != nil {
		return "", refuse(codes.InvalidArgument, "bad_workspace", err.Error())
	}
	if ws != "" {
		if p != nil && !p.AllowsWorkspace(ws) {
			return "", refuse(codes.PermissionDenied, "forbidden", "credentials are not allowed to use workspace "+ws)
		}
		return ws, nil
	}
	if p != nil && len(p.Workspaces) == 1 && p.Workspaces[0] != principal.Wildcard {
		if ws, err := requestcontract.CanonicalWorkspace(p.Workspaces[0]); err == nil {
			return ws, nil
		}
	}
	return "", refuse(codes.InvalidArgument, "missing_workspace", "missing x-workspace-id header")
}

// readJSON reads a JSON request body: Content-Type application/json (or none), within max_request_body_size.
func readJSON(req *http.Request) ([]byte, *refusal) {
	if ct := req.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, refuse(codes.InvalidArgument, "unsupported_media_type", "Content-Type must be application/json").
				withHTTP(http.StatusUnsupportedMediaType)
		}
	}
	body, err := io.ReadAll(req.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, refuse(codes.InvalidArgument, "body_too_large",
			fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)).withHTTP(http.StatusRequestEntityTooLarge)
	case err != nil:
		return nil, refuse(codes.InvalidArgument, "bad_body", "could not read the request body")
	}
	return body, nil
}

// deliver passes ld to the pipeline with the metadata the workspace processor reads: the resolved workspace, and
// the request's Idempotency-Key (unless dedup is false), x-request-id and traceparent. Nothing else travels: the
// credentials stay here.
func (r *edgeReceiver) deliver(ctx context.Context, req *http.Request, workspace string, dedup bool, ld plog.Logs) error {
	md := map[string][]string{requestcontract.HeaderWorkspaceID: {workspace}}
	keys := []string{requestcontract.HeaderRequestID, requestcontract.HeaderTraceparent}
	if dedup {
		keys = append(keys, requestcontract.HeaderIdempotencyKey)
	}
	for _, k := range keys {
		if v := req.Header.Values(k); len(v) > 0 {
			md[k] = v
		}
	}
	info := client.FromContext(ctx)
	info.Metadata = client.NewMetadata(md)
	ctx = client.NewContext(ctx, info)

	n := ld.LogRecordCount() // before: the pipeline may move records out of ld
	ctx = r.obs.StartLogsOp(ctx)
	err := r.next.ConsumeLogs(ctx, ld)
	r.obs.EndLogsOp(ctx, "edge", n, err)
	return err
}
