#!/bin/bash
# End-to-end test of the `shmrpc` tool (tools/cli/) against running servers
# (cli_test_server) after calls from separate processes (cli_test_client):
#
#  1. `list` and `stats` (table) against golden files, with what changes
#     from run to run (pids, ports, paths, times, latencies) masked;
#  2. `stats --format=prometheus` parsed back (prometheus_check.py), the
#     call counts and request bytes matching the calls made; `--watch`;
#  3. `health`: SERVING, NOT_SERVING, an unknown service, a server without
#     the health service, an endpoint path;
#  4. `why` for each reason: shared memory, not on this host, no endpoint,
#     endpoint directory differs, handshake refused (connection limit and
#     allow-list), method not served, stale endpoint;
#  5. errors: one line on stderr and the documented exit status.
#
# Every step is bounded in time; the trap kills what is left and removes the
# temporary directory.
#
# Usage: shmrpc_cli_test.sh SHMRPC SERVER CLIENT CHECKER TESTDATA_FILE...
# (runfiles paths; see BUILD.bazel).
set -euo pipefail

shmrpc="$1"
server_bin="$2"
client_bin="$3"
checker="$4"
testdata="$(dirname "$5")"

# Unix socket paths are limited to 107 bytes, and Bazel's TEST_TMPDIR can be
# long: use /tmp then.
base=/tmp
if [ -n "${TEST_TMPDIR:-}" ] && [ "${#TEST_TMPDIR}" -lt 60 ]; then
  base="$TEST_TMPDIR"
fi
tmp="$(mktemp -d "$base/shmrpc_cli.XXXXXX")"
# The endpoint directory the tests use (servers create it), and another
# directory a process could derive instead (XDG_RUNTIME_DIR/shmrpc).
export SHMRPC_DIR="$tmp/endpoints"
mkdir -m 0700 "$tmp/xdg"
export XDG_RUNTIME_DIR="$tmp/xdg"
unset SHMRPC_MODE GRPC_VERBOSITY

pids=()
cleanup() {
  local pid
  exec 3>&- 2>/dev/null || true
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
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

alive() {
  local state
  state="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# start_server NAME ARGS...: output in $tmp/NAME.out; waits (30 s at most)
# for "ready PORT" and sets $pid, $port and $endpoint.
start_server() {
  local name="$1" _
  shift
  "$server_bin" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do
    grep -q '^endpoint ' "$tmp/$name.out" && break
    alive "$pid" || fail "$name exited before it was ready"
    sleep 0.1
  done
  grep -q '^endpoint ' "$tmp/$name.out" || fail "$name not ready after 30 s"
  port="$(sed -n 's/^ready //p' "$tmp/$name.out")"
  endpoint="$(sed -n 's/^endpoint //p' "$tmp/$name.out")"
}

# stop_server NAME PID: SIGTERM; it must exit 0 within 20 s.
stop_server() {
  local name="$1" p="$2" _ rc=0
  kill -TERM "$p"
  for _ in $(seq 200); do
    alive "$p" || break
    sleep 0.1
  done
  alive "$p" && fail "$name still running 20 s after SIGTERM"
  wait "$p" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited with status $rc"
}

# run NAME WANT_STATUS ARGS...: runs the tool (30 s at most) with ARGS,
# stdout in $tmp/NAME.out, stderr in $tmp/NAME.err; its exit status must be
# WANT_STATUS.
run() {
  local name="$1" want="$2" rc=0
  shift 2
  timeout 30 "$shmrpc" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "shmrpc $* exited $rc, not $want"
}

# expect NAME COUNT PATTERN: NAME's stdout has COUNT lines matching PATTERN.
expect() {
  local n
  n="$(grep -cE -- "$3" "$tmp/$1.out" || true)"
  [ "$n" -eq "$2" ] || fail "$1: $n lines match '$3', expected $2"
}

# says NAME TEXT: NAME's stdout, its lines joined and its blanks squeezed
# (why wraps its explanation), contains TEXT.
says() {
  tr -s ' \n' '  ' <"$tmp/$1.out" | grep -qF -- "$2" ||
    fail "$1 does not say '$2'"
}

# one_error NAME PATTERN: NAME's stderr is one line, matching PATTERN.
one_error() {
  [ "$(wc -l <"$tmp/$1.err")" -eq 1 ] || fail "$1: stderr is not one line"
  grep -qE -- "$2" "$tmp/$1.err" || fail "$1: stderr does not match '$2'"
}

# golden NAME FILE: NAME's masked output ($tmp/NAME.masked) equals
# testdata/FILE.
golden() {
  diff -u "$testdata/$2" "$tmp/$1.masked" >"$tmp/$1.diff" ||
    fail "$1 differs from testdata/$2: $(cat "$tmp/$1.diff")"
}

uid="$(id -u)"
# GetStats calls made to the main server so far (the statistics count
# them).
admin_calls=0

# ---- the main server, and calls from two client processes ---------------
start_server main --health
main_pid="$pid"
main_port="$port"
main_endpoint="$endpoint"
[ "$main_endpoint" = "$SHMRPC_DIR/port-$main_port.sock" ] ||
  fail "endpoint $main_endpoint"

timeout 60 "$client_bin" --target="localhost:$main_port" --ok=5 \
  --payload=100 --fail=5 --failures=2 >"$tmp/client1.out" ||
  fail "client 1 failed"
timeout 60 "$client_bin" --target="localhost:$main_port" --fail=10 \
  --failures=1 >"$tmp/client2.out" || fail "client 2 failed"
calls=0
request_bytes=0
for f in client1 client2; do
  read -r _ n b <"$tmp/$f.out"
  calls=$((calls + n))
  request_bytes=$((request_bytes + b))
done
[ "$calls" -eq 8 ] || fail "clients made $calls calls"
echo "clients: $calls calls, $request_bytes request bytes"

# Until the clients' calls are recorded and their connections are gone
# (both a moment after they exit), at most 10 s.
settled=0
for _ in $(seq 100); do
  run settle 0 stats "localhost:$main_port" --format=prometheus
  admin_calls=$((admin_calls + 1))
  if python3 "$checker" "$tmp/settle.out" \
    'shmrpc_server_calls_in_flight|method=/shmrpc.testing.EchoService/Echo|=0' \
    'shmrpc_server_connections||=1' >/dev/null 2>&1; then
    settled=1
    break
  fi
  sleep 0.1
done
[ "$settled" -eq 1 ] || fail "the clients' calls never settled"

# ---- 1. list and stats against golden files ------------------------------
run list 0 list
admin_calls=$((admin_calls + 1))
# Calls over shared memory: the clients', every GetStats so far and this
# one.
total=$((calls + admin_calls))
awk -v tmp="$tmp" -v port="$main_port" -v pid="$main_pid" -v calls="$total" '
  NR == 1 { sub(tmp, "TMP"); print; next }
  $1 == "ENDPOINT" { $1 = $1; print; next }
  {
    gsub(port, "PORT", $1); gsub(port, "PORT", $2)
    if ($3 == pid) $3 = "PID"
    $4 = "UPTIME"; $5 = "CONNS"
    if ($6 == calls) $6 = "CALLS"
    print
  }' "$tmp/list.out" >"$tmp/list.masked"
golden list list.golden

run stats_table 0 stats "localhost:$main_port" --connections=false
admin_calls=$((admin_calls + 1))
total=$((calls + admin_calls))
sed -e "s#$tmp#TMP#g" -e "s/port-$main_port\\.sock/port-PORT.sock/" \
  -e "s/:$main_port)/:PORT)/" -e "s/pid $main_pid (uid $uid)/pid PID (uid UID)/" \
  -e 's/, up [0-9.dhms]*$/, up UPTIME/' \
  -e 's/connections: [0-9]* open, [0-9]* accepted/connections: N open, N accepted/' \
  -e "s/calls: $total (1 running)/calls: CALLS (1 running)/" \
  -e 's/threads: [0-9]*$/threads: N/' "$tmp/stats_table.out" |
  awk -v admin="$((admin_calls - 1))" '
    NF == 10 && ($2 == "shm" || $2 == "grpc") {
      if ($6 != "-") { $6 = "P50"; $7 = "P99"; $8 = "MAX" }
      if ($10 != "0B") $10 = "BYTES"
      if ($1 == "GetStats") { $9 = "BYTES"; if ($3 == admin) $3 = "ADMIN" }
    }
    { $1 = $1; print }' >"$tmp/stats_table.masked"
golden stats_table stats.golden
# Lines fit 100 columns.
awk 'length > 100 { exit 1 }' "$tmp/stats_table.out" ||
  fail "stats lines wider than 100 columns"

# With connections: this very process among them (started without
# `timeout`, whose pid it would not be; bounded here instead).
"$shmrpc" stats "$main_endpoint" >"$tmp/stats_conns.out" &
stats_pid=$!
pids+=("$stats_pid")
for _ in $(seq 300); do
  alive "$stats_pid" || break
  sleep 0.1
done
alive "$stats_pid" && fail "stats still running after 30 s"
wait "$stats_pid" || fail "stats with connections failed"
admin_calls=$((admin_calls + 1))
grep -qE "^ *$stats_pid +$uid " "$tmp/stats_conns.out" ||
  fail "stats does not list its own connection (pid $stats_pid)"
expect stats_conns 1 '^ *PEER PID +UID +AGE +CALLS +THREADS +POOL USED / CAPACITY$'

# ---- 2. Prometheus, parsed back; --watch ----------------------------------
run prometheus 0 stats "localhost:$main_port" --format=prometheus
admin_calls=$((admin_calls + 1))
echo_labels='method=/shmrpc.testing.EchoService/Echo,transport=shm'
python3 "$checker" "$tmp/prometheus.out" \
  "shmrpc_server_info|pid=$main_pid,uid=$uid,endpoint=$main_endpoint|=1" \
  "shmrpc_server_calls_total|$echo_labels,code=OK|=5" \
  "shmrpc_server_calls_total|$echo_labels,code=NOT_FOUND|=2" \
  "shmrpc_server_calls_total|$echo_labels,code=ABORTED|=1" \
  "shmrpc_server_calls_in_flight|$echo_labels|=0" \
  "shmrpc_server_call_latency_seconds_count|$echo_labels|=8" \
  "shmrpc_server_call_latency_seconds_sum|$echo_labels|>0" \
  "shmrpc_server_call_latency_seconds|$echo_labels,quantile=0.5|>0" \
  "shmrpc_server_call_latency_seconds|$echo_labels,quantile=0.999|>0" \
  "shmrpc_server_received_messages_total|$echo_labels|=8" \
  "shmrpc_server_received_bytes_total|$echo_labels|=$request_bytes" \
  "shmrpc_server_sent_messages_total|$echo_labels|=5" \
  "shmrpc_server_sent_bytes_total|$echo_labels|>0" \
  "shmrpc_server_calls_total|method=/shmrpc.admin.v1.Admin/GetStats,code=OK|=$((admin_calls - 1))" \
  "shmrpc_server_calls_in_flight|method=/shmrpc.admin.v1.Admin/GetStats|=1" \
  "shmrpc_server_calls_total|method=/grpc.health.v1.Health/Check,code=OK|=0" \
  "shmrpc_server_connections||>=1" \
  "shmrpc_server_connections_accepted_total||>=3" \
  "shmrpc_server_uptime_seconds||>0" \
  "shmrpc_connection_pool_capacity_bytes||>0" \
  >"$tmp/checker.out" 2>"$tmp/checker.err" ||
  fail "Prometheus output: $(cat "$tmp/checker.err")"
cat "$tmp/checker.out"

run watch 0 stats "localhost:$main_port" --watch=0.1 --count=3
admin_calls=$((admin_calls + 3))
expect watch 3 '^shmrpc server pid '
# Until interrupted: SIGINT ends it cleanly.
timeout 30 "$shmrpc" stats "localhost:$main_port" --watch=0.1 \
  >"$tmp/watch_int.out" 2>"$tmp/watch_int.err" &
watch_pid=$!
pids+=("$watch_pid")
for _ in $(seq 100); do
  grep -q '^shmrpc server pid ' "$tmp/watch_int.out" && break
  sleep 0.1
done
sleep 0.3
kill -INT "$watch_pid"
rc=0
wait "$watch_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "stats --watch exited $rc on SIGINT"

# ---- 3. health ------------------------------------------------------------
run health 0 health "localhost:$main_port"
expect health 1 '^SERVING$'
run health_echo 0 health "$main_endpoint" shmrpc.testing.EchoService
expect health_echo 1 '^SERVING$'
run health_down 3 health "localhost:$main_port" down
expect health_down 1 '^NOT_SERVING$'
run health_unknown 3 health "localhost:$main_port" no.such.Service
expect health_unknown 1 '^SERVICE_UNKNOWN$'

start_server plain
plain_pid="$pid"
plain_port="$port"
run health_plain 1 health "localhost:$plain_port"
one_error health_plain "^shmrpc health: localhost:$plain_port: the server at .* \\(pid $plain_pid\\) does not serve grpc.health.v1.Health over shared memory \\(UNIMPLEMENTED\\)$"

# ---- 4. why, for each reason ----------------------------------------------
run why_shm 0 why "localhost:$main_port" \
  --method=/shmrpc.testing.EchoService/Echo
expect why_shm 1 '^path: +shared memory$'
expect why_shm 1 '^reason: +shared-memory$'
expect why_shm 1 "^endpoint: +$main_endpoint\$"
expect why_shm 1 "^server: +pid $main_pid, uid $uid, "

run why_remote 1 why 192.0.2.1:50051
expect why_remote 1 '^path: +gRPC$'
expect why_remote 1 '^reason: +not-on-this-host$'
says why_remote "names host '192.0.2.1', which is not this host"

run why_none 1 why "unix:$tmp/nothing.sock"
expect why_none 1 '^reason: +no-endpoint$'
expect why_none 1 "^endpoint: +$SHMRPC_DIR/unix-[0-9a-f]{16}\\.sock\$"

# A server that derived its directory from XDG_RUNTIME_DIR (no SHMRPC_DIR).
SHMRPC_DIR= start_server xdg
xdg_port="$port"
[ "$endpoint" = "$XDG_RUNTIME_DIR/shmrpc/port-$xdg_port.sock" ] ||
  fail "xdg server's endpoint $endpoint"
run why_dir 1 why "localhost:$xdg_port"
expect why_dir 1 '^reason: +endpoint-dir-differs$'
expect why_dir 1 "^found: +$XDG_RUNTIME_DIR/shmrpc/port-$xdg_port\\.sock\$"
says why_dir "give both the same SHMRPC_DIR (e.g. SHMRPC_DIR=$XDG_RUNTIME_DIR/shmrpc)"

# A server at its connection limit (1), held by a client.
start_server limited --max-connections=1
limited_port="$port"
mkfifo "$tmp/hold.fifo"
"$client_bin" --target="localhost:$limited_port" --hold <"$tmp/hold.fifo" \
  >"$tmp/holder.out" 2>"$tmp/holder.err" &
holder_pid=$!
pids+=("$holder_pid")
exec 3>"$tmp/hold.fifo"
for _ in $(seq 300); do
  grep -q '^holding$' "$tmp/holder.out" && break
  alive "$holder_pid" || fail "the holding client exited"
  sleep 0.1
done
grep -q '^holding$' "$tmp/holder.out" || fail "the client does not hold"
run why_limit 1 why "localhost:$limited_port"
expect why_limit 1 '^reason: +handshake-refused$'
says why_limit "refused the handshake: shmrpc server is at its connection limit (1)"
run list_refused 0 list
admin_calls=$((admin_calls + 1))
expect list_refused 1 "^port-$limited_port\\.sock .*refused: shmrpc server is at its connection limit \\(1\\)\$"
exec 3>&-
wait "$holder_pid" || fail "the holding client failed"

# A server whose handshake admits another user only.
start_server picky --allow-uid=$((uid + 1))
run why_picky 1 why "localhost:$port"
expect why_picky 1 '^reason: +handshake-refused$'
says why_picky "is not on the server's allow-list"

run why_method 1 why "localhost:$main_port" --method=/other.Service/Method
expect why_method 1 '^reason: +method-not-served$'
says why_method "does not serve /other.Service/Method over shared memory"
expect why_method 1 "^server: +pid $main_pid, "

# A server killed without a chance to remove its socket.
start_server doomed
doomed_pid="$pid"
doomed_port="$port"
kill -KILL "$doomed_pid"
wait "$doomed_pid" 2>/dev/null || true
[ -S "$endpoint" ] || fail "the killed server's socket is gone"
run why_stale 1 why "localhost:$doomed_port"
expect why_stale 1 '^reason: +stale-endpoint$'
says why_stale "exists but nobody listens on it"
run list_stale 0 list
admin_calls=$((admin_calls + 1))
expect list_stale 1 "^port-$doomed_port\\.sock .*stale \\(nobody listens\\)\$"
expect list_stale 1 "^port-$main_port\\.sock .* serving\$"

# ---- 5. errors: one line, and the exit status ------------------------------
run err_none 1 stats localhost:1
one_error err_none '^shmrpc stats: localhost:1: no shared-memory endpoint at '
run err_command 2 frobnicate
one_error err_command "^shmrpc: unknown command 'frobnicate'"
run err_args 2 stats
one_error err_args '^shmrpc: stats takes one TARGET or ENDPOINT'
run err_flag 2 stats "localhost:$main_port" --colour=yes
one_error err_flag "^shmrpc: unknown option --colour for 'stats'"
run help 0 --help
expect help 1 '^usage: shmrpc '

stop_server main "$main_pid"
stop_server plain "$plain_pid"
for f in list stats_table prometheus why_shm why_dir why_limit; do
  echo "--- $f"
  cat "$tmp/$f.out"
done
echo "PASS"
