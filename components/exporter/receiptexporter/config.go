package receiptexporter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tfocol/tfocol/internal/receipts"
)

// Mode selects what the exporter turns into receipts.
type Mode string

const (
	// ModeBatch seals every accepted record into per-window batch files.
	ModeBatch Mode = "batch"
	// ModeAlerts turns each failure event log record into one obs_alert_fired receipt right away.
	ModeAlerts Mode = "alerts"
)

// Config configures the receipt exporter.
type Config struct {
	// Directory holds the WAL, batch files, receipt log and ROOT checkpoints. One exporter per directory.
	Directory string `mapstructure:"directory"`
	// Interval is the window length; windows are aligned to the UTC epoch.
	Interval time.Duration `mapstructure:"interval"`
	// Grace is how long after a window's end records may still arrive for it before it is sealed.
	Grace time.Duration `mapstructure:"grace"`
	// Mode is batch or alerts.
	Mode Mode `mapstructure:"mode"`
	// SigningKeyFile is an optional note signer key (from `tfocol receipts keygen`) used to sign ROOT.
	SigningKeyFile string `mapstructure:"signing_key_file"`
	// Origin prefixes the checkpoint origin line; the workspace id is appended.
	Origin string `mapstructure:"origin"`
	// TraceThreshold marks traces longer than this as significant.
	TraceThreshold time.Duration `mapstructure:"trace_threshold"`
	// TraceIdle is how long a trace must receive no spans before it counts as complete.
	TraceIdle time.Duration `mapstructure:"trace_idle"`
	// TraceMaxSpans bounds the spans referenced per open trace (their leaves wait in the trace spool on disk);
	// larger traces get no obs_trace_complete receipt (their spans are still sealed in the window batches).
	TraceMaxSpans int `mapstructure:"trace_max_spans"`
	// TraceMaxOpen bounds the open traces tracked; beyond it the one whose last span arrived longest ago is
	// completed early, as if idle.
	TraceMaxOpen int `mapstructure:"trace_max_open"`
	// WorkspaceAttribute is the resource attribute that splits windows per workspace.
	WorkspaceAttribute string `mapstructure:"workspace_attribute"`
	// AlertEvents are the event names that become obs_alert_fired receipts in alerts mode.
	AlertEvents []string `mapstructure:"alert_events"`
	// WALSegmentSize rotates the WAL segment once it grows beyond this many bytes.
	WALSegmentSize int64 `mapstructure:"wal_segment_size"`
	// DedupWindow is how long, at least, a request with an Idempotency-Key is remembered after it was written to
	// the WAL, so that its retry is not written again; it is remembered at least until its windows are sealed
	// in any case. Sealed WAL segments holding such requests are kept (as .retired) for this long.
	DedupWindow time.Duration `mapstructure:"dedup_window"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		Interval:           time.Hour,
		Grace:              time.Minute,
		Mode:               ModeBatch,
		Origin:             receipts.DefaultOriginPrefix,
		TraceThreshold:     5 * time.Second,
		TraceIdle:          30 * time.Second,
		TraceMaxSpans:      10000,
		TraceMaxOpen:       100000,
		WorkspaceAttribute: "tfo.workspace.id",
		AlertEvents:        []string{"BackupFailure", "ServiceDegraded", "PipelineFailure"},
		WALSegmentSize:     64 << 20,
		DedupWindow:        time.Hour,
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
	switch c.Mode {
	case ModeBatch, ModeAlerts:
	default:
		errs = append(errs, fmt.Errorf("mode must be %q or %q, got %q", ModeBatch, ModeAlerts, c.Mode))
	}
	if c.TraceThreshold <= 0 {
		errs = append(errs, errors.New("trace_threshold must be positive"))
	}
	if c.TraceIdle <= 0 {
		errs = append(errs, errors.New("trace_idle must be positive"))
	}
	if c.TraceMaxSpans < 1 {
		errs = append(errs, errors.New("trace_max_spans must be at least 1"))
	}
	if c.TraceMaxOpen < 1 {
		errs = append(errs, errors.New("trace_max_open must be at least 1"))
	}
	if c.WorkspaceAttribute == "" {
		errs = append(errs, errors.New("workspace_attribute must be set"))
	}
	if c.Origin == "" || strings.ContainsAny(c.Origin, "\n\r") {
		errs = append(errs, errors.New("origin must be set and be a single line"))
	}
	if c.Mode == ModeAlerts && len(c.AlertEvents) == 0 {
		errs = append(errs, errors.New("alert_events must not be empty in alerts mode"))
	}
	if c.DedupWindow <= 0 {
		errs = append(errs, errors.New("dedup_window must be positive"))
	}
	if c.WALSegmentSize < 1<<20 {
		errs = append(errs, errors.New("wal_segment_size must be at least 1MiB"))
	}
	return errors.Join(errs...)
}
