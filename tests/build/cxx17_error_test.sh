#!/usr/bin/env bash
# A translation unit that includes shmrpc's public header (or one of the
# headers generated code includes) but is compiled before C++17 stops at one
# #error that names the fix, not under a pile of unrelated errors.
set -euo pipefail

root="$(pwd)"  # the runfiles tree of this workspace
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Make shmrpc's headers reachable as "shmrpc/...", as Bazel's include
# prefixes do.
ln -s "$root" "$work/shmrpc"

fail=0
for header in shmrpc/shmrpc.h shmrpc/server/service.h \
              shmrpc/client/generated_stub.h shmrpc/codegen/version.h; do
  printf '#include "%s"\nint main() { return 0; }\n' "$header" > "$work/tu.cc"
  for std in c++11 c++14; do
    if g++ -std=$std -fsyntax-only -iquote "$work" -iquote "$root" "$work/tu.cc" \
        > "$work/out.txt" 2>&1; then
      echo "FAIL: $header compiled with -std=$std"
      fail=1
      continue
    fi
    errors=$(grep -cE ': (fatal )?error:' "$work/out.txt" || true)
    first=$(grep -m1 -E ': (fatal )?error:' "$work/out.txt" || true)
    if [[ "$first" != *"#error"*"shmrpc needs C++17"*"-std=c++17"* ]]; then
      echo "FAIL: $header with -std=$std: first error is not shmrpc's #error:"
      cat "$work/out.txt"
      fail=1
    elif [ "$errors" -gt 2 ]; then
      # The #error, then the fatal stop right after it.
      echo "FAIL: $header with -std=$std: $errors errors, expected the #error alone:"
      cat "$work/out.txt"
      fail=1
    else
      echo "ok: $header with -std=$std stops at: ${first#*error: }"
    fi
  done
done
exit $fail
