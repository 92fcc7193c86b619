#include "shmrpc/transport/peer_copy.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace shmrpc::transport {
namespace {

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

// Every size around the streaming threshold and the 64-byte body, at every
// misalignment of source and destination: the destination holds exactly the
// source, and the guard bytes on both sides are untouched.
TEST(PeerCopyTest, CopiesExactlyAtEverySizeAndAlignment) {
  const size_t sizes[] = {0,
                          1,
                          63,
                          64,
                          4096,
                          kStreamingCopyMinBytes - 1,
                          kStreamingCopyMinBytes,
                          kStreamingCopyMinBytes + 1,
                          kStreamingCopyMinBytes + 63,
                          kStreamingCopyMinBytes + 64,
                          kStreamingCopyMinBytes + 65,
                          (1u << 20) + 17};
  constexpr size_t kGuard = 64;
  for (const size_t n : sizes) {
    for (size_t dst_off : {0, 1, 15, 16, 33, 63}) {
      for (size_t src_off : {0, 7, 32}) {
        // One spare byte, so that data() is never null (memcmp of 0 bytes wants
        // valid pointers too).
        const std::vector<uint8_t> src = Pattern(n + src_off + 1, 1);
        std::vector<uint8_t> dst(n + dst_off + 2 * kGuard, 0xa5);
        CopyToPeer(dst.data() + kGuard + dst_off, src.data() + src_off, n);
        ASSERT_EQ(0, std::memcmp(dst.data() + kGuard + dst_off,
                                 src.data() + src_off, n))
            << "n=" << n << " dst_off=" << dst_off << " src_off=" << src_off;
        for (size_t i = 0; i < kGuard + dst_off; ++i) {
          ASSERT_EQ(dst[i], 0xa5) << "wrote before the range, n=" << n;
        }
        for (size_t i = kGuard + dst_off + n; i < dst.size(); ++i) {
          ASSERT_EQ(dst[i], 0xa5) << "wrote past the range, n=" << n;
        }
      }
    }
  }
}

// A second copy over the first replaces every byte (streamed lines are not
// left stale in a cache).
TEST(PeerCopyTest, OverwritesAnEarlierCopy) {
  const size_t n = 4 * kStreamingCopyMinBytes + 5;
  const std::vector<uint8_t> a = Pattern(n, 2);
  const std::vector<uint8_t> b = Pattern(n, 3);
  std::vector<uint8_t> dst(n);
  CopyToPeer(dst.data(), a.data(), n);
  ASSERT_EQ(dst, a);
  CopyToPeer(dst.data(), b.data(), n);
  EXPECT_EQ(dst, b);
}

// Zero bytes with null pointers is a no-op (UBSan would flag a memcpy).
TEST(PeerCopyTest, ZeroBytesMayUseNullPointers) {
  CopyToPeer(nullptr, nullptr, 0);
  uint8_t byte = 7;
  CopyToPeer(&byte, nullptr, 0);
  EXPECT_EQ(byte, 7);
}

}  // namespace
}  // namespace shmrpc::transport
