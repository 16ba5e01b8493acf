package ingeststatus

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// LifecycleEvent is the event type of server instances' lifecycle (docs/events.md#instancelifecycle): the edge
// receiver maps Sirveo telemetry to it.
const LifecycleEvent = "InstanceLifecycle"

// Lifecycle is one InstanceLifecycle event that passed its contract: what it says about its instance.
type Lifecycle struct {
	Workspace  string
	InstanceID string // body.instanceId
	Service    string // resource service.name
	Phase      string // begin, update, end
	Reason     string // as sent: begin, update, license-state-change, end
	Build      InstanceBuild
	// LicenseValid is nil when the event did not say.
	LicenseValid   *bool
	ChecksumStatus string
	CustomID       string
}

// lifecycleOf reads an instance's state from an InstanceLifecycle event. The licence key hash is left out: the
// status says whether the licence is valid, not which one it is.
func lifecycleOf(ws string, res pcommon.Resource, lr plog.LogRecord) (Lifecycle, bool) {
	if lr.Body().Type() != pcommon.ValueTypeMap {
		return Lifecycle{}, false
	}
	body := lr.Body().Map()
	l := Lifecycle{Workspace: ws, InstanceID: str(body, "instanceId"), Service: str(res.Attributes(), "service.name"),
		Phase: str(body, "phase"), Reason: str(body, "reason"), ChecksumStatus: str(body, "checksumStatus"),
		CustomID: str(body, "customId"),
		Build: InstanceBuild{Version: str(body, "buildVersion"), Commit: str(body, "buildCommit"), Time: str(body, "buildTime"),
			Mode: str(body, "buildMode"), OS: str(body, "buildOs"), Arch: str(body, "buildArch")}}
	if v, ok := body.Get("licenseValid"); ok && v.Type() == pcommon.ValueTypeBool {
		valid := v.Bool()
		l.LicenseValid = &valid
	}
	return l, l.InstanceID != ""
}

// instance is the last lifecycle event of one server instance. Persisted as it is (snapshot.go).
type instance struct {
	Workspace      string        `json:"workspace"`
	InstanceID     string        `json:"instance_id"`
	Service        string        `json:"service,omitempty"`
	FirstSeen      time.Time     `json:"first_seen"`
	Last           time.Time     `json:"last"`
	Phase          string        `json:"phase"`
	Reason         string        `json:"reason"`
	Build          InstanceBuild `json:"build"`
	LicenseValid   *bool         `json:"license_valid,omitempty"`
	ChecksumStatus string        `json:"checksum_status,omitempty"`
	CustomID       string        `json:"custom_id,omitempty"`
}

// seen applies one lifecycle event that arrived at t.
func (i *instance) seen(l Lifecycle, t time.Time) {
	if t.Before(i.Last) {
		return // an older event replayed after a newer one: the newer one is the instance's state
	}
	i.Last, i.Phase, i.Reason, i.Build, i.ChecksumStatus = t, l.Phase, l.Reason, l.Build, l.ChecksumStatus
	if l.Service != "" {
		i.Service = l.Service
	}
	if l.LicenseValid != nil {
		v := *l.LicenseValid
		i.LicenseValid = &v
	}
	if l.CustomID != "" {
		i.CustomID = l.CustomID
	}
}

func (i *instance) view() Instance {
	out := Instance{Workspace: i.Workspace, InstanceID: i.InstanceID, Service: i.Service, CustomID: i.CustomID,
		FirstSeenAt: i.FirstSeen.UTC(), LastSeenAt: i.Last.UTC(), LastPhase: i.Phase, LastReason: i.Reason, Build: i.Build,
		ChecksumStatus: i.ChecksumStatus}
	if i.LicenseValid != nil {
		v := *i.LicenseValid
		out.LicenseValid = &v
	}
	return out
}

func (t *Tally) lifecycleLocked(l Lifecycle, at time.Time) {
	k := agentKey{canonicalWorkspace(l.Workspace), l.InstanceID}
	i, ok := t.instances.Get(k)
	if !ok {
		i = &instance{Workspace: k.Workspace, InstanceID: k.InstanceID, FirstSeen: at}
		t.instances.Add(k, i)
	}
	i.seen(l, at)
}
