#!/bin/bash
# End-to-end test of the image example: the server on a free port, then the
# client with a 4096 x 4096 image (16 MiB) over shared memory and with
# SHMRPC_MODE=off over gRPC: the same summary and thumbnail both ways.
#
# Usage: image_test.sh SERVER CLIENT (runfiles paths; see BUILD.bazel).
set -euo pipefail
server_bin="$1"
client_bin="$2"
base=/tmp
if [ -n "${TEST_TMPDIR:-}" ] && [ "${#TEST_TMPDIR}" -lt 60 ]; then
  base="$TEST_TMPDIR"
fi
tmp="$(mktemp -d "$base/image_test.XXXXXX")"
export SHMRPC_DIR="$tmp/endpoints"
unset SHMRPC_MODE
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/*.out "$tmp"/*.err; do
    [ -s "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
  done
  exit 1
}

"$server_bin" --port=0 >"$tmp/server.out" 2>"$tmp/server.err" &
pid=$!
for _ in $(seq 300); do
  grep -q '^Ready' "$tmp/server.out" && break
  sleep 0.1
done
port="$(sed -n 's/^Ready on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/server.out")"
[ -n "$port" ] || fail "the server did not start"

expect_summary() {  # expect_summary PATH_WORDS OUTPUT_FILE
  grep -qx "summary: sum 2139095040, min 0, max 255, over $1" "$2" ||
    fail "summary over $1"
  grep -qx 'thumbnail: 512x512 "gradient (1/8)", 262144 bytes, first pixel 0' \
    "$2" || fail "thumbnail over $1"
}

timeout 60 "$client_bin" --target="127.0.0.1:$port" --calls=3 \
  >"$tmp/shm.out" 2>"$tmp/shm.err" || fail "client over shared memory"
expect_summary "shared memory" "$tmp/shm.out"
SHMRPC_MODE=off timeout 60 "$client_bin" --target="127.0.0.1:$port" \
  --calls=2 >"$tmp/grpc.out" 2>"$tmp/grpc.err" || fail "client over gRPC"
expect_summary "gRPC" "$tmp/grpc.out"
cat "$tmp/shm.out" "$tmp/grpc.out"

kill -TERM "$pid"
for _ in $(seq 200); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then fail "the server did not stop"; fi
wait "$pid" || fail "the server exited non-zero"
pid=""
echo "PASS"
