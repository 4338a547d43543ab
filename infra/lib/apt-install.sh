# Sourced by the infra/install-*.sh scripts: installs Debian packages from the configured apt mirror,
# never from anywhere else. Needs root, or passwordless sudo.
#
#   apt_install <script name> <package>...
#
# Services the packages ship are never started (policy-rc.d answers "no" for the install): without
# systemd as PID 1 (containers, CI) their postinst would fail, and the tests start their own servers on
# free loopback ports. The package lists are fetched only when an install without them fails.

apt_install() {
  local who="$1"
  shift
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo -n)
    else
      echo "$who: need root to install $* with apt-get (run as root or install sudo)" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: apt-get not found; install Debian's $* by hand" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local policy=/usr/sbin/policy-rc.d created=0 status=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    created=1
  fi
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "$@"; then
    # A fresh machine has no package lists yet: fetch them once and retry.
    if ! "${sudo[@]}" apt-get update; then
      echo "$who: 'apt-get update' failed; check network access to the Debian mirror" >&2
      status=1
    elif ! "${sudo[@]}" apt-get install -y --no-install-recommends "$@"; then
      echo "$who: 'apt-get install $*' failed (see apt output above)" >&2
      status=1
    fi
  fi
  if [[ "$created" -eq 1 ]]; then "${sudo[@]}" rm -f "$policy"; fi
  return "$status"
}
