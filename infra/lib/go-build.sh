# Sourced by infra/install-helm.sh and infra/install-kube-strict.sh: the Go toolchain they build with,
# and the per-tool lock that lets two installs at once wait for each other instead of building twice.

# Sets GO_BIN: $GO, else `go` on PATH, else /usr/local/go/bin/go; fails naming <who> without one.
find_go() {
  local who="$1"
  GO_BIN="${GO:-}"
  [[ -n "$GO_BIN" ]] && return 0
  if command -v go >/dev/null 2>&1; then
    GO_BIN="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then
    GO_BIN=/usr/local/go/bin/go
  else
    echo "$who: no Go toolchain (need 'go' on PATH or /usr/local/go/bin/go)" >&2
    return 1
  fi
}

# Takes <dest dir>'s build lock (held until the script exits); prints <binary> and exits 0 when
# another run built it while this one waited.
lock_build() {
  local dest="$1" bin="$2"
  mkdir -p "$dest"
  exec 9>"$dest/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock 9
  fi
  if [[ -x "$bin" ]]; then
    echo "$bin"
    exit 0
  fi
}
