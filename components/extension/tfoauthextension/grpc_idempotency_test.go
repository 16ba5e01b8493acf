package tfoauthextension

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// logsServer records the Idempotency-Key of each Export and answers with code (OK when codes.OK).
type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	mu   sync.Mutex
	keys []string
	code codes.Code
}

func (s *logsServer) Export(ctx context.Context, _ plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, md.Get("idempotency-key")...)
	if s.code != codes.OK {
		return plogotlp.NewExportResponse(), status.Error(s.code, "no")
	}
	return plogotlp.NewExportResponse(), nil
}

func logsRequest(body string) plogotlp.ExportRequest {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
	return plogotlp.NewExportRequestFromLogs(ld)
}

// Over gRPC the middleware adds an Idempotency-Key derived from the request: the same request (a retry, or a
// replay from the persistent queue after a restart, by another process) gets the same key, another request
// another; and the server's verdict on the credentials is recorded.
func TestGRPCIdempotencyKeyAndCredentialState(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srvImpl := &logsServer{}
	srv := grpc.NewServer()
	plogotlp.RegisterGRPCServer(srv, srvImpl)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	export := func(ext *authExtension, body string) error {
		mw, err := ext.GetGRPCClientOptions(t.Context())
		require.NoError(t, err)
		conn, err := grpc.NewClient(lis.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, mw...)...)
		require.NoError(t, err)
		defer conn.Close()
		_, err = plogotlp.NewGRPCClient(conn).Export(t.Context(), logsRequest(body))
		return err
	}
	a, _ := newClientExt(t, func(c *Config) { c.IdempotencyKey = true })
	b, _ := newClientExt(t, func(c *Config) { c.IdempotencyKey = true }) // "after a restart": another instance
	_, known := a.CredentialState()
	assert.False(t, known)

	require.NoError(t, export(a, "one"))
	require.NoError(t, export(a, "one"))
	require.NoError(t, export(b, "one"))
	require.NoError(t, export(a, "two"))
	require.Len(t, srvImpl.keys, 4)
	_, err = uuid.Parse(srvImpl.keys[0])
	require.NoError(t, err)
	assert.Equal(t, srvImpl.keys[0], srvImpl.keys[1], "retry")
	assert.Equal(t, srvImpl.keys[0], srvImpl.keys[2], "replay after restart")
	assert.NotEqual(t, srvImpl.keys[0], srvImpl.keys[3])
	valid, known := a.CredentialState()
	assert.True(t, valid && known)

	srvImpl.code = codes.Unauthenticated
	err = export(a, "three")
	assert.Equal(t, codes.Unavailable, status.Code(err), "refused credentials stay queued")
	valid, known = a.CredentialState()
	assert.True(t, known)
	assert.False(t, valid)

	// A workspace is part of the key: the same body for another workspace is another request.
	c, _ := newClientExt(t, func(c *Config) { c.IdempotencyKey, c.WorkspaceID = true, ws2 })
	srvImpl.code = codes.OK
	require.NoError(t, export(c, "one"))
	assert.NotEqual(t, srvImpl.keys[0], srvImpl.keys[len(srvImpl.keys)-1])

	// Without idempotency_key no key is added.
	d, _ := newClientExt(t, func(c *Config) { c.IdempotencyKey = false })
	n := len(srvImpl.keys)
	require.NoError(t, export(d, "one"))
	assert.Len(t, srvImpl.keys, n)
}
