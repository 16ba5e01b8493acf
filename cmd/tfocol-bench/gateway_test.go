package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDocumentedEnv(t *testing.T) {
	raw := []byte("# header\n#\n#   TFOCOL_OTLP_GRPC_ENDPOINT    OTLP/gRPC listen address (127.0.0.1:4317)\n" +
		"#   TFOCOL_METRICS_HOST/PORT     the collector's own metrics\n" +
		"#   TFOCOL_RECEIPT_SIGNING_KEY_FILE  ed25519 key\n" +
		"# see TFOCOL_NOT_A_ROW in prose\n\nextensions:\n#   TFOCOL_AFTER_HEADER  x\n")
	doc := documentedEnv(raw)
	assert.Equal(t, map[string]bool{
		"TFOCOL_OTLP_GRPC_ENDPOINT": true, "TFOCOL_METRICS_HOST": true, "TFOCOL_METRICS_PORT": true,
		"TFOCOL_RECEIPT_SIGNING_KEY_FILE": true,
	}, doc)
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"TFOCOL_DATA_DIR": "/tmp/d"}
	assert.Equal(t, "/tmp/d/receipts", expandEnv("${env:TFOCOL_DATA_DIR:-/var/lib/tfocol}/receipts", env))
	assert.Equal(t, "/var/lib/x", expandEnv("${env:TFOCOL_OTHER:-/var/lib/x}", env))
	assert.Equal(t, "", expandEnv("${env:TFOCOL_OTHER}", env))
}

// The shipped gateway: the bench finds its exporters, key file and receipt directory through documented
// variables only, whatever its pipelines look like.
func TestInspectShippedGateway(t *testing.T) {
	root, err := repoRoot()
	require.NoError(t, err)
	gw, err := inspectGateway(filepath.Join(root, "configs", "gateway.yaml"))
	require.NoError(t, err)
	for _, name := range append(gw.UpstreamEnv, harnessEnv...) {
		assert.True(t, gw.Documented[name], "%s is not documented in the header", name)
	}
	if gw.KeysFileEnv != "" {
		assert.True(t, gw.Documented[gw.KeysFileEnv])
	}
	assert.NotEmpty(t, gw.ReceiptDirs)
}

func TestGatewayPipelineSetsOnlyDocumentedEnv(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gw.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`#   TFOCOL_KEYS_FILE   keys
#   TFOCOL_UPSTREAM_ENDPOINT  upstream
extensions:
  tfo_auth:
    keys_file: ${env:TFOCOL_KEYS_FILE:-/etc/tfocol/keys.yaml}
receivers:
  otlp:
    protocols:
      grpc:
        auth:
          authenticator: tfo_auth
exporters:
  otlp_grpc/upstream:
    endpoint: ${env:TFOCOL_UPSTREAM_ENDPOINT:-127.0.0.1:14317}
  otlp_grpc/other:
    endpoint: ${env:SOMETHING_ELSE:-127.0.0.1:1}
  receipt:
    directory: ${env:TFOCOL_DATA_DIR:-/var/lib/tfocol}/receipts
  receipt/alerts:
    directory: ${env:TFOCOL_DATA_DIR:-/var/lib/tfocol}/alerts
    mode: alerts
`), 0o644))
	gw, err := inspectGateway(cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"${env:TFOCOL_DATA_DIR:-/var/lib/tfocol}/receipts"}, gw.ReceiptDirs)
	p, err := gatewayPipeline(options{Gateway: cfg, GatewayEnv: map[string]string{}}, gw,
		credentials{KeysFile: "/k.yaml"}, "127.0.0.1:9")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"TFOCOL_KEYS_FILE": "/k.yaml", "TFOCOL_UPSTREAM_ENDPOINT": "127.0.0.1:9"}, p.Env)
	assert.Equal(t, []string{"--set=exporters::otlp_grpc/other::endpoint=127.0.0.1:9"}, p.Args)

	_, err = gatewayPipeline(options{Gateway: cfg, GatewayEnv: map[string]string{"TFOCOL_QUEUE_FSYNC": "true"}}, gw,
		credentials{KeysFile: "/k.yaml"}, "127.0.0.1:9")
	assert.Error(t, err, "an undocumented variable is refused")
}

func TestPeerOrderRotates(t *testing.T) {
	first := map[string]int{}
	for k := range 12 {
		o := peerOrder(allPeers, k)
		assert.ElementsMatch(t, allPeers, o)
		first[o[0]]++
	}
	for _, p := range allPeers {
		assert.Equal(t, 3, first[p], p)
	}
}
