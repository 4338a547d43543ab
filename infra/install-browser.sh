#!/usr/bin/env bash
# Installs the system packages the tests drive: Debian's chromium for the browser tests (test/e2e),
# through playwright-core, and openssh-client and openssl, whose ssh-keygen signs decisions and whose
# openssl makes test CAs. We never let Playwright download its own browser build: the distro package
# is reproducible from the apt mirror and needs no network access to a CDN.
# Idempotent: does nothing when everything is already there. Needs root (or passwordless sudo).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
PACKAGES=()
[[ -x "$CHROMIUM" ]] || PACKAGES+=(chromium fonts-liberation)
command -v ssh-keygen >/dev/null 2>&1 || PACKAGES+=(openssh-client)
command -v openssl >/dev/null 2>&1 || PACKAGES+=(openssl)

if [[ ${#PACKAGES[@]} -eq 0 ]]; then
  echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi

# shellcheck source=lib/apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-install.sh"
apt_install install-browser "${PACKAGES[@]}" || exit 1

if [[ ! -x "$CHROMIUM" ]]; then
  echo "install-browser: apt-get installed chromium but $CHROMIUM is missing" >&2
  exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
