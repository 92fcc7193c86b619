#include "shmrpc/transport/descriptor_check.h"

#include "shmrpc/transport/data_layout.h"

namespace shmrpc::transport {
namespace {

constexpr uint8_t kNoneKind = static_cast<uint8_t>(PayloadKind::kNone);
constexpr uint8_t kInlineKind = static_cast<uint8_t>(PayloadKind::kInline);
constexpr uint8_t kChunkKind = static_cast<uint8_t>(PayloadKind::kChunk);
static_assert(kInlineCapacity == 88, "update the message below");

}  // namespace

const char* ValidateDescriptor(const Descriptor& d,
                               const DescriptorRules& rules) {
  switch (d.payload) {
    case kNoneKind:
      if (d.length != 0) return "a payload-less message with a length";
      break;
    case kInlineKind:
      if (!rules.inline_payloads) return "an inline payload (not negotiated)";
      if (d.length > kInlineCapacity) return "an inline payload over 88 bytes";
      break;
    case kChunkKind: {
      const uint64_t size = rules.peer_segment_size;
      const uint64_t offset = d.chunk_offset();  // < 2^38: no overflow
      if (d.segment != 0) return "a chunk in an unknown segment";
      if (offset < kDataHeaderSize || offset >= size) {
        return "a chunk offset outside its data segment";
      }
      if (d.length > size - offset) {
        return "a chunk length running past its data segment";
      }
      break;
    }
    default:
      return "an unknown payload kind";
  }
  if (rules.check_stream && d.stream >= rules.stream_count) {
    return "a stream id out of range";
  }
  return nullptr;
}

const char* ValidateReturn(const Descriptor& d) {
  if (d.payload != kChunkKind) return "a return that is not a chunk";
  if (d.segment != 0) return "a return in an unknown segment";
  return nullptr;
}

}  // namespace shmrpc::transport
