package tfoauthextension

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
)

// benchExtension is a server with n keys loaded, default throttling, and real (SDK) metrics.
func benchExtension(b *testing.B, n int) (*authExtension, []map[string][]string) {
	b.Helper()
	f := &keyfile.File{Version: keyfile.CurrentVersion}
	secrets := make([]string, n)
	for i := range n {
		k, s, err := keyfile.NewKey([]string{ws1}, []string{"traces", "metrics", "logs"}, nil, "", time.Now())
		require.NoError(b, err)
		f.Keys = append(f.Keys, k)
		secrets[i] = s
	}
	idx, err := keyfile.NewIndex(f)
	require.NoError(b, err)
	cfg := createDefaultConfig().(*Config)
	cfg.KeysFile = "unused"
	tel := componenttest.NewTelemetry()
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	ext, err := newAuthExtension(cfg, tel.NewTelemetrySettings())
	require.NoError(b, err)
	ext.keys.Store(idx)

	// Requests as the OTLP/HTTP receiver passes them: canonical names plus the usual other headers.
	reqs := make([]map[string][]string, 1024)
	for i := range reqs {
		k := f.Keys[(i*7919)%n]
		reqs[i] = map[string][]string{
			"Content-Type": {"application/x-protobuf"}, "Content-Encoding": {"gzip"}, "User-Agent": {"tfocol/0.1.0"},
			"Accept-Encoding": {"gzip"}, "Content-Length": {"1234"},
			"X-Telemetryflow-Key-Id": {k.ID}, "X-Telemetryflow-Key-Secret": {secrets[(i*7919)%n]},
			"X-Telemetryflow-Agent-Id": {"host-1"}, "X-Workspace-Id": {ws1}, "Idempotency-Key": {"6f1c4c3e-5a0b-4f4e-9a55-7c7466636f6c"},
		}
	}
	return ext, reqs
}

func benchCtx() context.Context {
	return client.NewContext(context.Background(), client.Info{Addr: &net.IPAddr{IP: net.ParseIP("10.1.2.3")}})
}

// BenchmarkAuthenticate: valid API keys against 10,000 loaded keys. Target: ≤ 2 µs/op.
func BenchmarkAuthenticate(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(map[int]string{100: "keys=100", 10_000: "keys=10000"}[n], func(b *testing.B) {
			ext, reqs := benchExtension(b, n)
			ctx := benchCtx()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := ext.Authenticate(ctx, reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkAuthenticateParallel: the same with all cores hitting the shared index, LRU and metrics.
func BenchmarkAuthenticateParallel(b *testing.B) {
	ext, reqs := benchExtension(b, 10_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := benchCtx()
		i := 0
		for pb.Next() {
			if _, err := ext.Authenticate(ctx, reqs[i%len(reqs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkAuthenticateJWT: a repeated enrollment token is served from the verified-token cache.
func BenchmarkAuthenticateJWT(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	j := defaultJWTConfig()
	j.HMACSecretFile = "unused"
	j.RoleScopes = map[string][]string{"edge-agent": {"*"}}
	ext, err := newAuthExtension(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(b, err)
	ext.jwt, err = newJWTVerifier(j, time.Now)
	require.NoError(b, err)
	ext.jwt.setHMACSecret(hmacSecret)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims(ws1, time.Hour)).SignedString(hmacSecret)
	require.NoError(b, err)
	h := map[string][]string{"Authorization": {"Bearer " + token}, "X-Workspace-Id": {ws1}}
	ctx := benchCtx()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ext.Authenticate(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateWithMetadata: as the gateway runs it, with include_metadata, so the credentials are also
// scrubbed from client.Info.Metadata on every request. The receiver builds that metadata just before calling
// Authenticate, so it is hot in cache: a small ring of contexts models that better than 1024 cold ones.
func BenchmarkAuthenticateWithMetadata(b *testing.B) {
	ext, reqs := benchExtension(b, 10_000)
	ctxs := make([]context.Context, 8)
	for i, h := range reqs[:len(ctxs)] {
		ctxs[i] = client.NewContext(context.Background(), client.Info{
			Addr: &net.IPAddr{IP: net.ParseIP("10.1.2.3")}, Metadata: client.NewMetadata(h)})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ext.Authenticate(ctxs[i%len(ctxs)], reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkVerifyWrongSecret: the cost of checking a presented secret that fails (SHA-256 of up to 256 bytes and
// a constant-time compare), which every failing presentation pays before the throttle is consulted.
func BenchmarkVerifyWrongSecret(b *testing.B) {
	ext, reqs := benchExtension(b, 10_000)
	id := reqs[0]["X-Telemetryflow-Key-Id"][0]
	secret := "tfs_" + strings.Repeat("x", keyfile.MaxSecretLen-4)
	idx := ext.keys.Load()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, res := idx.Verify(id, secret, now); res != keyfile.WrongSecret {
			b.Fatal(res)
		}
	}
}

// BenchmarkAuthenticateFailureThrottled: a guessing client past its limit, end to end (verify, throttle lookup
// under the failure-path mutex, metric, 429 error). Parallel, from many addresses, so the mutex is contended.
func BenchmarkAuthenticateFailureThrottled(b *testing.B) {
	ext, reqs := benchExtension(b, 10_000)
	id := reqs[0]["X-Telemetryflow-Key-Id"][0]
	h := map[string][]string{"X-Telemetryflow-Key-Id": {id}, "X-Telemetryflow-Key-Secret": {"tfs_" + strings.Repeat("g", 43)}}
	b.ReportAllocs()
	var n atomic.Int32
	b.RunParallel(func(pb *testing.PB) {
		i := n.Add(1)
		ctx := client.NewContext(context.Background(), client.Info{Addr: &net.IPAddr{IP: net.IPv4(10, 9, byte(i), 1)}})
		for pb.Next() {
			_, _ = ext.Authenticate(ctx, h)
		}
	})
}
