package edgereceiver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/httpstatus"
)

// Endpoints, as the metrics label them.
const (
	epIngest       = "ingest"
	epEnrollment   = "enrollment"
	epRotate       = "rotate"
	epPolicy       = "policy"
	epIngestStatus = "ingest_status"
	epEngineStatus = "engine_status"
	epSirveo       = "sirveo"
	epOther        = "other"
)

// refusal is an answer other than success: an HTTP status, a bounded metric reason and a message for the client.
type refusal struct {
	code       codes.Code
	reason     string
	message    string
	retryAfter time.Duration
	// http overrides the status the code maps to, for answers gRPC codes do not tell apart (405, 413, 415).
	http int
}

func (f *refusal) Error() string { return f.message }

func refuse(code codes.Code, reason, message string) *refusal {
	return &refusal{code: code, reason: reason, message: message}
}

// withHTTP sets the HTTP status answered.
func (f *refusal) withHTTP(code int) *refusal {
	f.http = code
	return f
}

// fromError turns an authenticator's or the pipeline's error into a refusal: gRPC status errors keep their code
// (the tfo_auth and workspace contract), other errors are retryable unless permanent, as the OTLP receiver does.
func fromError(err error, reasonPrefix string) *refusal {
	st, ok := status.FromError(err)
	if !ok {
		code := codes.Unavailable
		if consumererror.IsPermanent(err) {
			code = codes.Internal
		}
		st = status.New(code, err.Error())
	}
	f := &refusal{code: st.Code(), message: st.Message(), reason: reasonPrefix + codeReason(st.Code())}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			f.retryAfter = ri.GetRetryDelay().AsDuration()
		}
	}
	return f
}

// codeReason is the metric reason of a status code.
func codeReason(c codes.Code) string {
	switch c {
	case codes.InvalidArgument:
		return "invalid_argument"
	case codes.Unauthenticated:
		return "unauthenticated"
	case codes.PermissionDenied:
		return "forbidden"
	case codes.ResourceExhausted:
		return "throttled"
	case codes.Unavailable:
		return "unavailable"
	}
	return "internal"
}

// httpCode adds the codes the edge API uses beyond OTLP's mapping.
func httpCode(c codes.Code) int {
	switch c {
	case codes.NotFound:
		return http.StatusNotFound
	case codes.Unimplemented:
		return http.StatusNotImplemented
	}
	return httpstatus.FromGRPC(c)
}

// Status names in error bodies, as google.rpc.Status JSON spells them.
var codeNames = map[codes.Code]string{
	codes.InvalidArgument:   "INVALID_ARGUMENT",
	codes.Unauthenticated:   "UNAUTHENTICATED",
	codes.PermissionDenied:  "PERMISSION_DENIED",
	codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.Unavailable:       "UNAVAILABLE",
	codes.NotFound:          "NOT_FOUND",
	codes.Unimplemented:     "UNIMPLEMENTED",
	codes.Internal:          "INTERNAL",
}

// errorBody is every refusal's JSON body.
type errorBody struct {
	Error struct {
		Status  int    `json:"status"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeRefusal answers f as JSON, with WWW-Authenticate on 401 and Retry-After on 429/503 when known, and counts it.
func (r *edgeReceiver) writeRefusal(ctx context.Context, w http.ResponseWriter, endpoint string, f *refusal) {
	httpStatus := f.http
	if httpStatus == 0 {
		httpStatus = httpCode(f.code)
	}
	h := w.Header()
	if httpStatus == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="tfocol"`)
	}
	if f.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(max(time.Second, f.retryAfter.Round(time.Second))/time.Second), 10))
	}
	var body errorBody
	body.Error.Status, body.Error.Message = httpStatus, f.message
	body.Error.Code = codeNames[f.code]
	if body.Error.Code == "" {
		body.Error.Code = http.StatusText(httpStatus)
	}
	r.writeJSON(ctx, w, endpoint, httpStatus, f.reason, body)
}

// writeJSON answers v with status code and counts the answer under reason.
func (r *edgeReceiver) writeJSON(ctx context.Context, w http.ResponseWriter, endpoint string, code int, reason string, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
	r.countRequest(ctx, endpoint, code, reason)
}

func (r *edgeReceiver) countRequest(ctx context.Context, endpoint string, code int, reason string) {
	r.tel.TfocolEdgeRequests.Add(ctx, 1, metric.WithAttributes(
		attribute.String("endpoint", endpoint), attribute.Int("status_code", code), attribute.String("reason", reason)))
}
