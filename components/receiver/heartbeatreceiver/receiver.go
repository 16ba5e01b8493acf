package heartbeatreceiver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/tfocol/tfocol/components/receiver/heartbeatreceiver/internal/metadata"
	"github.com/tfocol/tfocol/internal/buildinfo"
	"github.com/tfocol/tfocol/internal/requestcontract"
)

// Reasons a heartbeat is sent (seed 003).
const (
	ReasonBegin            = "begin"
	ReasonUpdate           = "update"
	ReasonCredentialChange = "credential-state-change"
	ReasonEnd              = "end"
)

// EventName is the OTLP EventName of every record.
const EventName = "HostHeartbeat"

// ContractVersion is the tfo.event.contract_version the records carry (host_heartbeat.v2.json).
const ContractVersion = "2"

// credentialStater is implemented by the tfo_auth extension (client side).
type credentialStater interface {
	CredentialState() (valid, known bool)
}

// credentialPoll is how often the credential state is looked at.
var credentialPoll = time.Second

type heartbeatReceiver struct {
	cfg    *Config
	set    receiver.Settings
	next   consumer.Logs
	logger *zap.Logger
	now    func() time.Time

	build      buildFields
	instanceID string
	hostName   string
	startedAt  time.Time
	sys        *sysCollector
	creds      credentialStater

	mu        sync.Mutex // serialises emits (sys keeps CPU state)
	credValid *bool      // last credential state reported; nil while unknown

	cancel context.CancelFunc
	done   chan struct{}
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) *heartbeatReceiver {
	return &heartbeatReceiver{cfg: cfg, set: set, next: next, logger: set.Logger, now: time.Now, sys: newSysCollector(),
		build: readBuild(set.BuildInfo)}
}

func (r *heartbeatReceiver) Start(_ context.Context, host component.Host) error {
	id, created, err := loadInstanceID(r.cfg.Directory)
	if err != nil {
		return fmt.Errorf("heartbeat: instance id in %s: %w", r.cfg.Directory, err)
	}
	r.instanceID = id
	if created {
		r.logger.Info("Generated a new instance id", zap.String("instance_id", id))
	} else {
		r.logger.Debug("Instance id", zap.String("instance_id", id))
	}
	r.hostName = r.cfg.HostName
	if r.hostName == "" {
		if r.hostName, err = os.Hostname(); err != nil || r.hostName == "" {
			r.hostName = "unknown"
		}
	}
	if len(r.hostName) > 255 {
		r.hostName = r.hostName[:255]
	}
	if r.cfg.Credentials != nil {
		ext, ok := host.GetExtensions()[*r.cfg.Credentials]
		if !ok {
			return fmt.Errorf("heartbeat: credentials extension %s not found", r.cfg.Credentials)
		}
		if r.creds, ok = ext.(credentialStater); !ok {
			return fmt.Errorf("heartbeat: extension %s does not report a credential state", r.cfg.Credentials)
		}
	}
	r.startedAt = r.now()

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go r.run(ctx)
	return nil
}

// run sends begin at once, then update every interval and a credential-state-change whenever the credential
// verdict changes. A failed send is logged, not retried here: the pipeline's exporter retries.
func (r *heartbeatReceiver) run(ctx context.Context) {
	defer close(r.done)
	r.emitLogged(ctx, ReasonBegin)
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	var poll <-chan time.Time
	if r.creds != nil {
		t := time.NewTicker(credentialPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.emitLogged(ctx, ReasonUpdate)
		case <-poll:
			if r.credentialChanged() {
				r.emitLogged(ctx, ReasonCredentialChange)
			}
		}
	}
}

// credentialChanged reports whether the credential verdict differs from the last one reported. The first
// verdict after start is not a change: begin went out before any answer.
func (r *heartbeatReceiver) credentialChanged() bool {
	valid, known := r.creds.CredentialState()
	if !known {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.credValid == nil {
		r.credValid = &valid
		return !valid // the first refusal is worth telling; the first acceptance is what begin assumed
	}
	if *r.credValid == valid {
		return false
	}
	*r.credValid = valid
	return true
}

func (r *heartbeatReceiver) emitLogged(ctx context.Context, reason string) {
	if err := r.emit(ctx, reason); err != nil && ctx.Err() == nil {
		r.logger.Warn("Heartbeat not accepted by the pipeline", zap.String("reason", reason), zap.Error(err))
	}
}

func (r *heartbeatReceiver) emit(ctx context.Context, reason string) error {
	r.mu.Lock()
	ld := r.buildLogs(ctx, reason)
	r.mu.Unlock()
	return r.next.ConsumeLogs(ctx, ld)
}

// Shutdown stops the ticker and sends the end heartbeat, waiting at most shutdown_timeout (and the caller's
// deadline) for the pipeline to accept it. Receivers are shut down before exporters, so the exporter is still
// there to send it.
func (r *heartbeatReceiver) Shutdown(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	<-r.done
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ShutdownTimeout)
	defer cancel()
	if err := r.emit(ctx, ReasonEnd); err != nil {
		r.logger.Warn("End heartbeat not accepted before shutdown", zap.Error(err))
		return nil // not a shutdown failure: the agent still stops
	}
	r.logger.Info("End heartbeat sent", zap.String("instance_id", r.instanceID))
	return nil
}

// buildLogs builds one HostHeartbeat record.
func (r *heartbeatReceiver) buildLogs(ctx context.Context, reason string) plog.Logs {
	start := r.now()
	body := map[string]any{}
	r.sys.collect(ctx, body)
	now := r.now()

	body["hostname"] = r.hostName
	body["reason"] = reason
	body["instanceId"] = r.instanceID
	body["buildVersion"] = r.build.Version
	body["buildCommit"] = r.build.Commit
	body["buildTime"] = r.build.Time
	body["buildOs"] = runtime.GOOS
	body["buildArch"] = runtime.GOARCH
	body["agentVersion"] = r.build.Version
	body["agentStartTime"] = r.startedAt.UTC().Format(time.RFC3339)
	body["agentUptime"] = int64(now.Sub(r.startedAt) / time.Second)
	body["collectionTime"] = now.UTC().Format(time.RFC3339Nano)
	body["collectionDuration"] = round2(float64(now.Sub(start).Microseconds()) / 1000)
	body["intervalSeconds"] = int64(r.cfg.Interval / time.Second)
	if r.cfg.CustomID != "" {
		body["customId"] = r.cfg.CustomID
	}
	severity := "info"
	if r.creds != nil {
		if valid, known := r.creds.CredentialState(); known {
			body["credentialsValid"] = valid
			if !valid {
				severity = "warning"
			}
		}
	}
	body["checksum"] = Checksum(body)

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("host.name", r.hostName)
	rl.Resource().Attributes().PutStr("service.instance.id", r.instanceID)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.build.Version)
	lr := sl.LogRecords().AppendEmpty()
	lr.SetEventName(EventName)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	if severity == "warning" {
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
	}
	lr.SetSeverityText(strings.ToUpper(severity))
	a := lr.Attributes()
	a.PutStr(requestcontract.AttrContractVersion, ContractVersion)
	a.PutStr("event.id", uuid.NewString())
	a.PutStr("event.severity", severity)
	a.PutStr("host.name", r.hostName)
	a.PutStr("agent.id", r.cfg.AgentID)
	if semver(r.build.Version) {
		a.PutStr("agent.version", r.build.Version)
	}
	_ = lr.Body().SetEmptyMap().FromRaw(body)
	return ld
}

// checksumFields are the fields the checksum covers, in this order (seed 003: "directly derived from other
// values in the payload"): the identity and lifecycle fields, not the volatile measurements.
var checksumFields = []string{"buildVersion", "buildCommit", "buildTime", "buildOs", "buildArch", "instanceId",
	"credentialsValid", "reason", "customId"}

// Checksum is the first 16 hex digits of SHA-256 over "name=value\n" for each of checksumFields present in body
// (booleans as true/false), so a consumer can tell a payload whose identity fields were altered or mixed up.
func Checksum(body map[string]any) string {
	h := sha256.New()
	for _, k := range checksumFields {
		v, ok := body[k]
		if !ok {
			continue
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case bool:
			s = strconv.FormatBool(x)
		default:
			s = fmt.Sprint(x)
		}
		_, _ = fmt.Fprintf(h, "%s=%s\n", k, s)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// buildFields are the binary's build identity (seed 003's build_*).
type buildFields struct {
	Version, Commit, Time string
}

// readBuild takes the version from the collector's build info and the commit and build time from the stamp
// `make build` puts into the binary (internal/buildinfo).
func readBuild(bi component.BuildInfo) buildFields {
	b := buildFields{Version: bi.Version}
	if b.Version == "" {
		b.Version = "unknown"
	}
	b.Commit, b.Time = buildinfo.Read()
	return b
}

func semver(v string) bool {
	core, _, _ := strings.Cut(strings.SplitN(v, "+", 2)[0], "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 64); err != nil || p == "" {
			return false
		}
	}
	return true
}
