#!/usr/bin/env bash
# Added latency (issue #8 goal 3): the same open-loop load (default 1,000 req/s keep-alive, 20
# connections, 20 s) sent by `mtls-gateway loadtest` to the upstream directly (http://) and
# through the gateway (https:// with a client certificate), percentiles side by side.
# Latency is counted from when each request was due (no coordinated omission).
#   bench/latency.sh [RATE] [SECONDS]      NODE_BIN=… selects the gateway's Node (e.g. Node 24)
# The gateway gets CPU 0, the upstream and the load tool CPU 1 (taskset, when there are 2+ CPUs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rate=${1:-1000}
secs=${2:-20}
up_port=18180 gw_port=18543 admin_port=18590 default_log_level=info
# shellcheck source=lib/local-gateway.sh
source "$root/bench/lib/local-gateway.sh"
# Each run first sends 5 s of the same load unmeasured (--warmup): JIT and pools of the tool,
# the gateway and the upstream are warm when measuring starts.
lt() { $(cpu 1) node "$root/dist/cli/main.js" loadtest "$@" --connections 20 --rate "$rate" --warmup 5 --duration "$secs" --json; }
certs=(--cert "$work/pki/partner-a.pem" --key "$work/pki/partner-a-key.pem" --cacert "$work/pki/root-ca.pem")
direct=$(lt "http://127.0.0.1:$up_port/")
curl -sf "http://127.0.0.1:$admin_port/metrics" >"$work/before.prom"
gateway=$(lt "https://localhost:$gw_port/" "${certs[@]}")
curl -sf "http://127.0.0.1:$admin_port/metrics" >"$work/after.prom"
echo "gateway's own view during the run (server side, from /metrics):"
grep -E '^mtls_gateway_(nodejs_eventloop_lag_p99_seconds|nodejs_gc_duration_seconds_(sum|count)|nodejs_eventloop_lag_max_seconds) ' "$work/after.prom" || true
node - "$direct" "$gateway" "$rate" "$secs" <<'EOF'
const [direct, gateway, rate, secs] = process.argv.slice(2);
const d = JSON.parse(direct), g = JSON.parse(gateway);
const row = (name, r) => `| ${name} | ${r.requests_per_second} | ${r.latency_ms.p50} | ${r.latency_ms.p90} | ${r.latency_ms.p99} | ${r.latency_ms.max} | ${Object.keys(r.errors).length ? JSON.stringify(r.errors) : 'none'} |`;
console.log(`\nkeep-alive, ${rate} req/s open loop, 20 connections, ${secs} s (latency in ms, from when each request was due)\n`);
console.log('| path | req/s | p50 | p90 | p99 | max | errors |\n| --- | --- | --- | --- | --- | --- | --- |');
console.log(row('upstream directly (http)', d));
console.log(row('through the gateway (mTLS)', g));
const add = (k) => (g.latency_ms[k] - d.latency_ms[k]).toFixed(3);
console.log(`\nadded by the gateway: p50 +${add('p50')} ms, p99 +${add('p99')} ms (goal: p99 within 2 ms)`);
console.log(`commands: mtls-gateway loadtest http://127.0.0.1:UP/ and https://localhost:GW/ --cert … --connections 20 --rate ${rate} --warmup 5 --duration ${secs} --json`);
EOF
