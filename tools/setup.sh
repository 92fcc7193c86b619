#!/usr/bin/env bash
# Installs everything shmrpc needs to build and test, from Debian's package
# archive only (Debian bookworm). Packages already installed are skipped, so
# running it again is cheap. Needs root or sudo.
#
#   bash tools/setup.sh
set -euo pipefail

packages=(
  bazel-bootstrap      # Bazel 4.2.3, run offline (see deps.bzl)
  g++                  # C++17 compiler
  libgrpc++-dev        # gRPC C++ 1.51
  protobuf-compiler-grpc  # grpc_cpp_plugin
  libprotobuf-dev      # protobuf 3.21 runtime
  libprotoc-dev        # libprotoc, for our protoc plugin
  protobuf-compiler    # protoc
  libabsl-dev          # Abseil 20220623
  libgtest-dev         # GoogleTest 1.12
  libgmock-dev
  libbenchmark-dev     # Google Benchmark 1.7
  grpc-proto           # gRPC's own protos (grpc/testing/*.proto)
  python3              # .ci/run's result counting
  python3-grpcio       # a real gRPC client for interop checks
  clang-14             # tools/fuzz.sh: libFuzzer targets
  libclang-rt-14-dev   # libFuzzer and the sanitizer runtimes for clang 14
  pkg-config           # tools/fuzz.sh finds the system Abseil's libraries
  cmake                # the CMake build (tools/cmake_test.sh, docs/cmake.md)
  make                 # the build tool of CMake's default generator
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
