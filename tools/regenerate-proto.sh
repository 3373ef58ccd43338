#!/usr/bin/env bash
# Regenerates the protobuf-c code of target CONNXProto from our ONNX wire schema:
#   Sources/CONNXProto/onnx-wire.proto -> Sources/CONNXProto/onnx-wire.pb-c.c
#                                         Sources/CONNXProto/include/onnx-wire.pb-c.h
# Installs protoc-c (apt package protobuf-c-compiler) when it is missing. Works from any cwd.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/Sources/CONNXProto"
schema="onnx-wire.proto"

if ! command -v protoc-c >/dev/null 2>&1; then
  echo "protoc-c not found; installing protobuf-c-compiler" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq protobuf-c-compiler
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Generate into a scratch directory so a failure never leaves half-written sources.
(cd "$target" && protoc-c --proto_path=. --c_out="$tmp" "$schema")

c_file="$tmp/onnx-wire.pb-c.c"
h_file="$tmp/onnx-wire.pb-c.h"
[ -f "$c_file" ] && [ -f "$h_file" ] || { echo "protoc-c produced no output" >&2; exit 1; }

# The header lives in the target's include/ folder; make sure the .c finds it by bare name.
sed -i -E 's|^#include "([^"]*/)?onnx-wire\.pb-c\.h"|#include "onnx-wire.pb-c.h"|' "$c_file"
grep -q '^#include "onnx-wire.pb-c.h"' "$c_file" || { echo "unexpected include line in $c_file" >&2; exit 1; }

mkdir -p "$target/include"
mv -f "$c_file" "$target/onnx-wire.pb-c.c"
mv -f "$h_file" "$target/include/onnx-wire.pb-c.h"
chmod 644 "$target/onnx-wire.pb-c.c" "$target/include/onnx-wire.pb-c.h"
echo "regenerated $target/onnx-wire.pb-c.c and $target/include/onnx-wire.pb-c.h ($(protoc-c --version | head -n1))" >&2
