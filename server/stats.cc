#include "shmrpc/server/stats.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>

namespace shmrpc {
namespace internal {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The first reading of both clocks, which NanosPerTick measures from.
struct Epoch {
  uint64_t ticks;
  SteadyClock::time_point time;
};

const Epoch& TheEpoch() {
  static const Epoch epoch{StatsClock::Now(), SteadyClock::now()};
  return epoch;
}

// Shorter intervals measure the tick rate too coarsely.
constexpr auto kMinCalibration = std::chrono::milliseconds(5);

}  // namespace

bool StatsClock::DetectTsc() {
#if defined(__x86_64__)
  // The kernel keeps time with the TSC only once it found it constant-rate
  // and synchronized across CPUs (else it switches to another source).
  std::ifstream in(
      "/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string source;
  return static_cast<bool>(in >> source) && source == "tsc";
#else
  return false;
#endif
}

void StatsClock::StartCalibration() { (void)TheEpoch(); }

double StatsClock::NanosPerTick() {
  if (!UsesTsc()) return 1.0;
  const Epoch& epoch = TheEpoch();
  auto elapsed = SteadyClock::now() - epoch.time;
  if (elapsed < kMinCalibration) {
    std::this_thread::sleep_for(kMinCalibration - elapsed);
  }
  const uint64_t ticks = Now();
  elapsed = SteadyClock::now() - epoch.time;
  const double nanos =
      std::chrono::duration<double, std::nano>(elapsed).count();
  if (ticks <= epoch.ticks || nanos <= 0) return 1.0;
  return nanos / static_cast<double>(ticks - epoch.ticks);
}

double LatencyQuantile(const uint64_t* buckets, uint64_t total, double q,
                       uint64_t max) {
  if (total == 0) return 0;
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))));
  uint64_t seen = 0;
  for (int b = 0; b < kLatencyBuckets; ++b) {
    seen += buckets[b];
    if (seen >= rank) {
      const double mid = static_cast<double>(LatencyBucketLow(b)) +
                         static_cast<double>(LatencyBucketWidth(b) - 1) / 2;
      return std::min(mid, static_cast<double>(max));
    }
  }
  return static_cast<double>(max);
}

}  // namespace internal

MethodRecorder::MethodRecorder(std::string method, std::string transport,
                               bool unary)
    : method_(std::move(method)),
      transport_(std::move(transport)),
      unary_(unary) {}

MethodStatistics MethodRecorder::Snapshot(double nanos_per_tick) const {
  MethodStatistics s;
  s.method = method_;
  s.transport = transport_;
  // Finished calls first: a call counted here was started before, so
  // in_flight (read after) is never negative for long.
  for (int c = 0; c < kStatusCodeCount; ++c) {
    s.calls_by_code[c] = codes_[c].load(std::memory_order_relaxed);
    s.calls += s.calls_by_code[c];
  }
  std::array<uint64_t, internal::kLatencyBuckets> buckets;
  uint64_t total = 0;
  for (int b = 0; b < internal::kLatencyBuckets; ++b) {
    buckets[b] = buckets_[b].load(std::memory_order_relaxed);
    total += buckets[b];
  }
  const uint64_t max = latency_max_.load(std::memory_order_relaxed);
  const double us_per_tick = nanos_per_tick / 1000;
  s.latency.count = total;
  s.latency.sum_us =
      static_cast<double>(latency_sum_.load(std::memory_order_relaxed)) *
      us_per_tick;
  s.latency.max_us = static_cast<double>(max) * us_per_tick;
  auto quantile = [&](double q) {
    return internal::LatencyQuantile(buckets.data(), total, q, max) *
           us_per_tick;
  };
  s.latency.p50_us = quantile(0.5);
  s.latency.p90_us = quantile(0.9);
  s.latency.p99_us = quantile(0.99);
  s.latency.p999_us = quantile(0.999);
  const uint64_t started = started_.load(std::memory_order_relaxed);
  s.in_flight = started > s.calls ? static_cast<int64_t>(started - s.calls) : 0;
  s.bytes_in = bytes_in_.load(std::memory_order_relaxed);
  s.bytes_out = bytes_out_.load(std::memory_order_relaxed);
  s.messages_in = messages_in_.load(std::memory_order_relaxed);
  s.messages_out = messages_out_.load(std::memory_order_relaxed);
  if (unary_) {
    // One request per call, one response per call that ended OK.
    s.messages_in += s.calls;
    s.messages_out += s.calls_by_code[0];
  }
  return s;
}

StatsRegistry::StatsRegistry() {
  // By the first snapshot, the clock has long been measured.
  internal::StatsClock::StartCalibration();
}

StatsRegistry::~StatsRegistry() = default;

MethodRecorder* StatsRegistry::Recorder(absl::string_view method,
                                        absl::string_view transport,
                                        bool unary) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(std::string(method), std::string(transport));
  auto it = recorders_.find(key);
  if (it != recorders_.end()) return it->second.get();
  if (recorders_.size() >= kMaxRecorders) {
    key.first = kOverflowMethod;
    it = recorders_.find(key);
    if (it != recorders_.end()) return it->second.get();
    unary = false;  // may hold calls of every kind
  }
  auto recorder =
      std::make_unique<MethodRecorder>(key.first, key.second, unary);
  MethodRecorder* raw = recorder.get();
  recorders_.emplace(std::move(key), std::move(recorder));
  return raw;
}

MethodRecorder* StatsRegistry::Find(absl::string_view method,
                                    absl::string_view transport) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = recorders_.find(
      std::make_pair(std::string(method), std::string(transport)));
  return it == recorders_.end() ? nullptr : it->second.get();
}

std::vector<MethodStatistics> StatsRegistry::Snapshot() const {
  const double nanos_per_tick = internal::StatsClock::NanosPerTick();
  std::vector<MethodStatistics> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.reserve(recorders_.size());
  // The map's order is (method, transport).
  for (const auto& [key, recorder] : recorders_) {
    // The overflow pseudo-method (made up front by gRPC's interceptor) only
    // once some call landed there.
    if (key.first == kOverflowMethod && recorder->started() == 0) continue;
    out.push_back(recorder->Snapshot(nanos_per_tick));
  }
  return out;
}

}  // namespace shmrpc
