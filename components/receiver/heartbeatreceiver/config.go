// Package heartbeatreceiver implements the heartbeat receiver: the agent's HostHeartbeat events (seed 001's
// systemInfo, seed 003's lifecycle reasons, instance id and checksum) as OTLP log records, validated by the
// gateway against configs/schemas/host_heartbeat.v2.json. See README.md and docs/events.md.
package heartbeatreceiver

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config configures the heartbeat receiver.
type Config struct {
	// Interval between update heartbeats (10s to 24h).
	Interval time.Duration `mapstructure:"interval"`
	// Directory holds the persisted instance id (file instance_id); created when missing.
	Directory string `mapstructure:"directory"`
	// AgentID is the agent id the agent authenticates with (attribute agent.id).
	AgentID string `mapstructure:"agent_id"`
	// HostName overrides the host name reported (attribute host.name); the OS host name when empty.
	HostName string `mapstructure:"host_name"`
	// CustomID is an optional identifier of this agent chosen by the operator (body customId).
	CustomID string `mapstructure:"custom_id"`
	// Credentials is an extension reporting the gateway's verdict on the agent's credentials (tfo_auth/agent);
	// a change is sent as a heartbeat with reason credential-state-change. Optional.
	Credentials *component.ID `mapstructure:"credentials"`
	// ShutdownTimeout bounds how long shutdown waits for the end heartbeat to be accepted by the pipeline.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`

	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		Interval:        60 * time.Second,
		ShutdownTimeout: 5 * time.Second,
	}
}

const (
	minInterval = 10 * time.Second
	maxInterval = 24 * time.Hour
)

var agentIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval < minInterval || c.Interval > maxInterval {
		errs = append(errs, fmt.Errorf("interval must be between %s and %s", minInterval, maxInterval))
	}
	if c.Directory == "" {
		errs = append(errs, errors.New("directory must be set (where the instance id is kept)"))
	}
	if !agentIDPattern.MatchString(c.AgentID) {
		errs = append(errs, errors.New("agent_id must be 1-128 of [A-Za-z0-9._:-], starting with a letter or digit"))
	}
	if len(c.HostName) > 255 {
		errs = append(errs, errors.New("host_name must be at most 255 characters"))
	}
	if len(c.CustomID) > 128 {
		errs = append(errs, errors.New("custom_id must be at most 128 characters"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown_timeout must be positive"))
	}
	return errors.Join(errs...)
}
