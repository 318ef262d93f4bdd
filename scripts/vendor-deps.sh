#!/usr/bin/env bash
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# scripts/vendor-deps.sh: copy the test dependencies installed on this machine into .deps/, so
# that a machine without them (and without internet) can build the tests:
#
#   .deps/catch2/   Catch2 2.x: include/catch2/, lib/cmake/Catch2/, lib/libCatch2WithMain.a
#                   (Debian's `catch2` package; its CMake package is relocatable)
#
# .deps/ is git-ignored: carry it along with the working tree. scripts/gpu-check.sh and plain
# CMake find it with -DCMAKE_PREFIX_PATH="$PWD/.deps/catch2".
#
# Usage: scripts/vendor-deps.sh [--catch2-prefix DIR]   (default prefix: /usr)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=/usr
while [[ $# -gt 0 ]]; do
  case "$1" in
    --catch2-prefix) prefix=$2; shift 2 ;;
    -h|--help) sed -n '4,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "vendor-deps.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [[ ! -f $prefix/include/catch2/catch.hpp || ! -f $prefix/lib/cmake/Catch2/Catch2Config.cmake ]]; then
  echo "vendor-deps.sh: no Catch2 2.x under $prefix (apt-get install catch2)" >&2
  exit 1
fi

dest=$root/.deps/catch2
rm -rf "$dest"
mkdir -p "$dest/include" "$dest/lib/cmake"
cp -r "$prefix/include/catch2" "$dest/include/"
cp -r "$prefix/lib/cmake/Catch2" "$dest/lib/cmake/"
# Catch2Targets checks that every library it imports exists, Catch2WithMain included.
cp "$prefix"/lib/libCatch2*.a "$dest/lib/" 2>/dev/null || true
echo "vendor-deps.sh: Catch2 copied to ${dest#"$root"/} ($(du -sh "$dest" | cut -f1))"
