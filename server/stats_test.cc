#include "shmrpc/server/stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace shmrpc {
namespace {

using internal::kLatencyBuckets;
using internal::LatencyBucket;
using internal::LatencyBucketLow;
using internal::LatencyBucketWidth;
using internal::StatsClock;

// Every value lands in the bucket whose range holds it; buckets tile the
// line without gaps, each at most 1/16 of its lower bound wide.
TEST(LatencyHistogramTest, BucketsTileTheLine) {
  for (int b = 1; b < kLatencyBuckets; ++b) {
    EXPECT_EQ(LatencyBucketLow(b),
              LatencyBucketLow(b - 1) + LatencyBucketWidth(b - 1))
        << b;
    if (b >= 16) {
      EXPECT_LE(LatencyBucketWidth(b) * 16, LatencyBucketLow(b)) << b;
    }
  }
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    const int b = LatencyBucket(v);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, kLatencyBuckets);
    ASSERT_GE(v, LatencyBucketLow(b)) << v;
    if (b < kLatencyBuckets - 1) {
      ASSERT_LT(v, LatencyBucketLow(b) + LatencyBucketWidth(b)) << v;
    }
  }
  EXPECT_EQ(LatencyBucket(0), 0);
  EXPECT_EQ(LatencyBucket(15), 15);
  EXPECT_EQ(LatencyBucket(16), 16);
  EXPECT_EQ(LatencyBucket(UINT64_MAX), kLatencyBuckets - 1);
}

// The exact quantile of `sorted` as LatencyQuantile defines it: the value
// of rank ceil(q * n).
double ExactQuantile(const std::vector<uint64_t>& sorted, double q) {
  const size_t rank = std::max<size_t>(
      1,
      static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))));
  return static_cast<double>(sorted[rank - 1]);
}

// Quantiles of a wide (log-uniform, 100 to 10^8 ticks) distribution are
// within 3.2% of the exact ones, and never above the maximum.
TEST(LatencyHistogramTest, QuantilesWithinTheBucketError) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(2, 8);
  std::vector<uint64_t> values;
  std::vector<uint64_t> buckets(kLatencyBuckets);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = static_cast<uint64_t>(std::pow(10.0, exponent(rng)));
    values.push_back(v);
    ++buckets[LatencyBucket(v)];
  }
  std::sort(values.begin(), values.end());
  const uint64_t max = values.back();
  for (double q : {0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const double exact = ExactQuantile(values, q);
    const double estimate =
        internal::LatencyQuantile(buckets.data(), values.size(), q, max);
    EXPECT_NEAR(estimate, exact, exact * 0.032) << "q=" << q;
    EXPECT_LE(estimate, static_cast<double>(max));
  }
  EXPECT_EQ(internal::LatencyQuantile(buckets.data(), 0, 0.5, 0), 0);
}

// One value alone is its own every quantile (to within its bucket), and the
// maximum caps the estimate.
TEST(LatencyHistogramTest, OneValue) {
  std::vector<uint64_t> buckets(kLatencyBuckets);
  ++buckets[LatencyBucket(1000)];
  EXPECT_NEAR(internal::LatencyQuantile(buckets.data(), 1, 0.5, 1000), 1000,
              32);
  EXPECT_LE(internal::LatencyQuantile(buckets.data(), 1, 0.99, 1000), 1000);
}

// The clock's rate, measured against steady_clock, turns ticks into time.
TEST(StatsClockTest, TicksConvertToNanoseconds) {
  StatsClock::StartCalibration();
  const uint64_t start = StatsClock::Now();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const uint64_t end = StatsClock::Now();
  const double nanos = std::chrono::duration<double, std::nano>(
                           std::chrono::steady_clock::now() - t0)
                           .count();
  const double measured =
      static_cast<double>(end - start) * StatsClock::NanosPerTick();
  EXPECT_NEAR(measured, nanos, nanos * 0.05);
  EXPECT_GT(end, start);
}

// A call that started `ticks` ago.
uint64_t StartedAgo(MethodRecorder& r, uint64_t ticks) {
  r.Start();
  return StatsClock::Now() - ticks;
}

// Codes are counted one by one, out-of-range ones as UNKNOWN; unary calls
// count their request, and their response when OK; in_flight is what
// started and did not finish.
TEST(MethodRecorderTest, CountsCallsByCodeAndMessages) {
  MethodRecorder r("/pkg.Svc/M", kTransportShm, /*unary=*/true);
  r.FinishUnary(r.Start(), 0, 10, 20);
  r.FinishUnary(r.Start(), 0, 11, 21);
  r.FinishUnary(r.Start(), 5, 12, 0);
  r.FinishUnary(r.Start(), 99, 0, 0);  // not a code: UNKNOWN
  r.FinishUnary(r.Start(), -1, 0, 0);
  r.Start();  // still running
  const MethodStatistics s = r.Snapshot(1.0);
  EXPECT_EQ(s.method, "/pkg.Svc/M");
  EXPECT_EQ(s.transport, "shm");
  EXPECT_EQ(s.calls, 5u);
  EXPECT_EQ(s.calls_by_code[0], 2u);
  EXPECT_EQ(s.calls_by_code[5], 1u);
  EXPECT_EQ(s.calls_by_code[2], 2u);
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_EQ(s.bytes_in, 33u);
  EXPECT_EQ(s.bytes_out, 41u);
  EXPECT_EQ(s.messages_in, 5u);
  EXPECT_EQ(s.messages_out, 2u);
  EXPECT_EQ(s.latency.count, 5u);
}

// Streaming calls count the messages they are told of.
TEST(MethodRecorderTest, StreamsCountTheirMessages) {
  MethodRecorder r("/pkg.Svc/S", kTransportGrpc, /*unary=*/false);
  const uint64_t start = r.Start();
  r.AddReceived(3, 300);
  r.AddSent(64, 6400);
  r.AddSent(1, 0);
  MethodStatistics s = r.Snapshot(1.0);
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_EQ(s.calls, 0u);
  EXPECT_EQ(s.messages_in, 3u);
  EXPECT_EQ(s.bytes_in, 300u);
  EXPECT_EQ(s.messages_out, 65u);
  EXPECT_EQ(s.bytes_out, 6400u);
  r.FinishStream(start, 1);
  s = r.Snapshot(1.0);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.calls_by_code[1], 1u);
  EXPECT_EQ(s.messages_out, 65u);  // FinishStream adds none
  // A non-unary recorder given a unary call counts its messages itself.
  r.FinishUnary(r.Start(), 0, 5, 6);
  s = r.Snapshot(1.0);
  EXPECT_EQ(s.messages_in, 4u);
  EXPECT_EQ(s.messages_out, 66u);
}

// Latencies: quantiles within the histogram's error, the maximum and the
// sum exact, all in microseconds at the rate given.
TEST(MethodRecorderTest, LatencyQuantilesAndSum) {
  MethodRecorder r("/pkg.Svc/M", kTransportShm, true);
  // 1000 calls of 100,000 ticks, 10 of 10,000,000: p50 and p90 are the
  // first, p99.9 and max the second (at 2 ns per tick: 200 us and 20 ms).
  for (int i = 0; i < 1000; ++i) r.FinishUnary(StartedAgo(r, 100000), 0, 0, 0);
  for (int i = 0; i < 10; ++i) {
    r.FinishUnary(StartedAgo(r, 10000000), 0, 0, 0);
  }
  const MethodStatistics s = r.Snapshot(2.0);
  EXPECT_EQ(s.latency.count, 1010u);
  EXPECT_NEAR(s.latency.p50_us, 200, 200 * 0.032);
  EXPECT_NEAR(s.latency.p90_us, 200, 200 * 0.032);
  EXPECT_NEAR(s.latency.p999_us, 20000, 20000 * 0.032);
  // The few ticks between StartedAgo and Finish add a little to each.
  // (sanitizers make them many more).
  EXPECT_NEAR(s.latency.max_us, 20000, 20);
  EXPECT_NEAR(s.latency.sum_us, 1000 * 200.0 + 10 * 20000.0, 1010 * 5.0);
  EXPECT_LE(s.latency.p999_us, s.latency.max_us);
}

// Several threads recording the same method at once lose nothing.
TEST(MethodRecorderTest, ConcurrentRecordingLosesNothing) {
  MethodRecorder r("/pkg.Svc/M", kTransportShm, true);
  constexpr int kThreads = 4;
  constexpr int kCalls = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, t] {
      for (int i = 0; i < kCalls; ++i) {
        r.FinishUnary(r.Start(), (i + t) % 3, 7, 9);
      }
    });
  }
  // Snapshots while they run never see more finished than started.
  for (int i = 0; i < 100; ++i) {
    const MethodStatistics s = r.Snapshot(1.0);
    EXPECT_GE(s.in_flight, 0);
    EXPECT_LE(s.calls, uint64_t{kThreads} * kCalls);
  }
  for (std::thread& t : threads) t.join();
  const MethodStatistics s = r.Snapshot(1.0);
  EXPECT_EQ(s.calls, uint64_t{kThreads} * kCalls);
  EXPECT_EQ(s.latency.count, uint64_t{kThreads} * kCalls);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.calls_by_code[0] + s.calls_by_code[1] + s.calls_by_code[2],
            uint64_t{kThreads} * kCalls);
  EXPECT_EQ(s.bytes_in, uint64_t{kThreads} * kCalls * 7);
  EXPECT_EQ(s.bytes_out, uint64_t{kThreads} * kCalls * 9);
}

// One recorder per (method, transport), stable, sorted in snapshots; a
// bounded number of them, the rest sharing kOverflowMethod.
TEST(StatsRegistryTest, OneRecorderPerMethodAndTransport) {
  StatsRegistry registry;
  MethodRecorder* a = registry.Recorder("/b.S/M", kTransportShm, true);
  MethodRecorder* b = registry.Recorder("/b.S/M", kTransportGrpc, true);
  MethodRecorder* c = registry.Recorder("/a.S/M", kTransportShm, false);
  EXPECT_NE(a, b);
  EXPECT_EQ(registry.Recorder("/b.S/M", kTransportShm, true), a);
  EXPECT_EQ(registry.Find("/b.S/M", kTransportGrpc), b);
  EXPECT_EQ(registry.Find("/c.S/M", kTransportGrpc), nullptr);
  EXPECT_FALSE(c->unary());
  a->FinishUnary(a->Start(), 0, 1, 1);
  const std::vector<MethodStatistics> s = registry.Snapshot();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].method, "/a.S/M");
  EXPECT_EQ(s[1].method, "/b.S/M");
  EXPECT_EQ(s[1].transport, "grpc");
  EXPECT_EQ(s[2].transport, "shm");
  EXPECT_EQ(s[2].calls, 1u);
}

TEST(StatsRegistryTest, BoundedByMaxRecorders) {
  StatsRegistry registry;
  for (size_t i = 0; i < StatsRegistry::kMaxRecorders; ++i) {
    registry.Recorder("/m/" + std::to_string(i), kTransportGrpc, true);
  }
  MethodRecorder* extra = registry.Recorder("/m/extra", kTransportGrpc, true);
  EXPECT_EQ(extra->method(), StatsRegistry::kOverflowMethod);
  EXPECT_FALSE(extra->unary());
  EXPECT_EQ(registry.Recorder("/m/another", kTransportGrpc, true), extra);
  EXPECT_EQ(registry.Recorder("/m/7", kTransportGrpc, true)->method(), "/m/7");
  // The overflow pseudo-method shows only once it holds a call.
  EXPECT_EQ(registry.Snapshot().size(), StatsRegistry::kMaxRecorders);
  extra->FinishUnary(extra->Start(), 12, 0, 0);
  const std::vector<MethodStatistics> s = registry.Snapshot();
  ASSERT_EQ(s.size(), StatsRegistry::kMaxRecorders + 1);
  EXPECT_EQ(s.front().method, StatsRegistry::kOverflowMethod);
  EXPECT_EQ(s.front().calls_by_code[12], 1u);
}

}  // namespace
}  // namespace shmrpc
