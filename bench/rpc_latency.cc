// rpc_latency: unary call latency of shmrpc against gRPC's own transports and
// against the machine's floor, all from one run.
//
//   bazel run -c opt //bench:rpc_latency -- --csv=/tmp/rpc.csv
//
// Every call is one unary RoundTrip of shmrpc.bench.LatencyBench
// (proto/bench.proto) carrying a payload of 64 B to 4 MiB each way. For EVERY
// call, on every transport:
//   - the client writes every byte of the request's payload with a pattern
//     that differs from call to call (into the same request object, whose
//     string keeps its capacity, so that malloc does not dominate);
//   - the server reads every byte of it and checks each 64-bit word against
//     the pattern (a mismatch fails the call with DATA_LOSS), then writes
//     every byte of a response payload of the same size;
//   - the client reads every byte of the response and checks it the same
//     way, aborting on any mismatch.
// A sample is the wall time (std::chrono::steady_clock) of all of that:
// writing the request, the call through the stub (ClientContext included),
// and checking the response. Rows report the median (p50) and 99th
// percentile (p99) of their samples.
//
// Transports (--transports picks a subset):
//
//   shm-stub     The generated shmrpc stub (ShmLatencyBench::Stub) on a
//                channel from shmrpc::CreateChannel("localhost:PORT", ...):
//                the call goes over shared memory without touching gRPC.
//   shm-flat     The generated stub's flat form (ShmFlatBench::Stub, flat
//                messages, cc_shm_grpc_library(flat = True)) on the same
//                kind of channel: the client writes every byte of the
//                request's payload straight into its shared-memory chunk
//                through the builder, the server checks every byte through
//                the view where it lies and writes every byte of the
//                response's payload in its own chunk, the client checks
//                every byte where it lies: no serialize, no parse, no copy.
//                Both sides write as touch-floor does.
//   shm-creds    The unchanged grpc_cpp_plugin stub (LatencyBench::Stub) on a
//                grpc::Channel made with shmrpc::ShmChannelCredentials
//                (grpc::CreateCustomChannel, i.e. grpc::CreateChannel plus the
//                raised message size limits): gRPC's call machinery runs, and
//                shmrpc's interceptor answers the call over shared memory.
//   grpc-tcp     Plain gRPC over TCP loopback (127.0.0.1:PORT).
//   grpc-uds     Plain gRPC over a Unix domain socket (unix:PATH).
//   grpc-inproc  gRPC's in-process transport (grpc::Server::InProcessChannel)
//                to a grpc::Server inside the benchmark process: gRPC's cost
//                without any socket.
//   spin-floor   No RPC: two threads ping-pong one cache line (the client
//                stores n+1 into an atomic counter in a shared memfd page, the
//                other thread spins until it sees n+1 and stores n+2, ...).
//                The cost of moving a cache line to the other core and back;
//                no cross-core call can beat it. Payload 0.
//   touch-floor  No RPC either: the spin-floor exchange plus the payload work
//                that every row above must do, on two plain buffers shared by
//                the two threads: the client writes the request payload, the
//                other thread (on the server CPU) checks every byte and
//                writes the response payload, the client checks every byte.
//                What the payload work alone costs at each size: a zero-copy
//                transport, whose peers wrote and read their payloads in
//                place in shared memory, would take this long. Its writes go
//                to lines the other core has just read, so from
//                transport::kStreamingCopyMinBytes (32 KiB) on they use
//                streaming stores, as shmrpc does for everything it copies
//                into shared memory (transport/peer_copy.h); with ordinary
//                stores this row would take about 2.5x longer at 1 MiB on
//                the 2-core VM.
//
// Processes and CPUs. The server process is forked before the benchmark
// creates any thread or gRPC object (gRPC does not survive fork). It runs one
// grpc::Server listening on 127.0.0.1:0 and on unix:PATH, and one
// shmrpc::Server on the same TCP address, both serving the same service
// object; it dies with the benchmark (PR_SET_PDEATHSIG). Both processes use a
// private SHMRPC_DIR (a fresh directory under /tmp, removed at the end) for
// the shared-memory endpoint. With at least two CPUs the benchmark process is
// pinned to CPU 0 and the server process to CPU 1 (their threads inherit
// that), so every call crosses cores. For the two in-process transports the
// "server" threads are put on CPU 1 as well: the spin-floor partner thread
// pins itself, and the grpc-inproc server is built and started by a helper
// thread pinned to CPU 1, so the server's threads (which inherit the
// affinity of the thread that creates them) run there while the client stays
// on CPU 0. gRPC's process-wide threads are created by the client thread
// (grpc_init() runs on CPU 0 first).
//
// Memory allocator. Unless --malloc=default, both processes turn off glibc's
// returning of freed memory to the kernel (M_TRIM_THRESHOLD 1 GiB) and its
// sliding mmap threshold (M_MMAP_THRESHOLD 32 MiB) before the fork. With
// glibc's defaults, whether a freed multi-MiB buffer goes back to the kernel
// (madvise/munmap) and is page-faulted in again on the next call depends on
// the allocation history: gRPC's 4 MiB calls measured ~1.8 ms when run alone
// and ~28 ms when interleaved with 64 B rows, about half of it in page
// faults. The setting applies to every transport alike; --malloc=default
// shows what an untuned process gets.
//
// abseil's deadlock detector. Debian's libabsl is built without NDEBUG, so
// absl::Mutex - every lock in gRPC's core - runs its debug-mode deadlock
// detector, which records every Lock() in one process-wide graph behind a
// global spinlock (bench_util.h, SetAbseilDeadlockDetection). It costs every
// gRPC call microseconds and serializes its threads; a release build of
// abseil, as gRPC's own release builds make it, has none of it. Unless
// --absl-deadlock-detection=on, every process turns it off before the fork,
// for every transport alike; =on shows what Debian's default costs.
//
// Rows are measured in --passes interleaved shares, each after its own
// warm-up, so that slow drifts of the machine hit all transports alike.
// Before the first pass every channel makes one call, and each shm-* channel
// must report shmrpc::ChannelPath::kSharedMemory; every response also says
// (through its seed) whether the server saw the call arrive over shared
// memory, and a shm-* call that did not, or a grpc-* call that did, aborts the
// run.

#include <dirent.h>
#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>
#include <malloc.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/bench_util.h"
#include "bench/latency_service.h"
#include "proto/bench.grpc.pb.h"
#include "proto/bench.pb.h"
#include "proto/bench.shmrpc.h"
#include "shmrpc/shmrpc.h"
#include "shmrpc/transport/futex.h"
#include "shmrpc/transport/segment.h"

namespace shmrpc::bench {
namespace {

constexpr int kClientCpu = 0;
constexpr int kServerCpu = 1;

// gRPC's message size limits, raised for the 4 MiB rows (and some room).
constexpr int kMaxMessageBytes = 64 << 20;

// ---- errors -----------------------------------------------------------------

// The private SHMRPC_DIR and the process that owns it (and removes it).
std::string g_shm_dir;
pid_t g_dir_owner = 0;

// Removes g_shm_dir and everything in it (sockets only; no subdirectories).
void RemoveShmDir() {
  if (g_shm_dir.empty() || ::getpid() != g_dir_owner) return;
  RemoveFlatDirectory(g_shm_dir);
  g_shm_dir.clear();
}

// Prints "rpc_latency (<side>): <message>", removes the temporary directory
// (in the benchmark process) and aborts. Used for every broken invariant: a
// benchmark that measured corrupted data, or the wrong transport, must not
// print numbers.
[[noreturn]] void Die(const char* side, const std::string& message) {
  std::fprintf(stderr, "rpc_latency (%s): %s\n", side, message.c_str());
  std::fflush(stderr);
  RemoveShmDir();
  std::abort();
}

// ---- transports and rows ----------------------------------------------------

enum class Transport {
  kSpinFloor,
  kTouchFloor,
  kShmFlat,
  kShmStub,
  kShmCreds,
  kGrpcInproc,
  kGrpcUds,
  kGrpcTcp,
};

// Also the order of the table.
constexpr Transport kAllTransports[] = {
    Transport::kSpinFloor, Transport::kTouchFloor, Transport::kShmFlat,
    Transport::kShmStub,   Transport::kShmCreds,   Transport::kGrpcInproc,
    Transport::kGrpcUds,   Transport::kGrpcTcp};

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::kSpinFloor:
      return "spin-floor";
    case Transport::kTouchFloor:
      return "touch-floor";
    case Transport::kShmFlat:
      return "shm-flat";
    case Transport::kShmStub:
      return "shm-stub";
    case Transport::kShmCreds:
      return "shm-creds";
    case Transport::kGrpcInproc:
      return "grpc-inproc";
    case Transport::kGrpcUds:
      return "grpc-uds";
    case Transport::kGrpcTcp:
      return "grpc-tcp";
  }
  return "?";
}

std::optional<Transport> ParseTransport(const std::string& name) {
  for (Transport t : kAllTransports) {
    if (name == TransportName(t)) return t;
  }
  return std::nullopt;
}

bool IsShm(Transport t) {
  return t == Transport::kShmStub || t == Transport::kShmCreds ||
         t == Transport::kShmFlat;
}

// The rows that make no call.
bool IsFloor(Transport t) {
  return t == Transport::kSpinFloor || t == Transport::kTouchFloor;
}

// Whether the transport needs the server process.
bool IsRemote(Transport t) {
  return !IsFloor(t) && t != Transport::kGrpcInproc;
}

constexpr uint32_t kDefaultPayloads[] = {64,      4 << 10, 64 << 10,
                                         1 << 20, 4 << 20, 16 << 20};

// One line of the result table, or the share of it measured in one pass.
struct Row {
  Transport transport;
  uint32_t payload_bytes;
  uint32_t warmup;  // untimed calls first
  uint32_t calls;   // timed calls
  // A round trip on an open bidirectional stream (PingPong: one message each
  // way) instead of a unary call.
  bool stream = false;
};

// See transport_rtt.cc: every pass measures a share of every row.
struct Slice {
  uint32_t row;  // index into the table
  Row part;      // this pass's share of it (with its own warm-up)
};

struct Result {
  Row row;
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
};

// ---- command line -----------------------------------------------------------

struct Options {
  std::string csv;                       // empty: print only
  bool tune_malloc = true;               // --malloc=tuned
  bool absl_deadlock_detection = false;  // --absl-deadlock-detection=on
  double calls = 1.0;  // scale factor for the default call counts
  uint32_t passes = 5;
  std::vector<Transport> transports{std::begin(kAllTransports),
                                    std::end(kAllTransports)};
  std::vector<uint32_t> payloads{std::begin(kDefaultPayloads),
                                 std::end(kDefaultPayloads)};
  bool streams = true;  // --streams=on: the ping-pong rows too
};

constexpr char kUsage[] =
    "usage: rpc_latency [--csv=PATH] [--transports=LIST] [--payloads=LIST]\n"
    "                   [--calls=X] [--passes=N] [--malloc=tuned|default]\n"
    "                   [--absl-deadlock-detection=on|off]\n"
    "                   [--streams=on|off]\n"
    "  --csv=PATH         also write the results as CSV to PATH\n"
    "  --transports=LIST  comma-separated subset of spin-floor, touch-floor,\n"
    "                     shm-flat,\n"
    "                     shm-stub, shm-creds, grpc-inproc, grpc-uds,\n"
    "                     grpc-tcp\n"
    "                     (default: all)\n"
    "  --payloads=LIST    comma-separated payload sizes in bytes, multiples\n"
    "                     of 8; K/KiB and M/MiB suffixes allowed (default:\n"
    "                     64,4KiB,64KiB,1MiB,4MiB)\n"
    "  --calls=X          scale every row's number of timed calls by X\n"
    "                     (default 1; e.g. 0.1 for a quick look)\n"
    "  --passes=N         measure every row in N interleaved shares, each\n"
    "                     after its own warm-up (default 5)\n"
    "  --malloc=M         'tuned' (default): no glibc heap trimming and a\n"
    "                     fixed mmap threshold in both processes; 'default':\n"
    "                     glibc's defaults\n"
    "  --absl-deadlock-detection=on|off\n"
    "                     abseil's debug-mode deadlock detector, which\n"
    "                     Debian's abseil runs in every absl::Mutex (all of\n"
    "                     gRPC's locks); off (default): as a release build\n"
    "                     of abseil, in both processes\n"
    "  --streams=on|off   on (default): also the ping-pong rows, a round\n"
    "                     trip on an open bidirectional stream (one message\n"
    "                     each way) for shm-stub, shm-creds, grpc-uds and\n"
    "                     grpc-tcp at every payload\n";

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "rpc_latency: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

uint32_t ParseSize(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || end == text.c_str() || errno != 0) {
    UsageError("bad payload size '" + text + "'");
  }
  std::string suffix = end;
  for (char& c : suffix) c = static_cast<char>(std::tolower(c));
  unsigned long long scale = 1;
  if (suffix == "k" || suffix == "kib") {
    scale = 1ull << 10;
  } else if (suffix == "m" || suffix == "mib") {
    scale = 1ull << 20;
  } else if (!suffix.empty() && suffix != "b") {
    UsageError("bad payload size '" + text + "'");
  }
  const unsigned long long bytes = v * scale;
  if (bytes % 8 != 0 || bytes > (32ull << 20)) {
    UsageError("payload size '" + text +
               "' must be a multiple of 8 and at most 32 MiB");
  }
  return static_cast<uint32_t>(bytes);
}

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
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
    } else if (flag == "calls") {
      char* end = nullptr;
      o.calls = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(o.calls > 0) || o.calls > 1000) {
        UsageError("bad value for --calls: '" + value + "'");
      }
    } else if (flag == "passes") {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v < 1 || v > 1000) {
        UsageError("bad value for --passes: '" + value + "'");
      }
      o.passes = static_cast<uint32_t>(v);
    } else if (flag == "malloc") {
      if (value != "tuned" && value != "default") {
        UsageError("bad value for --malloc: '" + value + "'");
      }
      o.tune_malloc = value == "tuned";
    } else if (flag == "absl-deadlock-detection") {
      const std::optional<bool> on = ParseOnOff(value);
      if (!on) UsageError("bad value for --" + flag + ": '" + value + "'");
      o.absl_deadlock_detection = *on;
    } else if (flag == "streams") {
      const std::optional<bool> on = ParseOnOff(value);
      if (!on) UsageError("bad value for --" + flag + ": '" + value + "'");
      o.streams = *on;
    } else if (flag == "transports") {
      o.transports.clear();
      for (const std::string& name : SplitCommas(value)) {
        std::optional<Transport> t = ParseTransport(name);
        if (!t) UsageError("unknown transport '" + name + "'");
        if (std::find(o.transports.begin(), o.transports.end(), *t) ==
            o.transports.end()) {
          o.transports.push_back(*t);
        }
      }
    } else if (flag == "payloads") {
      o.payloads.clear();
      for (const std::string& text : SplitCommas(value)) {
        const uint32_t bytes = ParseSize(text);
        if (std::find(o.payloads.begin(), o.payloads.end(), bytes) ==
            o.payloads.end()) {
          o.payloads.push_back(bytes);
        }
      }
      std::sort(o.payloads.begin(), o.payloads.end());
    } else {
      UsageError("unknown flag '--" + flag + "'");
    }
  }
  return o;
}

bool Selected(const Options& o, Transport t) {
  return std::find(o.transports.begin(), o.transports.end(), t) !=
         o.transports.end();
}

// Timed calls of a row at --calls=1: enough for a stable p99 where calls are
// cheap, fewer where one call takes milliseconds, so that the default run
// measures for about a minute on a 2-core machine (--malloc=default makes the
// gRPC 4 MiB rows several times slower).
uint32_t DefaultCalls(Transport t, uint32_t payload) {
  if (t == Transport::kSpinFloor) return 400000;
  if (IsShm(t) || t == Transport::kTouchFloor) {
    if (payload <= (4u << 10)) return 100000;
    if (payload <= (64u << 10)) return 20000;
    if (payload <= (1u << 20)) return 3000;
    if (payload <= (4u << 20)) return 1000;
    return 300;
  }
  if (payload <= (4u << 10)) return 20000;
  if (payload <= (64u << 10)) return 10000;
  if (payload <= (1u << 20)) return 2000;
  if (payload <= (4u << 20)) return 600;
  return 150;
}

std::vector<Row> PlanRows(const Options& o) {
  std::vector<Row> rows;
  for (Transport t : kAllTransports) {
    if (!Selected(o, t)) continue;
    std::vector<uint32_t> payloads = o.payloads;
    if (t == Transport::kSpinFloor) payloads = {0};
    for (uint32_t payload : payloads) {
      const double scaled = std::ceil(DefaultCalls(t, payload) * o.calls);
      const uint32_t calls = static_cast<uint32_t>(
          std::clamp(scaled, static_cast<double>(o.passes), 1e8));
      rows.push_back(Row{t, payload, 0, calls});
    }
  }
  if (!o.streams) return rows;
  for (Transport t : {Transport::kShmStub, Transport::kShmCreds,
                      Transport::kGrpcUds, Transport::kGrpcTcp}) {
    if (!Selected(o, t)) continue;
    for (uint32_t payload : o.payloads) {
      const double scaled = std::ceil(DefaultCalls(t, payload) * o.calls);
      const uint32_t calls = static_cast<uint32_t>(
          std::clamp(scaled, static_cast<double>(o.passes), 1e8));
      rows.push_back(Row{t, payload, 0, calls, /*stream=*/true});
    }
  }
  return rows;
}

// Cuts every row into `passes` shares and orders them pass by pass. Each
// share warms up with a fifth of its timed calls (at least 10, at most 2000).
std::vector<Slice> PlanSchedule(const std::vector<Row>& rows, uint32_t passes) {
  std::vector<Slice> schedule;
  for (uint32_t pass = 0; pass < passes; ++pass) {
    for (uint32_t r = 0; r < rows.size(); ++r) {
      const Row& row = rows[r];
      const uint32_t timed = ShareOf(row.calls, passes, pass);
      if (timed == 0) continue;
      const uint32_t warmup = std::clamp<uint32_t>(timed / 5, 10, 2000);
      schedule.push_back(Slice{
          r, Row{row.transport, row.payload_bytes, warmup, timed, row.stream}});
    }
  }
  return schedule;
}

// ---- CPU pinning ------------------------------------------------------------

// Pins the calling thread to `cpu` (no-op when `enabled` is false). Threads
// it creates afterwards inherit the affinity.
void PinTo(int cpu, bool enabled, const char* side) {
  if (!enabled) return;
  if (absl::Status s = PinCallingThread(cpu); !s.ok()) {
    Die(side, std::string(s.message()));
  }
}

// "N threads: a on CPU 0, b on CPU 1, ..." for process `pid`, from the
// Cpus_allowed_list of each of its threads.
std::string DescribeThreadAffinity(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::map<std::string, int> by_cpus;
  int n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream status(dir + "/" + e->d_name + "/status");
      std::string line;
      while (std::getline(status, line)) {
        if (line.rfind("Cpus_allowed_list:", 0) == 0) {
          std::string cpus = line.substr(line.find(':') + 1);
          cpus.erase(0, cpus.find_first_not_of(" \t"));
          ++by_cpus[cpus];
          ++n;
          break;
        }
      }
    }
    ::closedir(d);
  }
  std::string out = std::to_string(n) + " threads:";
  bool first = true;
  for (const auto& [cpus, count] : by_cpus) {
    out += (first ? " " : ", ") + std::to_string(count) + " on CPU " + cpus;
    first = false;
  }
  return out;
}

// ---- payload pattern --------------------------------------------------------

// The seed of the request of call `call` of slice `slice`: never the same for
// two calls of a run, so stale bytes from an earlier call cannot pass.
uint64_t RequestSeed(uint32_t slice, uint32_t call) {
  return Mix64((uint64_t{slice} << 32) ^ call);
}

// WritePayload for a buffer the other core read last (the touch-floor's
// shared buffers): the same bytes, with streaming stores from
// transport::kStreamingCopyMinBytes on, as shmrpc copies into shared memory.
void WritePayloadForPeer(char* data, size_t bytes, uint64_t seed) {
  WritePatternForPeer(data, bytes, seed, kPatternStep);
}

// ---- the server process -----------------------------------------------------

// Set once the benchmark is about to kill the server process.
std::atomic<bool> g_expect_server_exit{false};

// Blocks until the server process ends (without reaping it); if that was not
// asked for, the benchmark cannot go on.
void WatchServer(pid_t server) {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(server), &info, WEXITED | WNOWAIT) !=
         0) {
    if (errno != EINTR) return;
  }
  if (g_expect_server_exit.load()) return;
  std::fprintf(
      stderr, "rpc_latency: the server process died unexpectedly (%s %d)\n",
      info.si_code == CLD_EXITED ? "exit status" : "signal", info.si_status);
  std::fflush(stderr);
  RemoveShmDir();
  _exit(1);
}

// ---- the client -------------------------------------------------------------

// The request and response objects, reused by every call of every transport
// (their payload strings keep their capacity).
struct CallBuffers {
  LatencyRequest request;
  LatencyResponse response;
};

// One call on `stub` (the transport's generated stub): writes the request
// payload, calls RoundTrip, checks the response.
template <class Stub>
void OneCall(Stub& stub, Transport transport, CallBuffers& b, uint32_t bytes,
             uint64_t seed) {
  const absl::Status s = CheckedRoundTrip(stub, b.request, b.response, bytes,
                                          seed, IsShm(transport));
  if (!s.ok()) {
    Die("client", std::string(TransportName(transport)) + " call with " +
                      std::to_string(bytes) + " B: " + s.ToString());
  }
}

// Runs `row.warmup` untimed then `row.calls` timed repetitions of `one(i)`.
template <typename One>
std::vector<uint64_t> TimeCalls(const Row& row, One&& one) {
  return TimeRepetitions(row.warmup, row.calls, one);
}

// spin-floor: this thread and a partner pinned to the server CPU ping-pong
// the counter at `word` (in a shared memfd page, the same kind of memory as
// shmrpc's rings). The partner is started for the slice and joined after.
std::vector<uint64_t> RunSpinFloor(std::atomic<uint64_t>* word, const Row& row,
                                   bool pinned) {
  std::atomic<uint64_t>& counter = *word;
  counter.store(0, std::memory_order_relaxed);
  const uint32_t total = row.warmup + row.calls;
  std::thread partner([&] {
    PinTo(kServerCpu, pinned, "spin-floor partner thread");
    for (uint64_t i = 0; i < total; ++i) {
      while (counter.load(std::memory_order_acquire) != 2 * i + 1) {
        transport::CpuRelax();
      }
      counter.store(2 * i + 2, std::memory_order_release);
    }
  });
  std::vector<uint64_t> samples = TimeCalls(row, [&](uint32_t i) {
    counter.store(2 * uint64_t{i} + 1, std::memory_order_release);
    while (counter.load(std::memory_order_acquire) != 2 * uint64_t{i} + 2) {
      transport::CpuRelax();
    }
  });
  partner.join();
  return samples;
}

// touch-floor: the spin-floor exchange, plus the payload work of a call on
// plain buffers (see the header comment). `slice` seeds the patterns as
// RunCalls does. The buffers are allocated and touched before timing.
std::vector<uint64_t> RunTouchFloor(uint32_t slice, const Row& row,
                                    bool pinned) {
  const size_t bytes = row.payload_bytes;
  // 64-byte aligned, like shmrpc's chunks.
  struct alignas(64) Line {
    char bytes[64];
  };
  std::vector<Line> request_lines(bytes / 64 + 1),
      response_lines(bytes / 64 + 1);
  char* const request_data = reinterpret_cast<char*>(request_lines.data());
  char* const response_data = reinterpret_cast<char*>(response_lines.data());
  std::memset(request_data, 1, bytes);
  std::memset(response_data, 1, bytes);
  std::atomic<uint64_t> counter{0};
  const uint32_t total = row.warmup + row.calls;
  std::thread partner([&] {
    PinTo(kServerCpu, pinned, "touch-floor partner thread");
    for (uint32_t i = 0; i < total; ++i) {
      while (counter.load(std::memory_order_acquire) != 2 * uint64_t{i} + 1) {
        transport::CpuRelax();
      }
      const uint64_t seed = RequestSeed(slice, i);
      if (CheckPayload(request_data, bytes, seed) != 0) {
        Die("touch-floor partner thread", "request does not match its pattern");
      }
      WritePayloadForPeer(response_data, bytes, ResponseSeed(seed, false));
      counter.store(2 * uint64_t{i} + 2, std::memory_order_release);
    }
  });
  std::vector<uint64_t> samples = TimeCalls(row, [&](uint32_t i) {
    const uint64_t seed = RequestSeed(slice, i);
    WritePayloadForPeer(request_data, bytes, seed);
    counter.store(2 * uint64_t{i} + 1, std::memory_order_release);
    while (counter.load(std::memory_order_acquire) != 2 * uint64_t{i} + 2) {
      transport::CpuRelax();
    }
    if (CheckPayload(response_data, bytes, ResponseSeed(seed, false)) != 0) {
      Die("client", "touch-floor response does not match its pattern");
    }
  });
  partner.join();
  return samples;
}

// ---- plot -------------------------------------------------------------------

// "/tmp/x.csv" -> "/tmp/x.svg" (".svg" appended to a name without ".csv").
std::string SvgPathFor(const std::string& csv) {
  const size_t n = csv.size();
  if (n >= 4 && csv.compare(n - 4, 4, ".csv") == 0) {
    return csv.substr(0, n - 4) + ".svg";
  }
  return csv + ".svg";
}

// Writes p50 latency against payload size (unary rows, both axes
// logarithmic, one line per transport) as an SVG at `path`, as iceoryx2's
// mechanism plots do. False (and a note on stderr) if it cannot.
bool WriteLatencySvg(const std::vector<Result>& results,
                     const std::string& path) {
  struct Point {
    double x, y;
  };
  std::map<std::string, std::vector<Point>> lines;
  double min_x = 1e300, max_x = 0, min_y = 1e300, max_y = 0;
  for (const Result& r : results) {
    if (r.row.stream || r.row.payload_bytes == 0 || r.p50_ns == 0) continue;
    const double x = r.row.payload_bytes;
    const double y = static_cast<double>(r.p50_ns);
    lines[TransportName(r.row.transport)].push_back({x, y});
    min_x = std::min(min_x, x);
    max_x = std::max(max_x, x);
    min_y = std::min(min_y, y);
    max_y = std::max(max_y, y);
  }
  if (lines.empty() || max_x <= min_x) return false;
  // Whole decades of nanoseconds on the y axis.
  const double y0 = std::pow(10, std::floor(std::log10(min_y)));
  const double y1 = std::pow(10, std::ceil(std::log10(max_y)));
  constexpr double kW = 760, kH = 480, kLeft = 80, kRight = 170, kTop = 30,
                   kBottom = 60;
  auto px = [&](double x) {
    return kLeft + (std::log2(x) - std::log2(min_x)) /
                       (std::log2(max_x) - std::log2(min_x)) *
                       (kW - kLeft - kRight);
  };
  auto py = [&](double y) {
    return kH - kBottom -
           (std::log10(y) - std::log10(y0)) /
               (std::log10(y1) - std::log10(y0)) * (kH - kTop - kBottom);
  };
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "rpc_latency: cannot write %s\n", path.c_str());
    return false;
  }
  std::fprintf(f,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
               "height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
               "fill=\"white\"/>\n",
               kW, kH);
  std::fprintf(f,
               "<text x=\"%.0f\" y=\"18\" font-size=\"14\">p50 round trip "
               "of a unary call against payload size (each way)</text>\n",
               kLeft);
  // Grid and axes: a line per decade of time, per payload size measured.
  for (double y = y0; y <= y1 * 1.001; y *= 10) {
    std::fprintf(f,
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                 "stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%.1f\" "
                 "text-anchor=\"end\">%s</text>\n",
                 kLeft, py(y), kW - kRight, py(y), kLeft - 6, py(y) + 4,
                 FormatNs(static_cast<uint64_t>(y)).c_str());
  }
  std::vector<double> xs;
  for (const auto& [name, points] : lines) {
    for (const Point& p : points) xs.push_back(p.x);
  }
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  for (double x : xs) {
    std::fprintf(f,
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                 "stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%.1f\" "
                 "text-anchor=\"middle\">%s</text>\n",
                 px(x), kTop, px(x), kH - kBottom, px(x), kH - kBottom + 16,
                 FormatBytes(static_cast<uint32_t>(x)).c_str());
  }
  std::fprintf(f,
               "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">payload "
               "(log scale)</text>\n",
               (kLeft + kW - kRight) / 2, kH - 16);
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                  "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  int i = 0;
  for (const auto& [name, points] : lines) {
    const char* color = kColors[i % 8];
    std::string d;
    std::vector<Point> sorted = points;
    std::sort(sorted.begin(), sorted.end(),
              [](const Point& a, const Point& b) { return a.x < b.x; });
    for (const Point& p : sorted) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%s%.1f,%.1f ", d.empty() ? "" : "",
                    px(p.x), py(p.y));
      d += buf;
    }
    std::fprintf(f,
                 "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                 "points=\"%s\"/>\n",
                 color, d.c_str());
    for (const Point& p : sorted) {
      std::fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                   px(p.x), py(p.y), color);
    }
    const double ly = kTop + 10 + 20 * i;
    std::fprintf(f,
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                 "stroke=\"%s\" stroke-width=\"2\"/><text x=\"%.1f\" "
                 "y=\"%.1f\">%s</text>\n",
                 kW - kRight + 15, ly, kW - kRight + 40, ly, color,
                 kW - kRight + 46, ly + 4, name.c_str());
    ++i;
  }
  std::fprintf(f, "</svg>\n");
  if (std::fclose(f) != 0) {
    std::fprintf(stderr, "rpc_latency: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

// ---- report -----------------------------------------------------------------

void Report(const std::vector<Result>& results, const Options& options,
            bool pinned) {
  auto p50_of = [&](Transport t, uint32_t payload,
                    bool stream = false) -> uint64_t {
    for (const Result& r : results) {
      if (r.row.transport == t && r.row.payload_bytes == payload &&
          r.row.stream == stream) {
        return r.p50_ns;
      }
    }
    return 0;
  };
  // spin-floor (payload 0) is compared with grpc-uds at the smallest payload.
  const uint32_t smallest =
      options.payloads.empty() ? 0 : options.payloads.front();
  std::printf("\n%-12s %-9s %9s %11s %11s %8s %23s\n", "transport", "call",
              "payload", "p50", "p99", "calls", "x faster than grpc-uds");
  for (const Result& r : results) {
    const bool floor = r.row.transport == Transport::kSpinFloor;
    const uint64_t uds =
        p50_of(Transport::kGrpcUds, floor ? smallest : r.row.payload_bytes,
               r.row.stream);
    std::string ratio = "-";
    if (uds > 0 && r.p50_ns > 0) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.1fx%s",
                    static_cast<double>(uds) / static_cast<double>(r.p50_ns),
                    floor ? "*" : "");
      ratio = buf;
    }
    std::printf(
        "%-12s %-9s %9s %11s %11s %8u %23s\n", TransportName(r.row.transport),
        r.row.stream ? "ping-pong" : "unary",
        FormatBytes(r.row.payload_bytes).c_str(), FormatNs(r.p50_ns).c_str(),
        FormatNs(r.p99_ns).c_str(), r.row.calls, ratio.c_str());
  }
  std::printf(
      "(x faster than grpc-uds: grpc-uds p50 / this row's p50 at the same "
      "payload and call;\n ping-pong: one message each way on an open "
      "bidirectional stream;\n * "
      "spin-floor moves no "
      "payload and is compared with grpc-uds at %s)\n\n",
      FormatBytes(smallest).c_str());

  // The design targets, from this run.
  auto ratio_line = [&](const std::string& what, uint64_t num, uint64_t den,
                        bool at_most, double bound) {
    if (num == 0 || den == 0) {
      std::printf("target: %s: not measured in this run\n", what.c_str());
      return;
    }
    const double r = static_cast<double>(num) / static_cast<double>(den);
    const bool met = at_most ? r <= bound : r >= bound;
    std::printf("target: %-45s %7.2fx  %s\n", (what + ":").c_str(), r,
                met ? "met" : "MISSED");
  };
  constexpr uint32_t k64 = 64;
  constexpr uint32_t k1M = 1u << 20;
  ratio_line("64 B shm-stub p50 <= 3x spin-floor p50",
             p50_of(Transport::kShmStub, k64), p50_of(Transport::kSpinFloor, 0),
             true, 3.0);
  ratio_line("64 B grpc-uds / shm-stub p50 >= 40x",
             p50_of(Transport::kGrpcUds, k64), p50_of(Transport::kShmStub, k64),
             false, 40.0);
  ratio_line("64 B grpc-uds / shm-creds p50 >= 20x",
             p50_of(Transport::kGrpcUds, k64),
             p50_of(Transport::kShmCreds, k64), false, 20.0);
  ratio_line("64 B shm-stub ping-pong p50 <= unary p50",
             p50_of(Transport::kShmStub, k64, true),
             p50_of(Transport::kShmStub, k64), true, 1.0);
  ratio_line("64 B ping-pong grpc-uds / shm-stub p50 >= 25x",
             p50_of(Transport::kGrpcUds, k64, true),
             p50_of(Transport::kShmStub, k64, true), false, 25.0);
  ratio_line("64 B ping-pong grpc-uds / shm-creds p50 >= 10x",
             p50_of(Transport::kGrpcUds, k64, true),
             p50_of(Transport::kShmCreds, k64, true), false, 10.0);
  ratio_line("1 MiB grpc-uds / shm-stub p50 >= 10x",
             p50_of(Transport::kGrpcUds, k1M), p50_of(Transport::kShmStub, k1M),
             false, 10.0);
  // Flat messages: latency grows only with the application's own work on
  // its data (touch-floor), whatever the size.
  for (uint32_t payload : options.payloads) {
    const uint64_t flat = p50_of(Transport::kShmFlat, payload);
    const uint64_t touch = p50_of(Transport::kTouchFloor, payload);
    const std::string what =
        FormatBytes(payload) + " shm-flat p50 <= 1.05 x touch-floor p50 + 1 us";
    if (flat == 0 || touch == 0) {
      std::printf("target: %s: not measured in this run\n", what.c_str());
      continue;
    }
    const double bound = 1.05 * static_cast<double>(touch) + 1000;
    std::printf("target: %-45s %7.2fx  %s (%s vs %s)\n", (what + ":").c_str(),
                static_cast<double>(flat) / bound,
                static_cast<double>(flat) <= bound ? "met" : "MISSED",
                FormatNs(flat).c_str(),
                FormatNs(static_cast<uint64_t>(bound)).c_str());
  }
  // How much faster than grpc-uds the payload work alone is at 1 MiB.
  const uint64_t uds_1m = p50_of(Transport::kGrpcUds, k1M);
  const uint64_t touch_1m = p50_of(Transport::kTouchFloor, k1M);
  if (uds_1m > 0 && touch_1m > 0) {
    std::printf(
        "for scale: 1 MiB grpc-uds / touch-floor p50 = %.2fx (the payload "
        "work alone, without any RPC)\n",
        static_cast<double>(uds_1m) / static_cast<double>(touch_1m));
  }
  if (!pinned) {
    std::printf(
        "note: fewer than 2 usable CPUs; nothing was pinned, so the numbers "
        "above do not measure cross-core latency\n");
  }

  if (options.csv.empty()) return;
  std::FILE* f = std::fopen(options.csv.c_str(), "w");
  if (f == nullptr) {
    Die("client", "cannot open " + options.csv + ": " + std::strerror(errno));
  }
  std::fprintf(f, "transport,call,payload_bytes,p50_ns,p99_ns,calls\n");
  for (const Result& r : results) {
    std::fprintf(f, "%s,%s,%u,%llu,%llu,%u\n", TransportName(r.row.transport),
                 r.row.stream ? "ping-pong" : "unary", r.row.payload_bytes,
                 static_cast<unsigned long long>(r.p50_ns),
                 static_cast<unsigned long long>(r.p99_ns), r.row.calls);
  }
  if (std::fclose(f) != 0) {
    Die("client", "cannot write " + options.csv + ": " + std::strerror(errno));
  }
  std::printf("wrote %s\n", options.csv.c_str());
  const std::string svg = SvgPathFor(options.csv);
  if (WriteLatencySvg(results, svg)) std::printf("wrote %s\n", svg.c_str());
}

grpc::ChannelArguments BigMessageArgs() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return args;
}

// The channels and stubs of the benchmark process.
struct Clients {
  std::shared_ptr<grpc::Channel> shm_flat_channel;
  std::unique_ptr<ShmFlatBench::Stub> shm_flat;
  std::shared_ptr<grpc::Channel> shm_stub_channel;
  std::unique_ptr<ShmLatencyBench::Stub> shm_stub;
  std::shared_ptr<grpc::Channel> shm_creds_channel;
  std::unique_ptr<LatencyBench::Stub> shm_creds;
  std::shared_ptr<grpc::Channel> tcp_channel;
  std::unique_ptr<LatencyBench::Stub> tcp;
  std::shared_ptr<grpc::Channel> uds_channel;
  std::unique_ptr<LatencyBench::Stub> uds;
  std::shared_ptr<grpc::Channel> inproc_channel;
  std::unique_ptr<LatencyBench::Stub> inproc;
};

std::shared_ptr<grpc::Channel> ChannelOf(const Clients& c, Transport t) {
  switch (t) {
    case Transport::kShmFlat:
      return c.shm_flat_channel;
    case Transport::kShmStub:
      return c.shm_stub_channel;
    case Transport::kShmCreds:
      return c.shm_creds_channel;
    case Transport::kGrpcTcp:
      return c.tcp_channel;
    case Transport::kGrpcUds:
      return c.uds_channel;
    case Transport::kGrpcInproc:
      return c.inproc_channel;
    case Transport::kSpinFloor:
    case Transport::kTouchFloor:
      break;
  }
  return nullptr;
}

// The round trips of one ping-pong slice on one open PingPong stream of
// `stub`: each writes the request (every byte), reads the answer and checks
// it (every byte, and that it took the expected path: both shm rows stream
// over shared memory).
template <class Stub>
std::vector<uint64_t> RunPingPong(Stub& stub, Transport transport,
                                  CallBuffers& b, uint32_t slice,
                                  const Row& row) {
  const bool shm =
      transport == Transport::kShmStub || transport == Transport::kShmCreds;
  const std::string what = std::string(TransportName(transport)) +
                           " ping-pong with " +
                           std::to_string(row.payload_bytes) + " B";
  grpc::ClientContext context;
  auto stream = stub.PingPong(&context);
  std::string* payload = b.request.mutable_payload();
  if (payload->size() != row.payload_bytes) payload->resize(row.payload_bytes);
  std::vector<uint64_t> samples = TimeCalls(row, [&](uint32_t i) {
    const uint64_t seed = RequestSeed(slice, i);
    WritePayload(payload->data(), payload->size(), seed);
    b.request.set_seed(seed);
    if (!stream->Write(b.request) || !stream->Read(&b.response)) {
      Die("client",
          what + ": the stream ended: " + stream->Finish().error_message());
    }
    const uint64_t expected = ResponseSeed(seed, shm);
    const std::string& in = b.response.payload();
    if (b.response.seed() != expected || in.size() != row.payload_bytes ||
        CheckPayload(in.data(), in.size(), expected) != 0) {
      Die("client", what +
                        ": the answer does not match (or took the other "
                        "path)");
    }
  });
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) Die("client", what + ": " + status.error_message());
  return samples;
}

// One shm-flat call: the request's payload written in place (every byte),
// the response's checked in place (every byte, and that the call went over
// shared memory).
void OneFlatCall(ShmFlatBench::Stub& stub, uint32_t bytes, uint64_t seed) {
  FlatRequest<flat::LatencyRequestBuilder> request =
      stub.NewRoundTripRequest(bytes + 64);
  const absl::Span<uint8_t> payload = request->mutable_payload(bytes);
  if (payload.size() != bytes) {
    Die("client", "shm-flat: no room for a request of " +
                      std::to_string(bytes) +
                      " B: " + request.status().ToString());
  }
  WritePayloadForPeer(reinterpret_cast<char*>(payload.data()), bytes, seed);
  request->set_seed(seed);
  FlatResponse<flat::LatencyResponseView> response;
  grpc::ClientContext context;
  const grpc::Status status =
      stub.RoundTrip(&context, std::move(request), &response);
  if (!status.ok()) {
    Die("client", "shm-flat call with " + std::to_string(bytes) +
                      " B: " + status.error_message());
  }
  const uint64_t expected = ResponseSeed(seed, true);
  const absl::string_view in = response->payload();
  if (response->seed() != expected || in.size() != bytes ||
      CheckPayload(in.data(), in.size(), expected) != 0) {
    Die("client",
        "shm-flat: the answer does not match (or took the other path)");
  }
}

// Runs the calls of one slice on the transport's stub.
std::vector<uint64_t> RunCalls(Clients& c, CallBuffers& b, uint32_t slice,
                               const Row& row) {
  auto run = [&](auto& stub) {
    if (row.stream) return RunPingPong(stub, row.transport, b, slice, row);
    return TimeCalls(row, [&](uint32_t i) {
      OneCall(stub, row.transport, b, row.payload_bytes, RequestSeed(slice, i));
    });
  };
  switch (row.transport) {
    case Transport::kShmFlat:
      return TimeCalls(row, [&](uint32_t i) {
        OneFlatCall(*c.shm_flat, row.payload_bytes, RequestSeed(slice, i));
      });
    case Transport::kShmStub:
      return run(*c.shm_stub);
    case Transport::kShmCreds:
      return run(*c.shm_creds);
    case Transport::kGrpcTcp:
      return run(*c.tcp);
    case Transport::kGrpcUds:
      return run(*c.uds);
    case Transport::kGrpcInproc:
      return run(*c.inproc);
    case Transport::kSpinFloor:
    case Transport::kTouchFloor:
      break;
  }
  Die("client", "RunCalls on a floor row");
}

int Main(int argc, char** argv) {
  const Options options = ParseFlags(argc, argv);
  const std::vector<Row> rows = PlanRows(options);
  const std::vector<Slice> schedule = PlanSchedule(rows, options.passes);
  const bool pinned = CanPinTo(kClientCpu, kServerCpu);
  bool need_server = false;
  for (Transport t : options.transports) need_server |= IsRemote(t);

  // Before fork(), so that both processes get it (see the header comment).
  if (options.tune_malloc && (::mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1 ||
                              ::mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1)) {
    Die("client", "mallopt failed");
  }
  SetAbseilDeadlockDetection(options.absl_deadlock_detection);

  // A private endpoint directory, in the environment before fork() so that
  // both processes derive the same endpoint from "localhost:PORT".
  char dir_template[] = "/tmp/shmrpc-rpc-latency-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    Die("client", std::string("mkdtemp: ") + std::strerror(errno));
  }
  g_shm_dir = dir_template;
  g_dir_owner = ::getpid();
  if (::setenv("SHMRPC_DIR", g_shm_dir.c_str(), 1) != 0) {
    Die("client", std::string("setenv: ") + std::strerror(errno));
  }
  const std::string uds_path = g_shm_dir + "/grpc.sock";

  // Everything both processes share exists now: the spin-floor page.
  absl::StatusOr<transport::Segment> sync = transport::Segment::Create(
      "shmrpc-bench-spin", 4096, transport::SealMode::kShared);
  if (!sync.ok()) Die("client", "memfd: " + sync.status().ToString());
  auto* spin_word = new (sync->data()) std::atomic<uint64_t>(0);

  // Fork the server before any thread or gRPC object exists here.
  pid_t server = -1;
  int port = 0;
  if (need_server) {
    if (CountThreads(0) != 1) {
      Die("client", "more than one thread before fork()");
    }
    int fds[2];
    if (::pipe(fds) != 0) {
      Die("client", std::string("pipe: ") + std::strerror(errno));
    }
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    server = ::fork();
    if (server < 0) Die("client", std::string("fork: ") + std::strerror(errno));
    if (server == 0) {
      ::close(fds[0]);
      BenchServerConfig config;
      config.uds_path = uds_path;
      config.cpu = pinned ? kServerCpu : -1;
      config.max_message_bytes = kMaxMessageBytes;
      RunBenchServerProcess(parent, fds[1], config);
    }
    ::close(fds[1]);
    absl::StatusOr<int> reported = ReadBenchServerPort(fds[0]);
    if (!reported.ok()) Die("client", std::string(reported.status().message()));
    port = *reported;
  }

  PinTo(kClientCpu, pinned, "client");
  std::thread watchdog;
  if (server > 0) watchdog = std::thread(WatchServer, server);
  grpc_init();  // gRPC's process-wide threads start here, on the client CPU

  // The in-process gRPC server, started from a thread on the server CPU so
  // that its threads run there.
  LatencyService inproc_service;
  std::unique_ptr<grpc::Server> inproc_server;
  Clients c;
  const grpc::ChannelArguments args = BigMessageArgs();
  if (Selected(options, Transport::kGrpcInproc)) {
    std::thread starter([&] {
      PinTo(kServerCpu, pinned, "grpc-inproc server starter");
      grpc::ServerBuilder builder;
      builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
      builder.SetMaxSendMessageSize(kMaxMessageBytes);
      builder.RegisterService(&inproc_service);
      inproc_server = builder.BuildAndStart();
    });
    starter.join();
    if (inproc_server == nullptr) {
      Die("client", "the in-process grpc::Server did not start");
    }
    c.inproc_channel = inproc_server->InProcessChannel(args);
    c.inproc = LatencyBench::NewStub(c.inproc_channel);
  }
  const std::string local = "localhost:" + std::to_string(port);
  if (Selected(options, Transport::kShmFlat)) {
    c.shm_flat_channel = shmrpc::CreateChannel(
        local, grpc::InsecureChannelCredentials(), ShmChannelOptions(), args);
    c.shm_flat = std::make_unique<ShmFlatBench::Stub>(c.shm_flat_channel);
  }
  if (Selected(options, Transport::kShmStub)) {
    c.shm_stub_channel = shmrpc::CreateChannel(
        local, grpc::InsecureChannelCredentials(), ShmChannelOptions(), args);
    c.shm_stub = ShmLatencyBench::NewStub(c.shm_stub_channel);
  }
  if (Selected(options, Transport::kShmCreds)) {
    c.shm_creds_channel = grpc::CreateCustomChannel(
        local,
        shmrpc::ShmChannelCredentials(grpc::InsecureChannelCredentials()),
        args);
    c.shm_creds = LatencyBench::NewStub(c.shm_creds_channel);
  }
  if (Selected(options, Transport::kGrpcTcp)) {
    c.tcp_channel =
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                  grpc::InsecureChannelCredentials(), args);
    c.tcp = LatencyBench::NewStub(c.tcp_channel);
  }
  if (Selected(options, Transport::kGrpcUds)) {
    c.uds_channel = grpc::CreateCustomChannel(
        "unix:" + uds_path, grpc::InsecureChannelCredentials(), args);
    c.uds = LatencyBench::NewStub(c.uds_channel);
  }

  if (pinned) {
    std::printf(
        "client pinned to CPU %d; server process and in-process server "
        "threads to CPU %d\n",
        kClientCpu, kServerCpu);
  } else {
    std::printf("fewer than 2 usable CPUs: pinning nothing\n");
  }
  if (server > 0) {
    std::printf(
        "server process %d: SHMRPC_DIR=%s, gRPC on 127.0.0.1:%d and "
        "unix:%s\n",
        static_cast<int>(server), g_shm_dir.c_str(), port, uds_path.c_str());
  }
  std::printf("malloc: %s\n",
              options.tune_malloc
                  ? "tuned (no heap trimming, mmap threshold 32 MiB) in both "
                    "processes"
                  : "glibc defaults");
  std::printf("abseil's deadlock detector: %s\n",
              options.absl_deadlock_detection
                  ? "on (Debian's default) in both processes"
                  : "off in both processes (as a release build of abseil)");
  std::printf("steady_clock::now() costs ~%llu ns (included once per sample)\n",
              static_cast<unsigned long long>(ClockOverheadNs()));

  // One call per channel to connect it; then the shm-* channels must be on
  // shared memory.
  CallBuffers buffers;
  for (Transport t : options.transports) {
    if (IsFloor(t)) continue;
    const Row connect{t, 64, 0, 1};
    (void)RunCalls(c, buffers, 0xffffffffu, connect);
    const std::shared_ptr<grpc::Channel> channel = ChannelOf(c, t);
    std::printf("%-12s path: %s\n", TransportName(t),
                shmrpc::DescribeChannelPath(channel).c_str());
    if (IsShm(t) &&
        shmrpc::GetChannelPath(channel) != ChannelPath::kSharedMemory) {
      Die("client", std::string(TransportName(t)) +
                        " does not use shared memory: " +
                        shmrpc::DescribeChannelPath(channel));
    }
  }

  for (const Row& row : rows) {
    std::printf("  %-11s %-9s %9s: %6u timed calls\n",
                TransportName(row.transport),
                row.stream ? "ping-pong" : "unary",
                FormatBytes(row.payload_bytes).c_str(), row.calls);
  }
  std::printf(
      "in %u interleaved passes, each share after a warm-up of a "
      "fifth of its calls (10 to 2000)\n",
      options.passes);

  std::vector<std::vector<uint64_t>> samples(rows.size());
  for (uint32_t r = 0; r < rows.size(); ++r) samples[r].reserve(rows[r].calls);
  const Clock::time_point start = Clock::now();
  uint32_t pass = 0;
  for (uint32_t index = 0; index < schedule.size(); ++index) {
    const Slice& slice = schedule[index];
    if (index == 0 || slice.row <= schedule[index - 1].row) {
      std::printf("pass %u/%u (%.0f s)\n", ++pass, options.passes,
                  std::chrono::duration<double>(Clock::now() - start).count());
      std::fflush(stdout);
    }
    std::vector<uint64_t> measured;
    switch (slice.part.transport) {
      case Transport::kSpinFloor:
        measured = RunSpinFloor(spin_word, slice.part, pinned);
        break;
      case Transport::kTouchFloor:
        measured = RunTouchFloor(index, slice.part, pinned);
        break;
      default:
        measured = RunCalls(c, buffers, index, slice.part);
        break;
    }
    samples[slice.row].insert(samples[slice.row].end(), measured.begin(),
                              measured.end());
  }
  std::printf("measured in %.0f s\n",
              std::chrono::duration<double>(Clock::now() - start).count());

  // Still on shared memory at the end?
  for (Transport t : options.transports) {
    if (!IsShm(t)) continue;
    const std::shared_ptr<grpc::Channel> channel = ChannelOf(c, t);
    if (shmrpc::GetChannelPath(channel) != ChannelPath::kSharedMemory) {
      Die("client", std::string(TransportName(t)) +
                        " left shared memory during the run: " +
                        shmrpc::DescribeChannelPath(channel));
    }
  }
  std::printf("benchmark process: %s\n",
              DescribeThreadAffinity(::getpid()).c_str());
  if (server > 0) {
    std::printf("server process:    %s\n",
                DescribeThreadAffinity(server).c_str());
  }

  std::vector<Result> results;
  for (uint32_t r = 0; r < rows.size(); ++r) {
    std::sort(samples[r].begin(), samples[r].end());
    results.push_back(Result{rows[r], Percentile(samples[r], 0.50),
                             Percentile(samples[r], 0.99)});
  }

  // Tear down: clients first, then the servers.
  c = Clients();
  if (inproc_server != nullptr) {
    inproc_server->Shutdown();
    inproc_server.reset();
  }
  if (server > 0) {
    g_expect_server_exit.store(true);
    ::kill(server, SIGKILL);
    watchdog.join();
    int status = 0;
    (void)::waitpid(server, &status, 0);
  }
  RemoveShmDir();

  Report(results, options, pinned);
  grpc_shutdown();
  return 0;
}

}  // namespace
}  // namespace shmrpc::bench

int main(int argc, char** argv) { return shmrpc::bench::Main(argc, argv); }
