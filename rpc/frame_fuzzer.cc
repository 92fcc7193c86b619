// Fuzz target: rpc::DecodeFrame on any flags and payload.
//
// Input: u16 flags (little-endian), then the payload. Invariants: decoding
// never reads outside the payload (the sanitizers watch), every view of an
// accepted frame lies inside the payload, and an accepted frame encodes back
// to exactly the payload (the format has one encoding per frame).
//
// Run under libFuzzer by tools/fuzz.sh; replayed on its corpus
// (fuzz/frame_corpus) by //rpc:frame_fuzzer_test.
#include <cstdint>
#include <cstring>
#include <vector>

#include "shmrpc/rpc/frame.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using shmrpc::rpc::DecodedFrame;
using shmrpc::rpc::FrameExtras;

bool Inside(absl::string_view v, const uint8_t* begin, size_t size) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  return v.empty() || (p >= begin && p + v.size() <= begin + size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint16_t flags;
  std::memcpy(&flags, data, 2);
  const uint8_t* payload = data + 2;
  const size_t length = size - 2;
  absl::StatusOr<DecodedFrame> f =
      shmrpc::rpc::DecodeFrame(flags, {payload, length});
  if (!f.ok()) {
    FUZZ_CHECK(absl::IsDataLoss(f.status()) ||
               absl::IsResourceExhausted(f.status()));
    return 0;
  }
  FUZZ_CHECK(f->flags == flags);
  FUZZ_CHECK((flags & ~shmrpc::rpc::kKnownFlags) == 0);
  FUZZ_CHECK(f->message.empty() || f->message.data() == payload);
  FUZZ_CHECK(f->message.size() <= length);
  FUZZ_CHECK(f->metadata.size() <= shmrpc::rpc::kMaxMetadataEntries);
  FUZZ_CHECK(f->trailing.size() <= shmrpc::rpc::kMaxMetadataEntries);
  for (const auto* entries : {&f->metadata, &f->trailing}) {
    for (const auto& [key, value] : *entries) {
      FUZZ_CHECK(Inside(key, payload, length));
      FUZZ_CHECK(Inside(value, payload, length));
    }
  }
  FUZZ_CHECK(Inside(f->status_message, payload, length));
  FUZZ_CHECK(Inside(f->status_details, payload, length));

  // Encode it again: the same bytes.
  FrameExtras extras;
  extras.deadline_unix_ns = f->deadline_unix_ns;
  extras.metadata = f->metadata;
  extras.status_message = f->status_message;
  extras.status_details = f->status_details;
  extras.trailing = f->trailing;
  const size_t extras_size = shmrpc::rpc::ExtrasSize(flags, extras);
  FUZZ_CHECK(f->message.size() + extras_size == length);
  std::vector<uint8_t> encoded(length);
  if (!f->message.empty()) {
    std::memcpy(encoded.data(), f->message.data(), f->message.size());
  }
  shmrpc::rpc::EncodeExtras(flags, extras, encoded.data() + f->message.size());
  FUZZ_CHECK(length == 0 || std::memcmp(encoded.data(), payload, length) == 0);
  return 0;
}
