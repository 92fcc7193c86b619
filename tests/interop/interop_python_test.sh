#!/bin/bash
# gRPC's interop cases from Python's grpcio (a real non-C++ gRPC client,
# Debian's python3-grpcio) over TCP against interop_server, which serves
# the same TestService over shared memory as well.
#
# Usage: interop_python_test.sh SERVER CLIENT_PY PB2_FILE (runfiles paths;
# PB2_FILE is any generated grpc/testing/*_pb2.py; see BUILD.bazel).
set -euo pipefail

server="$1"
client="$2"
pb2_file="$3"
pb2_root="$(cd "$(dirname "$pb2_file")/../.." && pwd)"
python=/usr/bin/python3  # Debian's, which has python3-grpcio

# A short private directory for the shared-memory endpoints.
dir="$(mktemp -d /tmp/shmrpc-interop-py-XXXXXX)"
export SHMRPC_DIR="$dir/endpoints"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

mkfifo "$dir/ready"
"$server" --port=0 > "$dir/ready" &
server_pid=$!
exec 3< "$dir/ready"
port=""
if read -r -t 20 word value <&3 && [ "$word" = ready ]; then
  port="$value"
fi
if [ -z "$port" ]; then
  echo "FAIL: interop_server did not start" >&2
  exit 1
fi

# Each case is bounded by its own deadlines; the whole run by this, well
# within the test's own limit: a client still running after 40 s is stopped
# with SIGABRT, and faulthandler prints where every thread of it was.
timeout -s ABRT 40 "$python" -X faulthandler "$client" --port="$port" \
  --pb2_root="$pb2_root"
