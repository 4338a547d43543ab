#!/usr/bin/env bash
# Builds deploy/tools/kube-strict (strict decoding of rendered manifests with Kubernetes' own Go types, so a
# misspelt or misplaced field in the Helm chart is an error without a cluster) into the per-user tools cache,
# keyed by a hash of its source, go.mod and go.sum. Its modules (k8s.io/api, k8s.io/apimachinery) come from
# the Go module proxy, checked against go.sum; they are a subset of helm's, so after infra/install-helm.sh
# this takes seconds (measured 12 s on the 2-core dev VM, build cache warm).
#
#   bash infra/install-kube-strict.sh     # prints the binary's path on the last line of stdout
#   PROGRADE_TOOLS_DIR, GO                 # as for infra/install-helm.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/deploy/tools/kube-strict"
HASH="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-12)"
TOOLS_DIR="${PROGRADE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/prograde/tools}"
DEST_DIR="$TOOLS_DIR/kube-strict-$HASH"
BIN="$DEST_DIR/kube-strict"

if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

# shellcheck source=lib/go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-build.sh"
find_go install-kube-strict || exit 1
lock_build "$DEST_DIR" "$BIN"
STAGE="$(mktemp -d "$DEST_DIR/.build.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
START=$(date +%s)
# Same flags as helm's build, so the packages helm compiled are reused from the build cache.
if ! (cd "$SRC" && CGO_ENABLED=0 GOFLAGS=-mod=readonly "$GO_BIN" build -trimpath -ldflags "-s -w" -o "$STAGE/kube-strict" .) >&2; then
  echo "install-kube-strict: 'go build' of $SRC failed (see above; needs the Go module proxy)" >&2
  exit 1
fi
mv "$STAGE/kube-strict" "$BIN"
echo "install-kube-strict: built in $(($(date +%s) - START)) s -> $BIN" >&2
echo "$BIN"
