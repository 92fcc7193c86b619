#!/bin/bash
# Compares what protoc-gen-shmrpc generated through cc_shm_grpc_library (the
# <lib>_protos targets in this test's data) byte for byte with the golden
# files: codegen/_shmrpc_gen/<lib>/<import path>.{shmrpc,flat}.{h,cc} against
# codegen/testdata/<import path>.{shmrpc,flat}.{h,cc}.golden. Every golden must
# have exactly one generated file and every generated file a golden.
#
# With --update (bazel run //codegen:update_goldens) it copies the generated
# files over the goldens in the source tree instead; review the diff before
# committing it.
set -euo pipefail

update=0
if [[ "${1:-}" == "--update" ]]; then
  update=1
  if [[ -z "${BUILD_WORKSPACE_DIRECTORY:-}" ]]; then
    echo "--update needs bazel run (BUILD_WORKSPACE_DIRECTORY is not set)" >&2
    exit 2
  fi
fi

# Tests run in $TEST_SRCDIR/$TEST_WORKSPACE; bazel run runs in the same
# runfiles directory of the binary.
if [[ -n "${TEST_SRCDIR:-}" ]]; then
  cd "$TEST_SRCDIR/$TEST_WORKSPACE"
fi

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# golden -> generated.
checked=0
while IFS= read -r golden; do
  rel="${golden#codegen/testdata/}"
  rel="${rel%.golden}"
  shopt -s nullglob
  generated=(codegen/_shmrpc_gen/*/"$rel")
  shopt -u nullglob
  if [[ ${#generated[@]} -ne 1 ]]; then
    fail "$golden: expected one generated $rel, found ${#generated[@]}: ${generated[*]:-}"
    continue
  fi
  if ((update)); then
    if ! cmp -s "${generated[0]}" "$golden"; then
      cp "${generated[0]}" "$BUILD_WORKSPACE_DIRECTORY/$golden"
      echo "updated $golden"
    fi
  elif ! diff -u "$golden" "${generated[0]}"; then
    fail "${generated[0]} differs from $golden (diff above: - golden, + generated)"
  fi
  checked=$((checked + 1))
done < <(find -L codegen/testdata -name '*.golden' | sort)

# generated -> golden.
while IFS= read -r generated; do
  rel="${generated#codegen/_shmrpc_gen/*/}"
  golden="codegen/testdata/$rel.golden"
  if [[ ! -f "$golden" ]]; then
    if ((update)); then
      mkdir -p "$(dirname "$BUILD_WORKSPACE_DIRECTORY/$golden")"
      cp "$generated" "$BUILD_WORKSPACE_DIRECTORY/$golden"
      chmod 644 "$BUILD_WORKSPACE_DIRECTORY/$golden"
      echo "created $golden"
    else
      fail "$generated has no golden file $golden"
    fi
  fi
done < <(find -L codegen/_shmrpc_gen -name '*.shmrpc.h' -o -name '*.shmrpc.cc' \
  -o -name '*.flat.h' -o -name '*.flat.cc' | sort)

if ((checked == 0 && !update)); then
  fail "no golden files found"
fi
if ((failures > 0)); then
  echo "$failures failure(s). If the change is deliberate: bazel run //codegen:update_goldens" >&2
  exit 1
fi
if ((update)); then
  echo "goldens up to date"
else
  echo "PASS: $checked golden files match"
fi
