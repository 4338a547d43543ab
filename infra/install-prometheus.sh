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

if [[ "$(id -u)" -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "install-prometheus: need root to install prometheus with apt-get (run as root or install sudo)" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-prometheus: apt-get not found; install Debian's prometheus package by hand" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Without systemd as PID 1 (containers, CI) the package's postinst cannot start its service; policy-rc.d
# says "do not start services" so the install does not fail or leave a server running on :9090.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod +x "$POLICY"
  CREATED_POLICY=1
fi
cleanup() { if [[ "$CREATED_POLICY" -eq 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

if ! "${SUDO[@]}" apt-get update; then
  echo "install-prometheus: 'apt-get update' failed; check network access to the Debian mirror" >&2
  exit 1
fi
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends prometheus; then
  echo "install-prometheus: 'apt-get install prometheus' failed (see apt output above)" >&2
  exit 1
fi

if [[ ! -x "$PROMETHEUS" ]]; then
  echo "install-prometheus: apt-get installed prometheus but $PROMETHEUS is missing" >&2
  exit 1
fi
echo "prometheus installed: $("$PROMETHEUS" --version 2>&1 | head -n 1)"
