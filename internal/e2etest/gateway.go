package e2etest

import (
	"path/filepath"
	"testing"
)

// Gateway is a running configs/gateway.yaml with its upstream pointed at a Sink and a freshly minted API key.
type Gateway struct {
	*Collector
	Upstream  *Sink
	KeysFile  string
	KeyID     string
	KeySecret string
	Workspace string
}

// DefaultWorkspace is the workspace the fixture's key writes to.
const DefaultWorkspace = "8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f"

// StartGateway mints a key for DefaultWorkspace (all signals) into a new key file and starts the shipped
// gateway config with its upstream exporter pointed at a new Sink. opts may add configs (overlays), env, args
// or fixed ports; Configs[0] is always configs/gateway.yaml. Unless opts.ShippedSampling, every trace is
// forwarded upstream after a short decision wait (see Options.ShippedSampling).
func StartGateway(t testing.TB, opts Options) *Gateway {
	t.Helper()
	g := &Gateway{Upstream: NewSink(t), KeysFile: filepath.Join(t.TempDir(), "keys.yaml"), Workspace: DefaultWorkspace}
	g.KeyID, g.KeySecret = MintKey(t, g.KeysFile, g.Workspace, "traces,metrics,logs")
	opts.Configs = append([]string{"configs/gateway.yaml"}, opts.Configs...)
	env := map[string]string{
		"TFOCOL_UPSTREAM_ENDPOINT": g.Upstream.GRPCAddr,
		"TFOCOL_KEYS_FILE":         g.KeysFile,
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	opts.Env = env
	if opts.Name == "" {
		opts.Name = "gateway"
	}
	g.Collector = Start(t, opts)
	return g
}

// Headers are the fixture key's credentials plus x-workspace-id.
func (g *Gateway) Headers() map[string]string { return KeyHeaders(g.KeyID, g.KeySecret, g.Workspace) }

// AgentEnv is the environment that points configs/agent.yaml at this gateway with the fixture key.
func (g *Gateway) AgentEnv() map[string]string {
	return map[string]string{
		"TELEMETRYFLOW_ENDPOINT":       g.OTLPHTTPURL(),
		"TELEMETRYFLOW_API_KEY_ID":     g.KeyID,
		"TELEMETRYFLOW_API_KEY_SECRET": g.KeySecret,
		"TELEMETRYFLOW_AGENT_ID":       "host-e2e",
		"TELEMETRYFLOW_WORKSPACE_ID":   g.Workspace,
	}
}
