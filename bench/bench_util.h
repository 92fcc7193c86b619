// Pieces shared by the benchmarks in bench/: pinning threads to CPUs, timing
// repetitions, percentiles, splitting rows into interleaved passes, reading
// what a process costs (CPU time, memory, threads) from /proc, and the
// bookkeeping of the throughput benchmark (chunked sample logs, the longest
// gap between events, pipes between processes).
#ifndef SHMRPC_BENCH_BENCH_UTIL_H_
#define SHMRPC_BENCH_BENCH_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace shmrpc::bench {

using Clock = std::chrono::steady_clock;

// Whether CPUs `a` and `b` are both online and allowed to this process.
bool CanPinTo(int a, int b);

// Pins the calling thread to `cpu`; threads it creates afterwards inherit
// the affinity. An error names the CPU and errno.
absl::Status PinCallingThread(int cpu);

// Runs `one(i)` for i in [0, warmup) untimed, then for each of the next
// `timed` values of i, timed with steady_clock; returns the samples in ns.
// The sample vector is allocated (and touched) before the first call.
template <typename One>
std::vector<uint64_t> TimeRepetitions(uint32_t warmup, uint32_t timed,
                                      One&& one) {
  std::vector<uint64_t> samples(timed, 0);
  for (uint32_t i = 0; i < warmup; ++i) one(i);
  for (uint32_t k = 0; k < timed; ++k) {
    const Clock::time_point t0 = Clock::now();
    one(warmup + k);
    const Clock::time_point t1 = Clock::now();
    samples[k] = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  return samples;
}

// Nearest-rank percentile (p in [0, 1]) of `sorted`; 0 if it is empty.
uint64_t Percentile(const std::vector<uint64_t>& sorted, double p);

// The cost of one steady_clock::now(), which every sample includes once.
uint64_t ClockOverheadNs();

// How many of `total` repetitions pass `pass` (of `passes`) measures, when a
// row is measured in interleaved shares: the shares differ by at most one
// and add up to `total`.
inline uint32_t ShareOf(uint32_t total, uint32_t passes, uint32_t pass) {
  return total / passes + (pass < total % passes ? 1 : 0);
}

// Writes the words seed, seed + step, seed + 2 * step, ... (native byte
// order) over [data, data + bytes), for a buffer in memory that another core
// reads next (a shared-memory chunk). `bytes` must be a multiple of 8. From
// transport::kStreamingCopyMinBytes on (on x86-64) the words go out with
// streaming stores, as transport::CopyToPeer copies into shared memory;
// smaller payloads are written with ordinary stores. Ends with a store fence,
// so a release store after it publishes every word. Returns the sum of the
// words written (mod 2^64).
uint64_t WritePatternForPeer(void* data, size_t bytes, uint64_t seed,
                             uint64_t step);

// "a,b,,c" -> {"a", "b", "", "c"}.
std::vector<std::string> SplitCommas(const std::string& value);

// "812 ns", "12.3 us", "4.56 ms", "1.23 s".
std::string FormatNs(uint64_t ns);

// "64 B", "4 KiB", "1 MiB" (exact multiples only; else bytes).
std::string FormatBytes(uint64_t bytes);

// ---- what a process costs, from the kernel ---------------------------------

// CPU time (user + system, every thread including those that have exited)
// that process `pid` (0: this one) has used so far, in ns, from its
// process CPU-time clock (clock_getcpuclockid): nanosecond resolution, unlike
// the clock ticks of /proc/PID/stat. Works for any process this one may
// see in /proc (on Linux no permission is needed).
absl::StatusOr<uint64_t> ProcessCpuNs(pid_t pid);

// The fields of /proc/PID/status that the benchmarks report.
struct ProcStatus {
  uint64_t rss_kib = 0;        // VmRSS
  uint64_t rss_anon_kib = 0;   // RssAnon
  uint64_t rss_file_kib = 0;   // RssFile
  uint64_t rss_shmem_kib = 0;  // RssShmem (shared memory this process touched)
  int threads = 0;             // Threads
};

// Parses the text of a /proc/PID/status file. Fields it does not find stay
// zero; an error if the text has no "Threads:" line (not a status file).
absl::StatusOr<ProcStatus> ParseProcStatus(const std::string& text);

// Reads /proc/PID/status of process `pid` (0: this one).
absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid);

// Number of threads of process `pid` (0: this one), from /proc/PID/task; 0
// if it cannot be read.
int CountThreads(pid_t pid);

// Number of open file descriptors of process `pid` (0: this one), from
// /proc/PID/fd; -1 if it cannot be read.
int CountOpenFds(pid_t pid);

// Context switches of one thread, or summed over threads.
struct ContextSwitches {
  uint64_t voluntary = 0;    // the thread blocked (futex, poll, sleep...)
  uint64_t involuntary = 0;  // the thread was preempted
};

// The context switches of every thread of `pid` (0: this one) alive now,
// by thread id, from /proc/PID/task/TID/status.
using ThreadSwitches = std::map<int, ContextSwitches>;
ThreadSwitches CountContextSwitches(pid_t pid);

// The context switches made between two readings of one process: for each
// thread in `after`, its count minus its count in `before` (all of it if it
// started in between). Threads that exited in between are not counted.
ContextSwitches SwitchesBetween(const ThreadSwitches& before,
                                const ThreadSwitches& after);

// ---- throughput bookkeeping -------------------------------------------------

// An append-only log of trivially copyable records kept in fixed-size blocks,
// so that appending never copies what is already logged (a growing
// std::vector would stop a timed thread for milliseconds to move a large
// buffer). Reserve() allocates and touches blocks ahead, before timing.
// Not thread-safe: one log per thread.
template <typename T, size_t kBlockRecords = 8192>
class ChunkedLog {
 public:
  ChunkedLog() = default;
  ChunkedLog(ChunkedLog&&) = default;
  ChunkedLog& operator=(ChunkedLog&&) = default;

  void Append(const T& value) {
    const size_t block = size_ / kBlockRecords;
    if (block == blocks_.size()) blocks_.push_back(NewBlock());
    blocks_[block][size_ % kBlockRecords] = value;
    ++size_;
  }

  // Makes sure that the next `records` appends allocate nothing.
  void Reserve(size_t records) {
    const size_t blocks = (size_ + records + kBlockRecords - 1) / kBlockRecords;
    while (blocks_.size() < blocks) blocks_.push_back(NewBlock());
  }

  size_t size() const { return size_; }

  // Calls f(record) for every record, in the order appended.
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i < size_; ++i) {
      f(blocks_[i / kBlockRecords][i % kBlockRecords]);
    }
  }

 private:
  static std::unique_ptr<T[]> NewBlock() {
    // Value-initialized: every page is touched now, not on first append.
    return std::unique_ptr<T[]>(new T[kBlockRecords]());
  }

  std::vector<std::unique_ptr<T[]>> blocks_;
  size_t size_ = 0;
};

// A histogram of nanosecond values with log-linear buckets: exact below 128,
// then 128 buckets per power of two, so that a percentile is within 1/128
// (0.8%) of the true value, in fixed memory (kBuckets counters, ~58 KiB)
// whatever the number of samples. Record() is a handful of instructions and
// allocates nothing. Not thread-safe: one per thread, merged afterwards.
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) << kSubBits;

  LatencyHistogram() : counts_(new uint64_t[kBuckets]()) {}
  LatencyHistogram(const LatencyHistogram& other);
  LatencyHistogram& operator=(const LatencyHistogram& other);

  void Record(uint64_t ns) {
    ++counts_[BucketOf(ns)];
    ++count_;
  }
  // Adds every sample of `other`.
  void Merge(const LatencyHistogram& other);
  // Adds kBuckets counts (as counts() returns them, e.g. from another
  // process).
  void MergeCounts(const uint64_t* counts);

  uint64_t count() const { return count_; }
  const uint64_t* counts() const { return counts_.get(); }

  // The value below which a fraction `p` (in [0, 1]) of the samples lie, by
  // nearest rank as Percentile() does: the middle of the bucket holding that
  // sample (exact below 128). 0 if there are no samples.
  uint64_t ValueAt(double p) const;

  // The bucket of `ns`, and the smallest and largest values of bucket `b`.
  static size_t BucketOf(uint64_t ns) {
    if (ns < (uint64_t{1} << kSubBits)) return static_cast<size_t>(ns);
    const int exponent = 63 - __builtin_clzll(ns);  // >= kSubBits
    const int shift = exponent - kSubBits;
    return (static_cast<size_t>(shift + 1) << kSubBits) +
           static_cast<size_t>((ns >> shift) - (uint64_t{1} << kSubBits));
  }
  static uint64_t BucketLow(size_t b);
  static uint64_t BucketHigh(size_t b);

 private:
  std::unique_ptr<uint64_t[]> counts_;
  uint64_t count_ = 0;
};

// The longest interval within [begin, end] that contains no element of
// `sorted` (ascending). Elements outside [begin, end] are ignored; with none
// inside, the whole interval. The boundaries count as events, so a stall at
// the start or the end of a window is seen.
uint64_t LongestGap(const std::vector<uint64_t>& sorted, uint64_t begin,
                    uint64_t end);

// Sleeps until `t` on CLOCK_MONOTONIC (which steady_clock reads), with an
// absolute deadline, so that a sleep cut short by a signal or started late
// still ends at `t`. Returns at once if `t` has passed.
void SleepUntil(Clock::time_point t);

// Nanoseconds of steady_clock's epoch: comparable between processes on one
// host (CLOCK_MONOTONIC is system-wide).
inline uint64_t ToNs(Clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch())
          .count());
}
inline Clock::time_point FromNs(uint64_t ns) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(ns)));
}

// Turns abseil's debug-mode deadlock detector on or off for this process
// (and the processes it forks afterwards). Debian's libabsl is built
// without NDEBUG, so absl::Mutex - which every lock in gRPC's core is - runs
// it: each Lock() records the lock order in one graph shared by the whole
// process, behind one global spinlock, and each Mutex's destructor takes
// that spinlock again to remove its node. That costs every gRPC call
// microseconds and serializes threads on one lock. A release build of
// abseil (NDEBUG, as gRPC's own Bazel and CMake release builds make it)
// has no detector at all; `on == false` behaves like that build, `on ==
// true` is Debian's default. Call before any other thread starts.
void SetAbseilDeadlockDetection(bool on);

// Parses an on/off flag value; nullopt for anything else.
std::optional<bool> ParseOnOff(const std::string& value);

// Removes every entry of the directory `dir` (files and sockets; it must
// hold no subdirectories), then `dir` itself. Best effort: errors are
// ignored.
void RemoveFlatDirectory(const std::string& dir);

// Writes all `bytes` of `data` to `fd` (retrying short writes and EINTR).
absl::Status WriteFull(int fd, const void* data, size_t bytes);

// Reads exactly `bytes` from `fd` into `data`, waiting at most until
// `deadline` in all. Fails with DEADLINE_EXCEEDED if time runs out,
// UNAVAILABLE if the other end closes first (after `*got` bytes, if not
// null), INTERNAL on other errors.
absl::Status ReadFull(int fd, void* data, size_t bytes,
                      Clock::time_point deadline, size_t* got = nullptr);

}  // namespace shmrpc::bench

#endif  // SHMRPC_BENCH_BENCH_UTIL_H_
