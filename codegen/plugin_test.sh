#!/bin/bash
# Runs protoc with the protoc-gen-shmrpc binary the way users do, to check the
# plugin's option handling end to end: valid options change the generated
# #include lines; an unknown option, or one without a value, fails the protoc
# run with a message that names it and lists the valid options.
#
# Usage: plugin_test.sh PROTOC PLUGIN (runfiles paths; see BUILD.bazel).
set -euo pipefail

protoc="$1"
plugin="$2"
proto_dir=codegen/testdata
proto=no_package.proto
out="${TEST_TMPDIR:-$(mktemp -d)}/plugin_test"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run_protoc OPTIONS: runs protoc with --shmrpc_opt=OPTIONS into a fresh
# $out; sets $rc and $stderr.
run_protoc() {
  rm -rf "$out"
  mkdir -p "$out"
  rc=0
  stderr="$("$protoc" "--plugin=protoc-gen-shmrpc=$plugin" \
    "--shmrpc_out=$out" "--shmrpc_opt=$1" "-I$proto_dir" "$proto" 2>&1)" ||
    rc=$?
}

# expect_line FILE LINE: FILE has exactly LINE as one of its lines.
expect_line() {
  grep -qxF -- "$2" "$1" || fail "$1 lacks the line: $2"
}

# expect_no_line FILE LINE: FILE does not have LINE.
expect_no_line() {
  if grep -qxF -- "$2" "$1"; then fail "$1 has the line: $2"; fi
}

# expect_error OPTIONS TEXT...: protoc fails and its output has every TEXT.
expect_error() {
  local options="$1"
  shift
  run_protoc "$options"
  if [[ $rc -eq 0 ]]; then
    fail "--shmrpc_opt=$options: protoc succeeded"
    return
  fi
  for text in "$@"; do
    [[ "$stderr" == *"$text"* ]] ||
      fail "--shmrpc_opt=$options: output lacks \"$text\": $stderr"
  done
}

# Defaults.
run_protoc ""
if [[ $rc -ne 0 ]]; then
  fail "no options: protoc failed: $stderr"
else
  expect_line "$out/no_package.shmrpc.h" '#include "no_package.pb.h"'
  expect_line "$out/no_package.shmrpc.h" '#include "no_package.grpc.pb.h"'
  expect_line "$out/no_package.shmrpc.cc" '#include "no_package.shmrpc.h"'
fi

# Both options.
run_protoc "message_header_extension=.proto.h,grpc_header_extension=.rpc.h"
if [[ $rc -ne 0 ]]; then
  fail "both options: protoc failed: $stderr"
else
  expect_line "$out/no_package.shmrpc.h" '#include "no_package.proto.h"'
  expect_line "$out/no_package.shmrpc.h" '#include "no_package.rpc.h"'
  expect_no_line "$out/no_package.shmrpc.h" '#include "no_package.pb.h"'
  expect_no_line "$out/no_package.shmrpc.h" '#include "no_package.grpc.pb.h"'
fi

# Bad options.
expect_error "bogus_option=1" 'unknown option "bogus_option"' \
  grpc_header_extension message_header_extension
expect_error "message_header_extension" \
  'option "message_header_extension" has no value' grpc_header_extension
expect_error "grpc_header_extension=" \
  'option "grpc_header_extension" has an empty value'

if ((failures > 0)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo PASS
