#!/usr/bin/env bash
# `make run`: a tfocol gateway on loopback with configs/gateway.yaml, state under ./data, plus a stand-in
# backend (configs/dev-upstream.yaml) that receives what the gateway forwards and logs it to data/upstream.log.
# On first start it mints a demo API key into data/keys.yaml; its id and secret go to data/demo-key.env (0600).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=./bin/tfocol
export TFOCOL_DATA_DIR="${TFOCOL_DATA_DIR:-$PWD/data}"
export TFOCOL_CONFIG_DIR="${TFOCOL_CONFIG_DIR:-$PWD/configs}"
export TFOCOL_KEYS_FILE="${TFOCOL_KEYS_FILE:-$TFOCOL_DATA_DIR/keys.yaml}"
# Enrollment tokens: `bin/tfocol tokens keygen` / `tokens issue` with these (and TFOCOL_JWT_SIGNING_KEY_FILE) enroll
# an agent against this gateway; the gateway loads the files when they appear.
export TFOCOL_JWT_PUBLIC_KEYS_FILE="${TFOCOL_JWT_PUBLIC_KEYS_FILE:-$TFOCOL_DATA_DIR/jwt-public.pem}"
export TFOCOL_JWT_TOKENS_FILE="${TFOCOL_JWT_TOKENS_FILE:-$TFOCOL_DATA_DIR/tokens.yaml}"
export TFOCOL_UPSTREAM_ENDPOINT="${TFOCOL_UPSTREAM_ENDPOINT:-127.0.0.1:14317}"
DEMO_WORKSPACE=4f1c2b7a-9d3e-4a61-8b2f-5c7d9e0a1b23
mkdir -p "$TFOCOL_DATA_DIR"

if [ ! -f "$TFOCOL_KEYS_FILE" ]; then
  (umask 077 && "$BIN" keys new --workspace "$DEMO_WORKSPACE" --scopes traces,metrics,logs \
      --description "make run demo key" --file "$TFOCOL_KEYS_FILE" --output env >"$TFOCOL_DATA_DIR/demo-key.env")
  echo "TELEMETRYFLOW_WORKSPACE_ID=$DEMO_WORKSPACE" >>"$TFOCOL_DATA_DIR/demo-key.env"
fi

"$BIN" --config configs/dev-upstream.yaml >"$TFOCOL_DATA_DIR/upstream.log" 2>&1 &
upstream=$!
trap 'kill "$upstream" 2>/dev/null || true' EXIT INT TERM

cat <<MSG
tfocol gateway starting on loopback (state in $TFOCOL_DATA_DIR).
  OTLP gRPC   127.0.0.1:4317          OTLP/HTTP   http://127.0.0.1:4318
  edge API    http://127.0.0.1:8088 (Anchor agents, Sirveo telemetry: docs/edge-api.md)
  health      http://127.0.0.1:13133  spanmetrics http://127.0.0.1:8889/metrics
  own metrics http://127.0.0.1:8888/metrics
  status      TFOCOL_DATA_DIR=$TFOCOL_DATA_DIR $BIN status   (engine: http://127.0.0.1:13134/.well-known/engine-status)
  receipts    $TFOCOL_DATA_DIR/receipts (sealed hourly; unsigned here; check integrity with: $BIN receipts verify --dir $TFOCOL_DATA_DIR/receipts --no-signature-check)
  forwarded data is logged by the stand-in backend to $TFOCOL_DATA_DIR/upstream.log

Every request needs a TelemetryFlow key; a demo key is in $TFOCOL_DATA_DIR/demo-key.env.
Send traces from another terminal:
  . $TFOCOL_DATA_DIR/demo-key.env
  go run github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.149.0 traces \\
     --otlp-insecure --otlp-endpoint 127.0.0.1:4317 --traces 10 \\
     --otlp-header X-TelemetryFlow-Key-ID=\\"\$TELEMETRYFLOW_API_KEY_ID\\" \\
     --otlp-header X-TelemetryFlow-Key-Secret=\\"\$TELEMETRYFLOW_API_KEY_SECRET\\" \\
     --otlp-header x-workspace-id=\\"\$TELEMETRYFLOW_WORKSPACE_ID\\"
  curl -s http://127.0.0.1:8889/metrics | grep traces_span_metrics_calls_total
Post an edge event batch with the same key:
  curl -s http://127.0.0.1:8088/api/v1/events/ingest -H "X-TelemetryFlow-Key-ID: \$TELEMETRYFLOW_API_KEY_ID" \\
     -H "X-TelemetryFlow-Key-Secret: \$TELEMETRYFLOW_API_KEY_SECRET" -H "x-workspace-id: \$TELEMETRYFLOW_WORKSPACE_ID" \\
     -H "Idempotency-Key: \$(cat /proc/sys/kernel/random/uuid)" -H "Content-Type: application/json" \\
     -d '{"events":[{"type":"ServiceDegraded","id":"'"\$(cat /proc/sys/kernel/random/uuid)"'","time":"'"\$(date -u +%FT%TZ)"'","severity":"warning","host":{"name":"demo"},"agent":{"id":"demo"},"payload":{"serviceName":"api","indicator":"latency","observedValue":812.5,"threshold":500,"unit":"ms","windowSeconds":300,"detectedAt":"'"\$(date -u +%FT%TZ)"'","status":"degraded"}}]}'
and read its ingest status (that workspace's numbers only) from the edge API:
  curl -s http://127.0.0.1:8088/api/v1/edge-agent/ingest-status -H "X-TelemetryFlow-Key-ID: \$TELEMETRYFLOW_API_KEY_ID" \\
     -H "X-TelemetryFlow-Key-Secret: \$TELEMETRYFLOW_API_KEY_SECRET" -H "x-workspace-id: \$TELEMETRYFLOW_WORKSPACE_ID"
Press Ctrl-C to stop.

MSG
"$BIN" --config configs/gateway.yaml
