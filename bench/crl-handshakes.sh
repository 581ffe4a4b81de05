#!/usr/bin/env bash
# Revocation benchmark (issue #3): full-handshake cost of the gateway beside nginx with intermediate
# CRLs of 10, 100k and 1M entries (bench/peers/run.mjs, one invocation per size; the goal compares
# the gateway's 1M-entry rate per core-second with its 10-entry rate: ours stays flat, nginx's falls).
#   bench/crl-handshakes.sh [--time S] [--samples N] [--sizes "10 100000 1000000"] [--peers gateway,nginx]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
time=5 samples=1 sizes="10 100000 1000000" peers="gateway,nginx"
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
(cd "$root" && npm run build --silent)
for n in $sizes; do
  echo "## intermediate CRL with $n entries"
  node "$root/bench/peers/run.mjs" --only "$peers" --phases full,stime --time "$time" --samples "$samples" --crl-entries "$n"
done
