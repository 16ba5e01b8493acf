// Package reliability holds the gateway's reliability suite (`make test-reliability`): bad input, a slow or
// dead upstream, replay storms and crashes, all driven through the built binary with internal/e2etest.
package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tfocol/tfocol/internal/e2etest"
	"github.com/tfocol/tfocol/internal/procfs"
	"github.com/tfocol/tfocol/internal/receipts"
)

// OTLP/gRPC method paths.
const (
	grpcTracesPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	grpcLogsPath   = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
)

// tagAttr is the resource attribute that identifies the batch a test sent, so that deliveries can be counted
// per batch at the sink.
const tagAttr = "reliability.tag"

// tracesTagged returns n spans whose resource carries tagAttr=tag.
func tracesTagged(tag string, n int) ptrace.Traces {
	return e2etest.GenTraces(n, map[string]string{"service.name": "reliability", tagAttr: tag})
}

// logsTagged returns n log records whose resource carries tagAttr=tag.
func logsTagged(tag string, n int) plog.Logs {
	return e2etest.GenLogs(n, map[string]string{"service.name": "reliability", tagAttr: tag})
}

// spansByTag counts the spans the sink holds per tagAttr value.
func spansByTag(s *e2etest.Sink) map[string]int {
	out := map[string]int{}
	for _, td := range s.Traces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			tag := ""
			if v, ok := rs.Resource().Attributes().Get(tagAttr); ok {
				tag = v.AsString()
			}
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				out[tag] += rs.ScopeSpans().At(j).Spans().Len()
			}
		}
	}
	return out
}

// bytesCodec sends a pre-encoded message as-is, for malformed protobuf over gRPC.
type bytesCodec struct{}

func (bytesCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (bytesCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (bytesCodec) Name() string { return "proto" }

// invokeRawGRPC calls an OTLP/gRPC method with raw request bytes and the metadata; the result is the server's
// status error (nil on success).
func invokeRawGRPC(ctx context.Context, addr, method string, md map[string]string, body []byte) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx = metadata.NewOutgoingContext(ctx, metadata.New(md))
	var reply []byte
	return conn.Invoke(ctx, method, &body, &reply, grpc.ForceCodec(bytesCodec{}))
}

// rawHTTPResponse is what a hand-written HTTP/1.1 request got back.
type rawHTTPResponse struct {
	Status int
	Header http.Header
	Body   string
}

// rawHTTP writes req byte for byte to addr (headers the Go client would refuse to send) and reads one response.
func rawHTTP(addr string, req []byte) (*rawHTTPResponse, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &rawHTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, nil
}

// httpRequestBytes builds a POST of an OTLP protobuf body with the header lines given verbatim (each without
// its line ending; CR, LF or NUL inside them are sent as they are).
func httpRequestBytes(addr, path string, headerLines []string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\nConnection: close\r\n",
		path, addr, len(body))
	for _, l := range headerLines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// h2Result is how a gRPC server answered a hand-written HTTP/2 request.
type h2Result struct {
	GRPCStatus string        // grpc-status trailer ("" if none)
	GRPCMsg    string        // grpc-message trailer
	Reset      http2.ErrCode // RST_STREAM code, when the stream was reset instead
	WasReset   bool
	GoAway     bool
}

func (r h2Result) String() string {
	switch {
	case r.WasReset:
		return "RST_STREAM " + r.Reset.String()
	case r.GoAway:
		return "GOAWAY"
	}
	return "grpc-status " + r.GRPCStatus + " " + r.GRPCMsg
}

// rawGRPC sends one unary gRPC call over a hand-written HTTP/2 connection, with metadata values the grpc-go
// client would refuse to send (CR, LF, NUL, non-ASCII bytes).
func rawGRPC(addr, path string, md [][2]string, msg []byte) (h2Result, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return h2Result{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return h2Result{}, err
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		return h2Result{}, err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	fields := [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", addr},
		{"content-type", "application/grpc"}, {"te", "trailers"}}
	for _, f := range append(fields, md...) {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			return h2Result{}, err
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		return h2Result{}, err
	}
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	if err := fr.WriteData(1, true, frame); err != nil {
		return h2Result{}, err
	}
	dec := hpack.NewDecoder(4096, nil)
	var res h2Result
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return res, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			hfs, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				return res, err
			}
			for _, hf := range hfs {
				switch hf.Name {
				case "grpc-status":
					res.GRPCStatus = hf.Value
				case "grpc-message":
					res.GRPCMsg = hf.Value
				}
			}
			if f.StreamEnded() {
				return res, nil
			}
		case *http2.RSTStreamFrame:
			res.WasReset, res.Reset = true, f.ErrCode
			return res, nil
		case *http2.GoAwayFrame:
			res.GoAway = true
			return res, nil
		}
	}
}

// grpcCodeName returns the code name of a gRPC error, "OK" for nil.
func grpcCodeName(err error) string { return status.Code(err).String() }

// grpcStatusName turns a grpc-status trailer value into its code name.
func grpcStatusName(v string) string {
	n, err := strconv.Atoi(v)
	if err != nil {
		return "none"
	}
	return codes.Code(uint32(n)).String()
}

// vmRSSKiB reads VmRSS of a process from /proc (0 when it is gone).
func vmRSSKiB(pid int) int { return procStatusKiB(pid, "VmRSS") }

// procStatusKiB reads one kB field of /proc/<pid>/status (VmRSS, RssAnon, RssFile, ...); 0 when absent.
func procStatusKiB(pid int, field string) int {
	b, err := procfs.StatusBytes(pid, field)
	if err != nil {
		return 0
	}
	return int(b / 1024)
}

// recordKey identifies one sent log record: the batch tag and its seq attribute.
type recordKey struct {
	Tag string
	Seq int64
}

// logRecordsAtSink counts the log records the sink received per (tag, seq).
func logRecordsAtSink(s *e2etest.Sink) map[recordKey]int {
	out := map[recordKey]int{}
	for _, ld := range s.Logs() {
		countLogRecords(ld, out)
	}
	return out
}

func countLogRecords(ld plog.Logs, out map[recordKey]int) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		tag := ""
		if v, ok := rl.Resource().Attributes().Get(tagAttr); ok {
			tag = v.AsString()
		}
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				seq, _ := lrs.At(k).Attributes().Get("seq")
				out[recordKey{tag, seq.Int()}]++
			}
		}
	}
}

// sealedLogRecords reads every obs_log_batch receipt under an exporter directory and counts the sealed log
// records per (tag, seq). ok is false while a scroll does not verify (ROOT is rewritten right after each
// receipt line, so a read in between is retried by the caller).
func sealedLogRecords(dir string) (out map[recordKey]int, ok bool) {
	out = map[recordKey]int{}
	scrolls, err := receipts.FindScrolls(dir)
	if err != nil {
		return nil, false
	}
	var um plog.ProtoUnmarshaler
	for _, s := range scrolls {
		if _, err := receipts.VerifyScroll(s, receipts.VerifyOptions{}); err != nil {
			return nil, false
		}
		lines, err := receipts.ScrollLines(s)
		if err != nil {
			return nil, false
		}
		for _, l := range lines {
			r, err := receipts.ParseReceipt(l)
			if err != nil {
				return nil, false
			}
			if r.Type != receipts.TypeLogBatch {
				continue
			}
			leaves, err := receipts.ReceiptLeaves(s, r)
			if err != nil {
				return nil, false
			}
			for _, leaf := range leaves {
				ld, err := um.UnmarshalLogs(leaf)
				if err != nil {
					return nil, false
				}
				countLogRecords(ld, out)
			}
		}
	}
	return out, true
}

// duplicates lists the keys counted more than once.
func duplicates(m map[recordKey]int) []recordKey {
	var out []recordKey
	for k, n := range m {
		if n > 1 {
			out = append(out, k)
		}
	}
	return out
}

// sendUntil starts a client goroutine (tracked by wg) that calls send(0), send(1), ... until stop is closed.
func sendUntil(wg *sync.WaitGroup, stop <-chan struct{}, send func(i int)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			send(i)
		}
	}()
}
