// Fuzz target: descriptor acceptance (ValidateDescriptor, ValidateReturn).
//
// Input: a 32-byte descriptor, then the receiver's rules: u64 size of the
// sender's segment, u8 stream count (mod 17), u8 flags (bit 0: inline
// payloads negotiated, bit 1: check the stream id). Invariants: no undefined
// behaviour for any value, and ValidateDescriptor accepts exactly what an
// independent statement of its rules accepts (computed in 128 bits), so it
// never accepts a chunk that reaches outside the segment or into its header;
// ValidateReturn accepts exactly chunks of segment 0.
//
// Run under libFuzzer by tools/fuzz.sh; replayed on its corpus
// (fuzz/descriptor_corpus) by //transport:descriptor_fuzzer_test.
#include <cstdint>
#include <cstring>

#include "shmrpc/transport/descriptor_check.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace shmrpc::transport;  // NOLINT: a fuzz target's own file

// Reads the input front to back; past its end every read is zero.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  uint8_t U8() { return at_ < size_ ? data_[at_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | U8() << 8); }
  uint32_t U32() { return U16() | uint32_t{U16()} << 16; }
  uint64_t U64() { return U32() | uint64_t{U32()} << 32; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

// Reads a descriptor and rules from `in` and checks ValidateDescriptor and
// ValidateReturn against the rules stated independently.
void JudgeDescriptor(Input& in) {
  uint8_t raw[sizeof(Descriptor)];
  for (uint8_t& b : raw) b = in.U8();
  Descriptor d;
  std::memcpy(&d, raw, sizeof(d));
  DescriptorRules rules;
  rules.peer_segment_size = in.U64();
  rules.stream_count = in.U8() % 17;
  const uint8_t flags = in.U8();
  rules.inline_payloads = (flags & 1) != 0;
  rules.check_stream = (flags & 2) != 0;
  const bool accepted = ValidateDescriptor(d, rules) == nullptr;
  bool expected = false;
  switch (d.payload) {
    case 0:
      expected = d.length == 0;
      break;
    case 1:
      expected = rules.inline_payloads && d.length <= kInlineCapacity;
      break;
    case 2: {
      const unsigned __int128 begin =
          static_cast<unsigned __int128>(d.offset_units) * 64;
      const unsigned __int128 size = rules.peer_segment_size;
      expected = d.segment == 0 && begin >= kDataHeaderSize && begin < size &&
                 begin + d.length <= size;
      break;
    }
    default:
      break;
  }
  if (rules.check_stream && d.stream >= rules.stream_count) expected = false;
  FUZZ_CHECK(accepted == expected);
  FUZZ_CHECK((ValidateReturn(d) == nullptr) ==
             (d.payload == 2 && d.segment == 0));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  JudgeDescriptor(in);
  return 0;
}
