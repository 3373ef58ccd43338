#!/usr/bin/env bash
# Creates (once) the pinned Python environment that the tools use, and prints its python path.
# Python is never used at run time: only for fixtures, reference outputs and conformance data.
#
# The environment (about 5 GiB, mostly torch for the torchvision references) lives in the user's cache,
# named by a hash of tools/requirements.txt, so that every clone and worktree with the same pins shares one
# copy instead of installing it again; tools/.venv is a link to it. RESIN_TOOLS_VENV picks another place.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="$root/tools/requirements.txt"
pins="$(sha256sum "$req" | cut -c1-16)"
venv="${RESIN_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/resin/tools-venv-$pins}"
stamp="$venv/.requirements"
link="$root/tools/.venv"

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  mkdir -p "$(dirname "$venv")"
  # One creator at a time: a second clone running its tests waits here, then finds the environment made.
  exec 9> "$venv.lock"
  flock 9
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      if command -v apt-get >/dev/null; then
        apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv >/dev/null
      fi
      python3 -m venv "$venv" >&2
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
    # The stamp is written last: an interrupted install is started over on the next call.
    cp "$req" "$stamp"
  fi
  flock -u 9
fi
# tools/.venv points at the environment for the scripts that name it (an older layout kept a real environment
# there; it is replaced by the link).
if [ "$(readlink -f "$link" 2>/dev/null)" != "$(readlink -f "$venv")" ]; then
  rm -rf "$link"
  ln -s "$venv" "$link"
fi
echo "$venv/bin/python"
