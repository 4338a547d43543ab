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

# shellcheck source=lib/apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-install.sh"
apt_install install-bench-tools wrk || exit 1

if ! command -v wrk >/dev/null 2>&1; then
  echo "install-bench-tools: apt-get installed wrk but it is not on PATH" >&2
  exit 1
fi
echo "wrk installed: $(command -v wrk)"
