#!/usr/bin/env bash
# Installs the Debian packages Resin builds against, when they are missing: protobuf-c, OpenBLAS, zlib,
# libjpeg-turbo and libpng (found through pkg-config), and python3-venv for the tools' pinned environment.
set -euo pipefail
missing=()
command -v pkg-config >/dev/null || missing+=(pkg-config)
if command -v pkg-config >/dev/null; then
  pkg-config --exists libprotobuf-c || missing+=(libprotobuf-c-dev)
  pkg-config --exists openblas || missing+=(libopenblas-dev)
  pkg-config --exists zlib || missing+=(zlib1g-dev)
  pkg-config --exists libjpeg || missing+=(libjpeg62-turbo-dev)
  pkg-config --exists libpng || missing+=(libpng-dev)
else
  missing+=(libprotobuf-c-dev libopenblas-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev)
fi
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
