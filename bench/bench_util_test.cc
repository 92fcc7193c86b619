#include "bench/bench_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
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

TEST(FormatTest, PicksAReadableUnit) {
  EXPECT_EQ(FormatNs(812), "812 ns");
  EXPECT_EQ(FormatNs(12345), "12.3 us");
  EXPECT_EQ(FormatNs(45600000), "45.60 ms");
  EXPECT_EQ(FormatNs(12300000000ull), "12.30 s");
  EXPECT_EQ(FormatBytes(64), "64 B");
  EXPECT_EQ(FormatBytes(4096), "4 KiB");
  EXPECT_EQ(FormatBytes(1 << 20), "1 MiB");
  EXPECT_EQ(FormatBytes(1000), "1000 B");
}

// Burns CPU on this thread until the process CPU clock moved `ns`.
void BurnCpu(uint64_t ns) {
  const uint64_t start = *ProcessCpuNs(0);
  volatile uint64_t sink = 0;
  while (*ProcessCpuNs(0) - start < ns) {
    for (int i = 0; i < 10000; ++i) sink = sink + i;
  }
}

TEST(ProcessCpuTest, CountsThisProcessAndAChild) {
  const absl::StatusOr<uint64_t> before = ProcessCpuNs(0);
  ASSERT_TRUE(before.ok()) << before.status();
  BurnCpu(50'000'000);
  EXPECT_GE(*ProcessCpuNs(0) - *before, 50'000'000u);

  // A child that burns CPU, then waits to be killed: its clock, read from
  // here, moves by what it burned, and a sleeping child's stays put.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    BurnCpu(100'000'000);
    const char byte = 1;
    if (!WriteFull(ready[1], &byte, 1).ok()) _exit(1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_TRUE(
      ReadFull(ready[0], &byte, 1, Clock::now() + std::chrono::seconds(60))
          .ok());
  const absl::StatusOr<uint64_t> burned = ProcessCpuNs(child);
  ASSERT_TRUE(burned.ok()) << burned.status();
  EXPECT_GE(*burned, 100'000'000u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // Sleeping in pause(): well under 50 ms of CPU in 200 ms.
  EXPECT_LT(*ProcessCpuNs(child) - *burned, 50'000'000u);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  EXPECT_FALSE(ProcessCpuNs(child).ok());  // reaped: no such process
}

TEST(ProcStatusTest, ParsesTheFieldsItReports) {
  const absl::StatusOr<ProcStatus> s = ParseProcStatus(
      "Name:\tserver\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\n"
      "RssAnon:\t    3000 kB\nRssFile:\t    2000 kB\n"
      "RssShmem:\t     120 kB\nThreads:\t7\n"
      "voluntary_ctxt_switches:\t5\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rss_kib, 5120u);
  EXPECT_EQ(s->rss_anon_kib, 3000u);
  EXPECT_EQ(s->rss_file_kib, 2000u);
  EXPECT_EQ(s->rss_shmem_kib, 120u);
  EXPECT_EQ(s->threads, 7);
  EXPECT_FALSE(ParseProcStatus("VmRSS:\t1 kB\n").ok());
}

TEST(ProcStatusTest, SeesThisProcessThreadsAndFds) {
  std::atomic<bool> stop{false};
  const int threads_before = CountThreads(0);
  std::thread t([&] {
    while (!stop.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const absl::StatusOr<ProcStatus> s = ReadProcStatus(0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->threads, threads_before + 1);
  EXPECT_EQ(CountThreads(0), threads_before + 1);
  EXPECT_GT(s->rss_kib, 0u);
  stop.store(true);
  t.join();

  const int fds_before = CountOpenFds(0);
  ASSERT_GT(fds_before, 0);
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(CountOpenFds(0), fds_before + 1);
  ::close(fd);
  EXPECT_EQ(CountOpenFds(0), fds_before);
}

TEST(ContextSwitchesTest, SleepingCountsAsVoluntaryPerThread) {
  const ThreadSwitches before = CountContextSwitches(0);
  ASSERT_EQ(before.size(), static_cast<size_t>(CountThreads(0)));
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // A thread that starts (and sleeps) in between counts in full.
  std::atomic<bool> slept{false}, stop{false};
  std::thread t([&] {
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    slept.store(true);
    while (!stop.load()) std::this_thread::yield();
  });
  while (!slept.load()) std::this_thread::yield();
  const ThreadSwitches after = CountContextSwitches(0);
  EXPECT_EQ(after.size(), before.size() + 1);
  EXPECT_GE(SwitchesBetween(before, after).voluntary, 30u);
  stop.store(true);
  t.join();
}

TEST(ContextSwitchesTest, ExitedAndReusedThreadsDoNotWrapAround) {
  ThreadSwitches before, after;
  before[1] = ContextSwitches{10, 5};
  before[2] = ContextSwitches{100, 100};  // exited
  before[3] = ContextSwitches{50, 50};    // id reused by a younger thread
  after[1] = ContextSwitches{15, 6};
  after[3] = ContextSwitches{2, 1};
  after[4] = ContextSwitches{7, 3};  // new
  const ContextSwitches d = SwitchesBetween(before, after);
  EXPECT_EQ(d.voluntary, 5u + 7u);
  EXPECT_EQ(d.involuntary, 1u + 3u);
}

TEST(ChunkedLogTest, KeepsEveryRecordInOrderAcrossBlocks) {
  ChunkedLog<uint64_t, 4> log;
  log.Reserve(3);
  for (uint64_t i = 0; i < 11; ++i) log.Append(i * 3);
  EXPECT_EQ(log.size(), 11u);
  std::vector<uint64_t> seen;
  log.ForEach([&](uint64_t v) { seen.push_back(v); });
  ASSERT_EQ(seen.size(), 11u);
  for (uint64_t i = 0; i < 11; ++i) EXPECT_EQ(seen[i], i * 3);
  // Reserving ahead does not add records.
  log.Reserve(100);
  EXPECT_EQ(log.size(), 11u);
  log.Append(7);
  seen.clear();
  log.ForEach([&](uint64_t v) { seen.push_back(v); });
  EXPECT_EQ(seen.back(), 7u);
  EXPECT_EQ(seen.size(), 12u);
}

TEST(LongestGapTest, CountsTheWindowEdgesAndIgnoresOutsiders) {
  // Window [100, 200]: events 110, 150, 160 -> gaps 10, 40, 10, 40 (to end).
  EXPECT_EQ(LongestGap({5, 110, 150, 160, 500}, 100, 200), 40u);
  EXPECT_EQ(LongestGap({110, 120, 130, 195}, 100, 200), 65u);
  // A stall at the start.
  EXPECT_EQ(LongestGap({180, 190}, 100, 200), 80u);
  // Nothing inside: the whole window.
  EXPECT_EQ(LongestGap({}, 100, 200), 100u);
  EXPECT_EQ(LongestGap({50, 250}, 100, 200), 100u);
  // Events on the edges count.
  EXPECT_EQ(LongestGap({100, 150, 200}, 100, 200), 50u);
  EXPECT_EQ(LongestGap({1, 2}, 200, 100), 0u);
}

TEST(SleepUntilTest, WakesNoEarlierThanAsked) {
  const Clock::time_point t = Clock::now() + std::chrono::milliseconds(20);
  SleepUntil(t);
  EXPECT_GE(Clock::now(), t);
  // In the past: returns at once.
  const Clock::time_point before = Clock::now();
  SleepUntil(before - std::chrono::seconds(1));
  EXPECT_LT(Clock::now() - before, std::chrono::seconds(1));
  EXPECT_EQ(FromNs(ToNs(t)), t);
}

TEST(LatencyHistogramTest, ExactBelow128ThenWithinOnePart128) {
  for (uint64_t v = 0; v < 128; ++v) {
    EXPECT_EQ(LatencyHistogram::BucketOf(v), v);
    EXPECT_EQ(LatencyHistogram::BucketLow(v), v);
    EXPECT_EQ(LatencyHistogram::BucketHigh(v), v);
  }
  // Buckets tile the values: each starts right after the previous one ends,
  // and every value falls in the bucket whose range holds it.
  for (size_t b = 1; b < LatencyHistogram::kBuckets; ++b) {
    ASSERT_EQ(LatencyHistogram::BucketLow(b),
              LatencyHistogram::BucketHigh(b - 1) + 1)
        << b;
  }
  EXPECT_EQ(LatencyHistogram::BucketHigh(LatencyHistogram::kBuckets - 1),
            UINT64_MAX);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    const size_t b = LatencyHistogram::BucketOf(v);
    ASSERT_LT(b, LatencyHistogram::kBuckets);
    const uint64_t lo = LatencyHistogram::BucketLow(b);
    const uint64_t hi = LatencyHistogram::BucketHigh(b);
    ASSERT_LE(lo, v);
    ASSERT_GE(hi, v);
    ASSERT_LE(static_cast<double>(hi - lo), static_cast<double>(lo) / 128.0)
        << v;
  }
}

TEST(LatencyHistogramTest, PercentilesMatchTheSortedSamples) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> dist(8.0, 1.5);  // ~3 us, long tail
  std::vector<uint64_t> samples;
  LatencyHistogram a, b;
  for (int i = 0; i < 50000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    samples.push_back(v);
    (i % 2 == 0 ? a : b).Record(v);
  }
  LatencyHistogram merged = a;
  merged.Merge(b);
  EXPECT_EQ(merged.count(), samples.size());
  std::sort(samples.begin(), samples.end());
  for (double p : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const double exact = static_cast<double>(Percentile(samples, p));
    const double got = static_cast<double>(merged.ValueAt(p));
    EXPECT_NEAR(got, exact, exact / 128.0 + 1) << "p" << p;
  }
  // Counts from elsewhere (another process) merge the same way.
  LatencyHistogram c;
  c.MergeCounts(a.counts());
  c.MergeCounts(b.counts());
  EXPECT_EQ(c.count(), merged.count());
  EXPECT_EQ(c.ValueAt(0.99), merged.ValueAt(0.99));
  EXPECT_EQ(LatencyHistogram().ValueAt(0.5), 0u);
}

TEST(PipeTest, ReadFullWaitsForEveryByteAndReportsEofAndTimeouts) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::vector<uint64_t> out(100000);
  for (size_t i = 0; i < out.size(); ++i) out[i] = i * 31;
  // More than a pipe holds: the reader must keep reading while we write.
  std::thread writer(
      [&] { EXPECT_TRUE(WriteFull(fds[1], out.data(), out.size() * 8).ok()); });
  std::vector<uint64_t> in(out.size());
  EXPECT_TRUE(ReadFull(fds[0], in.data(), in.size() * 8,
                       Clock::now() + std::chrono::seconds(60))
                  .ok());
  writer.join();
  EXPECT_EQ(in, out);

  // Nothing comes: DEADLINE_EXCEEDED, after about the deadline.
  char byte;
  const Clock::time_point t0 = Clock::now();
  absl::Status s =
      ReadFull(fds[0], &byte, 1, t0 + std::chrono::milliseconds(50));
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(50));

  // Half a record, then the writer goes away: UNAVAILABLE, with the count.
  ASSERT_TRUE(WriteFull(fds[1], "abc", 3).ok());
  ::close(fds[1]);
  char buf[8];
  size_t got = 0;
  s = ReadFull(fds[0], buf, sizeof(buf),
               Clock::now() + std::chrono::seconds(60), &got);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(got, 3u);
  ::close(fds[0]);
}

TEST(RemoveFlatDirectoryTest, RemovesItsFilesThenItself) {
  char tmpl[] = "/tmp/bench-util-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  for (const char* name : {"a", "b.sock", ".hidden"}) {
    std::FILE* f = std::fopen((dir + "/" + name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  RemoveFlatDirectory(dir);
  struct stat st;
  EXPECT_NE(::stat(dir.c_str(), &st), 0) << dir << " is still there";
  RemoveFlatDirectory(dir);  // gone already: nothing happens
}

TEST(ParseOnOffTest, OnlyOnAndOff) {
  EXPECT_EQ(ParseOnOff("on"), std::optional<bool>(true));
  EXPECT_EQ(ParseOnOff("off"), std::optional<bool>(false));
  EXPECT_EQ(ParseOnOff(""), std::nullopt);
  EXPECT_EQ(ParseOnOff("yes"), std::nullopt);
}

// Off, two mutexes taken in both orders (a potential deadlock the detector
// of a debug abseil, such as Debian's, aborts on) are fine. In a child, so
// that the setting does not leak into other tests.
TEST(SetAbseilDeadlockDetectionTest, OffLetsALockOrderInversionPass) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SetAbseilDeadlockDetection(false);
    absl::Mutex a;
    absl::Mutex b;
    for (int i = 0; i < 2; ++i) {
      absl::Mutex& first = i == 0 ? a : b;
      absl::Mutex& second = i == 0 ? b : a;
      first.Lock();
      second.Lock();
      second.Unlock();
      first.Unlock();
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace shmrpc::bench
