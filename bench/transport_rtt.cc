// transport_rtt: round-trip latency of shmrpc's rings, against the floors of
// the same machine.
//
//   bazel run -c opt //bench:transport_rtt -- --csv=/tmp/rtt.csv
//
// Two parties take part in every measurement: the "client" pinned to CPU 0 and
// the "server" pinned to CPU 1. One round trip is: the client sends a message,
// the server receives it and answers, the client receives the answer. Every
// round trip is timed on its own with std::chrono::steady_clock; each row
// reports the median (p50) and the 99th percentile (p99) of its samples.
// Rows are measured in --passes interleaved shares (each after its own
// warm-up), so that slow drifts of the machine hit floors and rings alike.
//
// Mechanisms (all run in one invocation unless --mechanisms picks a subset):
//
//   spin-floor   Two threads of one process ping-pong one cache line: the
//                client stores n+1 into an atomic counter, the server spins
//                until it sees n+1 and stores n+2, the client spins until it
//                sees n+2. This is the cost of moving a cache line to the
//                other core and back: no ring can beat it.
//   futex-floor  Two processes ping-pong a futex word in shared memory: each
//                side changes the word, FUTEX_WAKEs the other and sleeps in
//                FUTEX_WAIT until the other changes the word back. This is the
//                cost of two sleep/wake-up cycles: no sleeping ring can beat
//                it.
//   ring-spin    Two processes exchange descriptors through the transport's
//                rings in a control segment laid out by ControlLayout: the
//                "requests" ring carries client -> server, stream ring 0
//                carries server -> client. Both sides busy-poll TryPop.
//   ring-futex   The same exchange, but each receiver is asleep when the
//                message arrives: it waits on the ring's data bell with
//                Doorbell::Wait and WaitPolicy{spin = 0}, and the sender's
//                TryPush wakes it (Notify makes the FUTEX_WAKE system call only
//                because the receiver announced that it sleeps).
//
// The ring rows with payload_bytes 0 carry a descriptor only. For the other
// rows (64 B to 1 MiB) each sender allocates a chunk from the ChunkPool of its
// own data segment (sealed kOwnerWritesOnly; the peer maps it read-only),
// writes EVERY byte of the payload with a pattern derived from the row, the
// pass and the round-trip number (from 32 KiB on with streaming stores, as
// shmrpc copies into shared memory: see transport/peer_copy.h), and sends a
// kChunk descriptor. The receiver
// reads EVERY byte, checks each 64-bit word against the expected pattern and
// the checksum (the sum of all words) against both the closed-form value for
// that round trip and the value the sender put in the descriptor, aborting on
// any mismatch; it then returns the chunk to its owner through the owner's
// return ring (client_returns / server_returns) and answers with a chunk of its
// own of the same size, written and read the same way. Owners drain their
// return ring into their pool (ChunkPool::Return) before allocating. Payload
// rows therefore measure the transport plus writing and reading the payload
// once on each side, which is what a real message costs.
//
// The server process is forked before any thread is started. It sleeps on a
// futex between rows, so it takes no CPU during the in-process spin-floor row,
// and it is killed if the benchmark dies (PR_SET_PDEATHSIG). The spin-floor
// counter and the futex-floor word live in a MAP_SHARED memfd page, the same
// kind of memory as the rings.

#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/bench_util.h"
#include "shmrpc/transport/chunk_pool.h"
#include "shmrpc/transport/control_layout.h"
#include "shmrpc/transport/data_layout.h"
#include "shmrpc/transport/doorbell.h"
#include "shmrpc/transport/futex.h"
#include "shmrpc/transport/internal/posix.h"
#include "shmrpc/transport/ring.h"
#include "shmrpc/transport/segment.h"

namespace shmrpc::bench {
namespace {

using transport::Access;
using transport::ChunkPool;
using transport::ControlLayout;
using transport::ControlParams;
using transport::Descriptor;
using transport::Doorbell;
using transport::PayloadKind;
using transport::PoolConfig;
using transport::PoolGeometry;
using transport::PopResult;
using transport::PushResult;
using transport::ReturnResult;
using transport::RingConsumer;
using transport::RingId;
using transport::RingMessage;
using transport::RingProducer;
using transport::RingView;
using transport::SealMode;
using transport::Segment;
using transport::UniqueFd;
using transport::WaitPolicy;

constexpr int kClientCpu = 0;
constexpr int kServerCpu = 1;

// ---- errors ---------------------------------------------------------------

// Prints "transport_rtt (<side>): <message>" and aborts. Used for every broken
// invariant: a benchmark that measured corrupted data must not print numbers.
[[noreturn]] void Die(const char* side, const std::string& message) {
  std::fprintf(stderr, "transport_rtt (%s): %s\n", side, message.c_str());
  std::fflush(stderr);
  std::abort();
}

template <typename T>
T CheckOk(absl::StatusOr<T> value, const char* side, const char* what) {
  if (!value.ok()) {
    Die(side, std::string(what) + ": " + value.status().ToString());
  }
  return *std::move(value);
}

// ---- mechanisms and rows ---------------------------------------------------

enum class Mechanism { kSpinFloor, kFutexFloor, kRingSpin, kRingFutex };

constexpr Mechanism kAllMechanisms[] = {
    Mechanism::kSpinFloor, Mechanism::kRingSpin, Mechanism::kFutexFloor,
    Mechanism::kRingFutex};

const char* MechanismName(Mechanism m) {
  switch (m) {
    case Mechanism::kSpinFloor:
      return "spin-floor";
    case Mechanism::kFutexFloor:
      return "futex-floor";
    case Mechanism::kRingSpin:
      return "ring-spin";
    case Mechanism::kRingFutex:
      return "ring-futex";
  }
  return "?";
}

std::optional<Mechanism> ParseMechanism(const std::string& name) {
  for (Mechanism m : kAllMechanisms) {
    if (name == MechanismName(m)) return m;
  }
  return std::nullopt;
}

bool IsRing(Mechanism m) {
  return m == Mechanism::kRingSpin || m == Mechanism::kRingFutex;
}

// The floor a ring mechanism is compared against.
Mechanism FloorOf(Mechanism m) {
  return m == Mechanism::kRingSpin ? Mechanism::kSpinFloor
                                   : Mechanism::kFutexFloor;
}

// Payload sizes of the ring rows; all are multiples of 8 (the pattern is
// written and checked in 64-bit words).
constexpr uint32_t kRingPayloads[] = {0, 64, 4096, 65536, 1048576};

// One line of the result table, or the part of it measured in one pass.
struct Row {
  Mechanism mechanism;
  uint32_t payload_bytes;
  uint32_t warmup;       // untimed round trips first
  uint32_t round_trips;  // timed round trips
};

// Rows are measured in several passes over all rows, each pass measuring a
// share of every row, so that a change of machine conditions during the run
// (on a VM: the host moving our vCPUs to other cores, other tenants) affects
// every row, and the ratios to the floors, alike.
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
  std::string csv;               // empty: print only
  uint32_t round_trips = 50000;  // small payloads; large ones get fewer
  uint32_t warmup = 2000;
  uint32_t passes = 5;
  std::vector<Mechanism> mechanisms{std::begin(kAllMechanisms),
                                    std::end(kAllMechanisms)};
};

constexpr char kUsage[] =
    "usage: transport_rtt [--csv=PATH] [--round_trips=N] [--warmup=N]\n"
    "                     [--passes=N] [--mechanisms=spin-floor,ring-spin,"
    "futex-floor,ring-futex]\n"
    "  --csv=PATH        also write the results as CSV to PATH\n"
    "  --round_trips=N   timed round trips per row for payloads <= 4 KiB\n"
    "                    (default 50000); 64 KiB rows use N/5, 1 MiB rows\n"
    "                    N/25 (at least 100 each)\n"
    "  --warmup=N        untimed round trips per row (default 2000, at most\n"
    "                    the row's timed round trips), spread over the passes\n"
    "  --passes=N        measure every row in N interleaved shares (default\n"
    "                    5), each preceded by its share of the warm-up\n"
    "  --mechanisms=L    comma-separated subset to run (default: all)\n";

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "transport_rtt: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

uint32_t ParseCount(const std::string& flag, const std::string& value,
                    uint32_t min) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || v < min ||
      v > 100000000ull) {
    UsageError("bad value for " + flag + ": '" + value + "'");
  }
  return static_cast<uint32_t>(v);
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
    } else if (flag == "round_trips") {
      o.round_trips = ParseCount(flag, value, 1);
    } else if (flag == "warmup") {
      o.warmup = ParseCount(flag, value, 0);
    } else if (flag == "passes") {
      o.passes = ParseCount(flag, value, 1);
    } else if (flag == "mechanisms") {
      o.mechanisms.clear();
      for (const std::string& name : SplitCommas(value)) {
        std::optional<Mechanism> m = ParseMechanism(name);
        if (!m) UsageError("unknown mechanism '" + name + "'");
        if (std::find(o.mechanisms.begin(), o.mechanisms.end(), *m) ==
            o.mechanisms.end()) {
          o.mechanisms.push_back(*m);
        }
      }
    } else {
      UsageError("unknown flag '--" + flag + "'");
    }
  }
  return o;
}

// The rows to run, in the order of kAllMechanisms (each floor right before
// the rings compared with it).
std::vector<Row> PlanRows(const Options& o) {
  std::vector<Row> rows;
  for (Mechanism m : kAllMechanisms) {
    if (std::find(o.mechanisms.begin(), o.mechanisms.end(), m) ==
        o.mechanisms.end()) {
      continue;
    }
    for (uint32_t payload : kRingPayloads) {
      if (!IsRing(m) && payload != 0) continue;
      uint32_t n = o.round_trips;
      if (payload >= (1u << 20)) {
        n = std::max<uint32_t>(n / 25, 100);
      } else if (payload >= (64u << 10)) {
        n = std::max<uint32_t>(n / 5, 100);
      }
      n = std::min(n, o.round_trips);
      rows.push_back(Row{m, payload, std::min(o.warmup, n), n});
    }
  }
  return rows;
}

// Cuts every row into `passes` shares and orders them pass by pass.
std::vector<Slice> PlanSchedule(const std::vector<Row>& rows, uint32_t passes) {
  std::vector<Slice> schedule;
  for (uint32_t pass = 0; pass < passes; ++pass) {
    for (uint32_t r = 0; r < rows.size(); ++r) {
      const Row& row = rows[r];
      const uint32_t timed = ShareOf(row.round_trips, passes, pass);
      if (timed == 0) continue;
      const uint32_t warmup = (row.warmup + passes - 1) / passes;
      schedule.push_back(
          Slice{r, Row{row.mechanism, row.payload_bytes, warmup, timed}});
    }
  }
  return schedule;
}

// ---- CPU pinning ------------------------------------------------------------

// Pins the calling thread to `cpu` (no-op when `enabled` is false).
void PinTo(int cpu, bool enabled, const char* side) {
  if (!enabled) return;
  if (absl::Status s = PinCallingThread(cpu); !s.ok()) {
    Die(side, std::string(s.message()));
  }
}

// ---- payload pattern and checksum -------------------------------------------

// Golden-ratio step between consecutive words of a payload.
constexpr uint64_t kPatternStep = 0x9e3779b97f4a7c15ull;

uint64_t Mix64(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

enum Side : uint64_t { kClient = 0, kServer = 1 };

// The first word of the payload that `side` sends in round trip `round` of
// slice `slice` (never the same for two messages of a run, so stale bytes
// from an earlier message cannot pass the check). Word i of the payload is
// seed + i * kPatternStep.
uint64_t PatternSeed(uint32_t slice, uint32_t round, Side side) {
  return Mix64((uint64_t{slice} << 40) ^ (uint64_t{round} << 1) ^ side);
}

// Sum of all words of a payload of `bytes` bytes with seed `seed`, in closed
// form: n * seed + step * n (n - 1) / 2 (mod 2^64).
uint64_t ExpectedChecksum(size_t bytes, uint64_t seed) {
  const uint64_t n = bytes / 8;
  const uint64_t pairs = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
  return n * seed + kPatternStep * pairs;
}

// Writes EVERY byte of [data, data + bytes) (a chunk the peer reads next)
// with the pattern for `seed`; from transport::kStreamingCopyMinBytes on with
// streaming stores, as shmrpc copies into shared memory. Returns the
// checksum of what it wrote.
uint64_t WritePayload(uint8_t* data, size_t bytes, uint64_t seed) {
  return WritePatternForPeer(data, bytes, seed, kPatternStep);
}

// Reads EVERY byte of [data, data + bytes): returns the sum of its words and
// ORs into *diff the XOR of every word with the pattern expected for `seed`
// (so *diff stays 0 only if every byte is exactly as expected).
uint64_t ReadPayload(const uint8_t* data, size_t bytes, uint64_t seed,
                     uint64_t* diff) {
  const uint64_t* words = reinterpret_cast<const uint64_t*>(data);
  const size_t n = bytes / 8;
  uint64_t value = seed;
  uint64_t sum = 0;
  uint64_t d = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t w = words[i];
    sum += w;
    d |= w ^ value;
    value += kPatternStep;
  }
  *diff = d;
  return sum;
}

// ---- shared state of the two processes --------------------------------------

// Lives at the start of a kShared segment created before fork(). Each field
// has its own 128-byte block so that no two share a cache line (nor an
// adjacent-line prefetch pair).
struct SyncBlock {
  // Index + 1 of the slice the server process should run next; kExitPhase
  // tells it to exit. Written by the client, futex-waited on by the server.
  alignas(128) std::atomic<uint32_t> phase{0};
  // The futex-floor ping-pong word.
  alignas(128) std::atomic<uint32_t> futex_word{0};
  // The spin-floor counter. Used by two threads of the client process only,
  // but kept in the same kind of memory as the rings (a MAP_SHARED memfd
  // page) so that the floor differs from ring-spin in nothing but the ring.
  alignas(128) std::atomic<uint64_t> spin_word{0};
};
constexpr uint32_t kExitPhase = 0xffffffffu;

// Control segment parameters: the handshake's defaults (handshake.h), with
// return rings large enough for every chunk of a default pool.
ControlParams BenchControlParams(uint32_t total_chunks) {
  uint32_t returns = 2;
  while (returns < total_chunks) returns *= 2;
  ControlParams p{};
  p.request_capacity = 1024;
  p.client_return_capacity = returns;
  p.server_return_capacity = returns;
  p.notify_capacity = 256;
  p.stream_count = 256;
  p.stream_capacity = 8;
  return p;
}

// Everything created before fork() and inherited by both processes.
struct World {
  ControlLayout layout;
  PoolGeometry geometry;
  Segment control;      // kShared: rings
  Segment sync;         // kShared: SyncBlock
  Segment client_data;  // kOwnerWritesOnly: the client's chunks
  Segment server_data;  // kOwnerWritesOnly: the server's chunks
  std::vector<Row> rows;
  std::vector<Slice> schedule;
  bool pinned = false;

  SyncBlock* sync_block() const {
    return reinterpret_cast<SyncBlock*>(sync.data());
  }
  RingView Ring(RingId id) const {
    return RingView::At(control.data(), layout.RingOffset(id),
                        layout.RingCapacity(id));
  }
  RingView Stream0() const {
    return RingView::At(control.data(), layout.StreamOffset(0),
                        layout.params.stream_capacity);
  }
};

// One process's end of the ring exchange.
struct RingEnd {
  const char* side_name = "";
  Side side = kClient;
  RingProducer out;           // client: requests; server: stream 0
  RingConsumer in;            // client: stream 0; server: requests
  RingProducer returns_out;   // peer's chunks back (client: server_returns)
  RingConsumer returns_in;    // our chunks back (client: client_returns)
  ChunkPool* pool = nullptr;  // over our own data segment (read-write)
  const Segment* peer_data = nullptr;  // the peer's data segment (read-only)
};

// Takes back every chunk the peer has returned. Refusals mean a bug.
void DrainReturns(RingEnd& end) {
  RingMessage m;
  for (;;) {
    const PopResult r = end.returns_in.TryPop(&m);
    if (r == PopResult::kEmpty) return;
    if (r != PopResult::kOk ||
        m.desc.payload != static_cast<uint8_t>(PayloadKind::kChunk)) {
      Die(end.side_name, "malformed entry in return ring");
    }
    if (end.pool->Return(m.desc.chunk_offset(), m.desc.lend) !=
        ReturnResult::kAccepted) {
      Die(end.side_name, "pool refused a returned chunk at offset " +
                             std::to_string(m.desc.chunk_offset()));
    }
  }
}

void PushOrDie(RingProducer& producer, const Descriptor& desc,
               const char* side_name, const char* ring) {
  const PushResult r = producer.TryPush(desc, nullptr);
  if (r != PushResult::kOk) {
    Die(side_name, std::string("push to ") + ring + " failed: " +
                       (r == PushResult::kFull ? "full" : "corrupt head"));
  }
}

// Builds the message for round trip `round`: a bare descriptor for payload 0,
// else a chunk of our own pool with EVERY payload byte written.
Descriptor MakeMessage(RingEnd& end, uint32_t slice, uint32_t round,
                       uint32_t payload_bytes) {
  Descriptor d{};
  d.generation = round;
  d.payload = static_cast<uint8_t>(PayloadKind::kNone);
  if (payload_bytes == 0) return d;
  DrainReturns(end);
  std::optional<transport::Chunk> chunk =
      end.pool->TryAllocate(payload_bytes, /*allow_larger=*/false);
  if (!chunk) Die(end.side_name, "chunk pool exhausted");
  const uint64_t sum = WritePayload(chunk->data, payload_bytes,
                                    PatternSeed(slice, round, end.side));
  const std::optional<uint32_t> lend = end.pool->MarkLent(chunk->offset);
  if (!lend) Die(end.side_name, "MarkLent refused a held chunk");
  d.payload = static_cast<uint8_t>(PayloadKind::kChunk);
  d.segment = 0;
  d.set_chunk_offset(chunk->offset);
  d.lend = *lend;
  d.length = payload_bytes;
  d.aux = static_cast<uint32_t>(sum);  // the sender's checksum, low half
  return d;
}

// Checks a received descriptor, reads and verifies EVERY payload byte in the
// peer's segment, and returns the chunk to its owner.
void ConsumeMessage(RingEnd& end, const RingMessage& m, uint32_t slice,
                    uint32_t round, uint32_t payload_bytes) {
  const Descriptor& d = m.desc;  // already a private copy
  if (d.generation != round) {
    Die(end.side_name, "expected round trip " + std::to_string(round) +
                           ", got " + std::to_string(d.generation));
  }
  if (payload_bytes == 0) {
    if (d.payload != static_cast<uint8_t>(PayloadKind::kNone) ||
        d.length != 0) {
      Die(end.side_name, "expected a bare descriptor");
    }
    return;
  }
  const uint64_t size = end.peer_data->size();
  const uint64_t offset = d.chunk_offset();
  if (d.payload != static_cast<uint8_t>(PayloadKind::kChunk) ||
      d.segment != 0 || d.length != payload_bytes ||
      offset < transport::kDataHeaderSize || offset >= size ||
      d.length > size - offset) {
    Die(end.side_name, "bad chunk descriptor: offset " +
                           std::to_string(offset) + " length " +
                           std::to_string(d.length));
  }
  const Side peer = end.side == kClient ? kServer : kClient;
  const uint64_t seed = PatternSeed(slice, round, peer);
  uint64_t diff = 0;
  const uint64_t sum =
      ReadPayload(end.peer_data->data() + offset, d.length, seed, &diff);
  const uint64_t expected = ExpectedChecksum(d.length, seed);
  if (sum != expected || static_cast<uint32_t>(sum) != d.aux || diff != 0) {
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "payload check failed in round trip %u (%u bytes): "
                  "checksum %016llx, expected %016llx, sender said ...%08x, "
                  "word diff %016llx",
                  round, d.length, static_cast<unsigned long long>(sum),
                  static_cast<unsigned long long>(expected), d.aux,
                  static_cast<unsigned long long>(diff));
    Die(end.side_name, buf);
  }
  Descriptor back{};
  back.payload = static_cast<uint8_t>(PayloadKind::kChunk);
  back.segment = 0;
  back.offset_units = d.offset_units;
  back.lend = d.lend;  // the lend generation travels back with the chunk
  back.length = d.length;
  PushOrDie(end.returns_out, back, end.side_name, "return ring");
}

// Receives the next message on `end.in`: busy-polling TryPop (ring-spin) or
// sleeping on the ring's data bell with no spin phase (ring-futex).
template <bool kSleep>
void Receive(RingEnd& end, RingMessage* m) {
  PopResult r = PopResult::kEmpty;
  if constexpr (kSleep) {
    Doorbell bell = end.in.data_bell();
    bell.Wait(
        [&] {
          r = end.in.TryPop(m);
          return r != PopResult::kEmpty;
        },
        WaitPolicy{std::chrono::nanoseconds(0)}, transport::kNoDeadline);
  } else {
    while ((r = end.in.TryPop(m)) == PopResult::kEmpty) {
      transport::CpuRelax();
    }
  }
  if (r != PopResult::kOk) Die(end.side_name, "corrupt ring entry");
}

// ---- the server process ----------------------------------------------------

template <bool kSleep>
void ServeRingRow(RingEnd& end, uint32_t slice, const Row& row) {
  const uint32_t total = row.warmup + row.round_trips;
  RingMessage m;
  for (uint32_t i = 0; i < total; ++i) {
    Receive<kSleep>(end, &m);
    ConsumeMessage(end, m, slice, i, row.payload_bytes);
    const Descriptor reply = MakeMessage(end, slice, i, row.payload_bytes);
    PushOrDie(end.out, reply, end.side_name, "stream 0");
  }
}

void ServeFutexFloorRow(SyncBlock* sync, const Row& row) {
  std::atomic<uint32_t>& word = sync->futex_word;
  const uint32_t total = row.warmup + row.round_trips;
  for (uint32_t i = 0; i < total; ++i) {
    const uint32_t idle = 2 * i;  // the value while waiting for the client
    uint32_t v;
    while ((v = word.load(std::memory_order_acquire)) == idle) {
      transport::FutexWait(&word, idle, transport::kNoDeadline);
    }
    if (v != idle + 1) Die("server", "futex-floor word out of sequence");
    word.store(idle + 2, std::memory_order_release);
    transport::FutexWake(&word, 1);
  }
}

// The server process's work: serves each slice the client announces through
// SyncBlock::phase, sleeping on the futex in between, until kExitPhase.
void ServerLoop(World& world) {
  PinTo(kServerCpu, world.pinned, "server");

  // Map the client's data segment read-only, as a real peer would after
  // receiving its fd, and drop the writable mapping fork() gave us.
  Segment client_data =
      CheckOk(Segment::Adopt(UniqueFd(::dup(world.client_data.fd())),
                             world.client_data.size(), Access::kReadOnly),
              "server", "adopting the client's data segment");
  world.client_data = Segment();
  ChunkPool pool(world.server_data.data(), world.geometry);

  RingEnd end;
  end.side_name = "server";
  end.side = kServer;
  end.out.Attach(world.Stream0());
  end.in.Attach(world.Ring(RingId::kRequests));
  end.returns_out.Attach(world.Ring(RingId::kClientReturns));
  end.returns_in.Attach(world.Ring(RingId::kServerReturns));
  end.pool = &pool;
  end.peer_data = &client_data;

  SyncBlock* sync = world.sync_block();
  uint32_t seen = 0;
  for (;;) {
    uint32_t phase;
    while ((phase = sync->phase.load(std::memory_order_acquire)) == seen) {
      transport::FutexWait(&sync->phase, seen, transport::kNoDeadline);
    }
    seen = phase;
    if (phase == kExitPhase) break;
    const uint32_t index = phase - 1;
    if (index >= world.schedule.size()) Die("server", "bad phase");
    const Row& row = world.schedule[index].part;
    switch (row.mechanism) {
      case Mechanism::kFutexFloor:
        ServeFutexFloorRow(sync, row);
        break;
      case Mechanism::kRingSpin:
        ServeRingRow<false>(end, index, row);
        break;
      case Mechanism::kRingFutex:
        ServeRingRow<true>(end, index, row);
        break;
      case Mechanism::kSpinFloor:
        Die("server", "spin-floor runs in the client process");
    }
  }
}

// Runs in the forked child; never returns.
[[noreturn]] void ServerMain(World& world, pid_t parent) {
  // Die with the benchmark, however it dies.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(3);
  if (::getppid() != parent) _exit(3);  // the parent is already gone
  ServerLoop(world);
  std::fflush(nullptr);
  _exit(0);  // skip the parent's atexit handlers and static destructors
}

// ---- the client process -----------------------------------------------------

// Timed round trips of one row; `one` performs round trip i.
template <typename OneRoundTrip>
std::vector<uint64_t> TimeRoundTrips(const Row& row, OneRoundTrip&& one) {
  return TimeRepetitions(row.warmup, row.round_trips, one);
}

// spin-floor: two threads of this process, both spinning, ping-pong one
// cache line (client writes n+1, server waits for it and writes n+2, ...).
// The server thread is started for the slice and joined after it.
std::vector<uint64_t> RunSpinFloor(SyncBlock* sync, const Row& row,
                                   bool pinned) {
  std::atomic<uint64_t>& counter = sync->spin_word;
  counter.store(0, std::memory_order_relaxed);
  const uint32_t total = row.warmup + row.round_trips;
  std::thread server([&] {
    PinTo(kServerCpu, pinned, "spin-floor server thread");
    for (uint64_t i = 0; i < total; ++i) {
      while (counter.load(std::memory_order_acquire) != 2 * i + 1) {
        transport::CpuRelax();
      }
      counter.store(2 * i + 2, std::memory_order_release);
    }
  });
  std::vector<uint64_t> samples = TimeRoundTrips(row, [&](uint32_t i) {
    counter.store(2 * uint64_t{i} + 1, std::memory_order_release);
    while (counter.load(std::memory_order_acquire) != 2 * uint64_t{i} + 2) {
      transport::CpuRelax();
    }
  });
  server.join();
  return samples;
}

// futex-floor: the client's half of the futex ping-pong with the server
// process. Each side sleeps in FUTEX_WAIT until the other changes the word
// and wakes it.
std::vector<uint64_t> RunFutexFloor(SyncBlock* sync, const Row& row) {
  std::atomic<uint32_t>& word = sync->futex_word;
  return TimeRoundTrips(row, [&](uint32_t i) {
    const uint32_t sent = 2 * i + 1;
    word.store(sent, std::memory_order_release);
    transport::FutexWake(&word, 1);
    uint32_t v;
    while ((v = word.load(std::memory_order_acquire)) == sent) {
      transport::FutexWait(&word, sent, transport::kNoDeadline);
    }
    if (v != sent + 1) Die("client", "futex-floor word out of sequence");
  });
}

// ring-spin / ring-futex: the client's half of the ring exchange.
template <bool kSleep>
std::vector<uint64_t> RunRing(RingEnd& end, uint32_t slice, const Row& row) {
  RingMessage m;
  return TimeRoundTrips(row, [&](uint32_t i) {
    const Descriptor request = MakeMessage(end, slice, i, row.payload_bytes);
    PushOrDie(end.out, request, end.side_name, "requests");
    Receive<kSleep>(end, &m);
    ConsumeMessage(end, m, slice, i, row.payload_bytes);
  });
}

// Set once the client has told the server process to exit.
std::atomic<bool> g_expect_server_exit{false};

// Blocks until the server process ends (without reaping it); if that was not
// asked for, the benchmark cannot go on: report and exit.
void WatchServer(pid_t server) {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(server), &info, WEXITED | WNOWAIT) !=
         0) {
    if (errno != EINTR) return;
  }
  if (g_expect_server_exit.load()) return;
  std::fprintf(
      stderr, "transport_rtt: the server process died unexpectedly (%s %d)\n",
      info.si_code == CLD_EXITED ? "exit status" : "signal", info.si_status);
  std::fflush(stderr);
  _exit(1);
}

std::string FormatRatio(double r) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", r);
  return buf;
}

void Report(const std::vector<Result>& results, const Options& options,
            bool pinned) {
  auto p50_of = [&](Mechanism m) -> uint64_t {
    for (const Result& r : results) {
      if (r.row.mechanism == m && r.row.payload_bytes == 0) return r.p50_ns;
    }
    return 0;
  };
  std::printf("\n%-12s %13s %11s %11s %12s %12s\n", "mechanism",
              "payload_bytes", "p50_ns", "p99_ns", "round_trips",
              "p50 / floor");
  for (const Result& r : results) {
    std::string ratio = "-";
    if (IsRing(r.row.mechanism)) {
      const uint64_t floor = p50_of(FloorOf(r.row.mechanism));
      if (floor > 0) {
        ratio = FormatRatio(static_cast<double>(r.p50_ns) /
                            static_cast<double>(floor));
      }
    }
    std::printf("%-12s %13u %11llu %11llu %12u %12s\n",
                MechanismName(r.row.mechanism), r.row.payload_bytes,
                static_cast<unsigned long long>(r.p50_ns),
                static_cast<unsigned long long>(r.p99_ns), r.row.round_trips,
                ratio.c_str());
  }
  // The design targets, at payload 0.
  struct Target {
    Mechanism ring;
    double max_ratio;
  };
  std::printf("\n");
  for (const Target& t : {Target{Mechanism::kRingSpin, 2.0},
                          Target{Mechanism::kRingFutex, 1.5}}) {
    const uint64_t ring = p50_of(t.ring);
    const uint64_t floor = p50_of(FloorOf(t.ring));
    if (ring == 0 || floor == 0) continue;
    const double ratio = static_cast<double>(ring) / static_cast<double>(floor);
    std::printf("target: %s p50 <= %.1fx %s p50 at payload 0: %.2fx  %s\n",
                MechanismName(t.ring), t.max_ratio,
                MechanismName(FloorOf(t.ring)), ratio,
                ratio <= t.max_ratio ? "met" : "MISSED");
  }
  if (!pinned) {
    std::printf(
        "note: fewer than 2 usable CPUs; nothing was pinned, so the "
        "numbers above do not measure cross-core latency\n");
  }

  if (options.csv.empty()) return;
  std::FILE* f = std::fopen(options.csv.c_str(), "w");
  if (f == nullptr) {
    Die("client", "cannot open " + options.csv + ": " + std::strerror(errno));
  }
  std::fprintf(f, "mechanism,payload_bytes,p50_ns,p99_ns,round_trips\n");
  for (const Result& r : results) {
    std::fprintf(f, "%s,%u,%llu,%llu,%u\n", MechanismName(r.row.mechanism),
                 r.row.payload_bytes, static_cast<unsigned long long>(r.p50_ns),
                 static_cast<unsigned long long>(r.p99_ns), r.row.round_trips);
  }
  if (std::fclose(f) != 0) {
    Die("client", "cannot write " + options.csv + ": " + std::strerror(errno));
  }
  std::printf("wrote %s\n", options.csv.c_str());
}

int Main(int argc, char** argv) {
  const Options options = ParseFlags(argc, argv);

  // Everything both processes share is created before fork().
  World world;
  world.geometry = CheckOk(PoolGeometry::Plan(PoolConfig::Default()), "client",
                           "planning the data segments");
  world.layout = CheckOk(
      ControlLayout::Compute(BenchControlParams(world.geometry.total_chunks)),
      "client", "laying out the control segment");
  world.control = CheckOk(Segment::Create("shmrpc-bench-control",
                                          world.layout.size, SealMode::kShared),
                          "client", "creating the control segment");
  world.sync = CheckOk(Segment::Create("shmrpc-bench-sync", sizeof(SyncBlock),
                                       SealMode::kShared),
                       "client", "creating the sync segment");
  new (world.sync.data()) SyncBlock();
  world.client_data = CheckOk(
      Segment::Create("shmrpc-bench-client-data", world.geometry.segment_size,
                      SealMode::kOwnerWritesOnly),
      "client", "creating the client's data segment");
  world.server_data = CheckOk(
      Segment::Create("shmrpc-bench-server-data", world.geometry.segment_size,
                      SealMode::kOwnerWritesOnly),
      "client", "creating the server's data segment");
  world.rows = PlanRows(options);
  world.schedule = PlanSchedule(world.rows, options.passes);
  world.pinned = CanPinTo(kClientCpu, kServerCpu);

  // Fork the server before any thread exists.
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t server = ::fork();
  if (server < 0) Die("client", std::string("fork: ") + std::strerror(errno));
  if (server == 0) ServerMain(world, parent);

  PinTo(kClientCpu, world.pinned, "client");
  // Map the server's data segment read-only and drop our writable mapping.
  Segment server_data =
      CheckOk(Segment::Adopt(UniqueFd(::dup(world.server_data.fd())),
                             world.server_data.size(), Access::kReadOnly),
              "client", "adopting the server's data segment");
  world.server_data = Segment();
  ChunkPool pool(world.client_data.data(), world.geometry);

  RingEnd end;
  end.side_name = "client";
  end.side = kClient;
  end.out.Attach(world.Ring(RingId::kRequests));
  end.in.Attach(world.Stream0());
  end.returns_out.Attach(world.Ring(RingId::kServerReturns));
  end.returns_in.Attach(world.Ring(RingId::kClientReturns));
  end.pool = &pool;
  end.peer_data = &server_data;

  std::thread watchdog(WatchServer, server);

  if (world.pinned) {
    std::printf("client pinned to CPU %d, server to CPU %d\n", kClientCpu,
                kServerCpu);
  } else {
    std::printf("fewer than 2 usable CPUs: pinning nothing\n");
  }
  std::printf("steady_clock::now() costs ~%llu ns (included once per sample)\n",
              static_cast<unsigned long long>(ClockOverheadNs()));

  for (const Row& row : world.rows) {
    std::printf("  %-11s %8u B: %5u warm-up + %6u timed round trips\n",
                MechanismName(row.mechanism), row.payload_bytes, row.warmup,
                row.round_trips);
  }
  std::printf("in %u interleaved passes\n", options.passes);

  SyncBlock* sync = world.sync_block();
  std::vector<std::vector<uint64_t>> samples(world.rows.size());
  for (uint32_t r = 0; r < world.rows.size(); ++r) {
    samples[r].reserve(world.rows[r].round_trips);
  }
  uint32_t pass = 0;
  for (uint32_t index = 0; index < world.schedule.size(); ++index) {
    const Slice& slice = world.schedule[index];
    const Row& part = slice.part;
    if (index == 0 || slice.row <= world.schedule[index - 1].row) {
      std::printf("pass %u/%u\n", ++pass, options.passes);
      std::fflush(stdout);
    }
    if (part.mechanism != Mechanism::kSpinFloor) {
      // The server sleeps on `phase`; it has finished the previous slice (its
      // last reply has been received), so resetting the floor word is safe.
      sync->futex_word.store(0, std::memory_order_relaxed);
      sync->phase.store(index + 1, std::memory_order_seq_cst);
      transport::FutexWake(&sync->phase, 1);
    }
    std::vector<uint64_t> measured;
    switch (part.mechanism) {
      case Mechanism::kSpinFloor:
        measured = RunSpinFloor(sync, part, world.pinned);
        break;
      case Mechanism::kFutexFloor:
        measured = RunFutexFloor(sync, part);
        break;
      case Mechanism::kRingSpin:
        measured = RunRing<false>(end, index, part);
        break;
      case Mechanism::kRingFutex:
        measured = RunRing<true>(end, index, part);
        break;
    }
    samples[slice.row].insert(samples[slice.row].end(), measured.begin(),
                              measured.end());
  }
  std::vector<Result> results;
  for (uint32_t r = 0; r < world.rows.size(); ++r) {
    std::sort(samples[r].begin(), samples[r].end());
    results.push_back(Result{world.rows[r], Percentile(samples[r], 0.50),
                             Percentile(samples[r], 0.99)});
  }

  // Let the server exit, and check that it did so cleanly.
  g_expect_server_exit.store(true);
  sync->phase.store(kExitPhase, std::memory_order_seq_cst);
  transport::FutexWake(&sync->phase, 1);
  watchdog.join();
  int status = 0;
  if (::waitpid(server, &status, 0) != server) {
    Die("client", std::string("waitpid: ") + std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die("client", "the server process did not exit cleanly (status " +
                      std::to_string(status) + ")");
  }

  Report(results, options, world.pinned);
  return 0;
}

}  // namespace
}  // namespace shmrpc::bench

int main(int argc, char** argv) { return shmrpc::bench::Main(argc, argv); }
