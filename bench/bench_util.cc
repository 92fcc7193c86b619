#include "bench/bench_util.h"

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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

std::string FormatNs(uint64_t ns) {
  char buf[32];
  if (ns < 10000) {
    std::snprintf(buf, sizeof(buf), "%llu ns",
                  static_cast<unsigned long long>(ns));
  } else if (ns < 10000000) {
    std::snprintf(buf, sizeof(buf), "%.1f us", static_cast<double>(ns) / 1e3);
  } else if (ns < 10000000000ull) {
    std::snprintf(buf, sizeof(buf), "%.2f ms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f s", static_cast<double>(ns) / 1e9);
  }
  return buf;
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) {
    return std::to_string(bytes >> 10) + " KiB";
  }
  return std::to_string(bytes) + " B";
}

namespace {

std::string ProcDir(pid_t pid) {
  return pid == 0 ? std::string("/proc/self")
                  : "/proc/" + std::to_string(static_cast<long>(pid));
}

// Entries of a /proc directory, without "." and "..".
std::vector<std::string> ListDir(const std::string& dir, bool* ok) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  *ok = d != nullptr;
  if (d == nullptr) return names;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  return names;
}

bool ReadText(const std::string& path, std::string* text) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream out;
  out << in.rdbuf();
  *text = out.str();
  return true;
}

// Sets *value to the number after "<key>:" at the start of a line of
// `text`; false if there is none.
bool FindField(const std::string& text, const char* key, uint64_t* value) {
  const std::string needle = std::string(key) + ":";
  size_t at = 0;
  for (;;) {
    at = text.find(needle, at);
    if (at == std::string::npos) return false;
    if (at == 0 || text[at - 1] == '\n') break;
    at += needle.size();
  }
  const char* p = text.c_str() + at + needle.size();
  char* end = nullptr;
  const unsigned long long v = std::strtoull(p, &end, 10);
  if (end == p) return false;
  *value = v;
  return true;
}

}  // namespace

absl::StatusOr<uint64_t> ProcessCpuNs(pid_t pid) {
  clockid_t clock;
  if (pid == 0) {
    clock = CLOCK_PROCESS_CPUTIME_ID;
  } else if (const int e = ::clock_getcpuclockid(pid, &clock); e != 0) {
    return absl::InternalError(
        absl::StrCat("clock_getcpuclockid(", pid, "): ", std::strerror(e)));
  }
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0) {
    return absl::InternalError(
        absl::StrCat("CPU clock of process ", pid, ": ", std::strerror(errno)));
  }
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(ts.tv_nsec);
}

absl::StatusOr<ProcStatus> ParseProcStatus(const std::string& text) {
  ProcStatus s;
  uint64_t threads = 0;
  if (!FindField(text, "Threads", &threads)) {
    return absl::InvalidArgumentError("no Threads: line in the status text");
  }
  s.threads = static_cast<int>(threads);
  FindField(text, "VmRSS", &s.rss_kib);
  FindField(text, "RssAnon", &s.rss_anon_kib);
  FindField(text, "RssFile", &s.rss_file_kib);
  FindField(text, "RssShmem", &s.rss_shmem_kib);
  return s;
}

absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid) {
  std::string text;
  const std::string path = ProcDir(pid) + "/status";
  if (!ReadText(path, &text)) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  return ParseProcStatus(text);
}

int CountThreads(pid_t pid) {
  bool ok = false;
  return static_cast<int>(ListDir(ProcDir(pid) + "/task", &ok).size());
}

int CountOpenFds(pid_t pid) {
  bool ok = false;
  const size_t n = ListDir(ProcDir(pid) + "/fd", &ok).size();
  // Reading our own fd directory holds one fd open meanwhile.
  if (!ok) return -1;
  return static_cast<int>(pid == 0 && n > 0 ? n - 1 : n);
}

ThreadSwitches CountContextSwitches(pid_t pid) {
  ThreadSwitches out;
  const std::string dir = ProcDir(pid) + "/task";
  bool ok = false;
  for (const std::string& tid : ListDir(dir, &ok)) {
    std::string text;
    if (!ReadText(dir + "/" + tid + "/status", &text)) continue;
    ContextSwitches& cs = out[std::atoi(tid.c_str())];
    FindField(text, "voluntary_ctxt_switches", &cs.voluntary);
    FindField(text, "nonvoluntary_ctxt_switches", &cs.involuntary);
  }
  return out;
}

ContextSwitches SwitchesBetween(const ThreadSwitches& before,
                                const ThreadSwitches& after) {
  ContextSwitches total;
  for (const auto& [tid, now] : after) {
    ContextSwitches then;
    if (auto it = before.find(tid); it != before.end()) then = it->second;
    // A thread id reused by a new thread can count less than before.
    if (now.voluntary >= then.voluntary) {
      total.voluntary += now.voluntary - then.voluntary;
    }
    if (now.involuntary >= then.involuntary) {
      total.involuntary += now.involuntary - then.involuntary;
    }
  }
  return total;
}

LatencyHistogram::LatencyHistogram(const LatencyHistogram& other)
    : LatencyHistogram() {
  Merge(other);
}

LatencyHistogram& LatencyHistogram::operator=(const LatencyHistogram& other) {
  if (this != &other) {
    std::fill(counts_.get(), counts_.get() + kBuckets, 0);
    count_ = 0;
    Merge(other);
  }
  return *this;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  MergeCounts(other.counts());
}

void LatencyHistogram::MergeCounts(const uint64_t* counts) {
  for (size_t b = 0; b < kBuckets; ++b) {
    counts_[b] += counts[b];
    count_ += counts[b];
  }
}

uint64_t LatencyHistogram::BucketLow(size_t b) {
  if (b < (size_t{1} << kSubBits)) return b;
  const int shift = static_cast<int>(b >> kSubBits) - 1;
  const uint64_t mantissa =
      (uint64_t{1} << kSubBits) + (b & ((1u << kSubBits) - 1));
  return mantissa << shift;
}

uint64_t LatencyHistogram::BucketHigh(size_t b) {
  if (b < (size_t{1} << kSubBits)) return b;
  const int shift = static_cast<int>(b >> kSubBits) - 1;
  return BucketLow(b) + ((uint64_t{1} << shift) - 1);
}

uint64_t LatencyHistogram::ValueAt(double p) const {
  if (count_ == 0) return 0;
  // The nearest rank, as Percentile() computes it.
  const double exact = p * static_cast<double>(count_);
  uint64_t rank = static_cast<uint64_t>(exact);
  if (static_cast<double>(rank) < exact) ++rank;
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= rank) {
      const uint64_t lo = BucketLow(b), hi = BucketHigh(b);
      return lo + (hi - lo) / 2;
    }
  }
  return BucketHigh(kBuckets - 1);
}

uint64_t LongestGap(const std::vector<uint64_t>& sorted, uint64_t begin,
                    uint64_t end) {
  if (end <= begin) return 0;
  uint64_t last = begin;
  uint64_t longest = 0;
  auto it = std::lower_bound(sorted.begin(), sorted.end(), begin);
  for (; it != sorted.end() && *it <= end; ++it) {
    longest = std::max(longest, *it - last);
    last = *it;
  }
  return std::max(longest, end - last);
}

void SleepUntil(Clock::time_point t) {
  const uint64_t ns = ToNs(t);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000ull);
  ts.tv_nsec = static_cast<long>(ns % 1000000000ull);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) ==
         EINTR) {
  }
}

void SetAbseilDeadlockDetection(bool on) {
  absl::SetMutexDeadlockDetectionMode(on ? absl::OnDeadlockCycle::kAbort
                                         : absl::OnDeadlockCycle::kIgnore);
}

std::optional<bool> ParseOnOff(const std::string& value) {
  if (value == "on") return true;
  if (value == "off") return false;
  return std::nullopt;
}

void RemoveFlatDirectory(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

absl::Status WriteFull(int fd, const void* data, size_t bytes) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::InternalError(
          absl::StrCat("write: ", std::strerror(n < 0 ? errno : EIO)));
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ReadFull(int fd, void* data, size_t bytes,
                      Clock::time_point deadline, size_t* got) {
  auto* p = static_cast<char*>(data);
  size_t done = 0;
  if (got != nullptr) *got = 0;
  while (done < bytes) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "read: timed out after ", done, " of ", bytes, " bytes"));
    }
    pollfd pfd{fd, POLLIN, 0};
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1;
    const int r =
        ::poll(&pfd, 1, static_cast<int>(std::min<long long>(ms, 1000 * 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (r == 0) continue;
    const ssize_t n = ::read(fd, p + done, bytes - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      return absl::InternalError(absl::StrCat("read: ", std::strerror(errno)));
    }
    if (n == 0) {
      return absl::UnavailableError(absl::StrCat(
          "read: the other end closed after ", done, " of ", bytes, " bytes"));
    }
    done += static_cast<size_t>(n);
    if (got != nullptr) *got = done;
  }
  return absl::OkStatus();
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
