// Package edgetest turns the event fixtures of testdata/events (eventtest) into events of the edge API's batch
// body, so the receiver's unit tests and the end-to-end tests check each with the reason it must get.
package edgetest

import (
	"time"

	"github.com/tfocol/tfocol/components/connector/eventrouterconnector/eventtest"
)

// attributeFields are the record attributes an edge event carries, and where: top-level event fields, or the
// host and agent objects.
var attributeFields = map[string][2]string{
	"tfo.event.contract_version": {"", "contractVersion"},
	"event.id":                   {"", "id"},
	"event.severity":             {"", "severity"},
	"host.name":                  {"host", "name"},
	"host.id":                    {"host", "id"},
	"agent.id":                   {"agent", "id"},
	"agent.version":              {"agent", "version"},
}

// Event returns the fixture as an edge event (type, id, time, severity, contractVersion, host, agent, payload),
// or false when the edge API cannot express it: an attribute other than those it maps, a mapped attribute that is
// not a string, no EventName, or no contract version (the receiver fills in "1").
func Event(fx eventtest.Fixture, at time.Time) (map[string]any, bool) {
	if fx.EventName == "" {
		return nil, false
	}
	if _, ok := fx.Attributes["tfo.event.contract_version"]; !ok {
		return nil, false
	}
	ev := map[string]any{"type": fx.EventName, "time": at.UTC().Format(time.RFC3339Nano)}
	for k, v := range fx.Attributes {
		field, ok := attributeFields[k]
		s, isString := v.(string)
		if !ok || !isString {
			return nil, false
		}
		if field[0] == "" {
			ev[field[1]] = s
			continue
		}
		obj, _ := ev[field[0]].(map[string]any)
		if obj == nil {
			obj = map[string]any{}
			ev[field[0]] = obj
		}
		obj[field[1]] = s
	}
	if fx.Body != nil {
		ev["payload"] = fx.Body
	}
	return ev, true
}
