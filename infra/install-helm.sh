#!/usr/bin/env bash
# Installs helm, pinned, into a per-user cache keyed by version, so the chart test
# (test/unit/helm-chart.test.ts) can run `helm lint --strict` and `helm template` on deploy/helm/prograde.
# Nothing is downloaded from a CDN: helm is built from source through the Go module proxy
# (`go install helm.sh/helm/v3/cmd/helm@VERSION`), and the checksum database (sum.golang.org) verifies
# every module. The link flags are those of helm's own Makefile, so `helm version` names the release and
# templates see the Kubernetes version of helm's client-go (a plain `go install` would say v1.20).
#
#   bash infra/install-helm.sh               # builds if needed; prints the helm binary's path (last line)
#   bash infra/install-helm.sh --background  # returns at once; the build runs detached, then that of
#                                            # infra/install-kube-strict.sh, logging to
#                                            # <cache>/helm-<version>/build.log (npm test starts it so)
#   PROGRADE_HELM_VERSION=v3.22.0            # pin (default below)
#   PROGRADE_TOOLS_DIR=~/.cache/prograde/tools   # cache root (default below)
#   GO=/usr/local/go/bin/go                  # Go toolchain (default: `go` on PATH, else /usr/local/go/bin/go)
#
# Idempotent: with the pinned binary in the cache it prints its path and exits (a few ms). Concurrent
# runs are serialised with flock, so a foreground run waits for a background build to finish.
# Cost, measured on the 2-core dev box (docs/deploy.md): about 500 s wall with an empty Go module cache
# and build cache while other jobs loaded the box (≈190 CPU-s); the module download is ~410 MB.
set -euo pipefail

VERSION="${PROGRADE_HELM_VERSION:-v3.22.0}"
if [[ ! "$VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "install-helm: PROGRADE_HELM_VERSION must look like v3.22.0, got '$VERSION'" >&2
  exit 2
fi
MODE="${1:-}"
if [[ -n "$MODE" && "$MODE" != "--background" ]]; then
  echo "install-helm: unknown argument '$MODE' (only --background)" >&2
  exit 2
fi
TOOLS_DIR="${PROGRADE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/prograde/tools}"
DEST_DIR="$TOOLS_DIR/helm-$VERSION"
HELM="$DEST_DIR/helm"

if [[ -x "$HELM" && "$MODE" != "--background" ]]; then
  echo "$HELM"
  exit 0
fi

if [[ "$MODE" == "--background" ]]; then
  # Detached in its own session, so it outlives the shell that started it (the build writes aside and
  # renames, so an interrupted build leaves nothing half-written). Never fails the caller: a build that
  # cannot run (no Go, no proxy) says why in the log, and again when the chart test runs this script.
  mkdir -p "$DEST_DIR"
  # kube-strict (infra/install-kube-strict.sh) comes after helm: its modules and packages are helm's.
  setsid nohup bash -c 'bash "$1" && bash "$2"' install-helm "${BASH_SOURCE[0]}" \
    "$(dirname "${BASH_SOURCE[0]}")/install-kube-strict.sh" >"$DEST_DIR/build.log" 2>&1 </dev/null &
  echo "install-helm: helm $VERSION, then kube-strict: built in the background when missing (log: $DEST_DIR/build.log)" >&2
  exit 0
fi

# shellcheck source=lib/go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-build.sh"
find_go "install-helm (helm $VERSION)" || exit 1
lock_build "$DEST_DIR" "$HELM"

STAGE="$(mktemp -d "$DEST_DIR/.build.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
START=$(date +%s)
echo "install-helm: building helm $VERSION with $("$GO_BIN" version) (minutes on a cold Go cache)" >&2
MODULE="helm.sh/helm/v3"
# helm's Makefile derives the Kubernetes version templates see from its client-go (v0.N.x → 1.N).
if ! GOMOD_FILE="$("$GO_BIN" mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')" ||
  [[ -z "$GOMOD_FILE" || ! -f "$GOMOD_FILE" ]]; then
  echo "install-helm: 'go mod download $MODULE@$VERSION' failed (needs the Go module proxy)" >&2
  exit 1
fi
K8S_MINOR="$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$GOMOD_FILE" | head -n 1)"
if [[ -z "$K8S_MINOR" ]]; then
  echo "install-helm: no k8s.io/client-go requirement in $GOMOD_FILE" >&2
  exit 1
fi
LDFLAGS="-s -w -X $MODULE/internal/version.version=$VERSION -X $MODULE/internal/version.metadata="
LDFLAGS+=" -X $MODULE/internal/version.gitTreeState=clean"
for pkg in pkg/lint/rules pkg/chartutil; do
  LDFLAGS+=" -X $MODULE/$pkg.k8sVersionMajor=1 -X $MODULE/$pkg.k8sVersionMinor=$K8S_MINOR"
done
# CGO off: a static binary that does not depend on this box's libc.
if ! CGO_ENABLED=0 GOBIN="$STAGE" "$GO_BIN" install -trimpath -ldflags "$LDFLAGS" "$MODULE/cmd/helm@$VERSION" >&2; then
  echo "install-helm: 'go install $MODULE/cmd/helm@$VERSION' failed (see go output above; needs the Go module proxy)" >&2
  exit 1
fi
if [[ "$("$STAGE/helm" version --template '{{.Version}}')" != "$VERSION" ]]; then
  echo "install-helm: the built helm does not report $VERSION" >&2
  exit 1
fi
mv "$STAGE/helm" "$HELM"
END=$(date +%s)
echo "install-helm: built helm $VERSION (Kubernetes 1.$K8S_MINOR) in $((END - START)) s -> $HELM" >&2
echo "$HELM"
