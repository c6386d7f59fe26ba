#!/usr/bin/env bash
# A Python virtualenv with ansible-core and salt from PyPI, pinned by
# scripts/fleet-requirements.txt, for the fleet tests (tests/fleet_*.rs) and for trying
# scripts/ansible/ and scripts/salt/ by hand.
#
# Usage: scripts/fleet-venv.sh [--background] [DIR]
#   DIR defaults to ${CARGO_TARGET_DIR:-target}/fleet-venv. Prints DIR when it is ready.
#   --background: start the install detached (log in DIR.log) and return at once; `make
#   test` does this so the ~45 s pip install overlaps with the cargo build.
#
# Made once: DIR/.dfkit-ready holds the requirements' sha256, and a matching stamp means
# there is nothing to do. The work happens under flock(DIR.lock), so a background install,
# parallel test binaries and a person can all call this at once: the later ones wait for
# the first and then find the stamp.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
req="$here/fleet-requirements.txt"

background=0
if [ "${1:-}" = "--background" ]; then
  background=1
  shift
fi
dir=${1:-${CARGO_TARGET_DIR:-$repo/target}/fleet-venv}
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
mkdir -p "$(dirname "$dir")"

if [ "$background" = 1 ]; then
  # Detached from make's process group; whoever needs the venv waits on the lock.
  setsid "$0" "$dir" >"$dir.log" 2>&1 </dev/null &
  echo "fleet-venv: installing in the background (log: $dir.log)" >&2
  exit 0
fi

want=$(sha256sum "$req" | cut -d' ' -f1)
ready() { [ "$(cat "$dir/.dfkit-ready" 2>/dev/null)" = "$want" ]; }
if ready; then
  echo "$dir"
  exit 0
fi

exec 9>"$dir.lock"
flock 9
if ! ready; then
  started=$(date +%s)
  echo "fleet-venv: creating $dir (ansible-core, salt from PyPI)" >&2
  rm -rf "$dir"
  # Debian's python3 first: a pyenv shim earlier in PATH may point elsewhere later.
  py=$(command -v /usr/bin/python3 || command -v python3)
  if ! "$py" -m venv "$dir" 2>/dev/null; then
    # No ensurepip (Debian without python3-venv): a venv without pip, pip from the host.
    "$py" -m venv --without-pip "$dir"
    "$py" -m pip --python "$dir/bin/python" --version >/dev/null
    pip_cmd=("$py" -m pip --python "$dir/bin/python")
  else
    pip_cmd=("$dir/bin/python" -m pip)
  fi
  "${pip_cmd[@]}" install --quiet --disable-pip-version-check --no-input --no-compile -r "$req" >&2
  ANSIBLE_HOME="$dir/ansible-home" "$dir/bin/ansible-playbook" --version >/dev/null
  "$dir/bin/salt-call" --version >/dev/null
  echo "$want" >"$dir/.dfkit-ready"
  echo "fleet-venv: ready in $(($(date +%s) - started)) s" >&2
fi
echo "$dir"
