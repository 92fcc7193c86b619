#include "bench/bench_util.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace shmrpc::bench {
namespace {

TEST(PercentileTest, NearestRank) {
  const std::vector<uint64_t> sorted = {10, 20, 30, 40, 50,
                                        60, 70, 80, 90, 100};
  EXPECT_EQ(Percentile(sorted, 0.50), 50u);
  EXPECT_EQ(Percentile(sorted, 0.99), 100u);
  EXPECT_EQ(Percentile(sorted, 0.0), 10u);
  EXPECT_EQ(Percentile(sorted, 0.11), 20u);
  EXPECT_EQ(Percentile({7}, 0.5), 7u);
  EXPECT_EQ(Percentile({}, 0.5), 0u);
}

TEST(ShareOfTest, SharesDifferByOneAndAddUp) {
  for (uint32_t total : {0u, 1u, 7u, 100u, 101u}) {
    for (uint32_t passes : {1u, 3u, 5u}) {
      uint32_t sum = 0, lo = UINT32_MAX, hi = 0;
      for (uint32_t p = 0; p < passes; ++p) {
        const uint32_t share = ShareOf(total, passes, p);
        sum += share;
        lo = std::min(lo, share);
        hi = std::max(hi, share);
      }
      EXPECT_EQ(sum, total) << total << " in " << passes;
      EXPECT_LE(hi - lo, 1u) << total << " in " << passes;
    }
  }
}

TEST(TimeRepetitionsTest, WarmsUpThenTimesEachRepetition) {
  std::vector<uint32_t> seen;
  const std::vector<uint64_t> samples =
      TimeRepetitions(2, 3, [&](uint32_t i) { seen.push_back(i); });
  EXPECT_EQ(seen, (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(samples.size(), 3u);
}

TEST(SplitCommasTest, KeepsEmptyFields) {
  EXPECT_EQ(SplitCommas("a,b,,c"),
            (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(SplitCommas(""), (std::vector<std::string>{""}));
}

TEST(PinTest, PinsToAnAllowedCpu) {
  if (!CanPinTo(0, 0)) GTEST_SKIP() << "CPU 0 is not available";
  EXPECT_TRUE(PinCallingThread(0).ok());
  EXPECT_FALSE(CanPinTo(0, 1 << 20));
}

// Every size (small, around the streaming threshold, odd word counts) at
// 8- and 16-byte alignment: exactly the words seed + i * step, nothing
// written past the end, and the returned sum is theirs.
TEST(WritePatternForPeerTest, WritesEveryWordAndSumsThem) {
  constexpr uint64_t kStep = 0x9e3779b97f4a7c15ull;
  const size_t sizes[] = {0,     8,     64,    4096,   32768 - 8,
                          32768, 32776, 65544, 1 << 20};
  for (const size_t bytes : sizes) {
    for (const size_t offset : {size_t{0}, size_t{8}}) {
      std::vector<uint64_t> buffer(bytes / 8 + 4, 0x5a5a5a5a5a5a5a5aull);
      // The vector's storage is 16-byte aligned; `offset` 8 misaligns it.
      auto* out = reinterpret_cast<uint8_t*>(buffer.data()) + offset;
      const uint64_t seed = 12345 + bytes;
      const uint64_t sum = WritePatternForPeer(out, bytes, seed, kStep);
      uint64_t expected_sum = 0;
      for (size_t i = 0; i < bytes / 8; ++i) {
        uint64_t word;
        std::memcpy(&word, out + 8 * i, 8);
        ASSERT_EQ(word, seed + i * kStep)
            << "word " << i << " of " << bytes << " B at offset " << offset;
        expected_sum += word;
      }
      EXPECT_EQ(sum, expected_sum) << bytes << " B at offset " << offset;
      uint64_t after;
      std::memcpy(&after, out + bytes, 8);
      EXPECT_EQ(after, 0x5a5a5a5a5a5a5a5aull) << "wrote past " << bytes;
    }
  }
}

}  // namespace
}  // namespace shmrpc::bench
