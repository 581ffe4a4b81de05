# Sourced by bench scripts: a fresh development PKI, a trivial upstream on CPU 1 and the built
# gateway on CPU 0 (taskset, when there are 2+ CPUs), all stopped on exit. Set before sourcing:
# root (the repository), up_port, gw_port, admin_port; optional NODE_BIN, GATEWAY_LOG_LEVEL
# (default: $default_log_level). Leaves: $work/pki, $gw (the gateway's pid), cpu N (a taskset prefix).
(cd "$root" && npm run build --silent)
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
cpu() { if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then echo "taskset -c $1"; fi; }
node "$root/dist/cli/main.js" dev-pki --out "$work/pki" >/dev/null
$(cpu 1) node -e "require('node:http').createServer((q,s)=>{q.resume();q.on('end',()=>s.end('ok\n'))}).listen($up_port,'127.0.0.1')" &
pids+=($!)
GATEWAY_LISTEN=127.0.0.1:$gw_port GATEWAY_ADMIN_LISTEN=127.0.0.1:$admin_port \
  GATEWAY_SERVER_CERT="$work/pki/server.pem" GATEWAY_SERVER_KEY="$work/pki/server-key.pem" \
  GATEWAY_CA_BUNDLE="$work/pki/ca-bundle.pem" GATEWAY_CRLS="$work/pki/crl.pem" \
  GATEWAY_UPSTREAM=http://127.0.0.1:$up_port GATEWAY_LOG_LEVEL="${GATEWAY_LOG_LEVEL:-${default_log_level:-info}}" \
  $(cpu 0) "${NODE_BIN:-node}" "$root/dist/cli/main.js" serve >"$work/gateway.log" &
gw=$!
pids+=($gw)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$admin_port/readyz" && break; sleep 0.1; done
