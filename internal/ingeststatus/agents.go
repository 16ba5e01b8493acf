package ingeststatus

import "time"

// Agent states.
const (
	StateAlive   = "alive"
	StateSilent  = "silent"
	StateStopped = "stopped"
)

// States lists the agent states in report order.
var States = []string{StateAlive, StateSilent, StateStopped}

type agentKey struct{ Workspace, InstanceID string }

// agent is the last heartbeat of one agent instance. Persisted as it is (snapshot.go).
type agent struct {
	Workspace    string        `json:"workspace"`
	InstanceID   string        `json:"instance_id"`
	AgentID      string        `json:"agent_id,omitempty"`
	HostName     string        `json:"host_name,omitempty"`
	AgentVersion string        `json:"agent_version,omitempty"`
	FirstSeen    time.Time     `json:"first_seen"`
	Last         time.Time     `json:"last"`
	Reason       string        `json:"reason"`
	Interval     time.Duration `json:"interval"`
	// Silent is set while the agent is reported silent, since the time it was declared so.
	Silent *time.Time `json:"silent,omitempty"`
}

// Transition is an agent changing state, for the log.
type Transition struct {
	Agent    Agent
	From, To string
}

func (a *agent) state() string {
	switch {
	case a.Reason == "end":
		return StateStopped
	case a.Silent != nil:
		return StateSilent
	}
	return StateAlive
}

// heartbeat applies one heartbeat that arrived at t.
func (a *agent) heartbeat(hb Heartbeat, t time.Time) {
	if t.Before(a.Last) {
		return // an older heartbeat replayed after a newer one: the newer one is the agent's state
	}
	a.Last, a.Reason, a.Interval, a.Silent = t, hb.Reason, hb.Interval, nil
	if hb.AgentID != "" {
		a.AgentID = hb.AgentID
	}
	if hb.HostName != "" {
		a.HostName = hb.HostName
	}
	if hb.AgentVersion != "" {
		a.AgentVersion = hb.AgentVersion
	}
}

// checkSilent declares the agent silent once more than k intervals passed since its last heartbeat, or since
// graceFrom (when this process started counting) if that is later: while the gateway was down, agents could
// not reach it.
func (a *agent) checkSilent(now, graceFrom time.Time, k int) bool {
	if a.Silent != nil || a.Reason == "end" || a.Interval <= 0 {
		return false
	}
	ref := a.Last
	if graceFrom.After(ref) {
		ref = graceFrom
	}
	if now.Sub(ref) <= time.Duration(k)*a.Interval {
		return false
	}
	at := now
	a.Silent = &at
	return true
}

func (a *agent) view() Agent {
	return Agent{Workspace: a.Workspace, InstanceID: a.InstanceID, AgentID: a.AgentID, HostName: a.HostName,
		AgentVersion: a.AgentVersion, FirstSeenAt: a.FirstSeen.UTC(), LastHeartbeatAt: a.Last.UTC(), LastReason: a.Reason,
		IntervalSeconds: int64(a.Interval / time.Second), State: a.state(), SilentSince: utcPtr(a.Silent)}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
