#!/usr/bin/env bash
# Tests the CMake build (docs/cmake.md) the way a CMake user meets it:
#
#  1. cmake build: configures and builds shmrpc (libraries, protoc-gen-shmrpc,
#     the flat well-known types) in a temporary directory.
#  2. cmake install+find_package consumer: installs it into a temporary
#     prefix, checks that every installed header's shmrpc/ includes are
#     installed too and that nothing installed points back into the source
#     or build tree, then builds examples/greeter as a separate project
#     against the prefix (find_package(shmrpc CONFIG), shmrpc_generate_cpp).
#  3. cmake greeter over shared memory and gRPC: runs
#     examples/greeter/greeter_test.sh on those binaries (both stubs over
#     shared memory, SHMRPC_MODE=off, fallback to gRPC from a server without
#     shared memory, clean SIGTERM shutdown).
#
# Prints one line per step, "cmake <step>: PASSED" or "cmake <step>: FAILED"
# (a step after a failed one is "SKIPPED"), which tools/test.sh tallies, and
# exits non-zero if a step failed. Builds with -j2 and no optimization or
# debug information (CMAKE_BUILD_TYPE=None), the quickest to build; set
# SHMRPC_CMAKE_BUILD_TYPE to change that, SHMRPC_CMAKE_JOBS the parallelism,
# and SHMRPC_CMAKE_KEEP=1 to keep the temporary directory.
#
#   bash tools/cmake_test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
src="$PWD"

build_type="${SHMRPC_CMAKE_BUILD_TYPE:-None}"
jobs="${SHMRPC_CMAKE_JOBS:-2}"

tmp="$(mktemp -d /tmp/shmrpc_cmake_test.XXXXXX)"
if [ "${SHMRPC_CMAKE_KEEP:-0}" = 1 ]; then
  echo "cmake_test: keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
build="$tmp/build"
prefix="$tmp/prefix"
consumer="$tmp/greeter"

failed=0
skip=0
start=$SECONDS

# step NAME COMMAND...: runs COMMAND (output in $tmp/NAME.log, its last lines
# shown on failure) unless an earlier step failed, and prints the result.
step() {
  local name="$1"
  shift
  local log="$tmp/${name//[^a-z]/_}.log"
  if [ "$skip" -eq 1 ]; then
    echo "cmake $name: SKIPPED"
    return
  fi
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    echo "cmake $name: PASSED ($((SECONDS - t0)) s)"
  else
    echo "--- last lines of $name:"
    tail -n 60 "$log"
    echo "cmake $name: FAILED ($((SECONDS - t0)) s)"
    failed=1
    skip=1
  fi
}

build_shmrpc() {
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE="$build_type" &&
    cmake --build "$build" -j "$jobs"
}

# check_install: the installed tree stands on its own.
check_install() {
  local f inc missing=0
  # Every "shmrpc/..." an installed header includes is installed, in one of
  # the package's include directories (include/, and include/shmrpc/proto
  # for the generated code of the protos the server serves itself).
  while IFS= read -r inc; do
    if [ ! -f "$prefix/include/$inc" ] &&
        [ ! -f "$prefix/include/shmrpc/proto/$inc" ]; then
      echo "installed headers include $inc, which is not installed"
      missing=1
    fi
  done < <(grep -rhoE '^#include "shmrpc/[^"]+"' "$prefix/include" |
    sed 's/^#include "//; s/"$//' | sort -u)
  [ "$missing" -eq 0 ] || return 1
  for f in config.h shmrpc.h client/credentials.h server/server.h \
      transport/connection.h codegen/version.h; do
    [ -f "$prefix/include/shmrpc/$f" ] || { echo "no include/shmrpc/$f"; return 1; }
  done
  [ -x "$prefix/bin/protoc-gen-shmrpc" ] || { echo "no bin/protoc-gen-shmrpc"; return 1; }
  # The shmrpc tool runs from the install (docs/operations.md).
  "$prefix/bin/shmrpc" --help | grep -q '^usage: shmrpc' ||
    { echo "bin/shmrpc --help does not print its usage"; return 1; }
  [ -f "$prefix/lib/cmake/shmrpc/shmrpcConfig.cmake" ] ||
    { echo "no lib/cmake/shmrpc/shmrpcConfig.cmake"; return 1; }
  # Nothing installed refers to the source or build tree.
  if grep -rlF -e "$src" -e "$build" "$prefix/lib/cmake" "$prefix/include"; then
    echo "the files above refer to $src or $build"
    return 1
  fi
}

install_and_consume() {
  cmake --install "$build" --prefix "$prefix" &&
    check_install &&
    cmake -S "$src/examples/greeter" -B "$consumer" \
      -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$consumer" -j "$jobs" &&
    # The consumer used the installed package, not this source tree.
    grep -q "^shmrpc_DIR:PATH=$prefix/lib/cmake/shmrpc\$" "$consumer/CMakeCache.txt"
}

run_greeter() {
  timeout 300 bash "$src/examples/greeter/greeter_test.sh" \
    "$consumer/greeter_server" "$consumer/greeter_client"
}

step "build" build_shmrpc
step "install+find_package consumer" install_and_consume
step "greeter over shared memory and gRPC" run_greeter

echo "cmake_test: $((SECONDS - start)) s"
[ "$failed" -eq 0 ]
