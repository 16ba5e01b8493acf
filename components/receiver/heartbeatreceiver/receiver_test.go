package heartbeatreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/tfocol/tfocol/components/receiver/heartbeatreceiver/internal/metadata"
)

func validConfig(t *testing.T) *Config {
	cfg := createDefaultConfig()
	cfg.Directory = t.TempDir()
	cfg.AgentID = "host-01"
	return cfg
}

func TestConfigValidate(t *testing.T) {
	cfg := validConfig(t)
	require.NoError(t, cfg.Validate())
	for name, mut := range map[string]func(*Config){
		"interval too short": func(c *Config) { c.Interval = 9 * time.Second },
		"interval too long":  func(c *Config) { c.Interval = 25 * time.Hour },
		"no directory":       func(c *Config) { c.Directory = "" },
		"bad agent id":       func(c *Config) { c.AgentID = "-x y" },
		"no agent id":        func(c *Config) { c.AgentID = "" },
		"long custom id":     func(c *Config) { c.CustomID = string(bytes.Repeat([]byte("a"), 129)) },
		"no timeout":         func(c *Config) { c.ShutdownTimeout = 0 },
	} {
		c := *validConfig(t)
		mut(&c)
		assert.Error(t, c.Validate(), name)
	}
	c := validConfig(t)
	c.Interval, c.CustomID = 24*time.Hour, "rack-7"
	assert.NoError(t, c.Validate())
	assert.Equal(t, 60*time.Second, createDefaultConfig().Interval)
}

// The instance id is generated once, kept, and regenerated when the file is missing or does not hold a UUID.
func TestInstanceIDPersisted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	id, created, err := loadInstanceID(dir)
	require.NoError(t, err)
	assert.True(t, created)
	_, err = uuid.Parse(id)
	require.NoError(t, err)

	again, created, err := loadInstanceID(dir)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, id, again)

	for _, bad := range []string{"", "not-a-uuid", "00000000-0000-0000-0000-000000000000", "{" + id + "}"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, instanceIDFile), []byte(bad), 0o600))
		fresh, created, err := loadInstanceID(dir)
		require.NoError(t, err)
		assert.True(t, created, "%q", bad)
		assert.NotEqual(t, id, fresh)
		kept, _, _ := loadInstanceID(dir)
		assert.Equal(t, fresh, kept)
	}
}

func TestChecksum(t *testing.T) {
	body := map[string]any{"buildVersion": "0.1.0", "buildCommit": "abc", "buildTime": "t", "buildOs": "linux",
		"buildArch": "amd64", "instanceId": "4915a241-ba4e-4c1d-9e8f-7a6b5c4d3e2f", "reason": "begin", "cpuUsage": 1.5}
	sum := Checksum(body)
	assert.Regexp(t, `^[0-9a-f]{16}$`, sum)
	body["cpuUsage"] = 99.0 // measurements are not covered
	assert.Equal(t, sum, Checksum(body))
	body["reason"] = "end"
	assert.NotEqual(t, sum, Checksum(body))
	body["reason"] = "begin"
	body["credentialsValid"] = false
	assert.NotEqual(t, sum, Checksum(body))
}

type fakeCreds struct {
	mu           sync.Mutex
	valid, known bool
}

func (f *fakeCreds) CredentialState() (bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.valid, f.known
}

func (f *fakeCreds) set(valid bool) {
	f.mu.Lock()
	f.valid, f.known = valid, true
	f.mu.Unlock()
}

type credsExt struct {
	component.StartFunc
	component.ShutdownFunc
	*fakeCreds
}

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

func records(sink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		out = append(out, ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0))
	}
	return out
}

func reasonOf(lr plog.LogRecord) string {
	v, _ := lr.Body().Map().Get("reason")
	return v.Str()
}

// begin at start, update every interval, credential-state-change when the gateway's verdict changes, end in
// Shutdown; one instance id across a restart.
func TestLifecycle(t *testing.T) {
	credentialPoll = 10 * time.Millisecond
	cfg := validConfig(t)
	cfg.Interval = 10 * time.Second
	credID := component.MustNewID("tfo_auth")
	cfg.Credentials = &credID
	creds := &fakeCreds{}
	host := hostWith{credID: credsExt{fakeCreds: creds}}

	sink := new(consumertest.LogsSink)
	set := receivertest.NewNopSettings(metadata.Type)
	set.BuildInfo.Version = "1.2.3"
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host))
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 1 }, 5*time.Second, 10*time.Millisecond)

	creds.set(true) // first verdict: accepted, as begin assumed, no event
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, sink.LogRecordCount())
	creds.set(false)
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 2 }, 5*time.Second, 10*time.Millisecond)
	creds.set(true)
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 3 }, 5*time.Second, 10*time.Millisecond)

	hr := r.(*heartbeatReceiver)
	require.NoError(t, hr.emit(context.Background(), ReasonUpdate)) // what the ticker does
	require.NoError(t, r.Shutdown(context.Background()))

	recs := records(sink)
	require.Len(t, recs, 5)
	var reasons []string
	for _, lr := range recs {
		reasons = append(reasons, reasonOf(lr))
	}
	assert.Equal(t, []string{"begin", "credential-state-change", "credential-state-change", "update", "end"}, reasons)
	valid, _ := recs[1].Body().Map().Get("credentialsValid")
	assert.False(t, valid.Bool())
	sev, _ := recs[1].Attributes().Get("event.severity")
	assert.Equal(t, "warning", sev.Str())

	// Restart: same instance id.
	id1, _ := recs[0].Body().Map().Get("instanceId")
	sink2 := new(consumertest.LogsSink)
	r2, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink2)
	require.NoError(t, err)
	require.NoError(t, r2.Start(context.Background(), host))
	require.Eventually(t, func() bool { return sink2.LogRecordCount() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, r2.Shutdown(context.Background()))
	id2, _ := records(sink2)[0].Body().Map().Get("instanceId")
	assert.Equal(t, id1.Str(), id2.Str())
	assert.Equal(t, "end", reasonOf(records(sink2)[1]))
}

// Shutdown waits at most shutdown_timeout for the end heartbeat.
func TestShutdownBounded(t *testing.T) {
	cfg := validConfig(t)
	cfg.ShutdownTimeout = 200 * time.Millisecond
	blocking := &blockingConsumer{}
	r := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), blocking)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	start := time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Less(t, time.Since(start), 3*time.Second)
}

type blockingConsumer struct{ consumertest.LogsSink }

func (b *blockingConsumer) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if reasonOf(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)) == "end" {
		<-ctx.Done()
		return ctx.Err()
	}
	return b.LogsSink.ConsumeLogs(ctx, ld)
}

func compileSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "configs", "schemas", name))
	require.NoError(t, err)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	require.NoError(t, c.AddResource(path, doc))
	sch, err := c.Compile(path)
	require.NoError(t, err)
	return sch
}

// document is what the gateway's event_router validates: the record attributes plus the body.
func document(t *testing.T, lr plog.LogRecord) any {
	m := lr.Attributes().AsRaw()
	m["body"] = lr.Body().AsRaw()
	data, err := json.Marshal(m)
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	return doc
}

// What the receiver sends satisfies host_heartbeat.v2.json (the gateway's contract), for every reason, and the
// v2 contract still accepts v1 events (the valid fixtures) but not a v2 event without its lifecycle fields.
func TestRecordsSatisfyContract(t *testing.T) {
	v2 := compileSchema(t, "host_heartbeat.v2.json")
	cfg := validConfig(t)
	cfg.CustomID = "rack-7"
	set := receivertest.NewNopSettings(metadata.Type)
	set.BuildInfo.Version = "0.1.0"
	r := newReceiver(cfg, set, new(consumertest.LogsSink))
	r.instanceID, r.hostName, r.startedAt = uuid.NewString(), "host-01", time.Now()
	r.creds = &fakeCreds{valid: false, known: true}
	for _, reason := range []string{ReasonBegin, ReasonUpdate, ReasonCredentialChange, ReasonEnd} {
		ld := r.buildLogs(context.Background(), reason)
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		assert.Equal(t, EventName, lr.EventName())
		require.NoError(t, v2.Validate(document(t, lr)), reason)
		body := lr.Body().Map().AsRaw()
		sum := body["checksum"]
		delete(body, "checksum")
		assert.Equal(t, sum, Checksum(body))
		host, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get("host.name")
		assert.Equal(t, "host-01", host.Str())
	}

	for _, f := range []string{"valid.json", "valid_event_name_attribute.json"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "events", "HostHeartbeat", f))
		require.NoError(t, err)
		var fx struct {
			Attributes map[string]any `json:"attributes"`
			Body       map[string]any `json:"body"`
		}
		require.NoError(t, json.Unmarshal(data, &fx))
		fx.Attributes["body"] = fx.Body
		raw, _ := json.Marshal(fx.Attributes)
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		assert.NoError(t, v2.Validate(doc), "v1 fixture %s under v2", f)
		fx.Attributes["tfo.event.contract_version"] = "2"
		raw, _ = json.Marshal(fx.Attributes)
		doc, _ = jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		assert.Error(t, v2.Validate(doc), "v1 body claiming version 2 %s", f)
	}
}

// The system collector fills the fields v1 requires with sane values on this host.
func TestSysCollector(t *testing.T) {
	s := newSysCollector()
	body := map[string]any{}
	s.collect(context.Background(), body)
	assert.GreaterOrEqual(t, body["cpuCores"], int64(1))
	assert.Greater(t, body["memoryTotal"], int64(0))
	u := body["cpuUsage"].(float64)
	assert.True(t, u >= 0 && u <= 100)
	for _, k := range []string{"os", "architecture", "uptime", "isContainer"} {
		assert.Contains(t, body, k)
	}
	// No user names, command lines or addresses.
	for k := range body {
		assert.NotContains(t, []string{"user", "users", "ip", "macAddress", "cmdline"}, k)
	}
}
