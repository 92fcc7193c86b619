#include "shmrpc/transport/descriptor_check.h"

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shmrpc/transport/data_layout.h"

namespace shmrpc::transport {
namespace {

using ::testing::HasSubstr;
using ::testing::IsNull;

constexpr uint64_t kSegment = 1 << 20;

DescriptorRules Rules(bool check_stream = true) {
  DescriptorRules r;
  r.peer_segment_size = kSegment;
  r.stream_count = 8;
  r.inline_payloads = true;
  r.check_stream = check_stream;
  return r;
}

Descriptor Chunk(uint64_t offset, uint32_t length) {
  Descriptor d{};
  d.payload = static_cast<uint8_t>(PayloadKind::kChunk);
  d.set_chunk_offset(offset);
  d.length = length;
  return d;
}

Descriptor Payload(PayloadKind kind, uint32_t length) {
  Descriptor d{};
  d.payload = static_cast<uint8_t>(kind);
  d.length = length;
  return d;
}

std::string Problem(const Descriptor& d, const DescriptorRules& r = Rules()) {
  const char* p = ValidateDescriptor(d, r);
  return p == nullptr ? "" : p;
}

TEST(DescriptorCheckTest, AcceptsWellFormedMessages) {
  EXPECT_EQ(Problem(Payload(PayloadKind::kNone, 0)), "");
  EXPECT_EQ(Problem(Payload(PayloadKind::kInline, 0)), "");
  EXPECT_EQ(Problem(Payload(PayloadKind::kInline, kInlineCapacity)), "");
  EXPECT_EQ(Problem(Chunk(kDataHeaderSize, 0)), "");
  EXPECT_EQ(Problem(Chunk(kDataHeaderSize, kSegment - kDataHeaderSize)), "");
  EXPECT_EQ(Problem(Chunk(kSegment - kChunkAlignment, kChunkAlignment)), "");
  Descriptor last_stream = Payload(PayloadKind::kNone, 0);
  last_stream.stream = 7;
  EXPECT_EQ(Problem(last_stream), "");
  // Fields of the layer above are not the transport's business.
  Descriptor upper = Chunk(kDataHeaderSize, 10);
  upper.generation = 0xffffffffu;
  upper.aux = 0xffffffffu;
  upper.kind = 0xffff;
  upper.flags = 0xffff;
  upper.lend = 0xffffffffu;
  EXPECT_EQ(Problem(upper), "");
}

TEST(DescriptorCheckTest, ChunkOffsetsTravelIn64ByteUnits) {
  Descriptor d{};
  d.set_chunk_offset(uint64_t{63} << 30);  // near the 64 GiB segment limit
  EXPECT_EQ(d.offset_units, (uint64_t{63} << 30) / 64);
  EXPECT_EQ(d.chunk_offset(), uint64_t{63} << 30);
  d.offset_units = 0xffffffffu;
  EXPECT_EQ(d.chunk_offset(), uint64_t{0xffffffff} * 64);  // no overflow
}

TEST(DescriptorCheckTest, RefusesEachMalformedField) {
  EXPECT_THAT(Problem(Payload(PayloadKind::kNone, 1)),
              HasSubstr("payload-less message with a length"));
  EXPECT_THAT(Problem(Payload(PayloadKind::kInline, kInlineCapacity + 1)),
              HasSubstr("inline payload over 88"));
  DescriptorRules no_inline = Rules();
  no_inline.inline_payloads = false;
  EXPECT_THAT(Problem(Payload(PayloadKind::kInline, 1), no_inline),
              HasSubstr("not negotiated"));
  EXPECT_THAT(Problem(Payload(static_cast<PayloadKind>(3), 0)),
              HasSubstr("unknown payload kind"));
  EXPECT_THAT(Problem(Payload(static_cast<PayloadKind>(255), 0)),
              HasSubstr("unknown payload kind"));

  EXPECT_THAT(Problem(Chunk(0, 1)), HasSubstr("outside its data segment"));
  EXPECT_THAT(Problem(Chunk(kDataHeaderSize - kChunkAlignment, 1)),
              HasSubstr("outside its data segment"));
  EXPECT_THAT(Problem(Chunk(kSegment, 0)),
              HasSubstr("outside its data segment"));
  Descriptor far{};
  far.payload = static_cast<uint8_t>(PayloadKind::kChunk);
  far.offset_units = 0xffffffffu;
  EXPECT_THAT(Problem(far), HasSubstr("outside its data segment"));
  EXPECT_THAT(Problem(Chunk(kSegment - kChunkAlignment, kChunkAlignment + 1)),
              HasSubstr("running past"));
  EXPECT_THAT(Problem(Chunk(kDataHeaderSize, 0xffffffffu)),
              HasSubstr("running past"));
  Descriptor other_segment = Chunk(kDataHeaderSize, 1);
  other_segment.segment = 1;
  EXPECT_THAT(Problem(other_segment), HasSubstr("unknown segment"));

  Descriptor stream = Payload(PayloadKind::kNone, 0);
  stream.stream = 8;
  EXPECT_THAT(Problem(stream), HasSubstr("stream id out of range"));
  stream.stream = 0xffffffffu;
  EXPECT_THAT(Problem(stream), HasSubstr("stream id out of range"));
  // A client checks stream ids itself (per ring), not against the count.
  EXPECT_EQ(Problem(stream, Rules(/*check_stream=*/false)), "");
}

TEST(DescriptorCheckTest, ReturnsMustBeChunksOfSegmentZero) {
  EXPECT_THAT(ValidateReturn(Chunk(kDataHeaderSize, 0)), IsNull());
  EXPECT_THAT(ValidateReturn(Payload(PayloadKind::kNone, 0)),
              HasSubstr("not a chunk"));
  EXPECT_THAT(ValidateReturn(Payload(PayloadKind::kInline, 3)),
              HasSubstr("not a chunk"));
  Descriptor other_segment = Chunk(kDataHeaderSize, 1);
  other_segment.segment = 2;
  EXPECT_THAT(ValidateReturn(other_segment), HasSubstr("unknown segment"));
}

}  // namespace
}  // namespace shmrpc::transport
