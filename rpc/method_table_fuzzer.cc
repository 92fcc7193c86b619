// Fuzz target: rpc::DecodeMethodTable on any bytes.
//
// Invariants: decoding never reads outside the input (the sanitizers watch);
// an accepted table has at most 2^16 names, each with its 4-byte length in
// the input, and encodes back to exactly the input.
//
// Run under libFuzzer by tools/fuzz.sh; replayed on its corpus
// (fuzz/method_table_corpus) by //rpc:method_table_fuzzer_test.
#include <cstdint>
#include <string>
#include <vector>

#include "shmrpc/rpc/frame.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::vector<std::string>> names =
      shmrpc::rpc::DecodeMethodTable({data, size});
  if (!names.ok()) {
    FUZZ_CHECK(absl::IsDataLoss(names.status()));
    return 0;
  }
  FUZZ_CHECK(names->size() <= (1u << 16));
  FUZZ_CHECK(4 + 4 * names->size() <= size);
  const std::string encoded = shmrpc::rpc::EncodeMethodTable(*names);
  FUZZ_CHECK(encoded.size() == size);
  FUZZ_CHECK(encoded == std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
