package receiptexporter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tfocol/tfocol/internal/receipts"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Config configures the receipt exporter.
type Config struct {
	// Directory holds the scrolls (batch files, receipt log and ROOT checkpoint per workspace) and the spools. One
	// exporter per directory.
	Directory string `mapstructure:"directory"`
	// Interval is the window length; windows are aligned to the UTC epoch.
	Interval time.Duration `mapstructure:"interval"`
	// Grace is how long after a window's end records may still arrive for it before it is sealed.
	Grace time.Duration `mapstructure:"grace"`
	// SigningKeyFile is an optional note signer key (from `tfocol receipts keygen`) used to sign ROOT.
	SigningKeyFile string `mapstructure:"signing_key_file"`
	// Origin prefixes the checkpoint origin line; the workspace directory is appended.
	Origin string `mapstructure:"origin"`
	// Instance, when set, names this replica: each scroll's checkpoint origin is <origin>/<instance>/<workspace
	// dir>, so replicas sealing the same workspaces never publish conflicting checkpoints under one origin.
	Instance string `mapstructure:"instance"`
	// TraceThreshold marks traces longer than this as significant.
	TraceThreshold time.Duration `mapstructure:"trace_threshold"`
	// TraceIdle is how long a trace must receive no spans before it counts as complete.
	TraceIdle time.Duration `mapstructure:"trace_idle"`
	// TraceLinger is how long a trace completed without being significant is kept after trace_idle (its span
	// references and its hold on the log): a span that arrives meanwhile, such as an error reported after the
	// trace's window batch was sealed, reopens it, and a trace it makes significant is receipted with all its
	// spans (tracelinger.go). 0: completed traces are forgotten at once.
	TraceLinger time.Duration `mapstructure:"trace_linger"`
	// TraceMaxSpans bounds the spans referenced per open trace (their leaves wait in the trace spool on disk);
	// larger traces get no obs_trace_complete receipt (their spans are still sealed in the window batches).
	TraceMaxSpans int `mapstructure:"trace_max_spans"`
	// TraceMaxOpen bounds the open traces tracked; beyond it the one whose last span arrived longest ago is
	// completed early, as if idle.
	TraceMaxOpen int `mapstructure:"trace_max_open"`
	// WorkspaceAttribute is the resource attribute that splits windows per workspace.
	WorkspaceAttribute string `mapstructure:"workspace_attribute"`
	// AlertEvents are the event names of log records that, unless rejected by their contract, also get an
	// obs_alert_fired receipt in their workspace's scroll when they are delivered. Empty: no alerts.
	AlertEvents []string `mapstructure:"alert_events"`
	// MaxOpenFiles bounds the window spool files kept open; the least recently written is closed first and
	// reopened for append when it gets records again.
	MaxOpenFiles int `mapstructure:"max_open_files"`
	// SealConcurrency bounds the windows whose durable steps (spool fsync, rename, receipt append, ROOT) run at
	// once when many are due together; windows of one workspace are still sealed one after another, in order.
	SealConcurrency int `mapstructure:"seal_concurrency"`

	// SLOs are the service level objectives reported in obs_slo_report receipts (slo.go).
	SLOs []SLOConfig `mapstructure:"slos"`
	// SLOReportInterval is how often SLO reports are made, at UTC-aligned boundaries (24h: daily, at 00:00 UTC).
	SLOReportInterval time.Duration `mapstructure:"slo_report_interval"`
	// Anomaly configures the obs_anomaly_detected detector (anomaly.go).
	Anomaly AnomalyConfig `mapstructure:"anomaly"`
	// Retention removes sealed batch files per class and bounds the directory (retention.go).
	Retention RetentionConfig `mapstructure:"retention"`

	// AlertResolutions say which events close an open alert with an obs_alert_resolved receipt (alertresolve.go).
	AlertResolutions []AlertResolution `mapstructure:"alert_resolutions"`
	// AlertMaxOpen bounds the open alerts tracked per scroll for alert_resolutions (each costs memory until it
	// is resolved); beyond it the oldest is forgotten and stays open in the receipts.
	AlertMaxOpen int `mapstructure:"alert_max_open"`
	// Aggregates are the per-metric figures of obs_metric_snapshot receipts (aggregates.go).
	Aggregates []AggregateConfig `mapstructure:"aggregates"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		Interval:           time.Hour,
		Grace:              time.Minute,
		Origin:             receipts.DefaultOriginPrefix,
		TraceThreshold:     5 * time.Second,
		TraceIdle:          30 * time.Second,
		TraceLinger:        10 * time.Minute,
		TraceMaxSpans:      10000,
		TraceMaxOpen:       100000,
		WorkspaceAttribute: requestcontract.AttrWorkspaceID,
		AlertEvents:        []string{"BackupFailure", "ServiceDegraded", "PipelineFailure"},
		MaxOpenFiles:       256,
		SealConcurrency:    32,
		SLOReportInterval:  24 * time.Hour,
		Anomaly:            defaultAnomalyConfig(),
		AlertResolutions:   defaultAlertResolutions(),
		AlertMaxOpen:       10000,
		Retention:          defaultRetentionConfig(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New("directory must be set"))
	}
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("interval must be at least 1s, got %s", c.Interval))
	} else if (24*time.Hour)%c.Interval != 0 {
		errs = append(errs, fmt.Errorf("interval %s must divide 24h so windows align to UTC days", c.Interval))
	} else if c.Interval%time.Second != 0 {
		errs = append(errs, fmt.Errorf("interval %s must be whole seconds", c.Interval))
	}
	if c.Grace < 0 {
		errs = append(errs, errors.New("grace must not be negative"))
	}
	if c.TraceThreshold <= 0 {
		errs = append(errs, errors.New("trace_threshold must be positive"))
	}
	if c.TraceIdle <= 0 {
		errs = append(errs, errors.New("trace_idle must be positive"))
	}
	if c.TraceLinger < 0 {
		errs = append(errs, errors.New("trace_linger must not be negative"))
	}
	if c.TraceMaxSpans < 1 {
		errs = append(errs, errors.New("trace_max_spans must be at least 1"))
	}
	if c.TraceMaxOpen < 1 {
		errs = append(errs, errors.New("trace_max_open must be at least 1"))
	}
	if c.AlertMaxOpen < 1 {
		errs = append(errs, errors.New("alert_max_open must be at least 1"))
	}
	if c.WorkspaceAttribute == "" {
		errs = append(errs, errors.New("workspace_attribute must be set"))
	}
	if c.Origin == "" || strings.ContainsAny(c.Origin, "\n\r") {
		errs = append(errs, errors.New("origin must be set and be a single line"))
	}
	if c.Instance != "" && !validInstance(c.Instance) {
		errs = append(errs, fmt.Errorf("instance %q must be letters, digits, '.', '_' or '-' and not start with '.'", c.Instance))
	}
	if c.MaxOpenFiles < 1 {
		errs = append(errs, errors.New("max_open_files must be at least 1"))
	}
	if c.SealConcurrency < 1 {
		errs = append(errs, errors.New("seal_concurrency must be at least 1"))
	}
	errs = append(errs, c.validateSLOs(), c.Anomaly.validate(), c.validateAlertResolutions(), c.validateAggregates(), c.Retention.validate())
	return errors.Join(errs...)
}

// validInstance keeps an instance name one origin path element.
func validInstance(s string) bool {
	if s[0] == '.' {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}
