#!/usr/bin/env bash
# Runs testssl.sh (Debian package `testssl.sh`) against a gateway on the development PKI and prints
# every finding rated LOW or worse. Takes 2–3 minutes, so it is not part of `npm test`.
#   bench/testssl.sh            (needs `npm run build`; apt-get install testssl.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "$gw" 2>/dev/null || true; rm -rf "$work"' EXIT
node "$root/dist/cli/main.js" dev-pki --out "$work/pki" >/dev/null
GATEWAY_LISTEN=127.0.0.1:18943 GATEWAY_ADMIN_LISTEN=127.0.0.1:0 GATEWAY_LOG_LEVEL=error \
  GATEWAY_SERVER_CERT="$work/pki/server.pem" GATEWAY_SERVER_KEY="$work/pki/server-key.pem" \
  GATEWAY_CA_BUNDLE="$work/pki/ca-bundle.pem" GATEWAY_CRLS="$work/pki/crl.pem" \
  node "$root/dist/cli/main.js" serve >"$work/gateway.log" 2>&1 &
gw=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/18943) 2>/dev/null && break; sleep 0.1; done
testssl --quiet --color 0 --warnings off --add-ca "$work/pki/root-ca.pem" --jsonfile "$work/testssl.json" \
  127.0.0.1:18943 >"$work/testssl.txt" 2>&1 || true
grep -E '^ (SSLv|TLS |TLS 1)' "$work/testssl.txt" || true
node -e '
const findings = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const counts = {};
for (const f of findings) counts[f.severity] = (counts[f.severity] ?? 0) + 1;
console.log("severities:", JSON.stringify(counts));
for (const f of findings) if (["LOW", "MEDIUM", "HIGH", "CRITICAL"].includes(f.severity)) console.log(f.severity, f.id, f.finding);
' "$work/testssl.json"
