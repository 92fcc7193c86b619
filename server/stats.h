// Server statistics: what each method's calls did (by status code, latency,
// bytes and messages each way), per transport, and snapshots of a whole
// server (per connection, and totals).
//
//   shmrpc::ServerStatistics s = server->statistics();
//   for (const shmrpc::MethodStatistics& m : s.methods) {
//     std::printf("%s %s: %llu calls, p99 %.1f us\n", m.method.c_str(),
//                 m.transport.c_str(), (unsigned long long)m.calls,
//                 m.latency.p99_us);
//   }
//
// Recording. Every shmrpc::Server records the calls it serves over shared
// memory (transport "shm") in a StatsRegistry, one MethodRecorder per
// method. Recording costs a call two reads of a cheap clock and six relaxed
// atomic additions to counters of its method: no lock, no allocation, no
// system call. gRPC's server records into the same kind of registry through
// an interceptor (transport "grpc", server/grpc_stats.h), so a registry
// shared by both (ServerOptions::stats_registry) sees a service's calls on
// both transports.
//
// Snapshots read the counters while calls go on: each counter is exact, but
// counters read a moment apart may disagree by the calls that finished in
// between (calls + in_flight can move while the snapshot is taken).
//
// The tool `shmrpc stats` shows these for a running server (its Admin
// service, proto/shmrpc/admin/v1/admin.proto); docs/operations.md says what
// to watch.
#ifndef SHMRPC_SERVER_STATS_H_
#define SHMRPC_SERVER_STATS_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace shmrpc {

// grpc::StatusCode's values are 0 (OK) to 16 (UNAUTHENTICATED).
inline constexpr int kStatusCodeCount = 17;

// The transports a call can arrive over, as MethodStatistics::transport
// names them.
inline constexpr char kTransportShm[] = "shm";
inline constexpr char kTransportGrpc[] = "grpc";

// Latency of a method's finished calls, as its server saw them: from taking
// the request to sending the status (streaming calls: the whole call).
// Quantiles come from a log-scale histogram whose buckets are 1/16 of an
// octave wide: each is within 3.2% of the true value (and never above `max`).
// Plain value.
struct LatencyStatistics {
  uint64_t count = 0;  // finished calls
  double sum_us = 0;   // of all their latencies
  double p50_us = 0;   // quantiles: 0 when count is 0
  double p90_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

// One method on one transport, since its server started. Plain value.
struct MethodStatistics {
  std::string method;     // "/package.Service/Method"
  std::string transport;  // kTransportShm or kTransportGrpc
  // Finished calls by status code (index: grpc::StatusCode; codes outside
  // 0..16 count as UNKNOWN). A call the client cancelled, or whose client
  // went away before the status could be sent, counts as CANCELLED.
  std::array<uint64_t, kStatusCodeCount> calls_by_code{};
  uint64_t calls = 0;     // finished: the sum of calls_by_code
  int64_t in_flight = 0;  // started and not finished
  LatencyStatistics latency;
  // Messages and their serialized bytes, received from clients and sent to
  // them. A unary call counts its request and, when it ends OK, its
  // response, when it ends; a streaming call counts its messages as they
  // go (in batches of at most 64 messages over shared memory).
  uint64_t messages_in = 0;
  uint64_t bytes_in = 0;
  uint64_t messages_out = 0;
  uint64_t bytes_out = 0;
};

// One client connection over shared memory. Plain value.
struct ConnectionStatistics {
  pid_t peer_pid = 0;  // as the kernel reported it at the handshake
  uid_t peer_uid = 0;
  double age_seconds = 0;  // since the handshake
  uint64_t calls = 0;      // calls it started (every method)
  // Serving threads now, and how many it may have now
  // (ServerOptions::max_threads_per_connection, plus one per streaming call
  // reading from the client).
  int threads = 0;
  int max_threads = 0;
  // The server's data segment for this connection (responses and streamed
  // messages are written there): bytes in chunks the server holds or the
  // client has not given back yet, and the bytes of all its chunks.
  uint64_t pool_bytes_used = 0;
  uint64_t pool_bytes_capacity = 0;
};

// A whole server at one moment (Server::statistics()). Plain value.
struct ServerStatistics {
  pid_t pid = 0;
  uid_t uid = 0;  // effective
  std::chrono::system_clock::time_point start_time;
  double uptime_seconds = 0;
  // The socket paths it listens on, and the addresses it was built for
  // (ServerBuilder::AddListeningAddress; AddEndpointPath adds none).
  std::vector<std::string> endpoints;
  std::vector<std::string> addresses;
  // Connections over shared memory: accepted and refused so far (the
  // server's own admission: connection limit, no threads), and open now.
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;
  int connections_live = 0;
  // Calls over shared memory since start, every method (in flight
  // included; with a registry shared by several servers, theirs too), and
  // running now.
  uint64_t calls = 0;
  int calls_in_flight = 0;
  int threads = 0;               // serving threads alive
  uint64_t thread_failures = 0;  // times a thread could not be started
  // Every method served, on every transport recorded in the server's
  // registry (ServerOptions::stats_registry), sorted by method then
  // transport; methods without calls included.
  std::vector<MethodStatistics> methods;
  // Open connections, oldest first (empty unless asked for).
  std::vector<ConnectionStatistics> connections;
};

namespace internal {

// The clock calls are timed with: the CPU's time-stamp counter on x86-64
// when the kernel itself keeps time with it (clocksource "tsc": constant
// rate, synchronized across CPUs), else std::chrono::steady_clock in
// nanoseconds. Reading it costs about 10 ns (TSC) or 25 ns. Thread-safe.
class StatsClock {
 public:
  // The current time in ticks.
  static uint64_t Now() {
#if defined(__x86_64__)
    if (UsesTsc()) return __rdtsc();
#endif
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }
  // Nanoseconds per tick, measured against steady_clock over the time since
  // StartCalibration() was first called (or this, if never): blocks until
  // 5 ms have passed since then, to have an interval to measure.
  static double NanosPerTick();
  // Starts the interval NanosPerTick measures (once per process; later
  // calls do nothing). StatsRegistry's constructor calls it.
  static void StartCalibration();
  // Whether Now() reads the time-stamp counter.
  static bool UsesTsc() {
    static const bool tsc = DetectTsc();
    return tsc;
  }

 private:
  static bool DetectTsc();
};

// The latency histogram's layout: values (ticks) below 16 have a bucket
// each; above, every octave [2^e, 2^(e+1)) is cut into 16 equal buckets, up
// to 2^45 ticks (hours), where the last bucket takes everything larger.
inline constexpr int kLatencySubBits = 4;
inline constexpr int kLatencySub = 1 << kLatencySubBits;
inline constexpr int kLatencyMaxExponent = 45;
inline constexpr int kLatencyBuckets =
    (kLatencyMaxExponent - kLatencySubBits + 1) * kLatencySub;

// The bucket of `ticks`.
inline int LatencyBucket(uint64_t ticks) {
  if (ticks < static_cast<uint64_t>(kLatencySub))
    return static_cast<int>(ticks);
  const int e = 63 - __builtin_clzll(ticks);
  if (e >= kLatencyMaxExponent) return kLatencyBuckets - 1;
  return (e - kLatencySubBits + 1) * kLatencySub +
         static_cast<int>((ticks >> (e - kLatencySubBits)) & (kLatencySub - 1));
}

// The lower bound of bucket `b` and its width, in ticks.
inline uint64_t LatencyBucketLow(int b) {
  if (b < kLatencySub) return static_cast<uint64_t>(b);
  const int e = b / kLatencySub + kLatencySubBits - 1;
  return static_cast<uint64_t>(kLatencySub + b % kLatencySub)
         << (e - kLatencySubBits);
}
inline uint64_t LatencyBucketWidth(int b) {
  if (b < kLatencySub) return 1;
  return uint64_t{1} << (b / kLatencySub - 1);
}

// The value at quantile `q` (0 < q <= 1) of the histogram `buckets`
// (kLatencyBuckets counts) holding `total` values, as the midpoint of its
// bucket, at most `max`. 0 if `total` is 0.
double LatencyQuantile(const uint64_t* buckets, uint64_t total, double q,
                       uint64_t max);

}  // namespace internal

// The calls of one method on one transport. The server (or an interceptor)
// calls Start when a call begins and one Finish when it ends; Add* as
// messages go. Thread-safe and lock-free: every method is a few relaxed
// atomic operations on this recorder's counters, so any number of threads
// record at once (contention only when they record the same method at the
// same moment). Made and owned by a StatsRegistry.
class MethodRecorder {
 public:
  // `unary`: every call has exactly one request and, when it ends OK, one
  // response, which FinishUnary counts by itself.
  MethodRecorder(std::string method, std::string transport, bool unary);
  MethodRecorder(const MethodRecorder&) = delete;
  MethodRecorder& operator=(const MethodRecorder&) = delete;

  const std::string& method() const { return method_; }
  const std::string& transport() const { return transport_; }
  bool unary() const { return unary_; }

  // A call begins; returns its start time (StatsClock ticks) for Finish.
  uint64_t Start() {
    started_.fetch_add(1, std::memory_order_relaxed);
    return internal::StatsClock::Now();
  }

  // A unary call that began at `start` ended with status `code`, having
  // received a request of `bytes_in` serialized bytes and sent a response
  // of `bytes_out` (0 if none).
  void FinishUnary(uint64_t start, int code, uint64_t bytes_in,
                   uint64_t bytes_out) {
    if (bytes_in != 0) bytes_in_.fetch_add(bytes_in, std::memory_order_relaxed);
    if (bytes_out != 0) {
      bytes_out_.fetch_add(bytes_out, std::memory_order_relaxed);
    }
    if (!unary_) {
      AddReceived(1, 0);
      if (code == 0) AddSent(1, 0);
    }
    Finish(start, code);
  }

  // A streaming call that began at `start` ended with status `code` (its
  // messages were counted by AddReceived and AddSent).
  void FinishStream(uint64_t start, int code) { Finish(start, code); }

  // Messages received from clients (`messages`, `bytes` serialized bytes)
  // and sent to them.
  void AddReceived(uint64_t messages, uint64_t bytes) {
    messages_in_.fetch_add(messages, std::memory_order_relaxed);
    if (bytes != 0) bytes_in_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void AddSent(uint64_t messages, uint64_t bytes) {
    messages_out_.fetch_add(messages, std::memory_order_relaxed);
    if (bytes != 0) bytes_out_.fetch_add(bytes, std::memory_order_relaxed);
  }

  // What it recorded so far, with latencies in microseconds at
  // `nanos_per_tick` (StatsClock::NanosPerTick()).
  MethodStatistics Snapshot(double nanos_per_tick) const;
  // Calls started so far (finished or not).
  uint64_t started() const { return started_.load(std::memory_order_relaxed); }

 private:
  void Finish(uint64_t start, int code) {
    const uint64_t now = internal::StatsClock::Now();
    // A clock that went backwards (it cannot, but a guess costs nothing)
    // counts as 0.
    const uint64_t ticks = now > start ? now - start : 0;
    if (code < 0 || code >= kStatusCodeCount) code = 2;  // UNKNOWN
    codes_[code].fetch_add(1, std::memory_order_relaxed);
    buckets_[internal::LatencyBucket(ticks)].fetch_add(
        1, std::memory_order_relaxed);
    latency_sum_.fetch_add(ticks, std::memory_order_relaxed);
    uint64_t max = latency_max_.load(std::memory_order_relaxed);
    while (ticks > max && !latency_max_.compare_exchange_weak(
                              max, ticks, std::memory_order_relaxed)) {
    }
  }

  const std::string method_;
  const std::string transport_;
  const bool unary_;
  // The counters, each written by relaxed read-modify-writes only. The hot
  // ones first, on their own cache lines, away from the names.
  alignas(64) std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> bytes_in_{0};
  std::atomic<uint64_t> bytes_out_{0};
  std::atomic<uint64_t> messages_in_{0};   // explicit counts only
  std::atomic<uint64_t> messages_out_{0};  // (see FinishUnary)
  std::atomic<uint64_t> latency_sum_{0};   // ticks
  std::atomic<uint64_t> latency_max_{0};   // ticks
  std::array<std::atomic<uint64_t>, kStatusCodeCount> codes_{};
  std::array<std::atomic<uint64_t>, internal::kLatencyBuckets> buckets_{};
};

// The recorders of a server (or of several servers and a grpc::Server that
// share it), one per (method, transport). Thread-safe. Recorders live as
// long as the registry and are never removed.
class StatsRegistry {
 public:
  // At most this many recorders; calls of further methods are recorded
  // under the method name kOverflowMethod (a gRPC server that records every
  // method name a client makes up stays bounded).
  static constexpr size_t kMaxRecorders = 4096;
  static constexpr char kOverflowMethod[] = "(other methods)";

  StatsRegistry();
  ~StatsRegistry();
  StatsRegistry(const StatsRegistry&) = delete;
  StatsRegistry& operator=(const StatsRegistry&) = delete;

  // The recorder of `method` on `transport`, made on first use (with
  // `unary`, see MethodRecorder). Takes a mutex: look it up once per method
  // (a server does, when it starts), not per call where speed matters.
  MethodRecorder* Recorder(absl::string_view method,
                           absl::string_view transport, bool unary);

  // The recorder of `method` on `transport` if one was made; null if not.
  MethodRecorder* Find(absl::string_view method,
                       absl::string_view transport) const;

  // Every recorder's snapshot, sorted by method, then transport; that of
  // kOverflowMethod only once it recorded a call.
  std::vector<MethodStatistics> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>,
           std::unique_ptr<MethodRecorder>>
      recorders_;  // guarded by mu_
};

}  // namespace shmrpc

#endif  // SHMRPC_SERVER_STATS_H_
