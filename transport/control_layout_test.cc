#include "shmrpc/transport/control_layout.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace shmrpc::transport {
namespace {

constexpr uint64_t kPage = 4096;

ControlParams ValidParams() {
  ControlParams p;
  p.request_capacity = 256;
  p.client_return_capacity = 512;
  p.server_return_capacity = 128;
  p.notify_capacity = 64;
  p.stream_count = 32;
  p.stream_capacity = 16;
  return p;
}

// A named field of ControlParams, for sweeping over every field.
struct Field {
  const char* name;
  uint32_t ControlParams::*member;
};

const std::vector<Field>& CapacityFields() {
  static const auto* fields = new std::vector<Field>{
      {"request_capacity", &ControlParams::request_capacity},
      {"client_return_capacity", &ControlParams::client_return_capacity},
      {"server_return_capacity", &ControlParams::server_return_capacity},
      {"notify_capacity", &ControlParams::notify_capacity},
      {"stream_capacity", &ControlParams::stream_capacity},
  };
  return *fields;
}

uint32_t MaxFor(const Field& f) {
  return f.member == &ControlParams::stream_capacity ? kMaxStreamCapacity
                                                     : kMaxRingCapacity;
}

// Checks every structural property of a computed layout.
void ExpectWellFormed(const ControlLayout& l) {
  const ControlParams& p = l.params;
  // Regions in order, each exactly RingBytes long and back to back.
  EXPECT_EQ(l.requests_offset, kControlHeaderSize);
  EXPECT_EQ(l.client_returns_offset,
            l.requests_offset + ControlLayout::RingBytes(p.request_capacity));
  EXPECT_EQ(l.server_returns_offset,
            l.client_returns_offset +
                ControlLayout::RingBytes(p.client_return_capacity));
  EXPECT_EQ(l.notify_offset,
            l.server_returns_offset +
                ControlLayout::RingBytes(p.server_return_capacity));
  EXPECT_EQ(l.streams_offset,
            l.notify_offset + ControlLayout::RingBytes(p.notify_capacity));
  EXPECT_EQ(l.stream_stride, ControlLayout::RingBytes(p.stream_capacity));

  // Collect [begin, end) of every ring and check order, alignment and
  // disjointness.
  std::vector<std::pair<uint64_t, uint64_t>> regions;
  regions.push_back({0, kControlHeaderSize});
  for (RingId id : {RingId::kRequests, RingId::kClientReturns,
                    RingId::kServerReturns, RingId::kNotify}) {
    regions.push_back(
        {l.RingOffset(id),
         l.RingOffset(id) + ControlLayout::RingBytes(l.RingCapacity(id))});
  }
  for (uint32_t s = 0; s < p.stream_count; ++s) {
    regions.push_back({l.StreamOffset(s), l.StreamOffset(s) + l.stream_stride});
  }
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto [begin, end] = regions[i];
    EXPECT_LT(begin, end) << "region " << i;
    EXPECT_EQ(begin % kCacheLine, 0u) << "region " << i;
    // Entries (at +kRingControlSize) must satisfy alignof(RingEntry).
    EXPECT_EQ(begin % alignof(RingEntry), 0u) << "region " << i;
    EXPECT_EQ((begin + kRingControlSize) % alignof(RingEntry), 0u)
        << "region " << i;
    if (i > 0) {
      EXPECT_GE(begin, regions[i - 1].second) << "overlap at region " << i;
    }
  }
  const uint64_t end = regions.back().second;
  EXPECT_EQ(end, l.streams_offset + l.stream_stride * p.stream_count);
  EXPECT_EQ(l.size % kPage, 0u);
  EXPECT_GE(l.size, end);
  EXPECT_LT(l.size - end, kPage);
}

// A valid configuration is accepted and laid out as the header describes.
TEST(ControlLayoutTest, ValidParamsProduceWellFormedLayout) {
  absl::StatusOr<ControlLayout> l = ControlLayout::Compute(ValidParams());
  ASSERT_TRUE(l.ok()) << l.status();
  ExpectWellFormed(*l);
  // The params are copied verbatim.
  const ControlParams p = ValidParams();
  EXPECT_EQ(l->params.request_capacity, p.request_capacity);
  EXPECT_EQ(l->params.client_return_capacity, p.client_return_capacity);
  EXPECT_EQ(l->params.server_return_capacity, p.server_return_capacity);
  EXPECT_EQ(l->params.notify_capacity, p.notify_capacity);
  EXPECT_EQ(l->params.stream_count, p.stream_count);
  EXPECT_EQ(l->params.stream_capacity, p.stream_capacity);
}

// Hand-computed numbers for one small configuration.
TEST(ControlLayoutTest, ExactOffsetsForSmallestConfig) {
  ControlParams p{2, 2, 2, 2, 1, 2};
  absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p);
  ASSERT_TRUE(l.ok()) << l.status();
  constexpr uint64_t kRing2 = 256 + 2 * 128;  // 512
  EXPECT_EQ(ControlLayout::RingBytes(2), kRing2);
  EXPECT_EQ(l->requests_offset, 256u);
  EXPECT_EQ(l->client_returns_offset, 256u + kRing2);
  EXPECT_EQ(l->server_returns_offset, 256u + 2 * kRing2);
  EXPECT_EQ(l->notify_offset, 256u + 3 * kRing2);
  EXPECT_EQ(l->streams_offset, 256u + 4 * kRing2);
  EXPECT_EQ(l->stream_stride, kRing2);
  // 256 + 5 * 512 = 2816 -> one page.
  EXPECT_EQ(l->size, 4096u);
}

// Size rounds up to the next page exactly when the rings cross a boundary.
TEST(ControlLayoutTest, SizeIsPageRoundedEndOfLastStreamRing) {
  // 256 + 4 * (256 + 8 * 128) + n * (256 + 2 * 128) with n streams.
  ControlParams p{8, 8, 8, 8, 1, 2};
  for (uint32_t n = 1; n <= 8; ++n) {
    p.stream_count = n;
    absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p);
    ASSERT_TRUE(l.ok()) << l.status();
    const uint64_t end = 256 + 4 * (256 + 8 * 128) + uint64_t{n} * 512;
    EXPECT_EQ(l->size, (end + kPage - 1) / kPage * kPage) << "n=" << n;
    ExpectWellFormed(*l);
  }
}

// Every power of two within bounds is accepted for every capacity field.
TEST(ControlLayoutTest, AcceptsEveryPowerOfTwoInRange) {
  for (const Field& f : CapacityFields()) {
    for (uint32_t cap = kMinRingCapacity; cap <= MaxFor(f); cap *= 2) {
      ControlParams p = ValidParams();
      p.*f.member = cap;
      if (f.member == &ControlParams::notify_capacity) {
        p.stream_count = std::min(p.stream_count, cap);
      }
      absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p);
      ASSERT_TRUE(l.ok()) << f.name << "=" << cap << ": " << l.status();
      ExpectWellFormed(*l);
      EXPECT_EQ(l->params.*f.member, cap);
    }
  }
}

// Bad capacities (zero, one, not a power of two, above the maximum) are
// refused with kInvalidArgument naming the field.
TEST(ControlLayoutTest, RejectsBadCapacities) {
  for (const Field& f : CapacityFields()) {
    const uint32_t max = MaxFor(f);
    for (uint32_t bad : {0u, 1u, 3u, 6u, 12u, 100u, max - 1, max + 1, max * 2,
                         std::numeric_limits<uint32_t>::max(), 1u << 31}) {
      ControlParams p = ValidParams();
      p.*f.member = bad;
      absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p);
      ASSERT_FALSE(l.ok()) << f.name << "=" << bad;
      EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument)
          << f.name << "=" << bad;
      EXPECT_TRUE(absl::StrContains(l.status().message(), f.name))
          << f.name << "=" << bad << ": " << l.status();
    }
  }
}

// Stream rings are capped lower than the other rings.
TEST(ControlLayoutTest, StreamCapacityHasItsOwnLimit) {
  ControlParams p = ValidParams();
  p.stream_capacity = kMaxStreamCapacity * 2;
  ASSERT_LE(p.stream_capacity, kMaxRingCapacity);
  EXPECT_EQ(ControlLayout::Compute(p).status().code(),
            absl::StatusCode::kInvalidArgument);
  p.stream_capacity = kMaxStreamCapacity;
  EXPECT_TRUE(ControlLayout::Compute(p).ok());
}

// stream_count must be in [1, kMaxStreamCount].
TEST(ControlLayoutTest, RejectsBadStreamCount) {
  ControlParams p = ValidParams();
  p.notify_capacity = kMaxRingCapacity;
  for (uint32_t bad : {0u, kMaxStreamCount + 1, kMaxStreamCount * 2,
                       std::numeric_limits<uint32_t>::max()}) {
    p.stream_count = bad;
    absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p);
    ASSERT_FALSE(l.ok()) << bad;
    EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(l.status().message(), "stream_count"))
        << l.status();
  }
  for (uint32_t good : {1u, 3u, 1000u, kMaxStreamCount}) {
    p.stream_count = good;
    absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p);
    ASSERT_TRUE(l.ok()) << good << ": " << l.status();
    ExpectWellFormed(*l);
  }
}

// The notify ring must hold one entry per stream.
TEST(ControlLayoutTest, RejectsNotifyCapacityBelowStreamCount) {
  ControlParams p = ValidParams();
  p.notify_capacity = 64;
  p.stream_count = 65;
  absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(l.status().message(), "notify_capacity"))
      << l.status();
  p.stream_count = 64;  // equal is enough
  EXPECT_TRUE(ControlLayout::Compute(p).ok());
}

// RingOffset/RingCapacity agree with the named fields for each fixed ring.
TEST(ControlLayoutTest, RingAccessorsAgreeWithFields) {
  absl::StatusOr<ControlLayout> l = ControlLayout::Compute(ValidParams());
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->RingOffset(RingId::kRequests), l->requests_offset);
  EXPECT_EQ(l->RingOffset(RingId::kClientReturns), l->client_returns_offset);
  EXPECT_EQ(l->RingOffset(RingId::kServerReturns), l->server_returns_offset);
  EXPECT_EQ(l->RingOffset(RingId::kNotify), l->notify_offset);
  EXPECT_EQ(l->RingCapacity(RingId::kRequests), 256u);
  EXPECT_EQ(l->RingCapacity(RingId::kClientReturns), 512u);
  EXPECT_EQ(l->RingCapacity(RingId::kServerReturns), 128u);
  EXPECT_EQ(l->RingCapacity(RingId::kNotify), 64u);
  for (uint32_t s = 0; s < l->params.stream_count; ++s) {
    EXPECT_EQ(l->StreamOffset(s), l->streams_offset + s * l->stream_stride);
  }
  // The last stream ring ends inside the segment.
  EXPECT_LE(l->StreamOffset(l->params.stream_count - 1) + l->stream_stride,
            l->size);
}

// The largest configuration computes without overflow and stays consistent.
TEST(ControlLayoutTest, MaximumConfiguration) {
  ControlParams p{kMaxRingCapacity, kMaxRingCapacity, kMaxRingCapacity,
                  kMaxRingCapacity, kMaxStreamCount,  kMaxStreamCapacity};
  absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p);
  ASSERT_TRUE(l.ok()) << l.status();
  ExpectWellFormed(*l);
  const uint64_t end =
      kControlHeaderSize + 4 * ControlLayout::RingBytes(kMaxRingCapacity) +
      uint64_t{kMaxStreamCount} * ControlLayout::RingBytes(kMaxStreamCapacity);
  EXPECT_EQ(l->size, (end + kPage - 1) / kPage * kPage);
}

// The fixed-size shared structs keep the byte layout of protocol v2.
TEST(ControlLayoutTest, SharedStructLayout) {
  EXPECT_EQ(kProtocolVersion, 2);
  EXPECT_EQ(sizeof(Descriptor), 32u);
  EXPECT_EQ(offsetof(Descriptor, offset_units), 0u);
  EXPECT_EQ(offsetof(Descriptor, lend), 4u);
  EXPECT_EQ(offsetof(Descriptor, length), 8u);
  EXPECT_EQ(offsetof(Descriptor, stream), 12u);
  EXPECT_EQ(offsetof(Descriptor, generation), 16u);
  EXPECT_EQ(offsetof(Descriptor, aux), 20u);
  EXPECT_EQ(offsetof(Descriptor, kind), 24u);
  EXPECT_EQ(offsetof(Descriptor, flags), 26u);
  EXPECT_EQ(offsetof(Descriptor, payload), 28u);
  EXPECT_EQ(offsetof(Descriptor, segment), 29u);
  EXPECT_EQ(offsetof(Descriptor, reserved), 30u);
  EXPECT_EQ(sizeof(RingEntry), kEntrySize);
  EXPECT_EQ(sizeof(RingControl), kRingControlSize);
  EXPECT_LE(sizeof(ControlHeader), kControlHeaderSize);
  EXPECT_EQ(kEntrySize - offsetof(RingEntry, inline_data), kInlineCapacity);
  EXPECT_EQ(ControlLayout::RingBytes(0), kRingControlSize);
  EXPECT_EQ(ControlLayout::RingBytes(kMaxRingCapacity),
            kRingControlSize + uint64_t{kMaxRingCapacity} * kEntrySize);
}

}  // namespace
}  // namespace shmrpc::transport
