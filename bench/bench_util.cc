#include "bench/bench_util.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

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

}  // namespace shmrpc::bench
