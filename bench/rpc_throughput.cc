// rpc_throughput: unary calls per second, tail latency, stalls and CPU per
// call of shmrpc against gRPC under concurrency, at fixed request rates, and
// what idle channels cost the server, all from one run.
//
//   bazel run -c opt //bench:rpc_throughput -- --csv=/tmp/throughput.csv
//
// Every call is one unary RoundTrip of shmrpc.bench.LatencyBench
// (proto/bench.proto) with a 64-byte payload each way, made through the
// transport's blocking stub with a fresh ClientContext. For EVERY call the
// client writes every byte of the request with a seed of its own, the server
// checks every byte and writes every byte of the response with a seed derived
// from the request's and from whether the call reached it over shared memory,
// and the client checks every byte and that seed (bench/latency_service.h).
// A call that failed, was corrupted, or took the other path (a shm-* call
// that reached the server over gRPC, or the reverse) stops the run; so does a
// shm-* channel that is not on shared memory at the start or the end of a
// measurement. A row therefore cannot silently measure the wrong path.
//
// Transports:
//   shm-stub   the generated shmrpc stub (ShmLatencyBench::Stub) on a channel
//              from shmrpc::CreateChannel("localhost:PORT", ...);
//   shm-creds  gRPC's unchanged stub (LatencyBench::Stub) on a channel made
//              with shmrpc::ShmChannelCredentials;
//   grpc-uds   gRPC over a Unix domain socket (unix:PATH);
//   grpc-tcp   gRPC over TCP loopback (127.0.0.1:PORT).
//   grpc-floor gRPC's unchanged stub on a channel whose last interceptor
//              answers every call at once, in the calling thread, as the
//              server would (it checks the request and writes the
//              response): no transport and no server at all. What gRPC's
//              own client machinery costs per call; shm-creds pays it and
//              more, so it bounds what shm-creds can reach on this machine
//              (closed-loop rows: calls/s; open-loop rows: CPU per call).
//              With the server's share added ("bound:" lines): a closed-loop
//              row can complete at most CPUs / (grpc-floor's client CPU per
//              call in the same row + the least server CPU per call of any
//              shm-stub closed-loop row) calls per second. That bound
//              lets the server's CPU go to the clients between requests for
//              free; a polling server keeps a CPU, so with one the clients
//              have CPUs - 1 at most ("with a polling server" lines).
//   grpc+poll, grpc+sleep
//              the handoff floors (closed-loop rows): grpc-floor, except
//              that before answering, the interceptor takes the request's
//              64-byte payload to the server process and back through a
//              wake floor (below), whose server polls for the next call
//              (grpc+poll; its callers look for the answer for 2 us before
//              they sleep) or sleeps until woken (grpc+sleep). gRPC's stub
//              plus the least a handoff to another process costs, and no
//              RPC: the floor of a transport under gRPC's stub that waits in
//              either way, as shm-creds does (it polls while that pays and
//              sleeps otherwise).
//   wake-floor the least any transport that sleeps between calls costs
//              (bench/wake_floor.h): per call, the server thread woken from
//              its sleep, 64 B written and checked each way in shared
//              memory, the caller woken from its sleep, with the futex
//              calls our transport uses, and no RPC at all. Its answering
//              thread is the server process's main thread, so its CPU
//              counts as the server's; with several callers, one wake-up
//              answers every request it finds. It bounds shm-stub's CPU per
//              call at a fixed rate; grpc+sleep and grpc+poll hand their
//              calls to it.
//
// Rows (`--list` prints their names; `--rows` picks some):
//   TRANSPORT/tN     closed loop: N threads (1, 2, 4, 8, 32) of one client
//                    process share one channel; each makes its next call as
//                    soon as the last one returns.
//   TRANSPORT/p2x4   closed loop: 2 client processes, each with its own
//                    channel and 4 threads.
//   TRANSPORT/open1k, TRANSPORT/open10k
//                    open loop at a fixed rate (1,000 and 10,000 calls/s in
//                    all): --open-threads threads (default 4) of one process
//                    share one channel and take turns in a fixed schedule
//                    (call i is due at anchor + i / rate). A call's latency
//                    is measured from the time it was due, not from when it
//                    was sent, so that a stall that delays the calls behind
//                    it shows in their latency instead of being hidden
//                    (coordinated omission). Only the pacer's own timer
//                    overshoot is left out: when a thread slept until a call
//                    was due, latency counts from when it woke.
//   shm-stub/idleN   N (0, 10, 50) shm-stub channels in one client process,
//                    each having made one call, then idle: the server's RSS
//                    (and how much of it is shared memory), threads and open
//                    fds, and the CPU both processes use while idle.
//
// Columns:
//   calls/s      calls that completed in the measurement window / its length.
//   p50, p99, p99.9
//                latency of every call that overlapped the window, from a
//                log-linear histogram (within 0.8% of the exact value).
//   max gap      the longest time in the window in which no call completed,
//                across all threads and processes of the row (the window's
//                edges count as completions, so a stall at either end shows).
//   CPU/call     CPU time (user + system, all threads) of the client
//                process(es) and of the server process over the window, from
//                their process CPU-time clocks, divided by the calls of the
//                window.
//   vcs/call     voluntary context switches (a thread blocked: futex, poll,
//                sleep) of the client process(es) and of the server per
//                call: roughly the sleep/wake-up cycles a call costs.
//   sched        while the row ran, the benchmark process slept 1 ms at a
//                time: the latest of those wake-ups. On a shared machine other
//                processes (or the hypervisor) can keep any thread off the
//                CPU for this long; a "max gap" no longer than it says more
//                about the machine than about the transport.
//   spread       (max - min) / mean of calls/s between the passes of the
//                row: how much the machine moved under it.
//
// Processes. The server process is forked first, before anything else
// exists: one grpc::Server on 127.0.0.1:0 and unix:PATH and one
// shmrpc::Server on the same TCP address, serving the same service object.
// The benchmark process itself only orchestrates: it never starts gRPC or a
// thread, so it forks a fresh client process for every measurement; that
// process makes its channel, connects it (one checked call), starts its
// threads, which call (warming up) until the window, and reports ready. The
// benchmark then gives every client process the same window on
// CLOCK_MONOTONIC (which all processes share), reads the CPU clocks of the
// server and of the clients at its start and end, and collects each
// client's latency histogram and completion times when it has finished.
// Every process dies with the benchmark (PR_SET_PDEATHSIG). Nothing is
// pinned unless --pin=on (clients on CPU 0, the server on CPU 1): by default
// the scheduler places threads as it would for any user.
//
// Closed- and open-loop rows are measured in --passes interleaved shares
// (default 2), so that a slow drift of the machine hits all rows alike; the
// idle rows come first, once each, on a server that has served nothing else.
//
// --client-spin-us and --server-spin-us set the spin phase of
// ShmChannelOptions::wait and ServerOptions::wait (default: shmrpc's
// defaults), to see what spinning buys and costs.
//
// abseil's deadlock detector. Debian's libabsl is built without NDEBUG, so
// absl::Mutex - every lock in gRPC's core - runs its debug-mode deadlock
// detector, which records every Lock() in one process-wide graph behind a
// global spinlock (bench_util.h, SetAbseilDeadlockDetection). It costs every
// gRPC call microseconds and serializes its threads; a release build of
// abseil, as gRPC's own release builds make it, has none of it. Unless
// --absl-deadlock-detection=on, every process turns it off before the fork,
// for every transport alike; =on shows what Debian's default costs.

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grpcpp/channel.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/interceptor.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/bench_util.h"
#include "bench/latency_service.h"
#include "bench/wake_floor.h"
#include "proto/bench.grpc.pb.h"
#include "proto/bench.pb.h"
#include "proto/bench.shmrpc.h"
#include "shmrpc/shmrpc.h"

namespace shmrpc::bench {
namespace {

constexpr int kClientCpu = 0;
constexpr int kServerCpu = 1;
constexpr uint32_t kPayloadBytes = 64;

// The targets of issue 7.
constexpr double kStubVsUdsAt1 = 50.0;
constexpr double kStubVsUdsAt8 = 20.0;
constexpr double kCredsVsUds = 10.0;
constexpr uint64_t kMaxGapNs = 20'000'000;
constexpr double kCpuVsUdsAt1k = 5.0;

// ---- errors -----------------------------------------------------------------

// The private SHMRPC_DIR, the process that owns it, and the children to kill
// when the benchmark dies.
std::string g_shm_dir;
pid_t g_main_pid = 0;
std::vector<pid_t> g_children;

void RemoveShmDir() {
  if (g_shm_dir.empty() || ::getpid() != g_main_pid) return;
  RemoveFlatDirectory(g_shm_dir);
  g_shm_dir.clear();
}

// Prints "rpc_throughput (<side>): <message>" and ends the process: the
// benchmark process kills its children and removes its directory first; a
// client process just exits (the benchmark notices). A benchmark that
// measured corrupted data, or the wrong path, must not print numbers.
[[noreturn]] void Die(const std::string& side, const std::string& message) {
  std::fprintf(stderr, "rpc_throughput (%s): %s\n", side.c_str(),
               message.c_str());
  std::fflush(stderr);
  if (::getpid() != g_main_pid) _exit(1);
  for (pid_t child : g_children) {
    if (child > 0) ::kill(child, SIGKILL);
  }
  RemoveShmDir();
  std::exit(1);
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// ---- rows -------------------------------------------------------------------

enum class Transport {
  kShmStub,
  kShmCreds,
  kGrpcUds,
  kGrpcTcp,
  kGrpcFloor,
  kWakeFloor,
  kGrpcSleepFloor,
  kGrpcPollFloor
};
constexpr Transport kAllTransports[] = {
    Transport::kShmStub, Transport::kShmCreds, Transport::kGrpcUds,
    Transport::kGrpcTcp};

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::kShmStub:
      return "shm-stub";
    case Transport::kShmCreds:
      return "shm-creds";
    case Transport::kGrpcUds:
      return "grpc-uds";
    case Transport::kGrpcTcp:
      return "grpc-tcp";
    case Transport::kGrpcFloor:
      return "grpc-floor";
    case Transport::kWakeFloor:
      return "wake-floor";
    case Transport::kGrpcSleepFloor:
      return "grpc+sleep";
    case Transport::kGrpcPollFloor:
      return "grpc+poll";
  }
  return "?";
}

bool IsShm(Transport t) {
  return t == Transport::kShmStub || t == Transport::kShmCreds;
}

enum class Kind { kClosed, kOpen, kIdle };

struct RowSpec {
  std::string name;  // "shm-stub/t8"
  std::string kind;  // "t8"
  Transport transport;
  Kind type;
  int processes = 1;
  int threads = 1;   // per process
  double rate = 0;   // open loop: calls/s in all
  int channels = 0;  // idle
};

constexpr int kClosedThreads[] = {1, 2, 4, 8, 32};
constexpr double kOpenRates[] = {1000, 10000};
constexpr int kIdleChannels[] = {0, 10, 50};

// Every row, in the order of the tables.
std::vector<RowSpec> AllRows(int open_threads) {
  std::vector<RowSpec> rows;
  for (int channels : kIdleChannels) {
    RowSpec r;
    r.kind = "idle" + std::to_string(channels);
    r.transport = Transport::kShmStub;
    r.name = std::string(TransportName(r.transport)) + "/" + r.kind;
    r.type = Kind::kIdle;
    r.threads = 0;
    r.channels = channels;
    rows.push_back(r);
  }
  auto closed = [&](const std::string& kind, int processes, int threads) {
    std::vector<Transport> transports(std::begin(kAllTransports),
                                      std::end(kAllTransports));
    transports.push_back(Transport::kGrpcFloor);
    transports.push_back(Transport::kWakeFloor);
    transports.push_back(Transport::kGrpcSleepFloor);
    transports.push_back(Transport::kGrpcPollFloor);
    for (Transport t : transports) {
      RowSpec r;
      r.kind = kind;
      r.transport = t;
      r.name = std::string(TransportName(t)) + "/" + kind;
      r.type = Kind::kClosed;
      r.processes = processes;
      r.threads = threads;
      rows.push_back(r);
    }
  };
  for (int n : kClosedThreads) closed("t" + std::to_string(n), 1, n);
  closed("p2x4", 2, 4);
  for (double rate : kOpenRates) {
    std::vector<Transport> transports(std::begin(kAllTransports),
                                      std::end(kAllTransports));
    transports.push_back(Transport::kGrpcFloor);
    transports.push_back(Transport::kWakeFloor);
    for (Transport t : transports) {
      RowSpec r;
      r.kind = "open" + std::to_string(static_cast<int>(rate / 1000)) + "k";
      r.transport = t;
      r.name = std::string(TransportName(t)) + "/" + r.kind;
      r.type = Kind::kOpen;
      r.threads = open_threads;
      r.rate = rate;
      rows.push_back(r);
    }
  }
  return rows;
}

// ---- command line -----------------------------------------------------------

struct Options {
  std::string csv;
  std::vector<std::string> patterns;  // empty: every row
  double scale = 1.0;
  int passes = 2;
  bool pin = false;
  int open_threads = 4;
  int client_spin_us = -1;  // -1: shmrpc's default
  int server_spin_us = -1;
  bool absl_deadlock_detection = false;
  bool list = false;
};

constexpr char kUsage[] =
    "usage: rpc_throughput [--csv=PATH] [--rows=LIST] [--scale=X]\n"
    "                      [--passes=N] [--pin=on|off] [--open-threads=N]\n"
    "                      [--client-spin-us=N] [--server-spin-us=N]\n"
    "                      [--absl-deadlock-detection=on|off] [--list]\n"
    "  --csv=PATH           also write the results as CSV to PATH\n"
    "  --rows=LIST          comma-separated patterns; a row is measured if a\n"
    "                       pattern is its transport (shm-stub), its kind\n"
    "                       (t8, p2x4, open1k, idle10) or matches its full "
    "name\n"
    "                       as a glob (shm-*/t1); default: every row\n"
    "  --scale=X            scale every measurement's duration (default 1:\n"
    "                       about 3 minutes in all; 0.2 for a quick look)\n"
    "  --passes=N           measure closed- and open-loop rows in N\n"
    "                       interleaved shares (default 2)\n"
    "  --pin=on|off         on: client processes on CPU 0, the server on\n"
    "                       CPU 1; off (default): no pinning\n"
    "  --open-threads=N     sender threads of the open-loop rows (default 4)\n"
    "  --client-spin-us=N   ShmChannelOptions::wait.spin (default: shmrpc's)\n"
    "  --server-spin-us=N   ServerOptions::wait.spin (default: shmrpc's)\n"
    "  --absl-deadlock-detection=on|off\n"
    "                       abseil's debug-mode deadlock detector, which\n"
    "                       Debian's abseil runs in every absl::Mutex (all\n"
    "                       of gRPC's locks); off (default): as a release\n"
    "                       build of abseil, in every process and row\n"
    "  --list               print the rows' names and exit\n";

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "rpc_throughput: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

long ParseInt(const std::string& flag, const std::string& value, long lo,
              long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) {
    UsageError("bad value for --" + flag + ": '" + value + "'");
  }
  return v;
}

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--list") {
      o.list = true;
      continue;
    }
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      UsageError("unknown argument '" + arg + "'");
    }
    const std::string flag = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    if (flag == "csv") {
      if (value.empty()) UsageError("--csv needs a path");
      o.csv = value;
    } else if (flag == "rows") {
      for (const std::string& p : SplitCommas(value)) {
        if (!p.empty()) o.patterns.push_back(p);
      }
    } else if (flag == "scale") {
      char* end = nullptr;
      o.scale = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(o.scale > 0) || o.scale > 100) {
        UsageError("bad value for --scale: '" + value + "'");
      }
    } else if (flag == "passes") {
      o.passes = static_cast<int>(ParseInt(flag, value, 1, 100));
    } else if (flag == "pin") {
      if (value != "on" && value != "off") {
        UsageError("bad value for --pin: '" + value + "'");
      }
      o.pin = value == "on";
    } else if (flag == "open-threads") {
      o.open_threads = static_cast<int>(ParseInt(flag, value, 1, 256));
    } else if (flag == "client-spin-us") {
      o.client_spin_us = static_cast<int>(ParseInt(flag, value, 0, 1000000));
    } else if (flag == "server-spin-us") {
      o.server_spin_us = static_cast<int>(ParseInt(flag, value, 0, 1000000));
    } else if (flag == "absl-deadlock-detection") {
      const std::optional<bool> on = ParseOnOff(value);
      if (!on) UsageError("bad value for --" + flag + ": '" + value + "'");
      o.absl_deadlock_detection = *on;
    } else {
      UsageError("unknown flag '--" + flag + "'");
    }
  }
  return o;
}

bool Matches(const Options& o, const RowSpec& row) {
  if (o.patterns.empty()) return true;
  for (const std::string& p : o.patterns) {
    if (p == TransportName(row.transport) || p == row.kind ||
        ::fnmatch(p.c_str(), row.name.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

// Seconds of measurement per row (all passes together) and of the phases
// around it, at --scale=1.
constexpr double kClosedSeconds = 2.0;
constexpr double kOpenSeconds = 3.0;
constexpr double kWarmupSeconds = 0.25;
constexpr double kIdleSettleSeconds = 1.0;
constexpr double kIdleSeconds = 2.0;
// How long a client process may take to connect and report ready, and to
// deliver its results after the window.
constexpr auto kReadyTimeout = std::chrono::seconds(60);
constexpr auto kResultTimeout = std::chrono::seconds(60);

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(s));
}

// ---- the client process -----------------------------------------------------

// What a client process is asked to do.
struct WorkerSpec {
  RowSpec row;
  int index = 0;       // among the row's processes
  uint32_t slice = 0;  // unique per measurement, for the seeds
  int cpu = -1;
  std::string shm_target;  // localhost:PORT
  std::string tcp_target;  // 127.0.0.1:PORT
  std::string uds_target;  // unix:PATH
  ShmChannelOptions shm_options;
  WakeFloor* wake_floor = nullptr;  // shared with the server process
};

// The window, as the benchmark process sends it.
struct Go {
  uint64_t start_ns;
  uint64_t end_ns;
};

// What a client process sends back after the window.
struct ResultHeader {
  uint64_t magic;
  uint64_t completions;  // calls completed in the window (times follow)
};
constexpr uint64_t kResultMagic = 0x7468726f75676870ull;

// Per thread of a client process.
struct ThreadLog {
  LatencyHistogram latency;
  ChunkedLog<uint64_t> completions;  // steady_clock ns, ascending
};

struct Window {
  std::atomic<uint64_t> start{UINT64_MAX};
  std::atomic<uint64_t> end{UINT64_MAX};
  // The calling threads stay (blocked) after the window until the benchmark
  // has read the process's context switches, which the kernel forgets with
  // the thread.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;

  void AwaitRelease() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
    cv.notify_all();
  }
};

uint64_t NowNs() { return ToNs(Clock::now()); }

// The index of the calling thread in its client process (set by OneCall),
// for the grpc+sleep and grpc+poll rows' wake-floor slot.
thread_local int t_call_thread = 0;

// The wake floor that grpc+sleep and grpc+poll hand every call to, the
// first slot of this process (its threads use slot_base + thread), and
// whether the floor's server polls for the next call (grpc+poll).
struct Handoff {
  WakeFloor* floor = nullptr;
  int slot_base = 0;
  bool server_polls = false;
};

// grpc-floor: answers every unary call of gRPC's stub in the calling thread,
// as LatencyService does, without a transport or a server (gRPC's public
// experimental interceptor API, as shmrpc's credentials use it).
// grpc+sleep, grpc+poll: the same, after a round trip of the request's
// 64-byte payload through a wake floor to the server process (`handoff`):
// gRPC's stub plus the least a cross-process handoff costs, with no RPC.
class FloorInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit FloorInterceptor(Handoff handoff) : handoff_(handoff) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    using H = grpc::experimental::InterceptionHookPoints;
    if (m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE)) {
      request_ = static_cast<const LatencyRequest*>(m->GetSendMessage());
    }
    if (!hijacked_) {
      hijacked_ = true;
      m->Hijack();  // gRPC calls back with this batch's receive ops
      return;
    }
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE)) {
      auto* response = static_cast<LatencyResponse*>(m->GetRecvMessage());
      const std::string& in = request_->payload();
      absl::Status handoff;
      if (handoff_.floor != nullptr) {
        handoff =
            WakeFloorCall(handoff_.floor, handoff_.slot_base + t_call_thread,
                          static_cast<uint32_t>(in.size()), request_->seed(),
                          handoff_.server_polls);
      }
      if (!handoff.ok()) {
        status_ = grpc::Status(grpc::StatusCode::DATA_LOSS,
                               std::string(handoff.message()));
        m->FailHijackedRecvMessage();
      } else if (CheckPayload(in.data(), in.size(), request_->seed()) != 0) {
        status_ = grpc::Status(grpc::StatusCode::DATA_LOSS, "bad request");
        m->FailHijackedRecvMessage();
      } else {
        const uint64_t seed = ResponseSeed(request_->seed(), false);
        std::string* out = response->mutable_payload();
        out->resize(in.size());
        WritePayload(out->data(), out->size(), seed);
        response->set_seed(seed);
      }
    }
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_STATUS)) {
      *m->GetRecvStatus() = status_;
    }
    m->Proceed();
  }

 private:
  const Handoff handoff_;
  bool hijacked_ = false;
  const LatencyRequest* request_ = nullptr;
  grpc::Status status_;
};

class FloorInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit FloorInterceptorFactory(Handoff handoff) : handoff_(handoff) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new FloorInterceptor(handoff_);
  }

 private:
  const Handoff handoff_;
};

// wake-floor's "stub": the shared floor and the first slot of this process
// (its threads use slot_base + thread).
struct WakeFloorStub {
  WakeFloor* floor;
  int slot_base;
};

// One channel and stub of the row's transport (wake-floor: no channel).
struct Client {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ShmLatencyBench::Stub> shm_stub;
  std::unique_ptr<LatencyBench::Stub> grpc_stub;
  std::unique_ptr<WakeFloorStub> wake_floor;
};

Client MakeClient(const WorkerSpec& spec) {
  Client c;
  const Transport t = spec.row.transport;
  const grpc::ChannelArguments args;
  switch (t) {
    case Transport::kShmStub:
      c.channel = shmrpc::CreateChannel(spec.shm_target,
                                        grpc::InsecureChannelCredentials(),
                                        spec.shm_options, args);
      c.shm_stub = ShmLatencyBench::NewStub(c.channel);
      break;
    case Transport::kShmCreds:
      c.channel = grpc::CreateCustomChannel(
          spec.shm_target,
          shmrpc::ShmChannelCredentials(grpc::InsecureChannelCredentials(),
                                        spec.shm_options),
          args);
      break;
    case Transport::kGrpcUds:
      c.channel = grpc::CreateCustomChannel(
          spec.uds_target, grpc::InsecureChannelCredentials(), args);
      break;
    case Transport::kGrpcTcp:
      c.channel = grpc::CreateCustomChannel(
          spec.tcp_target, grpc::InsecureChannelCredentials(), args);
      break;
    case Transport::kGrpcFloor:
    case Transport::kGrpcSleepFloor:
    case Transport::kGrpcPollFloor: {
      Handoff handoff;
      if (t != Transport::kGrpcFloor) {
        handoff.floor = spec.wake_floor;
        handoff.slot_base = spec.index * spec.row.threads;
        handoff.server_polls = t == Transport::kGrpcPollFloor;
      }
      std::vector<std::unique_ptr<
          grpc::experimental::ClientInterceptorFactoryInterface>>
          interceptors;
      interceptors.push_back(
          std::make_unique<FloorInterceptorFactory>(handoff));
      // Never connects: every call is answered by the interceptor.
      c.channel = grpc::experimental::CreateCustomChannelWithInterceptors(
          spec.uds_target, grpc::InsecureChannelCredentials(), args,
          std::move(interceptors));
      break;
    }
    case Transport::kWakeFloor:
      c.wake_floor = std::make_unique<WakeFloorStub>(
          WakeFloorStub{spec.wake_floor, spec.index * spec.row.threads});
      return c;
  }
  if (c.shm_stub == nullptr) c.grpc_stub = LatencyBench::NewStub(c.channel);
  return c;
}

// Runs f(stub) with the client's stub, whichever type it is.
template <typename F>
void WithStub(Client& c, F&& f) {
  if (c.shm_stub != nullptr) {
    f(*c.shm_stub);
  } else if (c.wake_floor != nullptr) {
    f(*c.wake_floor);
  } else {
    f(*c.grpc_stub);
  }
}

// One call of a row, every payload byte written and checked: `thread` is
// the calling thread's index (its wake-floor slot).
template <class Stub>
absl::Status OneCall(Stub& stub, LatencyRequest& request,
                     LatencyResponse& response, uint64_t seed, bool shm,
                     int thread) {
  t_call_thread = thread;
  return CheckedRoundTrip(stub, request, response, kPayloadBytes, seed, shm);
}
absl::Status OneCall(WakeFloorStub& stub, LatencyRequest&, LatencyResponse&,
                     uint64_t seed, bool, int thread) {
  return WakeFloorCall(stub.floor, stub.slot_base + thread, kPayloadBytes,
                       seed);
}

// A shm-* channel must be on shared memory; a grpc-* one must not be.
void CheckPath(const std::string& side, const Client& c, Transport t,
               const char* when) {
  if (!IsShm(t)) return;
  if (shmrpc::GetChannelPath(c.channel) != ChannelPath::kSharedMemory) {
    Die(side, std::string(TransportName(t)) + " is not on shared memory " +
                  when + ": " + shmrpc::DescribeChannelPath(c.channel));
  }
}

// The calls of one thread. Closed loop: back to back. Open loop: thread
// `thread` of `threads` makes calls thread, thread + threads, ... of the
// schedule anchor + i * period. Every call that completes after the window
// opened is logged; the loop ends with the first call that would start (or
// is due) after the window closed.
template <class Stub>
void CallLoop(const std::string& side, Stub& stub, const WorkerSpec& spec,
              int thread, int threads, uint64_t anchor_ns, const Window& window,
              ThreadLog* log) {
  const Transport t = spec.row.transport;
  const bool shm = IsShm(t);
  const bool open = spec.row.type == Kind::kOpen;
  if (open) ::prctl(PR_SET_TIMERSLACK, 1UL);  // wake on time, not 50 us late
  const double period_ns = open ? 1e9 / spec.row.rate : 0;
  const uint64_t seed_base =
      (uint64_t{spec.slice} << 44) ^
      (uint64_t{static_cast<uint32_t>(spec.index)} << 40) ^
      (uint64_t{static_cast<uint32_t>(thread)} << 32);
  LatencyRequest request;
  LatencyResponse response;
  log->completions.Reserve(1 << 14);
  for (uint64_t i = static_cast<uint64_t>(thread);;
       i += static_cast<uint64_t>(threads)) {
    const uint64_t end = window.end.load(std::memory_order_relaxed);
    uint64_t origin;
    if (open) {
      const uint64_t due =
          anchor_ns + static_cast<uint64_t>(static_cast<double>(i) * period_ns);
      if (due >= end) break;
      origin = due;
      if (NowNs() < due) {
        SleepUntil(FromNs(due));
        origin = NowNs();  // the pacer's overshoot is not the transport's
      }
    } else {
      origin = NowNs();
      if (origin >= end) break;
    }
    const absl::Status s =
        OneCall(stub, request, response, Mix64(seed_base ^ i), shm, thread);
    const uint64_t done = NowNs();
    if (!s.ok()) {
      Die(side, std::string(TransportName(t)) + " call: " + s.ToString());
    }
    if (done >= window.start.load(std::memory_order_relaxed)) {
      log->latency.Record(done - origin);
      log->completions.Append(done);
    }
  }
}

// A client process for a closed- or open-loop row: never returns.
[[noreturn]] void RunLoadWorker(const WorkerSpec& spec, int command_fd,
                                int result_fd) {
  const std::string side =
      spec.row.name + " client " + std::to_string(spec.index);
  Client client = MakeClient(spec);
  // Connect: one checked call, then the path must be the row's.
  WithStub(client, [&](auto& stub) {
    LatencyRequest request;
    LatencyResponse response;
    const absl::Status s = OneCall(stub, request, response,
                                   Mix64(uint64_t{spec.slice} << 44 | 0xfffff),
                                   IsShm(spec.row.transport), /*thread=*/0);
    if (!s.ok()) Die(side, "first call: " + s.ToString());
  });
  CheckPath(side, client, spec.row.transport, "after the first call");

  Window window;
  const int threads = spec.row.threads;
  std::vector<ThreadLog> logs(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  const uint64_t anchor = NowNs();
  for (int k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      WithStub(client, [&](auto& stub) {
        CallLoop(side, stub, spec, k, threads, anchor, window,
                 &logs[static_cast<size_t>(k)]);
      });
      window.AwaitRelease();
    });
  }
  const char ready = 'R';
  if (!WriteFull(result_fd, &ready, 1).ok()) Die(side, "cannot report ready");
  Go go{};
  if (absl::Status s = ReadFull(command_fd, &go, sizeof(go),
                                Clock::now() + std::chrono::minutes(10));
      !s.ok()) {
    Die(side, "no window from the benchmark: " + s.ToString());
  }
  window.start.store(go.start_ns, std::memory_order_relaxed);
  window.end.store(go.end_ns, std::memory_order_relaxed);
  char collect = 0;
  if (absl::Status s = ReadFull(command_fd, &collect, 1,
                                Clock::now() + std::chrono::minutes(10));
      !s.ok() || collect != 'C') {
    Die(side, "no word to collect from the benchmark");
  }
  window.Release();
  for (std::thread& t : pool) t.join();
  CheckPath(side, client, spec.row.transport, "at the end");

  LatencyHistogram latency;
  std::vector<uint64_t> completions;
  for (const ThreadLog& log : logs) {
    latency.Merge(log.latency);
    log.completions.ForEach([&](uint64_t t) {
      if (t <= go.end_ns) completions.push_back(t);
    });
  }
  std::sort(completions.begin(), completions.end());
  const ResultHeader header{kResultMagic, completions.size()};
  if (!WriteFull(result_fd, &header, sizeof(header)).ok() ||
      !WriteFull(result_fd, latency.counts(),
                 LatencyHistogram::kBuckets * sizeof(uint64_t))
           .ok() ||
      !WriteFull(result_fd, completions.data(),
                 completions.size() * sizeof(uint64_t))
           .ok()) {
    Die(side, "cannot send the results");
  }
  client = Client();
  _exit(0);
}

// A client process for an idle row: `channels` shm-stub channels, one
// checked call on each, then nothing until the benchmark says stop.
[[noreturn]] void RunIdleWorker(const WorkerSpec& spec, int command_fd,
                                int result_fd) {
  const std::string side = spec.row.name + " client";
  std::vector<Client> clients;
  for (int i = 0; i < spec.row.channels; ++i) {
    clients.push_back(MakeClient(spec));
    LatencyRequest request;
    LatencyResponse response;
    WithStub(clients.back(), [&](auto& stub) {
      const absl::Status s = OneCall(stub, request, response,
                                     Mix64(static_cast<uint64_t>(i)), true, 0);
      if (!s.ok()) Die(side, "call: " + s.ToString());
    });
    CheckPath(side, clients.back(), spec.row.transport, "after its call");
  }
  const char ready = 'R';
  if (!WriteFull(result_fd, &ready, 1).ok()) Die(side, "cannot report ready");
  Go go{};
  (void)ReadFull(command_fd, &go, sizeof(go),
                 Clock::now() + std::chrono::minutes(10));
  for (const Client& c : clients) {
    CheckPath(side, c, spec.row.transport, "at the end");
  }
  clients.clear();
  _exit(0);
}

// ---- the benchmark process --------------------------------------------------

struct Worker {
  pid_t pid = -1;
  int command_fd = -1;  // we write
  int result_fd = -1;   // we read
};

// Forks a client process for `spec` (the benchmark process has no thread
// and no gRPC state, so the child starts clean).
Worker SpawnWorker(const WorkerSpec& spec) {
  if (CountThreads(0) != 1) Die("main", "more than one thread before fork()");
  int command[2], result[2];
  if (::pipe2(command, O_CLOEXEC) != 0 || ::pipe2(result, O_CLOEXEC) != 0) {
    Die("main", std::string("pipe: ") + std::strerror(errno));
  }
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) Die("main", std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) {
      _exit(3);
    }
    ::close(command[1]);
    ::close(result[0]);
    if (spec.cpu >= 0) {
      if (absl::Status s = PinCallingThread(spec.cpu); !s.ok()) {
        Die(spec.row.name + " client", std::string(s.message()));
      }
    }
    if (spec.row.type == Kind::kIdle) {
      RunIdleWorker(spec, command[0], result[1]);
    }
    RunLoadWorker(spec, command[0], result[1]);
  }
  ::close(command[0]);
  ::close(result[1]);
  g_children.push_back(pid);
  return Worker{pid, command[1], result[0]};
}

// Waits (bounded) for worker `w` to exit; it must exit with status 0.
void Reap(const std::string& row, Worker& w, Clock::time_point deadline) {
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(w.pid, &status, WNOHANG);
    if (r == w.pid) break;
    if (r < 0 && errno != EINTR) {
      Die("main", "waitpid: " + std::string(std::strerror(errno)));
    }
    if (Clock::now() >= deadline) {
      ::kill(w.pid, SIGKILL);
      ::waitpid(w.pid, &status, 0);
      Die("main", "a client process of " + row + " did not exit in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  g_children.erase(std::remove(g_children.begin(), g_children.end(), w.pid),
                   g_children.end());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die("main", "a client process of " + row + " failed (" +
                    DescribeExit(status) + ")");
  }
  ::close(w.command_fd);
  ::close(w.result_fd);
  w = Worker();
}

// A worker whose pipe failed: report how it ended, if it did.
[[noreturn]] void WorkerFailed(const std::string& row, Worker& w,
                               const absl::Status& s) {
  int status = 0;
  std::string how = "still running";
  ::kill(w.pid, SIGKILL);
  if (::waitpid(w.pid, &status, 0) == w.pid) how = DescribeExit(status);
  Die("main",
      "client process of " + row + ": " + s.ToString() + " (" + how + ")");
}

uint64_t CpuOf(pid_t pid) {
  absl::StatusOr<uint64_t> ns = ProcessCpuNs(pid);
  if (!ns.ok()) Die("main", ns.status().ToString());
  return *ns;
}

// What the benchmark reads from the kernel at a window's edges.
struct Sample {
  uint64_t server_cpu = 0;
  uint64_t client_cpu = 0;
  ThreadSwitches server_cs;
  std::vector<ThreadSwitches> client_cs;  // per worker
};

Sample TakeSample(pid_t server, const std::vector<Worker>& workers) {
  Sample s;
  s.server_cpu = CpuOf(server);
  s.server_cs = CountContextSwitches(server);
  for (const Worker& w : workers) {
    s.client_cpu += CpuOf(w.pid);
    s.client_cs.push_back(CountContextSwitches(w.pid));
  }
  return s;
}

void AddSwitches(const Sample& s0, const Sample& s1, ContextSwitches* client,
                 ContextSwitches* server) {
  const ContextSwitches srv = SwitchesBetween(s0.server_cs, s1.server_cs);
  server->voluntary += srv.voluntary;
  server->involuntary += srv.involuntary;
  for (size_t i = 0; i < s1.client_cs.size() && i < s0.client_cs.size(); ++i) {
    const ContextSwitches c = SwitchesBetween(s0.client_cs[i], s1.client_cs[i]);
    client->voluntary += c.voluntary;
    client->involuntary += c.involuntary;
  }
}

// A closed- or open-loop row, summed over its passes.
struct LoadResult {
  RowSpec row;
  double seconds = 0;
  uint64_t calls = 0;
  LatencyHistogram latency;
  uint64_t max_gap_ns = 0;
  uint64_t sched_max_ns = 0;  // the latest wake-up of a 1 ms sleeper
  uint64_t client_cpu_ns = 0;
  uint64_t server_cpu_ns = 0;
  ContextSwitches client_cs;
  ContextSwitches server_cs;
  std::vector<double> pass_rates;  // calls/s of each pass

  double rate() const { return seconds > 0 ? calls / seconds : 0; }
  double PerCall(uint64_t total) const {
    return calls > 0 ? static_cast<double>(total) / static_cast<double>(calls)
                     : 0;
  }
  // CPU time of the client process(es) and the server per call.
  double cpu_per_call_ns() const {
    return PerCall(client_cpu_ns + server_cpu_ns);
  }
  double spread() const {
    if (pass_rates.size() < 2) return 0;
    const auto [lo, hi] =
        std::minmax_element(pass_rates.begin(), pass_rates.end());
    double mean = 0;
    for (double r : pass_rates) mean += r;
    mean /= static_cast<double>(pass_rates.size());
    return mean > 0 ? (*hi - *lo) / mean : 0;
  }
};

struct IdleResult {
  RowSpec row;
  ProcStatus server;
  int server_fds = 0;
  double seconds = 0;
  uint64_t server_cpu_ns = 0;
  uint64_t client_cpu_ns = 0;
  ContextSwitches server_cs;
};

struct Env {
  pid_t server = -1;
  WorkerSpec base;  // targets and options
  const Options* options = nullptr;
};

// Sleeps 1 ms at a time until `end` and returns how late the latest of
// those wake-ups came: what the machine (other processes, the hypervisor)
// costs a blocked thread in the meantime, a floor for the "max gap" of the
// rows. About 1,000 wake-ups a second of this process, which is not
// counted in any row's CPU.
uint64_t WorstWakeUpUntil(Clock::time_point end) {
  ::prctl(PR_SET_TIMERSLACK, 1UL);
  uint64_t worst = 0;
  for (;;) {
    const Clock::time_point target =
        Clock::now() + std::chrono::milliseconds(1);
    if (target >= end) return worst;
    SleepUntil(target);
    worst = std::max(worst, ToNs(Clock::now()) - ToNs(target));
  }
}

// Measures one share of a closed- or open-loop row.
void MeasureSlice(const Env& env, uint32_t slice, double seconds,
                  LoadResult* result) {
  const RowSpec& row = result->row;
  std::vector<Worker> workers;
  for (int p = 0; p < row.processes; ++p) {
    WorkerSpec spec = env.base;
    spec.row = row;
    spec.index = p;
    spec.slice = slice;
    workers.push_back(SpawnWorker(spec));
  }
  for (Worker& w : workers) {
    char ready = 0;
    if (absl::Status s =
            ReadFull(w.result_fd, &ready, 1, Clock::now() + kReadyTimeout);
        !s.ok() || ready != 'R') {
      WorkerFailed(row.name, w, s.ok() ? absl::InternalError("bad ready") : s);
    }
  }
  const double warmup = std::max(0.1, kWarmupSeconds * env.options->scale);
  const Clock::time_point start = Clock::now() + Seconds(warmup);
  const Clock::time_point end = start + Seconds(seconds);
  const Go go{ToNs(start), ToNs(end)};
  for (Worker& w : workers) {
    if (absl::Status s = WriteFull(w.command_fd, &go, sizeof(go)); !s.ok()) {
      WorkerFailed(row.name, w, s);
    }
  }
  SleepUntil(start);
  const Clock::time_point t0 = Clock::now();
  const Sample s0 = TakeSample(env.server, workers);
  // Meanwhile, how late the machine wakes a sleeping thread (see the
  // header comment, "sched").
  result->sched_max_ns = std::max(result->sched_max_ns, WorstWakeUpUntil(end));
  SleepUntil(end);
  const Clock::time_point t1 = Clock::now();
  const Sample s1 = TakeSample(env.server, workers);
  for (Worker& w : workers) {
    const char collect = 'C';
    if (absl::Status s = WriteFull(w.command_fd, &collect, 1); !s.ok()) {
      WorkerFailed(row.name, w, s);
    }
  }

  std::vector<uint64_t> completions;
  for (Worker& w : workers) {
    const Clock::time_point deadline = Clock::now() + kResultTimeout;
    ResultHeader header{};
    absl::Status s = ReadFull(w.result_fd, &header, sizeof(header), deadline);
    if (s.ok() && header.magic != kResultMagic) {
      s = absl::DataLossError("malformed results");
    }
    std::vector<uint64_t> counts(LatencyHistogram::kBuckets);
    if (s.ok()) {
      s = ReadFull(w.result_fd, counts.data(), counts.size() * sizeof(uint64_t),
                   deadline);
    }
    const size_t before = completions.size();
    if (s.ok()) {
      completions.resize(before + header.completions);
      s = ReadFull(w.result_fd, completions.data() + before,
                   header.completions * sizeof(uint64_t), deadline);
    }
    if (!s.ok()) WorkerFailed(row.name, w, s);
    result->latency.MergeCounts(counts.data());
  }
  for (Worker& w : workers) Reap(row.name, w, Clock::now() + kResultTimeout);
  std::sort(completions.begin(), completions.end());

  // The clocks were read a little after the window's edges; CPU is scaled
  // to the window (the reads took well under a millisecond each).
  const double read_span = std::chrono::duration<double>(t1 - t0).count();
  const double scale = read_span > 0 ? seconds / read_span : 1.0;
  result->seconds += seconds;
  result->calls += completions.size();
  result->pass_rates.push_back(static_cast<double>(completions.size()) /
                               seconds);
  result->max_gap_ns = std::max(
      result->max_gap_ns, LongestGap(completions, go.start_ns, go.end_ns));
  result->client_cpu_ns += static_cast<uint64_t>(
      static_cast<double>(s1.client_cpu - s0.client_cpu) * scale);
  result->server_cpu_ns += static_cast<uint64_t>(
      static_cast<double>(s1.server_cpu - s0.server_cpu) * scale);
  AddSwitches(s0, s1, &result->client_cs, &result->server_cs);
}

IdleResult MeasureIdle(const Env& env, const RowSpec& row) {
  WorkerSpec spec = env.base;
  spec.row = row;
  std::vector<Worker> workers{SpawnWorker(spec)};
  Worker& w = workers.front();
  char ready = 0;
  if (absl::Status s =
          ReadFull(w.result_fd, &ready, 1, Clock::now() + kReadyTimeout);
      !s.ok() || ready != 'R') {
    WorkerFailed(row.name, w, s.ok() ? absl::InternalError("bad ready") : s);
  }
  // Let the server settle (threads parked, nothing in flight).
  std::this_thread::sleep_for(Seconds(
      std::max(0.5, kIdleSettleSeconds * std::min(1.0, env.options->scale))));
  IdleResult r;
  r.row = row;
  absl::StatusOr<ProcStatus> status = ReadProcStatus(env.server);
  if (!status.ok()) Die("main", status.status().ToString());
  r.server = *status;
  r.server_fds = CountOpenFds(env.server);
  const double seconds = std::max(0.5, kIdleSeconds * env.options->scale);
  const Clock::time_point t0 = Clock::now();
  const Sample s0 = TakeSample(env.server, workers);
  SleepUntil(t0 + Seconds(seconds));
  const Sample s1 = TakeSample(env.server, workers);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.server_cpu_ns = s1.server_cpu - s0.server_cpu;
  r.client_cpu_ns = s1.client_cpu - s0.client_cpu;
  ContextSwitches client_cs;
  AddSwitches(s0, s1, &client_cs, &r.server_cs);
  const Go stop{0, 0};
  if (absl::Status s = WriteFull(w.command_fd, &stop, sizeof(stop)); !s.ok()) {
    WorkerFailed(row.name, w, s);
  }
  Reap(row.name, w, Clock::now() + kResultTimeout);
  return r;
}

// ---- report -----------------------------------------------------------------

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// 1234567 -> "1,234,567".
std::string Thousands(double v) {
  std::string digits = std::to_string(static_cast<long long>(std::llround(v)));
  std::string out;
  int n = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (n > 0 && n % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++n;
  }
  return out;
}

const LoadResult* Find(const std::vector<LoadResult>& results, Transport t,
                       const std::string& kind) {
  for (const LoadResult& r : results) {
    if (r.row.transport == t && r.row.kind == kind) return &r;
  }
  return nullptr;
}

std::string LoadAverage() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "?";
  char buf[128] = {0};
  const bool ok = std::fgets(buf, sizeof(buf), f) != nullptr;
  std::fclose(f);
  if (!ok) return "?";
  std::string s = buf;
  // The first three fields.
  size_t at = 0;
  for (int i = 0; i < 3 && at != std::string::npos; ++i) {
    at = s.find(' ', at + 1);
  }
  return s.substr(0, at);
}

void PrintLoadTable(const std::vector<LoadResult>& results, bool open) {
  std::printf("\n%-17s %7s %11s %8s %9s %9s %9s %9s %9s %9s %6s %6s %6s\n",
              open ? "open loop" : "closed loop", "threads", "calls/s",
              open ? "CPU x" : "x uds", "p50", "p99", "p99.9", "max gap",
              "cli CPU", "srv CPU", "cli cs", "srv cs", "spread");
  for (const LoadResult& r : results) {
    if ((r.row.type == Kind::kOpen) != open) continue;
    std::string ratio = "-";
    const LoadResult* uds = Find(results, Transport::kGrpcUds, r.row.kind);
    if (uds != nullptr) {
      if (open) {
        const double mine = r.PerCall(r.client_cpu_ns + r.server_cpu_ns);
        const double theirs =
            uds->PerCall(uds->client_cpu_ns + uds->server_cpu_ns);
        if (mine > 0) ratio = Fixed(theirs / mine, 1) + "x";
      } else if (uds->rate() > 0) {
        ratio = Fixed(r.rate() / uds->rate(), 1) + "x";
      }
    }
    const std::string threads = r.row.processes > 1
                                    ? std::to_string(r.row.processes) + "x" +
                                          std::to_string(r.row.threads)
                                    : std::to_string(r.row.threads);
    std::printf(
        "%-17s %7s %11s %8s %9s %9s %9s %9s %9s %9s %9s %6s %6s %5.0f%%\n",
        r.row.name.c_str(), threads.c_str(), Thousands(r.rate()).c_str(),
        ratio.c_str(), FormatNs(r.latency.ValueAt(0.5)).c_str(),
        FormatNs(r.latency.ValueAt(0.99)).c_str(),
        FormatNs(r.latency.ValueAt(0.999)).c_str(),
        FormatNs(r.max_gap_ns).c_str(), FormatNs(r.sched_max_ns).c_str(),
        FormatNs(static_cast<uint64_t>(r.PerCall(r.client_cpu_ns))).c_str(),
        FormatNs(static_cast<uint64_t>(r.PerCall(r.server_cpu_ns))).c_str(),
        Fixed(r.PerCall(r.client_cs.voluntary), 2).c_str(),
        Fixed(r.PerCall(r.server_cs.voluntary), 2).c_str(), 100 * r.spread());
  }
}

void Report(const std::vector<LoadResult>& loads,
            const std::vector<IdleResult>& idles, const Options& options) {
  if (!idles.empty()) {
    std::printf("\n%-17s %10s %10s %10s %8s %6s %13s %11s %13s\n",
                "idle channels", "srv RSS", "anon", "shmem", "threads", "fds",
                "srv CPU idle", "srv wakes", "cli CPU idle");
    for (const IdleResult& r : idles) {
      std::printf(
          "%-17s %6.1f MiB %6.1f MiB %6.1f MiB %8d %6d %8.2f ms/s %9.1f/s "
          "%8.2f ms/s\n",
          r.row.name.c_str(), r.server.rss_kib / 1024.0,
          r.server.rss_anon_kib / 1024.0, r.server.rss_shmem_kib / 1024.0,
          r.server.threads, r.server_fds,
          static_cast<double>(r.server_cpu_ns) / 1e6 / r.seconds,
          static_cast<double>(r.server_cs.voluntary) / r.seconds,
          static_cast<double>(r.client_cpu_ns) / 1e6 / r.seconds);
    }
    std::printf(
        "(server RSS, of it anonymous and shared memory, threads and fds "
        "with N idle channels\n connected; CPU per second of wall time, and "
        "the server's voluntary context switches\n per second, while idle)\n");
  }
  PrintLoadTable(loads, false);
  std::printf(
      "(x uds: calls/s / grpc-uds calls/s with the same threads; sched: the "
      "latest wake-up of a\n 1 ms sleeper in the benchmark process meanwhile "
      "(the machine's own stalls); cli/srv CPU:\n CPU time per call of the "
      "client process(es) and of the server; cs: voluntary context\n "
      "switches per call; spread: (max - min) / mean calls/s of the "
      "passes)\n");
  PrintLoadTable(loads, true);
  std::printf(
      "(CPU x: grpc-uds (client + server) CPU per call / this row's; latency "
      "from each call's due time)\n\n");

  // The targets, from this run.
  auto target = [&](const std::string& what, const LoadResult* a,
                    const LoadResult* b, bool cpu, double bound) {
    if (a == nullptr || b == nullptr) {
      std::printf("target: %-52s not measured in this run\n", what.c_str());
      return;
    }
    double ratio = 0;
    if (cpu) {
      const double mine = a->cpu_per_call_ns();
      const double theirs = b->cpu_per_call_ns();
      ratio = mine > 0 ? theirs / mine : 0;
    } else {
      ratio = b->rate() > 0 ? a->rate() / b->rate() : 0;
    }
    std::printf("target: %-52s %8.1fx  %s\n", (what + ":").c_str(), ratio,
                ratio >= bound ? "met" : "MISSED");
  };
  target("shm-stub/t1 calls/s >= 50x grpc-uds/t1",
         Find(loads, Transport::kShmStub, "t1"),
         Find(loads, Transport::kGrpcUds, "t1"), false, kStubVsUdsAt1);
  target("shm-stub/t8 calls/s >= 20x grpc-uds/t8",
         Find(loads, Transport::kShmStub, "t8"),
         Find(loads, Transport::kGrpcUds, "t8"), false, kStubVsUdsAt8);
  std::vector<std::string> kinds;
  for (int n : kClosedThreads) kinds.push_back("t" + std::to_string(n));
  kinds.push_back("p2x4");
  for (const std::string& kind : kinds) {
    target("shm-creds/" + kind + " calls/s >= 10x grpc-uds/" + kind,
           Find(loads, Transport::kShmCreds, kind),
           Find(loads, Transport::kGrpcUds, kind), false, kCredsVsUds);
  }
  // What gRPC's own client machinery leaves for shm-creds.
  for (const std::string& kind : kinds) {
    const LoadResult* floor = Find(loads, Transport::kGrpcFloor, kind);
    const LoadResult* creds = Find(loads, Transport::kShmCreds, kind);
    const LoadResult* uds = Find(loads, Transport::kGrpcUds, kind);
    if (floor == nullptr || uds == nullptr || uds->rate() <= 0 ||
        floor->rate() <= 0) {
      continue;
    }
    std::printf(
        "floor:  grpc-floor/%-5s (gRPC's stub, no transport) = %5.1fx "
        "grpc-uds; shm-creds reaches %3.0f%% of it\n",
        kind.c_str(), floor->rate() / uds->rate(),
        creds != nullptr ? 100 * creds->rate() / floor->rate() : 0.0);
  }
  // And with the server added: the machine's CPUs must pay, per call, at
  // least gRPC's stub in the client (grpc-floor's client CPU per call of the
  // same row) and at least what our server was measured to spend on a call
  // in any shm-stub row of this run (the least, so the bound is generous).
  double least_server_ns = 0;
  for (const LoadResult& r : loads) {
    if (r.row.transport != Transport::kShmStub || r.row.type != Kind::kClosed) {
      continue;
    }
    const double ns = r.PerCall(r.server_cpu_ns);
    if (ns > 0 && (least_server_ns == 0 || ns < least_server_ns)) {
      least_server_ns = ns;
    }
  }
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  for (const std::string& kind : kinds) {
    const LoadResult* floor = Find(loads, Transport::kGrpcFloor, kind);
    const LoadResult* creds = Find(loads, Transport::kShmCreds, kind);
    const LoadResult* uds = Find(loads, Transport::kGrpcUds, kind);
    if (floor == nullptr || uds == nullptr || uds->rate() <= 0 ||
        least_server_ns <= 0 || cpus <= 0) {
      continue;
    }
    const double per_call_ns =
        floor->PerCall(floor->client_cpu_ns) + least_server_ns;
    const double bound = static_cast<double>(cpus) * 1e9 / per_call_ns;
    std::printf(
        "bound:  shm-creds/%-5s calls/s <= %ld CPUs / (grpc-floor's client "
        "%s + shm-stub's least server %s) = %5.1fx grpc-uds; shm-creds "
        "reaches %3.0f%% of it\n",
        kind.c_str(), cpus,
        FormatNs(static_cast<uint64_t>(floor->PerCall(floor->client_cpu_ns)))
            .c_str(),
        FormatNs(static_cast<uint64_t>(least_server_ns)).c_str(),
        bound / uds->rate(),
        creds != nullptr ? 100 * creds->rate() / bound : 0.0);
  }
  // The bound above lets the server's CPU go to the clients between
  // requests for free. It cannot: how the server waits for its next request
  // decides what the CPUs have left for gRPC's stub in the clients. The
  // handoff floors measure it: gRPC's stub plus the request's payload taken
  // to the server process and back through a wake floor whose server polls
  // for the next call (grpc+poll) or sleeps until woken (grpc+sleep), and no
  // RPC at all. And a polling server keeps a CPU, so the clients have
  // CPUs - 1 at most, even if waiting cost them nothing.
  for (const std::string& kind : kinds) {
    const LoadResult* floor = Find(loads, Transport::kGrpcFloor, kind);
    const LoadResult* poll = Find(loads, Transport::kGrpcPollFloor, kind);
    const LoadResult* sleep = Find(loads, Transport::kGrpcSleepFloor, kind);
    const LoadResult* creds = Find(loads, Transport::kShmCreds, kind);
    const LoadResult* uds = Find(loads, Transport::kGrpcUds, kind);
    if (uds == nullptr || uds->rate() <= 0) continue;
    if (poll != nullptr && sleep != nullptr) {
      const double best = std::max(poll->rate(), sleep->rate());
      std::printf(
          "floor:  shm-creds/%-5s gRPC's stub + a handoff, no RPC: grpc+poll "
          "%5.1fx, grpc+sleep %5.1fx grpc-uds; shm-creds reaches %3.0f%% of "
          "the better; %gx is %s\n",
          kind.c_str(), poll->rate() / uds->rate(), sleep->rate() / uds->rate(),
          creds != nullptr && best > 0 ? 100 * creds->rate() / best : 0.0,
          kCredsVsUds,
          best / uds->rate() >= kCredsVsUds ? "within them"
                                            : "beyond both on this machine");
    }
    if (floor != nullptr && cpus > 1 && floor->client_cpu_ns > 0) {
      const double client_ns = floor->PerCall(floor->client_cpu_ns);
      std::printf(
          "bound:  shm-creds/%-5s with a polling server <= (CPUs - 1) / "
          "grpc-floor's client %s = %5.1fx grpc-uds (waiting and RPC work "
          "free)\n",
          kind.c_str(), FormatNs(static_cast<uint64_t>(client_ns)).c_str(),
          static_cast<double>(cpus - 1) * 1e9 / client_ns / uds->rate());
    }
  }
  target("shm-stub/open1k CPU per call 5x below grpc-uds",
         Find(loads, Transport::kShmStub, "open1k"),
         Find(loads, Transport::kGrpcUds, "open1k"), true, kCpuVsUdsAt1k);
  target("shm-creds/open1k CPU per call 5x below grpc-uds",
         Find(loads, Transport::kShmCreds, "open1k"),
         Find(loads, Transport::kGrpcUds, "open1k"), true, kCpuVsUdsAt1k);
  // A floor's CPU per call at a fixed rate against grpc-uds, and how many
  // times the floor's `mine` spends.
  auto cpu_floor = [&](const char* kind, Transport floor_t, const char* what,
                       Transport mine_t) {
    const LoadResult* floor = Find(loads, floor_t, kind);
    const LoadResult* mine = Find(loads, mine_t, kind);
    const LoadResult* uds = Find(loads, Transport::kGrpcUds, kind);
    if (floor == nullptr || uds == nullptr || floor->cpu_per_call_ns() <= 0) {
      return;
    }
    std::printf(
        "floor:  %s/%-7s (%s) CPU per call %5.1fx below grpc-uds; %s spends "
        "%4.1fx the floor's\n",
        TransportName(floor_t), kind, what,
        uds->cpu_per_call_ns() / floor->cpu_per_call_ns(),
        TransportName(mine_t),
        mine != nullptr ? mine->cpu_per_call_ns() / floor->cpu_per_call_ns()
                        : 0.0);
  };
  for (const char* kind : {"open1k", "open10k"}) {
    // What sleeping between calls costs at least, which shm-stub pays and
    // more.
    cpu_floor(kind, Transport::kWakeFloor, "a futex wake-up each way, no RPC",
              Transport::kShmStub);
    // What gRPC's own client machinery costs, which shm-creds pays on top of
    // its transport and its server.
    cpu_floor(kind, Transport::kGrpcFloor, "gRPC's stub, no transport",
              Transport::kShmCreds);
    // So shm-creds pays at least both: gRPC's stub in the client, and in the
    // server what any server that sleeps between calls pays.
    const LoadResult* grpc_floor = Find(loads, Transport::kGrpcFloor, kind);
    const LoadResult* wake = Find(loads, Transport::kWakeFloor, kind);
    const LoadResult* uds = Find(loads, Transport::kGrpcUds, kind);
    if (grpc_floor == nullptr || wake == nullptr || uds == nullptr) continue;
    const double bound_ns = grpc_floor->PerCall(grpc_floor->client_cpu_ns) +
                            wake->PerCall(wake->server_cpu_ns);
    if (bound_ns <= 0) continue;
    std::printf(
        "bound:  shm-creds/%-8s CPU per call >= grpc-floor's client + "
        "wake-floor's server = %s: at best %4.1fx below grpc-uds\n",
        kind, FormatNs(static_cast<uint64_t>(bound_ns)).c_str(),
        uds->cpu_per_call_ns() / bound_ns);
  }
  std::string over;
  for (const LoadResult& r : loads) {
    if (r.max_gap_ns > kMaxGapNs) {
      over += (over.empty() ? "" : ", ") + r.row.name + " " +
              FormatNs(r.max_gap_ns);
    }
  }
  if (!loads.empty()) {
    std::printf("target: %-52s %9s  %s\n",
                "no row has a gap without completions > 20 ms:", "",
                over.empty() ? "met" : "MISSED");
    if (!over.empty()) std::printf("        longer gaps: %s\n", over.c_str());
    uint64_t sched = 0;
    for (const LoadResult& r : loads) sched = std::max(sched, r.sched_max_ns);
    std::printf(
        "        (meanwhile the machine woke a sleeping thread up to %s "
        "late)\n",
        FormatNs(sched).c_str());
  }

  if (options.csv.empty()) return;
  std::FILE* f = std::fopen(options.csv.c_str(), "w");
  if (f == nullptr) {
    Die("main", "cannot open " + options.csv + ": " + std::strerror(errno));
  }
  std::fprintf(
      f,
      "row,transport,kind,processes,threads,rate_target,seconds,"
      "calls,calls_per_s,p50_ns,p99_ns,p999_ns,max_gap_ns,sched_max_ns,"
      "client_cpu_ns_per_call,server_cpu_ns_per_call,"
      "client_vcs_per_call,server_vcs_per_call,client_ics_per_call,"
      "server_ics_per_call,pass_spread,idle_channels,server_rss_kib,"
      "server_rss_anon_kib,server_rss_shmem_kib,server_threads,"
      "server_fds,server_idle_cpu_ms_per_s,client_idle_cpu_ms_per_s,"
      "server_idle_vcs_per_s\n");
  for (const IdleResult& r : idles) {
    std::fprintf(f,
                 "%s,%s,%s,1,0,,%.3f,,,,,,,,,,,,,,%d,%llu,%llu,%llu,%d,%d,%.3f,"
                 "%.3f,%.1f\n",
                 r.row.name.c_str(), TransportName(r.row.transport),
                 r.row.kind.c_str(), r.seconds, r.row.channels,
                 static_cast<unsigned long long>(r.server.rss_kib),
                 static_cast<unsigned long long>(r.server.rss_anon_kib),
                 static_cast<unsigned long long>(r.server.rss_shmem_kib),
                 r.server.threads, r.server_fds,
                 static_cast<double>(r.server_cpu_ns) / 1e6 / r.seconds,
                 static_cast<double>(r.client_cpu_ns) / 1e6 / r.seconds,
                 static_cast<double>(r.server_cs.voluntary) / r.seconds);
  }
  for (const LoadResult& r : loads) {
    std::fprintf(
        f,
        "%s,%s,%s,%d,%d,%.0f,%.3f,%llu,%.1f,%llu,%llu,%llu,%llu,%llu,%.1f,%.1f,"
        "%.3f,%.3f,%.3f,%.3f,%.3f,,,,,,,,,\n",
        r.row.name.c_str(), TransportName(r.row.transport), r.row.kind.c_str(),
        r.row.processes, r.row.threads, r.row.rate, r.seconds,
        static_cast<unsigned long long>(r.calls), r.rate(),
        static_cast<unsigned long long>(r.latency.ValueAt(0.5)),
        static_cast<unsigned long long>(r.latency.ValueAt(0.99)),
        static_cast<unsigned long long>(r.latency.ValueAt(0.999)),
        static_cast<unsigned long long>(r.max_gap_ns),
        static_cast<unsigned long long>(r.sched_max_ns),
        r.PerCall(r.client_cpu_ns), r.PerCall(r.server_cpu_ns),
        r.PerCall(r.client_cs.voluntary), r.PerCall(r.server_cs.voluntary),
        r.PerCall(r.client_cs.involuntary), r.PerCall(r.server_cs.involuntary),
        r.spread());
  }
  if (std::fclose(f) != 0) {
    Die("main", "cannot write " + options.csv + ": " + std::strerror(errno));
  }
  std::printf("wrote %s\n", options.csv.c_str());
}

int Main(int argc, char** argv) {
  g_main_pid = ::getpid();
  const Options options = ParseFlags(argc, argv);
  std::vector<RowSpec> rows;
  for (const RowSpec& r : AllRows(options.open_threads)) {
    if (Matches(options, r)) rows.push_back(r);
  }
  if (options.list) {
    for (const RowSpec& r : AllRows(options.open_threads)) {
      std::printf("%s\n", r.name.c_str());
    }
    return 0;
  }
  if (rows.empty()) UsageError("--rows matches no row (see --list)");
  if (options.pin && !CanPinTo(kClientCpu, kServerCpu)) {
    UsageError("--pin=on needs CPUs 0 and 1");
  }
  // Before any fork(), so that every process gets it (see the header).
  SetAbseilDeadlockDetection(options.absl_deadlock_detection);

  // A private endpoint directory, in the environment before any fork() so
  // that every process derives the same endpoint from "localhost:PORT".
  char dir_template[] = "/tmp/shmrpc-rpc-throughput-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    Die("main", std::string("mkdtemp: ") + std::strerror(errno));
  }
  g_shm_dir = dir_template;
  if (::setenv("SHMRPC_DIR", g_shm_dir.c_str(), 1) != 0) {
    Die("main", std::string("setenv: ") + std::strerror(errno));
  }
  const std::string uds_path = g_shm_dir + "/grpc.sock";

  BenchServerConfig server_config;
  server_config.uds_path = uds_path;
  server_config.cpu = options.pin ? kServerCpu : -1;
  if (options.server_spin_us >= 0) {
    server_config.shm_options.wait.spin =
        std::chrono::microseconds(options.server_spin_us);
  }
  // wake-floor's shared page, inherited by the server (whose main thread
  // answers it) and by every client process.
  int wake_floor_slots = 0;
  for (const RowSpec& r : AllRows(options.open_threads)) {
    wake_floor_slots = std::max(wake_floor_slots, r.processes * r.threads);
  }
  WakeFloor* const wake_floor = CreateWakeFloor(wake_floor_slots);
  server_config.also_serve = [wake_floor] { RunWakeFloorServer(wake_floor); };
  if (CountThreads(0) != 1) Die("main", "more than one thread before fork()");
  int fds[2];
  if (::pipe(fds) != 0)
    Die("main", std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t server = ::fork();
  if (server < 0) Die("main", std::string("fork: ") + std::strerror(errno));
  if (server == 0) {
    ::close(fds[0]);
    RunBenchServerProcess(g_main_pid, fds[1], server_config);
  }
  g_children.push_back(server);
  ::close(fds[1]);
  const absl::StatusOr<int> port = ReadBenchServerPort(fds[0]);
  if (!port.ok()) Die("main", std::string(port.status().message()));

  Env env;
  env.server = server;
  env.options = &options;
  env.base.cpu = options.pin ? kClientCpu : -1;
  env.base.shm_target = "localhost:" + std::to_string(*port);
  env.base.tcp_target = "127.0.0.1:" + std::to_string(*port);
  env.base.uds_target = "unix:" + uds_path;
  env.base.wake_floor = wake_floor;
  if (options.client_spin_us >= 0) {
    env.base.shm_options.wait.spin =
        std::chrono::microseconds(options.client_spin_us);
  }

  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  std::printf("rpc_throughput: %ld CPUs online, load average %s\n", cpus,
              LoadAverage().c_str());
  std::printf("server process %d: SHMRPC_DIR=%s, gRPC on 127.0.0.1:%d and %s\n",
              static_cast<int>(server), g_shm_dir.c_str(), *port,
              env.base.uds_target.c_str());
  std::printf("%s; client spin %s, server spin %s; %d B payloads\n",
              options.pin ? "clients pinned to CPU 0, the server to CPU 1"
                          : "nothing pinned",
              options.client_spin_us >= 0
                  ? (std::to_string(options.client_spin_us) + " us").c_str()
                  : "default",
              options.server_spin_us >= 0
                  ? (std::to_string(options.server_spin_us) + " us").c_str()
                  : "default",
              kPayloadBytes);
  std::printf("abseil's deadlock detector: %s\n",
              options.absl_deadlock_detection
                  ? "on (Debian's default) in every process"
                  : "off in every process (as a release build of abseil)");
  std::printf("steady_clock::now() costs ~%llu ns (read twice per call)\n",
              static_cast<unsigned long long>(ClockOverheadNs()));
  std::fflush(stdout);

  const Clock::time_point began = Clock::now();
  std::vector<IdleResult> idles;
  for (const RowSpec& r : rows) {
    if (r.type != Kind::kIdle) continue;
    idles.push_back(MeasureIdle(env, r));
    std::printf("  %-17s measured (%.0f s)\n", r.name.c_str(),
                std::chrono::duration<double>(Clock::now() - began).count());
    std::fflush(stdout);
  }
  std::vector<LoadResult> loads;
  for (const RowSpec& r : rows) {
    if (r.type == Kind::kIdle) continue;
    LoadResult result;
    result.row = r;
    loads.push_back(std::move(result));
  }
  uint32_t slice = 0;
  for (int pass = 0; pass < options.passes && !loads.empty(); ++pass) {
    std::printf("pass %d/%d (%.0f s)\n", pass + 1, options.passes,
                std::chrono::duration<double>(Clock::now() - began).count());
    std::fflush(stdout);
    for (LoadResult& result : loads) {
      const double total =
          (result.row.type == Kind::kOpen ? kOpenSeconds : kClosedSeconds) *
          options.scale;
      MeasureSlice(env, ++slice, total / options.passes, &result);
      if (::waitpid(server, nullptr, WNOHANG) != 0) {
        Die("main", "the server process died");
      }
    }
  }
  std::printf("measured in %.0f s; load average now %s\n",
              std::chrono::duration<double>(Clock::now() - began).count(),
              LoadAverage().c_str());

  ::kill(server, SIGKILL);
  ::waitpid(server, nullptr, 0);
  g_children.clear();
  RemoveShmDir();
  Report(loads, idles, options);
  return 0;
}

}  // namespace
}  // namespace shmrpc::bench

int main(int argc, char** argv) { return shmrpc::bench::Main(argc, argv); }
