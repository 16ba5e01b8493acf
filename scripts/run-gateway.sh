#!/usr/bin/env bash
# `make run`: a tfocol gateway on loopback with configs/gateway.yaml, state under ./data, plus a stand-in
# backend (configs/dev-upstream.yaml) that receives what the gateway forwards and logs it to data/upstream.log.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=./bin/tfocol
export TFOCOL_DATA_DIR="${TFOCOL_DATA_DIR:-$PWD/data}"
export TFOCOL_UPSTREAM_ENDPOINT="${TFOCOL_UPSTREAM_ENDPOINT:-127.0.0.1:14317}"
mkdir -p "$TFOCOL_DATA_DIR"

"$BIN" --config configs/dev-upstream.yaml >"$TFOCOL_DATA_DIR/upstream.log" 2>&1 &
upstream=$!
trap 'kill "$upstream" 2>/dev/null || true' EXIT INT TERM

cat <<MSG
tfocol gateway starting on loopback (state in $TFOCOL_DATA_DIR).
  OTLP gRPC   127.0.0.1:4317        OTLP/HTTP   http://127.0.0.1:4318
  health      http://127.0.0.1:13133  spanmetrics http://127.0.0.1:8889/metrics
  own metrics http://127.0.0.1:8888/metrics
  forwarded data is logged by the stand-in backend to $TFOCOL_DATA_DIR/upstream.log

Send it some traces from another terminal:
  go run github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.149.0 \\
     traces --otlp-insecure --otlp-endpoint 127.0.0.1:4317 --traces 10
  curl -s http://127.0.0.1:8889/metrics | grep traces_span_metrics_calls_total
Press Ctrl-C to stop.

MSG
"$BIN" --config configs/gateway.yaml
