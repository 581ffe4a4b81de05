#!/usr/bin/env bash
# npm run bench: the gateway side by side with nginx and a naive Node proxy (../shared/bench harness,
# mode 1 = one core for the server), or the gateway alone with our own loadtest tool when the
# harness or nginx is missing. Extra arguments go to the harness (e.g. --time 10 --crl-extra 100000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness="$root/../shared/bench/run.sh"
(cd "$root" && npm run build --silent)
if [ -x "$harness" ] && command -v nginx >/dev/null && command -v ab >/dev/null; then
  exec "$harness" --only candidate,nginx,node-undici --modes 1 --time 5 \
    --candidate "exec $root/bench/candidate.sh" 18500 --candidate-name mtls-gateway "$@"
fi
echo "(no ../shared/bench harness or nginx/ab: measuring the gateway alone with mtls-gateway loadtest)"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
node "$root/dist/cli/main.js" dev-pki --out "$work/pki" >/dev/null
node -e "require('node:http').createServer((q,s)=>s.end('ok\n')).listen(18080,'127.0.0.1')" &
BENCH_HOST=127.0.0.1 BENCH_PORT=18500 BENCH_SERVER_CERT="$work/pki/server.pem" BENCH_SERVER_KEY="$work/pki/server-key.pem" \
  BENCH_CA="$work/pki/ca-bundle.pem" BENCH_CRL="$work/pki/crl.pem" BENCH_UPSTREAM_URL=http://127.0.0.1:18080 \
  "$root/bench/candidate.sh" &
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/18500) 2>/dev/null && break; sleep 0.1; done
lt=(node "$root/dist/cli/main.js" loadtest https://localhost:18500/ --cert "$work/pki/partner-a.pem"
  --key "$work/pki/partner-a-key.pem" --cacert "$work/pki/root-ca.pem")
echo "## keep-alive, 50 connections, 10 s"; "${lt[@]}" --connections 50 --duration 10
echo "## new connection per request, 20 connections, 10 s"; "${lt[@]}" --connections 20 --duration 10 --new-connection-per-request
echo "## resumed connection per request, 20 connections, 10 s"; "${lt[@]}" --connections 20 --duration 10 --new-connection-per-request --resume
