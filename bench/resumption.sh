#!/usr/bin/env bash
# Session resumption (issue #8 goal 5): full vs resumed handshakes against the gateway, with one
# HTTP request per connection, by openssl s_time (one sequential client) for TLS 1.3 and 1.2.
# Prints connections/s and connections per gateway core-second (CPU from /proc), and the ratios.
#   bench/resumption.sh [SECONDS]      NODE_BIN=… selects the gateway's Node (e.g. Node 24)
# The gateway gets CPU 0, the upstream and s_time CPU 1 (taskset, when there are 2+ CPUs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-5}
up_port=18181 gw_port=18544 admin_port=18591 default_log_level=warn
# shellcheck source=lib/local-gateway.sh
source "$root/bench/lib/local-gateway.sh"
gw_cpu() { awk '{print $14 + $15}' "/proc/$gw/stat"; } # clock ticks (1/100 s)
measure() { # $1 = tls1_3|tls1_2, $2 = new|reuse → "connections/s per-core-s"
  local t0 t1 w0 w1 out n
  t0=$(gw_cpu); w0=$(date +%s.%N)
  out=$($(cpu 1) openssl s_time -connect "127.0.0.1:$gw_port" "-$2" "-$1" -www / \
    -cert "$work/pki/partner-a.pem" -key "$work/pki/partner-a-key.pem" -CAfile "$work/pki/root-ca.pem" -time "$secs" 2>&1)
  t1=$(gw_cpu); w1=$(date +%s.%N)
  n=$(echo "$out" | grep -oE '^[0-9]+ connections in' | tail -1 | awk '{print $1}')
  awk -v n="$n" -v w="$(echo "$w1 - $w0" | bc)" -v c="$((t1 - t0))" 'BEGIN { printf "%.0f %.0f", n / w, n * 100 / c }'
}
echo
echo "| TLS | full conn/s | resumed conn/s | ratio | full per gateway core-s | resumed per gateway core-s | ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for v in tls1_3 tls1_2; do
  read -r fr fc <<<"$(measure "$v" new)"
  read -r rr rc <<<"$(measure "$v" reuse)"
  awk -v v="$v" -v fr="$fr" -v fc="$fc" -v rr="$rr" -v rc="$rc" \
    'BEGIN { printf "| %s | %d | %d | %.2fx | %d | %d | %.2fx |\n", v, fr, rr, rr / fr, fc, rc, rc / fc }'
done
echo
echo "command: openssl s_time -connect 127.0.0.1:$gw_port -new|-reuse -tls1_3|-tls1_2 -www / -cert … -key … -CAfile … -time $secs"
echo "(one sequential client: conn/s is latency-bound; the per-core-s columns are the server's cost)"
