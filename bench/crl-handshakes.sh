#!/usr/bin/env bash
# Revocation benchmark (issue #3): full-handshake rate of the gateway side by side with nginx,
# with intermediate CRLs of 10, 100k and 1M entries, in one run.sh invocation each.
#   bench/crl-handshakes.sh [--time S] [--sizes "10 100000 1000000"] [--peers candidate,nginx]
# Needs nginx and ab (apt-get install nginx apache2-utils). Prints run.sh's tables; the gateway's
# rate should stay flat as the CRL grows while nginx's falls.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
time=5 sizes="10 100000 1000000" peers="candidate,nginx"
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
harness="$root/../shared/bench/run.sh"
[ -x "$harness" ] || { echo "no harness at $harness" >&2; exit 2; }
(cd "$root" && npm run build --silent)
for n in $sizes; do
  echo "## intermediate CRL with $n extra entries"
  "$harness" --only "$peers" --modes 1 --time "$time" --crl-extra "$n" \
    --candidate "exec $root/bench/candidate.sh" 18500 --candidate-name mtls-gateway
done
