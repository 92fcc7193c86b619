#!/usr/bin/env bash
# Builds shmrpc's fuzz targets with libFuzzer (Debian's clang 14, with
# AddressSanitizer and UndefinedBehaviorSanitizer) and runs each for a
# bounded time on its seed corpus. Prints one line per target,
#
#   fuzz //rpc:frame_fuzzer: PASSED (1234567 runs in 30 s, corpus 310)
#   fuzz //rpc:frame_fuzzer: FAILED (crash input: /tmp/.../crash-abc...)
#
# and exits non-zero if any target crashed, broke an invariant, leaked, or
# failed to build. The build does not go through Bazel: the few sources each
# target needs are compiled directly and linked against the system Abseil.
#
#   bash tools/fuzz.sh              # 30 s per target
#   bash tools/fuzz.sh 300          # 5 minutes per target
#   bash tools/fuzz.sh 60 frame     # only targets whose name contains "frame"
#
# New inputs the fuzzer finds go to a working corpus outside the tree
# ($FUZZ_WORK, default /tmp/shmrpc-fuzz-<uid>-<hash of this checkout>), which
# later runs start from too; the seed corpora in the tree are only read. To
# keep an interesting input, copy it into the target's seed corpus. To
# reproduce a crash: "$FUZZ_WORK/bin/<target> <crash file>".
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

seconds=${1:-30}
only=${2:-}
cxx=${CXX_FUZZ:-clang++-14}

# name | seed corpus | sources (besides the target's own .cc)
targets=(
  "rpc/frame_fuzzer|rpc/fuzz/frame_corpus|rpc/frame.cc"
  "rpc/method_table_fuzzer|rpc/fuzz/method_table_corpus|rpc/frame.cc"
  "transport/handshake_fuzzer|transport/fuzz/handshake_corpus|transport/handshake.cc transport/chunk_pool.cc transport/control_layout.cc transport/segment.cc transport/unix_socket.cc transport/internal/posix.cc transport/futex.cc"
  "transport/descriptor_fuzzer|transport/fuzz/descriptor_corpus|transport/descriptor_check.cc"
  "transport/chunk_pool_fuzzer|transport/fuzz/chunk_pool_corpus|transport/descriptor_check.cc transport/chunk_pool.cc transport/control_layout.cc"
  "message/flat_fuzzer|message/fuzz/flat_corpus|message/flat.cc"
)

if ! command -v "$cxx" >/dev/null; then
  echo "fuzz: $cxx not found (bash tools/setup.sh installs clang-14)"
  exit 1
fi
if ! command -v pkg-config >/dev/null || ! pkg-config --exists absl_status; then
  echo "fuzz: pkg-config cannot find Abseil (bash tools/setup.sh)"
  exit 1
fi

work=${FUZZ_WORK:-${TMPDIR:-/tmp}/shmrpc-fuzz-$(id -u)-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)}
mkdir -p "$work/obj" "$work/bin" "$work/include/shmrpc" "$work/corpus" "$work/logs"
# Our headers are included as "shmrpc/<dir>/<file>.h" (Bazel's include_prefix).
for d in rpc transport message; do ln -sfn "$repo/$d" "$work/include/shmrpc/$d"; done
ln -sfn "$repo/shmrpc/config.h" "$work/include/shmrpc/config.h"

sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=all"
cxxflags=(-std=c++17 -O1 -g -fno-omit-frame-pointer $sanitizers
          -I"$work/include" -I"$repo" -Wall -Wno-unused-parameter)
# shellcheck disable=SC2207
absl_libs=($(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format))

# Compiles $1 into an object unless it is newer than the source and every
# header of ours.
newest_header=$(find "$repo/rpc" "$repo/transport" "$repo/message" "$repo/tests/fuzz" \
  "$repo/shmrpc" -name '*.h' -printf '%T@\n' | sort -n | tail -1)
compile() {
  local src=$1 extra=$2
  local obj="$work/obj/${src//\//_}.o"
  if [ -f "$obj" ] && [ "$obj" -nt "$repo/$src" ] &&
     [ "$(stat -c %Y "$obj")" -ge "${newest_header%.*}" ]; then
    echo "$obj"
    return 0
  fi
  "$cxx" "${cxxflags[@]}" $extra -c "$repo/$src" -o "$obj" >&2 || return 1
  echo "$obj"
}

failed=0
passed=0
for spec in "${targets[@]}"; do
  IFS='|' read -r name seeds sources <<<"$spec"
  base=$(basename "$name")
  label="//$(dirname "$name"):$base"
  if [ -n "$only" ] && [[ "$name" != *"$only"* ]]; then continue; fi
  # Build: the target with -fsanitize=fuzzer, its libraries without main.
  objs=()
  ok=1
  for src in $sources; do
    o=$(compile "$src" "-fsanitize=fuzzer-no-link") || { ok=0; break; }
    objs+=("$o")
  done
  if [ "$ok" -eq 1 ]; then
    o=$(compile "$name.cc" "-fsanitize=fuzzer-no-link") || ok=0
    objs+=("$o")
  fi
  if [ "$ok" -eq 1 ]; then
    "$cxx" "${cxxflags[@]}" -fsanitize=fuzzer "${objs[@]}" "${absl_libs[@]}" \
      -o "$work/bin/$base" || ok=0
  fi
  if [ "$ok" -eq 0 ]; then
    echo "fuzz $label: FAILED (build)"
    failed=$((failed + 1))
    continue
  fi

  # Run: the working corpus first (new inputs go there), the seeds after.
  mkdir -p "$work/corpus/$base"
  log="$work/logs/$base.log"
  rm -f "$work/$base"-crash-* "$work/$base"-leak-* "$work/$base"-timeout-* \
    "$work/$base"-oom-*
  start=$(date +%s)
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    "$work/bin/$base" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=4096 -use_value_profile=1 \
      -print_final_stats=1 \
      -artifact_prefix="$work/$base-" \
      "$work/corpus/$base" "$repo/$seeds" >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  corpus=$(find "$work/corpus/$base" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $label: PASSED (${runs:-?} runs in ${took} s, corpus $corpus)"
    passed=$((passed + 1))
  else
    artifact=$(ls "$work/$base"-* 2>/dev/null | head -1)
    echo "fuzz $label: FAILED (exit $rc; input: ${artifact:-none}; log: $log)"
    grep -m 5 -E 'ERROR|runtime error|invariant broken|SUMMARY' "$log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
