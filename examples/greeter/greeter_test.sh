#!/bin/bash
# End-to-end test of the greeter example: runs greeter_server and
# greeter_client as a user would and checks what they print.
#
#  1. The server on a free port (--port=0) with a private SHMRPC_DIR.
#  2. The client with the generated stub and with --creds (gRPC's stub):
#     every call over shared memory.
#  3. The client with SHMRPC_MODE=off: every call over gRPC.
#  4. A second server with --shm=false: the client falls back to gRPC.
#  5. SIGTERM: the server exits 0 and its endpoint socket is gone.
#
# Every step is bounded in time; the trap kills what is left and removes the
# temporary directory.
#
# Usage: greeter_test.sh SERVER CLIENT (runfiles paths; see BUILD.bazel).
set -euo pipefail

server_bin="$1"
client_bin="$2"

# Unix socket paths are limited to 107 bytes, and Bazel's TEST_TMPDIR can be
# long: use /tmp then.
base=/tmp
if [ -n "${TEST_TMPDIR:-}" ] && [ "${#TEST_TMPDIR}" -lt 60 ]; then
  base="$TEST_TMPDIR"
fi
tmp="$(mktemp -d "$base/greeter_test.XXXXXX")"
# The endpoint directory: the server creates it (mode 0700).
export SHMRPC_DIR="$tmp/endpoints"
unset SHMRPC_MODE

server_pids=()
cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# alive PID: the process runs (a child that exited but was not yet waited for
# is a zombie, which `kill -0` still finds).
alive() {
  local state
  state="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/*.out "$tmp"/*.err; do
    [ -s "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
  done
  exit 1
}

# start_server NAME ARGS...: starts the server with --port=0 and ARGS, output
# in $tmp/NAME.out and .err; waits (at most 30 s) until it says it is ready
# and sets $pid and $port.
start_server() {
  local name="$1"
  shift
  "$server_bin" --port=0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  server_pids+=("$pid")
  local _
  for _ in $(seq 300); do
    grep -q '^Ready' "$tmp/$name.out" && break
    alive "$pid" || fail "$name exited before it was ready"
    sleep 0.1
  done
  grep -q '^Ready' "$tmp/$name.out" || fail "$name not ready after 30 s"
  port="$(sed -n 's/^gRPC server listening on \[::\]:\([0-9]*\)$/\1/p' \
    "$tmp/$name.out")"
  if [ -z "$port" ] || [ "$port" -eq 0 ]; then fail "$name printed no port"; fi
}

# stop_server NAME PID: SIGTERM, then the server must exit 0 within 20 s.
stop_server() {
  local name="$1" p="$2" _
  kill -TERM "$p"
  for _ in $(seq 200); do
    alive "$p" || break
    sleep 0.1
  done
  if alive "$p"; then fail "$name still running 20 s after SIGTERM"; fi
  local rc=0
  wait "$p" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited with status $rc after SIGTERM"
  grep -q '^Server stopped$' "$tmp/$name.out" ||
    fail "$name did not say it stopped"
}

# run_client NAME ARGS...: runs the client (at most 60 s), output in
# $tmp/NAME.out; it must exit 0.
run_client() {
  local name="$1"
  shift
  local rc=0
  timeout 60 "$client_bin" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" ||
    rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited with status $rc"
}

# expect NAME COUNT PATTERN: NAME's output has COUNT lines matching PATTERN
# (a grep -E pattern).
expect() {
  local n
  n="$(grep -cE -- "$3" "$tmp/$1.out" || true)"
  [ "$n" -eq "$2" ] || fail "$1: $n lines match '$3', expected $2"
}

# 1. The server.
start_server server
server_pid="$pid"
endpoint="$(sed -n 's/^Shared-memory server listening on //p' \
  "$tmp/server.out")"
[ "$endpoint" = "$SHMRPC_DIR/port-$port.sock" ] ||
  fail "endpoint '$endpoint', expected $SHMRPC_DIR/port-$port.sock"
[ -S "$endpoint" ] || fail "$endpoint is not a socket"
echo "server: port $port, endpoint $endpoint"

# 2. Shared memory, with the generated stub and with gRPC's stub.
for mode in generated creds; do
  args=(--target="localhost:$port" --name=tester --calls=3 --bench=200)
  [ "$mode" = creds ] && args+=(--creds)
  run_client "client_$mode" "${args[@]}"
  expect "client_$mode" 3 '^Greeter received: Hello tester \(over shared memory\)$'
  expect "client_$mode" 1 '^Greeter received \(async\): Hello tester \(over shared memory\)$'
  expect "client_$mode" 1 '^  server echoed x-request-id=greeter-client-1, saw x-deadline-left-ms=[0-9]+$'
  expect "client_$mode" 1 "^Channel path: shared memory via $endpoint\$"
  expect "client_$mode" 1 '^Latency of 200 SayHello calls: avg '
  expect "client_$mode" 0 'over gRPC'
done
expect client_generated 1 '^Stub: helloworld::ShmGreeter::Stub'
expect client_creds 1 '^Stub: helloworld::Greeter::Stub'

# 3. SHMRPC_MODE=off: the same server, over gRPC.
SHMRPC_MODE=off run_client client_off --target="localhost:$port" --bench=50
expect client_off 3 '^Greeter received: Hello world \(over gRPC\)$'
expect client_off 1 '^Greeter received \(async\): Hello world \(over gRPC\)$'
expect client_off 1 '^  server echoed x-request-id=greeter-client-1, saw x-deadline-left-ms=[0-9]+$'
expect client_off 1 '^Channel path: gRPC \(shared memory is disabled\)$'
expect client_off 0 'over shared memory'

# 4. A server without shared memory: the client falls back to gRPC.
start_server server_noshm --shm=false
noshm_pid="$pid"
noshm_port="$port"
expect server_noshm 0 '^Shared-memory server listening'
[ ! -e "$SHMRPC_DIR/port-$noshm_port.sock" ] ||
  fail "--shm=false server made an endpoint"
run_client client_fallback --target="localhost:$noshm_port" --bench=50
expect client_fallback 3 '^Greeter received: Hello world \(over gRPC\)$'
expect client_fallback 1 '^Channel path: gRPC \('
expect client_fallback 0 'over shared memory'
stop_server server_noshm "$noshm_pid"

# 5. SIGTERM: a clean exit that removes the endpoint.
stop_server server "$server_pid"
expect server 1 '^Received Terminated, shutting down$'
[ ! -e "$endpoint" ] || fail "$endpoint still exists after shutdown"
[ ! -e "$endpoint.lock" ] || fail "$endpoint.lock still exists after shutdown"

# For the test log.
for f in server client_generated client_creds client_off client_fallback; do
  echo "--- $f"
  cat "$tmp/$f.out"
done
echo "PASS"
