#!/bin/bash
# Python's grpcio (Debian's python3-grpcio) calling a flat service over TCP:
# blob_server's FlatService answers protobuf on the wire.
#
# Usage: blob_python_test.sh SERVER CLIENT_PY PB2_FILE (runfiles paths).
set -euo pipefail
server="$1"
client="$2"
pb2_root="$(cd "$(dirname "$3")" && pwd)"
dir="$(mktemp -d /tmp/shmrpc-flat-py-XXXXXX)"
export SHMRPC_DIR="$dir/endpoints"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
mkfifo "$dir/ready"
"$server" flat > "$dir/ready" &
server_pid=$!
exec 3< "$dir/ready"
port=""
if read -r -t 20 word value <&3 && [ "$word" = ready ]; then
  port="$value"
fi
if [ -z "$port" ]; then
  echo "FAIL: blob_server did not start" >&2
  exit 1
fi
timeout 60 /usr/bin/python3 "$client" --port="$port" --pb2_root="$pb2_root"
