// Package eventtest loads the event fixtures in testdata/events into log records, for the connector's
// unit tests, benchmarks and the end-to-end tests.
//
// A fixture is one JSON file:
//
//	{
//	  "description": "what the example shows",
//	  "event_name":  "HostHeartbeat",            // OTLP EventName; omit to carry it as an attribute
//	  "attributes":  {"event.id": "…", …},       // log record attributes
//	  "body":        {…},                         // log record body
//	  "expect":      {"outcome": "routed" | "rejected", "reason": "…", "label": "…"}
//	}
//
// JSON integers become OTLP int values and other numbers doubles, as an SDK would send them.
package eventtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Fixture is one example event and what the router must do with it.
type Fixture struct {
	// File is the fixture's path; Name its file name without extension, prefixed by its directory.
	File string `json:"-"`
	Name string `json:"-"`

	Description string         `json:"description"`
	EventName   string         `json:"event_name"`
	Attributes  map[string]any `json:"attributes"`
	Body        any            `json:"body"`
	Expect      Expect         `json:"expect"`
}

// Expect is the router's expected decision.
type Expect struct {
	Outcome string `json:"outcome"` // routed | rejected
	Reason  string `json:"reason"`  // exact tfo.schema.rejection.reason for rejected events
	Label   string `json:"label"`   // the bounded metric reason label for rejected events
}

// Load reads every *.json fixture under dir (recursively), sorted by path.
func Load(dir string) ([]Fixture, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".json" {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	out := make([]Fixture, 0, len(files))
	for _, f := range files {
		fx, err := LoadFile(f)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(dir, f)
		fx.Name = filepath.ToSlash(rel[:len(rel)-len(".json")])
		out = append(out, fx)
	}
	return out, nil
}

// LoadFile reads one fixture.
func LoadFile(path string) (Fixture, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Fixture{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var fx Fixture
	if err := dec.Decode(&fx); err != nil {
		return Fixture{}, fmt.Errorf("%s: %w", path, err)
	}
	fx.File = path
	fx.Attributes, _ = numbers(fx.Attributes).(map[string]any)
	fx.Body = numbers(fx.Body)
	return fx, nil
}

// CopyTo fills lr with the fixture's event name, attributes and body.
func (fx Fixture) CopyTo(lr plog.LogRecord) error {
	lr.SetEventName(fx.EventName)
	if err := lr.Attributes().FromRaw(fx.Attributes); err != nil {
		return fmt.Errorf("%s: attributes: %w", fx.Name, err)
	}
	if fx.Body != nil {
		if err := lr.Body().FromRaw(fx.Body); err != nil {
			return fmt.Errorf("%s: body: %w", fx.Name, err)
		}
	}
	return nil
}

// numbers turns json.Number into int64 when integral, float64 otherwise.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, x := range v {
			v[k] = numbers(x)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = numbers(x)
		}
		return v
	}
	return v
}

// Logs puts the fixtures, one log record each, into a single resource and scope.
func Logs(fixtures []Fixture) (plog.Logs, error) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "tfo-agent")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/telemetryflow/tfo-agent/events")
	for _, fx := range fixtures {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(1_767_225_600_000_000_000))
		if err := fx.CopyTo(lr); err != nil {
			return plog.Logs{}, err
		}
	}
	return ld, nil
}

// EventType is the fixture's event type: its EventName, else its event.name attribute.
func (fx Fixture) EventType() string {
	if fx.EventName != "" {
		return fx.EventName
	}
	name, _ := fx.Attributes["event.name"].(string)
	return name
}

// GatewayRoute names the routed pipeline (without the "logs/" prefix) that configs/gateway.yaml sends a valid
// event of this type to.
func GatewayRoute(eventType string) string {
	switch eventType {
	case "HostHeartbeat":
		return "heartbeats"
	case "PatchCompliance":
		return "compliance"
	default:
		return "failures"
	}
}
