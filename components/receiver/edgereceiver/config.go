// Package edgereceiver implements the edge receiver: the HTTP API Anchor edge agents speak (seed 000: event batches
// on POST /api/v1/events/ingest, enrollment, rotation and policy under /api/v1/edge-agent/) and the Sirveo
// instance telemetry endpoint (seed 003), turned into event log records for the logs pipeline. See README.md,
// docs/edge-api.md and docs/events.md.
package edgereceiver

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Config configures the edge receiver.
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`

	// Schemas maps an event type to its contract file: the same files the event_router checks (configs/gateway.yaml
	// shares one YAML anchor), so the reasons answered are the ones the router stamps.
	Schemas map[string]string `mapstructure:"schemas"`

	Ingest     IngestConfig     `mapstructure:"ingest"`
	Enrollment EnrollmentConfig `mapstructure:"enrollment"`
	Policy     PolicyConfig     `mapstructure:"policy"`
	Sirveo     SirveoConfig     `mapstructure:"sirveo"`

	// Status is the extension that serves GET /api/v1/edge-agent/ingest-status and GET /.well-known/engine-status
	// (StatusProvider); those paths answer 404 without it.
	Status *component.ID `mapstructure:"status"`

	_ struct{}
}

// IngestConfig configures POST /api/v1/events/ingest.
type IngestConfig struct {
	// MaxEvents bounds the events of one batch (413 beyond).
	MaxEvents int `mapstructure:"max_events"`
	// RequireIdempotencyKey refuses a batch without an Idempotency-Key header (400): without one a retried batch
	// would be stored twice.
	RequireIdempotencyKey bool `mapstructure:"require_idempotency_key"`

	_ struct{}
}

// EnrollmentConfig configures GET /api/v1/edge-agent/enrollment and POST /api/v1/edge-agent/enrollment/rotate.
type EnrollmentConfig struct {
	// PublicURL is the base URL agents reach this receiver at (https://gateway.example.com:8088); the ingest and
	// policy URLs handed to agents are built from it. Empty: from the request (scheme and Host).
	PublicURL string `mapstructure:"public_url"`
	// TokensFile is the `tfocol tokens` state (tfo_auth's jwt.tokens_file): the enrollment endpoint reports the
	// caller's token status from it and rotation records new tokens in it.
	TokensFile string         `mapstructure:"tokens_file"`
	Rotation   RotationConfig `mapstructure:"rotation"`

	_ struct{}
}

// RotationConfig configures POST /api/v1/edge-agent/enrollment/rotate.
type RotationConfig struct {
	// SigningKeyFile is the Ed25519 key `tfocol tokens keygen` made. Empty: rotation is disabled (501).
	SigningKeyFile string `mapstructure:"signing_key_file"`
	// Overlap is how long the old token keeps working after a rotation (capped at its expiry).
	Overlap time.Duration `mapstructure:"overlap"`
	// TTL is the new token's lifetime; 0 keeps the old token's.
	TTL time.Duration `mapstructure:"ttl"`
	// AdminKeys are the API key ids that may rotate the tokens of their workspaces.
	AdminKeys []string `mapstructure:"admin_keys"`
	// AdminRoles are the enrollment-token roles that may rotate the tokens of their workspace.
	AdminRoles []string `mapstructure:"admin_roles"`

	_ struct{}
}

// PolicyConfig configures GET /api/v1/edge-agent/policy: what agents collect and how often.
type PolicyConfig struct {
	// Default applies to every workspace.
	Default Policy `mapstructure:"default"`
	// Workspaces override Default per workspace UUID: the fields they set, and per event type.
	Workspaces map[string]Policy `mapstructure:"workspaces"`

	_ struct{}
}

// Policy is the collection policy of a workspace.
type Policy struct {
	// FlushInterval is how often an agent flushes its buffer to the ingest endpoint.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// Interval is how often an agent collects an event type without an interval of its own.
	Interval time.Duration `mapstructure:"interval"`
	// MaxBatchEvents is the largest batch an agent should send (at most ingest.max_events).
	MaxBatchEvents int `mapstructure:"max_batch_events"`
	// Events set per event type whether it is collected and how often.
	Events map[string]EventPolicy `mapstructure:"events"`

	_ struct{}
}

// EventPolicy is the policy of one event type.
type EventPolicy struct {
	Enabled  *bool         `mapstructure:"enabled"`
	Interval time.Duration `mapstructure:"interval"`

	_ struct{}
}

// Checksum mismatch handling of the Sirveo endpoint.
const (
	MismatchFlag   = "flag"
	MismatchReject = "reject"
)

// SirveoConfig configures POST /api/v1/sirveo/telemetry[/{workspace}].
type SirveoConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// EventType is the contract lifecycle events are checked against (one of schemas).
	EventType string `mapstructure:"event_type"`
	// AnonymousWorkspaces accept telemetry without Authorization when named in the path. Every other request
	// needs a credential (Sirveo sends SIRVEO_TELEMTRY_AUTH as a bearer token: an enrollment token).
	AnonymousWorkspaces []string `mapstructure:"anonymous_workspaces"`
	// OnChecksumMismatch: flag (keep the event, checksumStatus mismatch, severity warning) or reject (400).
	OnChecksumMismatch string `mapstructure:"on_checksum_mismatch"`
	// MaxInstances bounds the instances whose checksums are remembered (least recently seen forgotten first).
	MaxInstances int `mapstructure:"max_instances"`

	_ struct{}
}

func createDefaultConfig() *Config {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = "127.0.0.1:8088"
	srv.MaxRequestBodySize = 4 << 20
	return &Config{
		ServerConfig: srv,
		Ingest:       IngestConfig{MaxEvents: 1000, RequireIdempotencyKey: true},
		Enrollment:   EnrollmentConfig{Rotation: RotationConfig{Overlap: 24 * time.Hour}},
		Policy:       PolicyConfig{Default: Policy{FlushInterval: 30 * time.Second, Interval: 5 * time.Minute}},
		Sirveo:       SirveoConfig{EventType: "InstanceLifecycle", OnChecksumMismatch: MismatchFlag, MaxInstances: 10000},
	}
}

// Validate checks the configuration and compiles the contracts.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must be set"))
	}
	if !c.Auth.HasValue() {
		errs = append(errs, errors.New("auth.authenticator must be set: every edge endpoint but the Sirveo anonymous workspaces needs a credential"))
	}
	if len(c.Schemas) == 0 {
		errs = append(errs, errors.New("schemas must name at least one event contract"))
	}
	for _, typ := range slices.Sorted(maps.Keys(c.Schemas)) {
		file := c.Schemas[typ]
		if typ == "" || file == "" {
			errs = append(errs, fmt.Errorf("schemas: event type %q: type and file must not be empty", typ))
			continue
		}
		// Compiled here too, so `tfocol validate` names a broken contract and why.
		if _, err := eventrouterconnector.LoadContract(file); err != nil {
			errs = append(errs, fmt.Errorf("schemas::%s: contract %q: %w", typ, file, err))
		}
	}
	if c.Ingest.MaxEvents < 1 {
		errs = append(errs, errors.New("ingest.max_events must be at least 1"))
	}
	errs = append(errs, c.Enrollment.validate(), c.Policy.validate(c), c.Sirveo.validate(c))
	return errors.Join(errs...)
}

func (e *EnrollmentConfig) validate() error {
	var errs []error
	if e.PublicURL != "" {
		u, err := url.Parse(e.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("enrollment.public_url must be an http(s) URL with a host"))
		}
	}
	r := e.Rotation
	if r.SigningKeyFile != "" {
		if e.TokensFile == "" {
			errs = append(errs, errors.New("enrollment.rotation needs enrollment.tokens_file (where rotations are recorded)"))
		}
		if len(r.AdminKeys) == 0 && len(r.AdminRoles) == 0 {
			errs = append(errs, errors.New("enrollment.rotation needs admin_keys or admin_roles (who may rotate)"))
		}
	}
	if r.Overlap < 0 || r.TTL < 0 {
		errs = append(errs, errors.New("enrollment.rotation overlap and ttl must not be negative"))
	}
	return errors.Join(errs...)
}

func (p *PolicyConfig) validate(c *Config) error {
	var errs []error
	errs = append(errs, p.Default.validate("policy.default", c))
	if p.Default.FlushInterval <= 0 || p.Default.Interval <= 0 {
		errs = append(errs, errors.New("policy.default: flush_interval and interval must be positive"))
	}
	for ws, pol := range p.Workspaces {
		if _, err := requestcontract.CanonicalWorkspace(ws); err != nil {
			errs = append(errs, fmt.Errorf("policy.workspaces: %q: %w", ws, err))
		}
		errs = append(errs, pol.validate("policy.workspaces::"+ws, c))
	}
	return errors.Join(errs...)
}

func (p *Policy) validate(field string, c *Config) error {
	var errs []error
	if p.FlushInterval < 0 || p.Interval < 0 {
		errs = append(errs, fmt.Errorf("%s: intervals must not be negative", field))
	}
	if p.MaxBatchEvents < 0 || p.MaxBatchEvents > c.Ingest.MaxEvents {
		errs = append(errs, fmt.Errorf("%s: max_batch_events must be between 0 and ingest.max_events", field))
	}
	for typ, ev := range p.Events {
		if _, ok := c.Schemas[typ]; !ok {
			errs = append(errs, fmt.Errorf("%s.events: %q has no contract in schemas", field, typ))
		}
		if ev.Interval < 0 {
			errs = append(errs, fmt.Errorf("%s.events::%s: interval must not be negative", field, typ))
		}
	}
	return errors.Join(errs...)
}

func (s *SirveoConfig) validate(c *Config) error {
	if !s.Enabled {
		return nil
	}
	var errs []error
	if _, ok := c.Schemas[s.EventType]; !ok {
		errs = append(errs, fmt.Errorf("sirveo.event_type %q has no contract in schemas", s.EventType))
	}
	for _, ws := range s.AnonymousWorkspaces {
		if _, err := requestcontract.CanonicalWorkspace(ws); err != nil {
			errs = append(errs, fmt.Errorf("sirveo.anonymous_workspaces: %q: %w", ws, err))
		}
	}
	if !slices.Contains([]string{MismatchFlag, MismatchReject}, s.OnChecksumMismatch) {
		errs = append(errs, errors.New("sirveo.on_checksum_mismatch must be flag or reject"))
	}
	if s.MaxInstances < 1 {
		errs = append(errs, errors.New("sirveo.max_instances must be at least 1"))
	}
	return errors.Join(errs...)
}
