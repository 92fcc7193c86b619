#!/usr/bin/env bash
# Runs every shmrpc test: the whole tree; our code's tests again under
# AddressSanitizer and UndefinedBehaviorSanitizer (one build with both), and
# the transport's under
# ThreadSanitizer; then the tests of examples/external_workspace (shmrpc used
# from another Bazel workspace); then each fuzz target under libFuzzer with
# ASan and UBSan for a bounded time (tools/fuzz.sh, FUZZ_SECONDS per target,
# default 12); then the CMake build, install and a find_package consumer
# (tools/cmake_test.sh); then what the docs show (tools/docs_test.py: the
# quick start's commands, run as written, and every Bazel label the docs
# quote). Each phase says how long it took. Prints one final line
# "N passed, N failed" counted
# from Bazel's per-target test results and the fuzzer's and CMake test's
# per-step lines, and exits non-zero on any failure (including a build
# failure).
#
#   bash tools/test.sh            # everything
#   bash tools/test.sh --quick    # the whole tree once: no sanitizers, fuzzing, CMake, docs
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run LABEL DIR BAZEL_ARGS...: one `bazel test` invocation in workspace DIR,
# tallied.
run() {
  local t0=$SECONDS
  local label=$1 dir=$2
  shift 2
  echo "=== $label: (cd $dir && bazel test $*)"
  (cd "$dir" && bazel test --keep_going --test_summary=short "$@") 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  # Result lines look like: "//pkg:target   (cached) PASSED in 0.3s".
  local p f
  p=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
  f=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|FLAKY|NO STATUS|INCOMPLETE|FAILED TO BUILD)' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    # Bazel failed without a failing test line (e.g. a build or analysis
    # error that kept tests from running): count the invocation as failed.
    f=1
  fi
  echo "=== $label: $p passed, $f failed ($((SECONDS - t0)) s)"
  passed=$((passed + p))
  failed=$((failed + f))
}

# steps LABEL COMMAND...: runs a script that prints one line per step,
# "LABEL <step>: PASSED ..." or "LABEL <step>: FAILED ...", and tallies them;
# a non-zero exit without a FAILED line counts as one failure.
steps() {
  local t0=$SECONDS label=$1
  shift
  echo "=== $label: $*"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  p=$(grep -cE "^$label .+: PASSED" "$log")
  f=$(grep -cE "^$label .+: FAILED" "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "=== $label: $p passed, $f failed ($((SECONDS - t0)) s)"
  passed=$((passed + p))
  failed=$((failed + f))
}

run "all tests" . //...
if [ "$quick" -eq 0 ]; then
  # Our code under ASan and UBSan, gRPC layer included. ThreadSanitizer runs
  # everything but the end-to-end gRPC tests (tests/rpc): Debian's gRPC is
  # not built with TSan, so it cannot see that a completion queue orders our
  # completion thread's writes before the application's reads, and would
  # report them as races (tests/util/sanitizer_suppressions.cc covers the
  # system libraries' own memory calls, nothing of ours).
  sanitized=(//transport/... //tests/transport/... //rpc/... //message/...
             //client/... //server/... //tests/rpc/... //tests/hostile/...
             //tests/fault/... //tests/soak/... //tests/interop/...
             //tests/flat/... //codegen:flat_code_test)
  # ASan and UBSan in one build (both configs at once: one build and one
  # run of the tests instead of two, which keeps CI under 30 minutes). The
  # one case UBSan cannot run, a server process out of fds
  # (tests/hostile), then runs without ASan too, in the plain build only.
  run "asan+ubsan" . --config=asan --config=ubsan "${sanitized[@]}"
  run "tsan" . --config=tsan //transport/... //tests/transport/... //rpc/... \
    //message/... //client/... //server/...
  # The streaming cases through the generated stub (ours end to end,
  # blocking and callback); those through gRPC's own stub hand results to
  # gRPC's completion queue, which TSan cannot see synchronize (as above).
  run "tsan streams" . --config=tsan //tests/rpc:stream_test \
    //tests/rpc:stream_api_test \
    "--test_arg=--gtest_filter=-*ShmCreds*:*StreamApiTest*Grpc:*StreamCqTest*"
  # Flat streams whose both ends are ours (the client and the server
  # process), in place over shared memory.
  run "tsan flat streams" . --config=tsan //tests/flat:flat_stream_test \
    "--test_arg=--gtest_filter=*FullDuplex*:*Held*:*Hoarding*:*AboveTheReceiveLimit*:*Corrupt*:*Concurrent*"
  # shmrpc used from a separate workspace, as a user's project would.
  run "external workspace" examples/external_workspace //...
  # Every fuzz target under libFuzzer for FUZZ_SECONDS ("fuzz //pkg:target:
  # PASSED|FAILED"); the CMake build, install and consumer ("cmake <step>:
  # ..."); what the docs show, run ("docs <file:line>|labels: ...").
  steps fuzz bash tools/fuzz.sh "${FUZZ_SECONDS:-12}"
  steps cmake bash tools/cmake_test.sh
  steps docs python3 tools/docs_test.py
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
