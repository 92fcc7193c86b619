#!/bin/bash
# Schema evolution of flat messages: a Record written by a program built
# from one version of its .proto is read by a program built from the other
# (tests/flat/evo/v1 and v2), both ways. Each reads the fields it knows,
# sees defaults for the others, and reads a field whose type changed in a
# way protobuf forbids (string -> int64) as the default, never as garbage.
set -euo pipefail
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
v1=tests/flat/evolution_tool_v1
v2=tests/flat/evolution_tool_v2
dir="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0

check() {  # check NAME EXPECTED ACTUAL
  if [[ "$2" != "$3" ]]; then
    echo "FAIL: $1"
    diff <(echo "$2") <(echo "$3") || true
    failures=$((failures + 1))
  else
    echo "PASS: $1"
  fi
}

"$v1" write "$dir/v1.flat"
"$v2" write "$dir/v2.flat"

check "v1 reads v1" "id 7
name seven
values -1 2
sub.a 3
removed 55
note a string
widened 4000000000" "$("$v1" read "$dir/v1.flat")"

check "v2 reads v1 (new fields default, int32 -> int64 and uint32 -> uint64 widened, string -> int64 reads 0)" "id 7
name seven
values -1 2
sub.a 3
sub.b 
added 
note 0
widened 4000000000" "$("$v2" read "$dir/v1.flat")"

check "v1 reads v2 (removed field default, int64 -> int32 narrowed as protobuf does, int64 -> string reads empty)" "id 7
name seven
values -1 2
sub.a 3
removed 0
note 
widened 0" "$("$v1" read "$dir/v2.flat")"

check "v2 reads v2" "id 7
name seven
values -1 2
sub.a 3
sub.b bee
added new
note 99
widened 1099511627776" "$("$v2" read "$dir/v2.flat")"

if ((failures > 0)); then exit 1; fi
