package tfoauthextension

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"

	"github.com/tfocol/tfocol/internal/credentials/keyfile"
)

// Config configures the tfo_auth extension. One instance can act as a server authenticator (keys_file and/or jwt,
// referenced from a receiver) and as a client authenticator (key_id/key_secret, referenced from an exporter).
type Config struct {
	// KeysFile is the API key file (YAML or JSON, see the keyfile package). Reloaded when it changes.
	KeysFile string `mapstructure:"keys_file"`
	// JWT enables enrollment-token (Authorization: Bearer) authentication.
	JWT configoptional.Optional[JWTConfig] `mapstructure:"jwt"`
	// Throttle limits repeated authentication failures.
	Throttle ThrottleConfig `mapstructure:"throttle"`
	// ReloadInterval is a fallback poll of the credential files for changes file events can miss; 0 disables.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`

	// KeyID, KeySecret, AgentID and WorkspaceID are the client side: sent as X-TelemetryFlow-Key-ID,
	// X-TelemetryFlow-Key-Secret, X-TelemetryFlow-Agent-ID and x-workspace-id by exporters using this extension.
	KeyID       string              `mapstructure:"key_id"`
	KeySecret   configopaque.String `mapstructure:"key_secret"`
	AgentID     string              `mapstructure:"agent_id"`
	WorkspaceID string              `mapstructure:"workspace_id"`
	// TokenFile holds an enrollment token (`tfocol tokens issue --token-file`), sent as Authorization: Bearer
	// instead of the key headers. Re-read when it changes, so a rotated token is used without a restart.
	TokenFile string `mapstructure:"token_file"`
	// IdempotencyKey makes OTLP/HTTP requests carry an Idempotency-Key derived from the request body.
	IdempotencyKey bool `mapstructure:"idempotency_key"`
	// RetryOnAuthFailure turns a 401/403 from the server into a retryable error for the exporter, so data stays
	// queued until the credentials are fixed instead of being dropped.
	RetryOnAuthFailure bool `mapstructure:"retry_on_auth_failure"`

	_ struct{}
}

// JWTConfig configures enrollment-token verification.
type JWTConfig struct {
	// HMACSecretFile holds the HS256 shared secret (at least 32 bytes; surrounding whitespace is trimmed).
	HMACSecretFile string `mapstructure:"hmac_secret_file"`
	// PublicKeysFile holds PEM public keys: Ed25519 (EdDSA) and/or RSA (RS256, at least 2048 bits).
	PublicKeysFile string `mapstructure:"public_keys_file"`
	// TokensFile is the `tfocol tokens` state: token ids that are revoked, or rotated and past their overlap
	// window, are refused. Optional; reloaded on change. Tokens it does not list are judged by signature alone.
	TokensFile string `mapstructure:"tokens_file"`
	// Issuer, when set, must equal the token's iss claim.
	Issuer string `mapstructure:"issuer"`
	// Audience, when set, must be in the token's aud claim.
	Audience string `mapstructure:"audience"`
	// WorkspaceClaim names the claim holding the workspace id; it must equal x-workspace-id when that is sent.
	WorkspaceClaim string `mapstructure:"workspace_claim"`
	// ScopeClaim names the claim listing signals (space-separated string or array; "ingest:" prefix allowed).
	ScopeClaim string `mapstructure:"scope_claim"`
	// RoleClaim names the claim holding role(s), mapped to signals by RoleScopes.
	RoleClaim string `mapstructure:"role_claim"`
	// RoleScopes maps a role to the signals it may ingest, e.g. {edge-agent: [traces, metrics, logs]}.
	RoleScopes map[string][]string `mapstructure:"role_scopes"`
	// ClockSkew tolerated when checking exp and nbf.
	ClockSkew time.Duration `mapstructure:"clock_skew"`
	// CacheSize bounds the cache of verified tokens that keeps repeat requests off the signature check.
	CacheSize int `mapstructure:"cache_size"`
}

// ThrottleConfig answers 429 instead of 401 to failing presentations from a client address once it has failed
// too often within Window, until Window has passed since the block started. A credential that verifies is never
// throttled, so nobody can lock a key or an address out by failing on purpose.
type ThrottleConfig struct {
	// MaxFailures of wrong secrets for one key id from one address before that pair is throttled; 0 disables
	// throttling.
	MaxFailures int `mapstructure:"max_failures"`
	// MaxFailuresPerAddress of any kind from one address (IPv6: one /64) before its failing presentations are
	// throttled; 0 means 5 × MaxFailures.
	MaxFailuresPerAddress int `mapstructure:"max_failures_per_address"`
	// Window over which failures are counted, and how long a block lasts.
	Window time.Duration `mapstructure:"window"`
	// MaxTracked bounds how many addresses, and separately how many (key id, address) pairs, are tracked (least
	// recently failing are forgotten).
	MaxTracked int `mapstructure:"max_tracked"`
}

func (c *Config) serverEnabled() bool { return c.KeysFile != "" || c.JWT.HasValue() }
func (c *Config) clientEnabled() bool { return c.KeyID != "" || c.TokenFile != "" }

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if !c.serverEnabled() && !c.clientEnabled() {
		errs = append(errs, errors.New("configure keys_file and/or jwt to authenticate requests, or key_id and key_secret (or token_file) to send credentials"))
	}
	if c.TokenFile != "" && (c.KeyID != "" || c.KeySecret != "") {
		errs = append(errs, errors.New("set either key_id and key_secret or token_file, not both"))
	}
	if c.JWT.HasValue() {
		errs = append(errs, c.JWT.Get().validate())
	}
	errs = append(errs, c.Throttle.validate())
	if c.ReloadInterval < 0 {
		errs = append(errs, errors.New("reload_interval must not be negative"))
	}
	if c.KeyID != "" || c.KeySecret != "" {
		if !strings.HasPrefix(c.KeyID, keyfile.IDPrefix) {
			errs = append(errs, fmt.Errorf("key_id must start with %q", keyfile.IDPrefix))
		}
		// Never print the secret, not even when it is malformed.
		if !strings.HasPrefix(string(c.KeySecret), keyfile.SecretPrefix) {
			errs = append(errs, fmt.Errorf("key_secret must be set and start with %q", keyfile.SecretPrefix))
		}
	}
	if c.WorkspaceID != "" && c.WorkspaceID != "*" {
		if err := keyfile.ValidateWorkspace(c.WorkspaceID); err != nil {
			errs = append(errs, fmt.Errorf("workspace_id: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (j *JWTConfig) validate() error {
	var errs []error
	if j.HMACSecretFile == "" && j.PublicKeysFile == "" {
		errs = append(errs, errors.New("jwt: set hmac_secret_file and/or public_keys_file"))
	}
	if j.WorkspaceClaim == "" {
		errs = append(errs, errors.New("jwt: workspace_claim must not be empty"))
	}
	if j.ClockSkew < 0 || j.ClockSkew > 10*time.Minute {
		errs = append(errs, errors.New("jwt: clock_skew must be between 0 and 10m"))
	}
	if j.CacheSize < 0 {
		errs = append(errs, errors.New("jwt: cache_size must not be negative"))
	}
	for role, scopes := range j.RoleScopes {
		for _, s := range scopes {
			if err := keyfile.ValidateScope(s); err != nil {
				errs = append(errs, fmt.Errorf("jwt: role_scopes[%s]: %w", role, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (t *ThrottleConfig) validate() error {
	if t.MaxFailures < 0 || t.MaxFailuresPerAddress < 0 {
		return errors.New("throttle: max_failures and max_failures_per_address must not be negative")
	}
	if t.MaxFailures > 0 && (t.Window <= 0 || t.MaxTracked <= 0) {
		return errors.New("throttle: window and max_tracked must be positive when max_failures is set")
	}
	return nil
}
