#!/usr/bin/env bash
# npm run bench: the gateway, the floor (bench/undici-dispatch-floor.cjs) and nginx (and HAProxy when
# installed) on one generated PKI, each on one core, with ratios: bench/peers/run.mjs. Arguments go
# to it, e.g. npm run bench -- --samples 3 --time 10 --crl-entries 100000 --only gateway,floor.
# Needs ab, openssl and curl (apt-get install apache2-utils nginx haproxy).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && npm run build --silent)
exec node "$root/bench/peers/run.mjs" "$@"
