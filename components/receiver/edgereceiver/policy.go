package edgereceiver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tfocol/tfocol/internal/requestcontract"
)

type policyAnswer struct {
	WorkspaceID string `json:"workspace_id"`
	// Version changes whenever the policy does (also the ETag, for If-None-Match).
	Version              string              `json:"version"`
	IngestURL            string              `json:"ingest_url"`
	FlushIntervalSeconds int64               `json:"flush_interval_seconds"`
	MaxBatchEvents       int                 `json:"max_batch_events"`
	MaxBodyBytes         int64               `json:"max_body_bytes"`
	Events               []eventPolicyAnswer `json:"events"`
}

type eventPolicyAnswer struct {
	Type            string `json:"type"`
	Enabled         bool   `json:"enabled"`
	IntervalSeconds int64  `json:"interval_seconds"`
	SchemaID        string `json:"schema_id"`
}

func (r *edgeReceiver) handlePolicy(w http.ResponseWriter, req *http.Request) *refusal {
	ctx, _, ws, f := r.caller(req)
	if f != nil {
		return f
	}
	ans := r.policyFor(ws)
	ans.IngestURL = r.baseURL(req) + pathIngest
	raw, _ := json.Marshal(ans)
	sum := sha256.Sum256(raw)
	ans.Version = hex.EncodeToString(sum[:8])
	etag := `"` + ans.Version + `"`
	w.Header().Set("ETag", etag)
	if req.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		r.countRequest(ctx, epPolicy, http.StatusNotModified, "not_modified")
		return nil
	}
	r.writeJSON(ctx, w, epPolicy, http.StatusOK, "ok", ans)
	return nil
}

// policyFor merges the workspace's policy over the default: the fields it sets, and its events per type.
func (r *edgeReceiver) policyFor(ws string) policyAnswer {
	pol := r.cfg.Policy.Default
	events := map[string]EventPolicy{}
	for typ, ev := range pol.Events {
		events[typ] = ev
	}
	for key, over := range r.cfg.Policy.Workspaces {
		if c, err := requestcontract.CanonicalWorkspace(key); err != nil || c != ws {
			continue
		}
		if over.FlushInterval > 0 {
			pol.FlushInterval = over.FlushInterval
		}
		if over.Interval > 0 {
			pol.Interval = over.Interval
		}
		if over.MaxBatchEvents > 0 {
			pol.MaxBatchEvents = over.MaxBatchEvents
		}
		for typ, ev := range over.Events {
			base := events[typ]
			if ev.Enabled != nil {
				base.Enabled = ev.Enabled
			}
			if ev.Interval > 0 {
				base.Interval = ev.Interval
			}
			events[typ] = base
		}
	}
	if pol.MaxBatchEvents == 0 {
		pol.MaxBatchEvents = r.cfg.Ingest.MaxEvents
	}
	ans := policyAnswer{WorkspaceID: ws, FlushIntervalSeconds: seconds(pol.FlushInterval),
		MaxBatchEvents: pol.MaxBatchEvents, MaxBodyBytes: r.cfg.MaxRequestBodySize}
	for _, typ := range r.typeNames {
		ev := events[typ]
		interval := pol.Interval
		if ev.Interval > 0 {
			interval = ev.Interval
		}
		ans.Events = append(ans.Events, eventPolicyAnswer{Type: typ, Enabled: ev.Enabled == nil || *ev.Enabled,
			IntervalSeconds: seconds(interval), SchemaID: r.contracts[typ].ID()})
	}
	return ans
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }
