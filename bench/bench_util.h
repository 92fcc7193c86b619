// Pieces shared by the benchmarks in bench/: pinning threads to CPUs, timing
// repetitions, percentiles, and splitting rows into interleaved passes.
#ifndef SHMRPC_BENCH_BENCH_UTIL_H_
#define SHMRPC_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

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

}  // namespace shmrpc::bench

#endif  // SHMRPC_BENCH_BENCH_UTIL_H_
