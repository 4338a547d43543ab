#!/usr/bin/env bash
# Builds infra/docker/Dockerfile with podman WITHOUT a container registry, then runs the image.
#
# Where prograde is developed no registry is reachable (registry-1.docker.io does not resolve), so
# `FROM node:20-bookworm-slim` cannot be pulled. This script assembles the same kind of base locally:
#
#   1. a Debian bookworm root filesystem from Debian's mirror (debootstrap --variant=minbase),
#   2. plus the Node.js binary and npm this machine runs (node:*-bookworm-slim is exactly that: Debian
#      bookworm slim with node in /usr/local/bin), imported with `podman import` as
#      localhost/prograde-base:bookworm-node<version> (kept; rebuilt only with --rebuild-base),
#   3. `podman build --build-arg BASE_IMAGE=<that>` of infra/docker/Dockerfile over a staged context
#      (package.json, lockfile, .npmrc, tsconfig.json, bin/, src/; never node_modules or .git),
#   4. `podman run <image> --version` and `validate` on examples/promotion.yaml, and loads the native
#      modules (onnxruntime-node, Temporal's core bridge) with the image's node.
#
# Needs: root, podman, debootstrap (apt-get install podman debootstrap), Debian's mirror and the npm
# registry. Two quirks of some VMs (this one: a Firecracker VM) are handled, see run_isolated and ULIMITS.
#
# Usage: infra/build-image.sh [--tag IMAGE] [--rebuild-base] [--mirror URL] [--no-npm-cache]
# Prints `image: <tag>` and `image-version: <prograde --version output>` on success.
set -euo pipefail

ARGS=("$@")
TAG=localhost/prograde:dev
REBUILD_BASE=0
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NPM_CACHE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --rebuild-base) REBUILD_BASE=1; shift ;;
    --mirror) MIRROR=$2; shift 2 ;;
    --no-npm-cache) NPM_CACHE=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[build-image] $*" >&2; }

for tool in podman debootstrap node npm; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is missing (apt-get install podman debootstrap)" >&2; exit 3; }
done
[ "$(id -u)" = 0 ] || { echo "build-image: debootstrap and podman's storage here need root" >&2; exit 3; }

# crun refuses a cgroup v1/v2 "hybrid" host whose cgroup2 mount has controllers ("cgroups in hybrid mode
# not supported, drop all controllers from cgroupv2"; this VM's /sys/fs/cgroup/unified lists hugetlb).
# Re-run this script in a private mount namespace without that mount: the host keeps its mounts.
if [ -z "${PROGRADE_BUILD_IMAGE_ISOLATED:-}" ] && grep -q . /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
  log "hybrid cgroups with controllers on cgroup2: running in a private mount namespace without /sys/fs/cgroup/unified"
  exec unshare --mount --propagation private env PROGRADE_BUILD_IMAGE_ISOLATED=1 bash -c \
    'umount /sys/fs/cgroup/unified && exec "$0" "$@"' "$0" "${ARGS[@]}"
fi

# Without CAP_SYS_RESOURCE (this VM's root lacks it) crun cannot set podman's default RLIMIT_NOFILE and
# RLIMIT_NPROC (1048576 and more): pass limits no higher than the ones we have.
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
ULIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=4096:4096")

NODE_BIN=$(readlink -f "$(command -v node)")
NODE_VERSION=$(node -p 'process.versions.node')
NPM_DIR=$(npm root -g)/npm
BASE=localhost/prograde-base:bookworm-node$NODE_VERSION
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/prograde-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
started=$(date +%s)

if [ "$REBUILD_BASE" = 1 ] || ! podman image exists "$BASE"; then
  log "base: debootstrap bookworm (minbase) from $MIRROR"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; echo "build-image: debootstrap failed" >&2; exit 4; }
  log "base: adding node $NODE_VERSION ($NODE_BIN) and npm $(npm --version)"
  install -D -m 0755 "$NODE_BIN" "$WORK/rootfs/usr/local/bin/node"
  mkdir -p "$WORK/rootfs/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$WORK/rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$WORK/rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$WORK/rootfs/usr/local/bin/npx"
  rm -rf "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/var/cache/apt/"*.bin "$WORK/rootfs/var/cache/apt/archives/"*.deb
  log "base: podman import as $BASE"
  tar -C "$WORK/rootfs" --numeric-owner -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' - "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
else
  log "base: $BASE exists (--rebuild-base to redo it)"
fi
base_done=$(date +%s)

log "context: staging package.json, package-lock.json, .npmrc, tsconfig.json, bin/, src/"
mkdir -p "$WORK/context"
(cd "$REPO" && cp -a package.json package-lock.json .npmrc tsconfig.json bin src "$WORK/context/")

BUILD_VOLUMES=()
# The host's npm cache, as an overlay (writes stay in the build): tarballs need not be downloaded again.
if [ "$NPM_CACHE" = 1 ] && [ -d "$HOME/.npm/_cacache" ]; then
  BUILD_VOLUMES=(-v "$HOME/.npm:/root/.npm:O")
fi

# A TLS-inspecting proxy's CA (the host's NODE_EXTRA_CA_CERTS, if set): mounted and named for the build's
# `npm ci` only; the Dockerfile takes it as an ARG of the deps stage, so the image does not keep it.
CA_ARGS=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  CA_ARGS=(-v "$NODE_EXTRA_CA_CERTS:/run/prograde-build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/prograde-build-ca.crt)
fi

log "build: $TAG FROM $BASE"
dangling_before=$(podman images -q --filter dangling=true | sort)
podman build --network host "${ULIMITS[@]}" "${BUILD_VOLUMES[@]}" "${CA_ARGS[@]}" \
  --build-arg "BASE_IMAGE=$BASE" -f "$REPO/infra/docker/Dockerfile" -t "$TAG" "$WORK/context" >&2
build_done=$(date +%s)
# The deps stage (npm ci, ~890 MB) is left untagged after each build: remove those this build made.
comm -13 <(echo "$dangling_before") <(podman images -q --filter dangling=true | sort) | xargs -r podman rmi >/dev/null 2>&1 || true

log "run: $TAG --version"
version=$(podman run --rm "${ULIMITS[@]}" "$TAG" --version)
log "run: prograde --version through the image's \`prograde\` link, and the user it runs as"
inside=$(podman run --rm "${ULIMITS[@]}" --entrypoint sh "$TAG" -c 'echo "uid $(id -u), $(prograde --version)"')
log "run: $TAG validate examples/promotion.yaml"
podman run --rm "${ULIMITS[@]}" -v "$REPO/examples:/specs:ro" "$TAG" validate /specs/promotion.yaml >&2
log "run: native modules load"
podman run --rm "${ULIMITS[@]}" --entrypoint node "$TAG" -e \
  "require('onnxruntime-node'); require('@temporalio/core-bridge'); console.log('native modules load')" >&2

log "times: base $((base_done - started)) s, build $((build_done - base_done)) s, runs $(($(date +%s) - build_done)) s"
echo "image: $TAG"
echo "image-version: $version"
echo "image-inside: $inside"
