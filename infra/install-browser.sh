#!/usr/bin/env bash
# Installs Debian's chromium for the Temporal Web UI end-to-end tests (test/e2e), which drive it
# through playwright-core. We never let Playwright download its own browser build: the distro
# package is reproducible from the apt mirror and needs no network access to a CDN.
# Idempotent: does nothing when the browser is already there. Needs root (or passwordless sudo).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
  echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "install-browser: need root to install chromium with apt-get (run as root or install sudo)" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: apt-get not found; install Debian's 'chromium' package by hand so that $CHROMIUM exists" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update; then
  echo "install-browser: 'apt-get update' failed; check network access to the Debian mirror" >&2
  exit 1
fi
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends chromium fonts-liberation; then
  echo "install-browser: 'apt-get install chromium fonts-liberation' failed (see apt output above)" >&2
  exit 1
fi

if [[ ! -x "$CHROMIUM" ]]; then
  echo "install-browser: apt-get installed chromium but $CHROMIUM is missing" >&2
  exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
