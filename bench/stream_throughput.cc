// Server-streaming throughput: one Download call (proto/bench.proto) streams
// N messages of 64 B, 4 KiB, 64 KiB or 1 MiB from the server process as fast
// as the client reads them, for
//
//   shm-stub   shmrpc's generated stub over shared memory
//   shm-flat   the generated stub's flat form (FlatBench.Download): each
//              message built in place in the server's shared memory and read
//              in place by the client, no protobuf
//   shm-creds  gRPC's stub on shmrpc::ShmChannelCredentials (over shared
//              memory through the credentials' interceptor)
//   grpc-uds   gRPC's stub over a Unix socket
//   grpc-tcp   gRPC's stub over loopback TCP
//   stream-floor  the floor (bench/stream_floor.h): a child process writes
//              each payload straight into a ring in shared memory with
//              shmrpc's default stream window, the client reads and checks
//              it in place; no RPC, no framing, no protobuf, no copy
//
// The server writes every byte of every message with a pattern seeded per
// message (DownloadSeed, which also says whether the call arrived over
// shared memory) and the client reads and checks every byte, so a row cannot
// measure the wrong path or skip the payload. Reported per row: messages/s,
// MiB/s, and the CPU time per message of the client process and of the
// server process (from /proc, over the whole measured time). Rows are
// measured in interleaved passes; compare ratios within one run.
//
//   bazel run -c opt //bench:stream_throughput -- --csv=/tmp/stream.csv
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/latency_service.h"
#include "bench/stream_floor.h"
#include "proto/bench.grpc.pb.h"
#include "proto/bench.shmrpc.h"
#include "shmrpc/shmrpc.h"

namespace shmrpc::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxMessageBytes = 64 << 20;

std::string g_shm_dir;
pid_t g_dir_owner = 0;

void RemoveShmDir() {
  if (g_shm_dir.empty() || ::getpid() != g_dir_owner) return;
  RemoveFlatDirectory(g_shm_dir);
  g_shm_dir.clear();
}

// A benchmark that measured corrupted data, or the wrong transport, must not
// print numbers.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "stream_throughput: %s\n", message.c_str());
  std::fflush(stderr);
  RemoveShmDir();
  std::abort();
}

enum class Transport {
  kShmStub,
  kShmFlat,
  kShmCreds,
  kGrpcUds,
  kGrpcTcp,
  kFloor
};
constexpr Transport kAllTransports[] = {
    Transport::kShmStub, Transport::kShmFlat, Transport::kShmCreds,
    Transport::kGrpcUds, Transport::kGrpcTcp, Transport::kFloor};

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::kShmStub:
      return "shm-stub";
    case Transport::kShmFlat:
      return "shm-flat";
    case Transport::kShmCreds:
      return "shm-creds";
    case Transport::kGrpcUds:
      return "grpc-uds";
    case Transport::kGrpcTcp:
      return "grpc-tcp";
    case Transport::kFloor:
      return "stream-floor";
  }
  return "?";
}

constexpr uint32_t kDefaultSizes[] = {64, 4 << 10, 64 << 10, 1 << 20};

// Messages per row at scale 1: about a second of streaming each on the
// 2-core development VM.
uint64_t DefaultMessages(Transport t, uint32_t bytes) {
  if (t == Transport::kFloor) {
    // Many more, so that forking its producer counts for nothing.
    return 4 * DefaultMessages(Transport::kShmStub, bytes);
  }
  const bool shm = t == Transport::kShmStub || t == Transport::kShmFlat;
  if (bytes <= 64) return shm ? 600000 : 60000;
  if (bytes <= (4 << 10)) return shm ? 300000 : 40000;
  if (bytes <= (64 << 10)) return shm ? 40000 : 8000;
  return shm ? 1500 : 600;
}

struct Row {
  Transport transport;
  uint32_t bytes;
  uint64_t messages;  // in all passes
};

struct Totals {
  uint64_t messages = 0;
  double seconds = 0;
  uint64_t client_cpu_ns = 0;
  uint64_t server_cpu_ns = 0;
};

struct Options {
  std::string csv;
  double scale = 1.0;
  uint32_t passes = 3;
  std::vector<Transport> transports{std::begin(kAllTransports),
                                    std::end(kAllTransports)};
  std::vector<uint32_t> sizes{std::begin(kDefaultSizes),
                              std::end(kDefaultSizes)};
};

constexpr char kUsage[] =
    "usage: stream_throughput [--csv=PATH] [--transports=LIST]\n"
    "                         [--sizes=LIST] [--scale=X] [--passes=N]\n"
    "  --csv=PATH         also write the results as CSV to PATH\n"
    "  --transports=LIST  subset of shm-stub, shm-flat, shm-creds, grpc-uds,\n"
    "                     grpc-tcp, stream-floor\n"
    "  --sizes=LIST       message payload sizes in bytes, multiples of 8\n"
    "                     (default 64,4096,65536,1048576)\n"
    "  --scale=X          scale every row's message count (default 1)\n"
    "  --passes=N         interleaved passes (default 3)\n";

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "stream_throughput: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      const size_t n = std::strlen(name);
      return arg.compare(0, n, name) == 0 ? arg.c_str() + n : nullptr;
    };
    if (const char* v = value("--csv=")) {
      o.csv = v;
    } else if (const char* v = value("--scale=")) {
      o.scale = std::atof(v);
      if (!(o.scale > 0)) UsageError("--scale must be positive");
    } else if (const char* v = value("--passes=")) {
      o.passes = static_cast<uint32_t>(std::atoi(v));
      if (o.passes == 0) UsageError("--passes must be at least 1");
    } else if (const char* v = value("--transports=")) {
      o.transports.clear();
      for (const std::string& name : SplitCommas(v)) {
        bool found = false;
        for (Transport t : kAllTransports) {
          if (name == TransportName(t)) {
            o.transports.push_back(t);
            found = true;
          }
        }
        if (!found) UsageError("unknown transport " + name);
      }
    } else if (const char* v = value("--sizes=")) {
      o.sizes.clear();
      for (const std::string& size : SplitCommas(v)) {
        const long n = std::atol(size.c_str());
        if (n <= 0 || n % 8 != 0 || n > (16 << 20)) {
          UsageError("bad size " + size);
        }
        o.sizes.push_back(static_cast<uint32_t>(n));
      }
    } else {
      UsageError("unknown flag " + arg);
    }
  }
  return o;
}

struct Clients {
  std::shared_ptr<grpc::Channel> shm_stub_channel;
  std::unique_ptr<ShmLatencyBench::Stub> shm_stub;
  std::unique_ptr<ShmFlatBench::Stub> shm_flat;  // on shm_stub_channel
  std::shared_ptr<grpc::Channel> shm_creds_channel;
  std::unique_ptr<LatencyBench::Stub> shm_creds;
  std::unique_ptr<LatencyBench::Stub> uds;
  std::unique_ptr<LatencyBench::Stub> tcp;
};

// Streams `count` messages of `bytes` on `stub`, checking every byte of
// each; returns the messages read.
template <class Stub>
uint64_t Download(Stub& stub, Transport t, uint64_t count, uint32_t bytes,
                  uint64_t seed) {
  DownloadRequest request;
  request.set_count(count);
  request.set_bytes(bytes);
  request.set_seed(seed);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::minutes(5));
  auto reader = stub.Download(&context, request);
  const bool shm = t == Transport::kShmStub || t == Transport::kShmCreds;
  LatencyResponse m;
  uint64_t n = 0;
  while (reader->Read(&m)) {
    const uint64_t expected = DownloadSeed(seed, n, shm);
    if (m.seed() != expected) {
      Die(std::string(TransportName(t)) + ": message " + std::to_string(n) +
          (m.seed() == DownloadSeed(seed, n, !shm)
               ? " took the other path (shared memory vs gRPC)"
               : " has the wrong seed"));
    }
    if (m.payload().size() != bytes ||
        CheckPayload(m.payload().data(), bytes, expected) != 0) {
      Die(std::string(TransportName(t)) + ": message " + std::to_string(n) +
          " does not match its pattern");
    }
    ++n;
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    Die(std::string(TransportName(t)) + ": " + status.error_message());
  }
  if (n != count) {
    Die(std::string(TransportName(t)) + ": " + std::to_string(n) + " of " +
        std::to_string(count) + " messages");
  }
  return n;
}

// Download on flat messages: every message read and checked in place, where
// the server built it (it must be: the row measures that path).
uint64_t FlatDownload(ShmFlatBench::Stub& stub, uint64_t count, uint32_t bytes,
                      uint64_t seed) {
  FlatRequest<flat::DownloadRequestBuilder> request = stub.NewDownloadRequest();
  request->set_count(count);
  request->set_bytes(bytes);
  request->set_seed(seed);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::minutes(5));
  auto reader = stub.Download(&context, std::move(request));
  FlatMessage<flat::LatencyResponseView> m;
  uint64_t n = 0;
  while (reader->Read(&m)) {
    const uint64_t expected = DownloadSeed(seed, n, true);
    if (m->seed() != expected) {
      Die("shm-flat: message " + std::to_string(n) +
          (m->seed() == DownloadSeed(seed, n, false)
               ? " took gRPC instead of shared memory"
               : " has the wrong seed"));
    }
    if (!m.in_place()) {
      Die("shm-flat: message " + std::to_string(n) + " was not read in place");
    }
    const absl::string_view payload = m->payload();
    if (payload.size() != bytes ||
        CheckPayload(payload.data(), bytes, expected) != 0) {
      Die("shm-flat: message " + std::to_string(n) +
          " does not match its pattern");
    }
    ++n;
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) Die("shm-flat: " + status.error_message());
  if (n != count) {
    Die("shm-flat: " + std::to_string(n) + " of " + std::to_string(count) +
        " messages");
  }
  return n;
}

StreamFloor* g_floor = nullptr;

// The floor's stream: a producer forked from this process (it allocates
// nothing, takes no lock and makes no system call while it streams), this
// thread the consumer. Adds the producer's CPU time to `*producer_cpu_ns`.
uint64_t RunFloor(uint64_t count, uint32_t bytes, uint64_t seed,
                  uint64_t* producer_cpu_ns) {
  ResetStreamFloor(g_floor, bytes);
  std::fflush(nullptr);
  const pid_t producer = ::fork();
  if (producer < 0) Die(std::string("fork: ") + std::strerror(errno));
  if (producer == 0) {
    const absl::Status s = ProduceStreamFloor(g_floor, count, bytes, seed);
    ::_exit(s.ok() ? 0 : 1);
  }
  const absl::Status consumed = ConsumeStreamFloor(g_floor, count, bytes, seed);
  if (!consumed.ok()) ::kill(producer, SIGKILL);
  int status = 0;
  struct rusage usage {};
  if (::wait4(producer, &status, 0, &usage) != producer) {
    Die(std::string("wait4: ") + std::strerror(errno));
  }
  if (!consumed.ok()) Die(std::string(consumed.message()));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die("stream-floor: the producer failed");
  }
  if (producer_cpu_ns != nullptr) {
    auto ns = [](const timeval& tv) {
      return static_cast<uint64_t>(tv.tv_sec) * 1000000000u +
             static_cast<uint64_t>(tv.tv_usec) * 1000u;
    };
    *producer_cpu_ns += ns(usage.ru_utime) + ns(usage.ru_stime);
  }
  return count;
}

uint64_t RunDownload(Clients& c, Transport t, uint64_t count, uint32_t bytes,
                     uint64_t seed) {
  switch (t) {
    case Transport::kFloor:
      return RunFloor(count, bytes, seed, nullptr);
    case Transport::kShmStub:
      return Download(*c.shm_stub, t, count, bytes, seed);
    case Transport::kShmFlat:
      return FlatDownload(*c.shm_flat, count, bytes, seed);
    case Transport::kShmCreds:
      return Download(*c.shm_creds, t, count, bytes, seed);
    case Transport::kGrpcUds:
      return Download(*c.uds, t, count, bytes, seed);
    case Transport::kGrpcTcp:
      return Download(*c.tcp, t, count, bytes, seed);
  }
  return 0;
}

uint64_t CpuNs(pid_t pid) {
  absl::StatusOr<uint64_t> ns = ProcessCpuNs(pid);
  if (!ns.ok())
    Die("CPU time of " + std::to_string(pid) + ": " +
        std::string(ns.status().message()));
  return *ns;
}

void Report(const Options& o, const std::vector<Row>& rows,
            const std::vector<Totals>& totals) {
  auto find = [&](Transport t, uint32_t bytes) -> const Totals* {
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].transport == t && rows[i].bytes == bytes) return &totals[i];
    }
    return nullptr;
  };
  auto rate = [](const Totals& x) {
    return x.seconds > 0 ? static_cast<double>(x.messages) / x.seconds : 0;
  };
  auto cpu = [](const Totals& x) {
    return x.messages > 0
               ? static_cast<double>(x.client_cpu_ns + x.server_cpu_ns) /
                     static_cast<double>(x.messages)
               : 0;
  };
  std::printf("\n%-12s %8s %13s %11s %9s %12s %12s %9s\n", "transport",
              "message", "messages/s", "MiB/s", "x uds", "cli CPU/msg",
              "srv CPU/msg", "CPU x");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Totals& x = totals[i];
    const Totals* uds = find(Transport::kGrpcUds, rows[i].bytes);
    const double r = rate(x);
    char ratio[32] = "-", cpu_ratio[32] = "-";
    if (uds != nullptr && rate(*uds) > 0) {
      std::snprintf(ratio, sizeof(ratio), "%.1fx", r / rate(*uds));
    }
    if (uds != nullptr && cpu(x) > 0) {
      std::snprintf(cpu_ratio, sizeof(cpu_ratio), "%.1fx", cpu(*uds) / cpu(x));
    }
    std::printf(
        "%-12s %8s %13.0f %11.1f %9s %12s %12s %9s\n",
        TransportName(rows[i].transport), FormatBytes(rows[i].bytes).c_str(), r,
        r * rows[i].bytes / (1024.0 * 1024.0), ratio,
        FormatNs(x.client_cpu_ns / std::max<uint64_t>(x.messages, 1)).c_str(),
        FormatNs(x.server_cpu_ns / std::max<uint64_t>(x.messages, 1)).c_str(),
        cpu_ratio);
  }
  std::printf(
      "(x uds: messages/s / grpc-uds messages/s at the same size; CPU x: "
      "grpc-uds (client + server) CPU per message / this row's)\n\n");

  auto target = [&](const char* what, double value, double bound) {
    if (value <= 0) {
      std::printf("target: %-50s not measured in this run\n", what);
      return;
    }
    std::printf("target: %-50s %7.1fx  %s\n", what, value,
                value >= bound ? "met" : "MISSED");
  };
  const Totals* stub64 = find(Transport::kShmStub, 64);
  const Totals* uds64 = find(Transport::kGrpcUds, 64);
  const Totals* stub1m = find(Transport::kShmStub, 1 << 20);
  const Totals* uds1m = find(Transport::kGrpcUds, 1 << 20);
  target("64 B messages/s shm-stub / grpc-uds >= 20x:",
         stub64 && uds64 && rate(*uds64) > 0 ? rate(*stub64) / rate(*uds64) : 0,
         20);
  target("1 MiB MiB/s shm-stub / grpc-uds >= 3x:",
         stub1m && uds1m && rate(*uds1m) > 0 ? rate(*stub1m) / rate(*uds1m) : 0,
         3);
  target("64 B CPU per message grpc-uds / shm-stub >= 10x:",
         stub64 && uds64 && cpu(*stub64) > 0 ? cpu(*uds64) / cpu(*stub64) : 0,
         10);
  // What the same stream costs with nothing but the payload's bytes moving
  // (stream-floor): a ratio to grpc-uds above it is out of any transport's
  // reach on this machine.
  auto floor = [&](uint32_t bytes, double bound) {
    const Totals* f = find(Transport::kFloor, bytes);
    const Totals* uds = find(Transport::kGrpcUds, bytes);
    const Totals* stub = find(Transport::kShmStub, bytes);
    if (f == nullptr || uds == nullptr || rate(*f) <= 0 || rate(*uds) <= 0) {
      return;
    }
    const double ratio = rate(*f) / rate(*uds);
    char reach[64] = "";
    if (stub != nullptr && rate(*stub) > 0) {
      std::snprintf(reach, sizeof(reach), "; shm-stub reaches %.0f%% of it",
                    100 * rate(*stub) / rate(*f));
    }
    std::printf(
        "floor:  %s stream-floor (the payload alone) = %.1fx grpc-uds%s; "
        "%.0fx is %s\n",
        FormatBytes(bytes).c_str(), ratio, reach, bound,
        ratio >= bound ? "within it" : "BEYOND it on this machine");
  };
  floor(64, 20);
  floor(1 << 20, 3);
  // Flat messages: 1 MiB messages within 20% of the memory-bandwidth bound,
  // which stream-floor measures (each message's bytes written once by the
  // producer and read once by the consumer, as touch-floor's payload is in
  // a round trip).
  const Totals* flat1m = find(Transport::kShmFlat, 1 << 20);
  const Totals* floor1m = find(Transport::kFloor, 1 << 20);
  if (flat1m != nullptr && floor1m != nullptr && rate(*floor1m) > 0) {
    const double share = rate(*flat1m) / rate(*floor1m);
    std::printf("target: %-50s %6.0f%%  %s\n",
                "1 MiB MiB/s shm-flat / stream-floor >= 80%:", 100 * share,
                share >= 0.8 ? "met" : "MISSED");
  } else {
    std::printf("target: %-50s not measured in this run\n",
                "1 MiB MiB/s shm-flat / stream-floor >= 80%:");
  }

  if (o.csv.empty()) return;
  std::FILE* f = std::fopen(o.csv.c_str(), "w");
  if (f == nullptr) Die("cannot open " + o.csv);
  std::fprintf(f,
               "transport,message_bytes,messages,seconds,messages_per_s,"
               "mib_per_s,client_cpu_ns_per_msg,server_cpu_ns_per_msg\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Totals& x = totals[i];
    const double r = rate(x);
    std::fprintf(f, "%s,%u,%llu,%.6f,%.1f,%.2f,%llu,%llu\n",
                 TransportName(rows[i].transport), rows[i].bytes,
                 static_cast<unsigned long long>(x.messages), x.seconds, r,
                 r * rows[i].bytes / (1024.0 * 1024.0),
                 static_cast<unsigned long long>(
                     x.client_cpu_ns / std::max<uint64_t>(x.messages, 1)),
                 static_cast<unsigned long long>(
                     x.server_cpu_ns / std::max<uint64_t>(x.messages, 1)));
  }
  if (std::fclose(f) != 0) Die("cannot write " + o.csv);
  std::printf("wrote %s\n", o.csv.c_str());
}

int Main(int argc, char** argv) {
  const Options options = ParseFlags(argc, argv);
  std::vector<Row> rows;
  for (uint32_t bytes : options.sizes) {
    for (Transport t : options.transports) {
      const uint64_t n = std::max<uint64_t>(
          options.passes,
          static_cast<uint64_t>(DefaultMessages(t, bytes) * options.scale));
      rows.push_back(Row{t, bytes, n});
    }
  }

  // As a release build of abseil (Debian's runs its deadlock detector in
  // every absl::Mutex, gRPC's locks included), in both processes.
  SetAbseilDeadlockDetection(false);
  char dir_template[] = "/tmp/shmrpc-stream-throughput-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    Die(std::string("mkdtemp: ") + std::strerror(errno));
  }
  g_shm_dir = dir_template;
  g_dir_owner = ::getpid();
  if (::setenv("SHMRPC_DIR", g_shm_dir.c_str(), 1) != 0) Die("setenv");
  const std::string uds_path = g_shm_dir + "/grpc.sock";

  // Fork the server before any thread or gRPC object exists here.
  if (CountThreads(0) != 1) Die("more than one thread before fork()");
  int fds[2];
  if (::pipe(fds) != 0) Die(std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t server = ::fork();
  if (server < 0) Die(std::string("fork: ") + std::strerror(errno));
  if (server == 0) {
    ::close(fds[0]);
    BenchServerConfig config;
    config.uds_path = uds_path;
    config.max_message_bytes = kMaxMessageBytes;
    RunBenchServerProcess(parent, fds[1], config);
  }
  ::close(fds[1]);
  uint32_t max_bytes = 8;
  for (uint32_t bytes : options.sizes) max_bytes = std::max(max_bytes, bytes);
  g_floor = CreateStreamFloor(max_bytes);
  absl::StatusOr<int> port = ReadBenchServerPort(fds[0]);
  if (!port.ok()) Die(std::string(port.status().message()));

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  const std::string local = "localhost:" + std::to_string(*port);
  Clients c;
  c.shm_stub_channel = shmrpc::CreateChannel(
      local, grpc::InsecureChannelCredentials(), ShmChannelOptions(), args);
  c.shm_stub = ShmLatencyBench::NewStub(c.shm_stub_channel);
  c.shm_flat = ShmFlatBench::NewStub(c.shm_stub_channel);
  c.shm_creds_channel = grpc::CreateCustomChannel(
      local, shmrpc::ShmChannelCredentials(grpc::InsecureChannelCredentials()),
      args);
  c.shm_creds = LatencyBench::NewStub(c.shm_creds_channel);
  c.uds = LatencyBench::NewStub(grpc::CreateCustomChannel(
      "unix:" + uds_path, grpc::InsecureChannelCredentials(), args));
  c.tcp = LatencyBench::NewStub(
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(*port),
                                grpc::InsecureChannelCredentials(), args));

  std::printf(
      "server process %d: SHMRPC_DIR=%s, gRPC on 127.0.0.1:%d and unix:%s\n",
      static_cast<int>(server), g_shm_dir.c_str(), *port, uds_path.c_str());
  std::printf(
      "nothing pinned; %u interleaved passes; every byte written and "
      "checked\n",
      options.passes);
  // Connect every channel (a short stream each); shm-stub must be on shared
  // memory.
  for (Transport t : options.transports) {
    RunDownload(c, t, 4, 64, Mix64(0x5eed + static_cast<int>(t)));
  }
  if (shmrpc::GetChannelPath(c.shm_stub_channel) !=
      ChannelPath::kSharedMemory) {
    Die("shm-stub does not use shared memory: " +
        shmrpc::DescribeChannelPath(c.shm_stub_channel));
  }

  std::vector<Totals> totals(rows.size());
  const Clock::time_point start = Clock::now();
  for (uint32_t pass = 0; pass < options.passes; ++pass) {
    std::printf("pass %u/%u (%.0f s)\n", pass + 1, options.passes,
                std::chrono::duration<double>(Clock::now() - start).count());
    std::fflush(stdout);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      const uint64_t share = ShareOf(row.messages, options.passes, pass);
      // A short warm-up stream first, untimed.
      RunDownload(c, row.transport, std::max<uint64_t>(share / 20, 2),
                  row.bytes, Mix64(pass * 1000 + i));
      const uint64_t client0 = CpuNs(::getpid());
      const uint64_t server0 = CpuNs(server);
      uint64_t producer_cpu_ns = 0;
      const Clock::time_point t0 = Clock::now();
      const uint64_t seed = Mix64((pass + 1) * 7919 + i);
      const uint64_t n =
          row.transport == Transport::kFloor
              ? RunFloor(share, row.bytes, seed, &producer_cpu_ns)
              : RunDownload(c, row.transport, share, row.bytes, seed);
      const double seconds =
          std::chrono::duration<double>(Clock::now() - t0).count();
      totals[i].client_cpu_ns += CpuNs(::getpid()) - client0;
      // The floor's producer is its server.
      totals[i].server_cpu_ns += row.transport == Transport::kFloor
                                     ? producer_cpu_ns
                                     : CpuNs(server) - server0;
      totals[i].messages += n;
      totals[i].seconds += seconds;
    }
  }
  std::printf("measured in %.0f s\n",
              std::chrono::duration<double>(Clock::now() - start).count());

  c = Clients();
  ::kill(server, SIGKILL);
  int status = 0;
  (void)::waitpid(server, &status, 0);
  RemoveShmDir();
  Report(options, rows, totals);
  return 0;
}

}  // namespace
}  // namespace shmrpc::bench

int main(int argc, char** argv) { return shmrpc::bench::Main(argc, argv); }
