// Package requestcontract is the TelemetryFlow request contract shared by the components that read or write it:
// the header names, the tfo.* attributes the gateway stamps, the rule that repeated headers must agree, the
// canonical workspace id and the scope an Idempotency-Key deduplicates in. tfo_auth, the workspace processor, the
// edge receiver and the tfo_log exporter all use this package, so that a change here reaches every one of them
// (a copy that drifted would silently break deduplication). Principals and their attributes are internal/principal.
package requestcontract
