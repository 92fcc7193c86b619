#include "bench/bench_util.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "shmrpc/transport/peer_copy.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace shmrpc::bench {

bool CanPinTo(int a, int b) {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (online <= a || online <= b) return false;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return false;
  return CPU_ISSET(a, &allowed) && CPU_ISSET(b, &allowed);
}

absl::Status PinCallingThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
    return absl::InternalError(absl::StrCat("sched_setaffinity(CPU ", cpu,
                                            "): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

uint64_t Percentile(const std::vector<uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double exact = p * static_cast<double>(sorted.size());
  size_t rank = static_cast<size_t>(exact);
  if (static_cast<double>(rank) < exact) ++rank;
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

uint64_t ClockOverheadNs() {
  constexpr int kCalls = 100000;
  const Clock::time_point start = Clock::now();
  Clock::time_point t = start;
  for (int i = 0; i < kCalls; ++i) t = Clock::now();
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t - start).count() /
      kCalls);
}

std::vector<std::string> SplitCommas(const std::string& value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    out.push_back(value.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

uint64_t WritePatternForPeer(void* data, size_t bytes, uint64_t seed,
                             uint64_t step) {
  auto* out = static_cast<uint8_t*>(data);
  size_t n = bytes / 8;
  uint64_t value = seed;
  uint64_t sum = 0;
  auto scalar = [&](size_t words) {
    for (size_t i = 0; i < words; ++i) {
      std::memcpy(out, &value, 8);
      sum += value;
      value += step;
      out += 8;
    }
    n -= words;
  };
#if defined(__SSE2__)
  if (bytes >= transport::kStreamingCopyMinBytes) {
    // Up to a 16-byte boundary (if the buffer is 8-byte aligned), then two
    // words per streaming store.
    if (reinterpret_cast<uintptr_t>(out) % 16 == 8) scalar(1);
    if (reinterpret_cast<uintptr_t>(out) % 16 == 0) {
      const size_t pairs = n / 2;
      __m128i v = _mm_set_epi64x(static_cast<int64_t>(value + step),
                                 static_cast<int64_t>(value));
      const __m128i v_step = _mm_set1_epi64x(static_cast<int64_t>(2 * step));
      __m128i v_sum = _mm_setzero_si128();
      for (size_t i = 0; i < pairs; ++i) {
        _mm_stream_si128(reinterpret_cast<__m128i*>(out + 16 * i), v);
        v_sum = _mm_add_epi64(v_sum, v);
        v = _mm_add_epi64(v, v_step);
      }
      _mm_sfence();
      uint64_t lanes[2];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), v_sum);
      sum += lanes[0] + lanes[1];
      value += 2 * pairs * step;
      out += 16 * pairs;
      n -= 2 * pairs;
    }
  }
#endif
  scalar(n);
  return sum;
}

}  // namespace shmrpc::bench
