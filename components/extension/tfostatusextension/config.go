package tfostatusextension

import (
	"errors"
	"fmt"
	"net"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
)

// DefaultEndpoint is loopback next to health_check (13133).
const DefaultEndpoint = "127.0.0.1:13134"

// Config configures the tfo_status extension.
type Config struct {
	// ServerConfig is the HTTP server (endpoint, tls, ...). Its `auth` is not supported: confighttp would answer
	// 401 to the admin token; use admin_token_file and workspace_auth.
	confighttp.ServerConfig `mapstructure:",squash"`

	// Directory holds the persisted counters (status.json) and, when generated, the admin token.
	Directory string `mapstructure:"directory"`
	// Log is the tfo_log extension whose entries are counted (with a cursor of this extension's name).
	Log component.ID `mapstructure:"log"`
	// UpstreamConsumers are the durable log consumers that forward upstream: their lag is "pending" and their
	// failed deliveries "failed".
	UpstreamConsumers []string `mapstructure:"upstream_consumers"`

	// AdminTokenFile holds the bearer token that sees every workspace; created (random, 0600) when missing.
	AdminTokenFile string `mapstructure:"admin_token_file"`
	// WorkspaceAuth is a server authenticator extension (tfo_auth): a credential it accepts sees only the
	// workspaces it may write to.
	WorkspaceAuth string `mapstructure:"workspace_auth"`
	// PublicEngineStatus serves /.well-known/engine-status without credentials (like health_check).
	PublicEngineStatus bool `mapstructure:"public_engine_status"`
	// InstanceID names this gateway in the engine status; empty: the host name.
	InstanceID string `mapstructure:"instance_id"`

	// FlushInterval is how often the counters are persisted (and the log may reclaim what they cover).
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// SilentAfterIntervals: an agent with no heartbeat for more than this many of its intervals is silent.
	SilentAfterIntervals int `mapstructure:"silent_after_intervals"`
	// MaxWorkspaces, MaxAgents and MaxInstances bound memory; beyond them the least recently active is dropped
	// (counted).
	MaxWorkspaces int `mapstructure:"max_workspaces"`
	MaxAgents     int `mapstructure:"max_agents"`
	MaxInstances  int `mapstructure:"max_instances"`

	_ struct{}
}

func createDefaultConfig() *Config {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = DefaultEndpoint
	return &Config{
		ServerConfig:         srv,
		Log:                  component.MustNewID("tfo_log"),
		UpstreamConsumers:    []string{"tfo_log/forward"},
		PublicEngineStatus:   true,
		FlushInterval:        10 * time.Second,
		SilentAfterIntervals: 3,
		MaxWorkspaces:        10000,
		MaxAgents:            10000,
		MaxInstances:         10000,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must be set"))
	}
	if c.Directory == "" {
		errs = append(errs, errors.New("directory must be set"))
	}
	if c.Auth.HasValue() {
		errs = append(errs, errors.New("auth is not supported: set admin_token_file and/or workspace_auth (confighttp's auth would refuse the admin token)"))
	}
	if c.WorkspaceAuth != "" {
		var id component.ID
		if err := id.UnmarshalText([]byte(c.WorkspaceAuth)); err != nil {
			errs = append(errs, fmt.Errorf("workspace_auth: %w", err))
		}
	}
	if c.AdminTokenFile == "" && c.WorkspaceAuth == "" && !loopback(c.NetAddr.Endpoint) {
		errs = append(errs, fmt.Errorf("endpoint %q is not a loopback address: set admin_token_file and/or workspace_auth, the status is not served without credentials beyond this host", c.NetAddr.Endpoint))
	}
	if c.FlushInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("flush_interval must be at least 100ms"))
	}
	if c.SilentAfterIntervals < 1 {
		errs = append(errs, errors.New("silent_after_intervals must be at least 1"))
	}
	if c.MaxWorkspaces < 1 || c.MaxAgents < 1 || c.MaxInstances < 1 {
		errs = append(errs, errors.New("max_workspaces, max_agents and max_instances must be at least 1"))
	}
	return errors.Join(errs...)
}

func (c *Config) workspaceAuthID() (component.ID, bool) {
	var id component.ID
	if c.WorkspaceAuth == "" || id.UnmarshalText([]byte(c.WorkspaceAuth)) != nil {
		return id, false
	}
	return id, true
}

// loopback reports whether endpoint listens on loopback only.
func loopback(endpoint string) bool {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
