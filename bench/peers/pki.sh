#!/usr/bin/env bash
# The PKI every server of bench/peers/run.mjs is given (ECDSA P-256, openssl CLI only):
#   bench/peers/pki.sh OUTDIR [CRL_ENTRIES=10000]
# root, int           root and intermediate CA (pathlen 0); trust.pem = intermediate + root
# server              CN=localhost (DNS:localhost, IP:127.0.0.1) by the intermediate; server-chain.pem
# good, revoked       clients CN=partner-a / CN=partner-revoked by the intermediate (*.pem = cert + key)
# crls.pem            the intermediate's CRL (revoked + CRL_ENTRIES-1 made-up serials) and the
#                     root's (empty): nginx, HAProxy and Node check every level, so both are needed
set -euo pipefail
out=${1:?usage: pki.sh OUTDIR [CRL_ENTRIES]}
entries=${2:-10000}
mkdir -p "$out"
cd "$out"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
cat >x509.cnf <<'CNF'
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[int]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server]
basicConstraints = CA:false
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[client]
basicConstraints = CA:false
extendedKeyUsage = clientAuth
subjectAltName = URI:spiffe://bench/partner-a
CNF
key root
openssl req -new -key root.key -subj "/O=mtls-gateway bench/CN=bench root" -out root.csr
openssl x509 -req -in root.csr -signkey root.key -days 30 -extfile x509.cnf -extensions ca -out root.crt 2>/dev/null
issue() { # NAME SUBJECT SECTION ISSUER SERIAL
  key "$1"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$4.crt" -CAkey "$4.key" -set_serial "$5" -days 30 \
    -extfile x509.cnf -extensions "$3" -out "$1.crt" 2>/dev/null
}
issue int "/O=mtls-gateway bench/CN=bench intermediate" int root 0x1001
issue server "/O=mtls-gateway bench/CN=localhost" server int 0x2001
issue good "/O=Partner A/CN=partner-a" client int 0x3001
issue revoked "/O=Partner R/CN=partner-revoked" client int 0x3002
cat server.crt int.crt >server-chain.pem
cat server-chain.pem server.key >server-combined.pem # HAProxy's crt
cat good.crt good.key >good.pem
cat revoked.crt revoked.key >revoked.pem
cat int.crt root.crt >trust.pem
crl() { # ISSUER [made-up entries]
  local db="crl-$1"
  mkdir -p "$db"
  : >"$db/index.txt"
  echo 01 >"$db/crlnumber"
  if [ "$1" = int ]; then
    local when
    when=$(date -u +%y%m%d%H%M%SZ)
    # The real revoked client, then serials nobody holds: they only make the list long.
    printf 'R\t991231235959Z\t%s\t3002\tunknown\t/CN=partner-revoked\n' "$when" >"$db/index.txt"
    awk -v n="$(($2 - 1))" -v t="$when" \
      'BEGIN { for (i = 1; i <= n; i++) printf "R\t991231235959Z\t%s\t7A%014X\tunknown\t/CN=x\n", t, i }' \
      >>"$db/index.txt"
  fi
  printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\ndefault_crl_days = 30\n' \
    "$db/index.txt" "$db/crlnumber" >"$db/ca.cnf"
  openssl ca -gencrl -config "$db/ca.cnf" -cert "$1.crt" -keyfile "$1.key" -out "crl-$1.pem" 2>/dev/null
}
crl int "$entries"
crl root
cat crl-int.pem crl-root.pem >crls.pem
rm -f ./*.csr
openssl verify -CAfile trust.pem -CRLfile crls.pem -crl_check_all good.crt >/dev/null
! openssl verify -CAfile trust.pem -CRLfile crls.pem -crl_check_all revoked.crt >/dev/null 2>&1
echo "$entries" >crl-entries
