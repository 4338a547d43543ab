#!/usr/bin/env bash
# Installs Debian's `prometheus` package, the real Prometheus server the metric-provider tests scrape
# gateways with (test/integration/prometheus-provider.test.ts). Like install-browser.sh for chromium:
# only the distro package from the configured apt mirror, never a download from anywhere else.
# Idempotent: does nothing when /usr/bin/prometheus is already there. Needs root (or passwordless sudo).
# The package's systemd service is not used: the tests start their own server on a free loopback port
# with their own config and storage, and stop it.
set -euo pipefail

PROMETHEUS=/usr/bin/prometheus

if [[ -x "$PROMETHEUS" ]]; then
  echo "prometheus already installed: $("$PROMETHEUS" --version 2>&1 | head -n 1)"
  exit 0
fi

# shellcheck source=lib/apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-install.sh"
apt_install install-prometheus prometheus || exit 1

if [[ ! -x "$PROMETHEUS" ]]; then
  echo "install-prometheus: apt-get installed prometheus but $PROMETHEUS is missing" >&2
  exit 1
fi
echo "prometheus installed: $("$PROMETHEUS" --version 2>&1 | head -n 1)"
