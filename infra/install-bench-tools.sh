#!/usr/bin/env bash
# Installs the load generator the serving benchmarks drive: Debian's wrk (HTTP keep-alive load with
# latency percentiles), used by `npm run bench -- serving-compare`. Like install-browser.sh, it takes
# the distro package from the apt mirror rather than building wrk from source.
# Idempotent: does nothing when wrk is already there. Needs root (or passwordless sudo) to install.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
  echo "wrk already installed: $(command -v wrk)"
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "install-bench-tools: need root to install wrk with apt-get (run as root or install sudo)" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-bench-tools: apt-get not found; install wrk by hand (https://github.com/wg/wrk)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends wrk; then
  # A fresh container has no package lists yet: fetch them once and retry.
  if ! "${SUDO[@]}" apt-get update; then
    echo "install-bench-tools: 'apt-get update' failed; check network access to the Debian mirror" >&2
    exit 1
  fi
  if ! "${SUDO[@]}" apt-get install -y --no-install-recommends wrk; then
    echo "install-bench-tools: 'apt-get install wrk' failed (see apt output above)" >&2
    exit 1
  fi
fi

if ! command -v wrk >/dev/null 2>&1; then
  echo "install-bench-tools: apt-get installed wrk but it is not on PATH" >&2
  exit 1
fi
echo "wrk installed: $(command -v wrk)"
