// A hostile shmrpc client. It completes the transport handshake honestly and
// then misbehaves against a server in the way its --scenario says. Usage:
//
//   hostile_client --endpoint=PATH --scenario=NAME [--ms=DURATION]
//
// Scenarios (each prints what it did; "case NAME: ok|FAIL ..." lines for
// scenarios that check the server's answers themselves):
//
//   scribble-header    random bytes over the control segment's header and
//                      closing words, while making calls
//   scribble-heads     impossible ring heads in every ring
//   scribble-bells     random futex words and "announced" flags, with
//                      FUTEX_WAKE storms on every bell
//   scribble-notify    random notify_mode / notify_pending words and notify
//                      ring head
//   scribble-entries   random descriptors published (with the right seq) on
//                      the requests and server_returns rings
//   scribble-all       random bytes over the whole control segment
//   bad-descriptors    one connection per case: descriptors and frames with
//                      out-of-range payload kinds, lengths, offsets, segment
//                      and stream ids, frame kinds, flags, method ids,
//                      generations, deadlines, metadata; bytes on the socket.
//                      Checks that each ends in a closed connection or an
//                      error status, as appropriate, never a hang
//   bogus-returns      returns of chunks never lent, bad offsets, wrong kinds;
//                      then a duplicate return of a chunk that the server has
//                      lent again (must be refused)
//   never-return       calls whose responses are read but never returned
//   flood              calls published as fast as the rings take them,
//                      responses never read
//   many-connections   200 connections, handshake completed, then idle
//   silent-handshakes  200 sockets that connect and never say a word,
//                      reopened as soon as the server drops them
//   fd-exhaustion      connections until the server can take no more, then
//                      connections left waiting in its backlog; prints
//                      "holding" and waits
//   rewrite-request    a request chunk rewritten continuously while the
//                      server decodes and parses it
//   huge-length        a request whose length exceeds INT_MAX, and one over
//                      gRPC's 4 MiB default receive limit (both must be
//                      refused with RESOURCE_EXHAUSTED)
//   oversized          three concurrent 100 MiB requests (must be refused
//                      with RESOURCE_EXHAUSTED; the test watches the
//                      server's memory)
//   bad-hello          ClientHellos with out-of-range capacities, counts,
//                      sizes, versions, fds and malformed records (each must
//                      be refused with a message, or granted within the
//                      server's limits)
//   die-mid-call       sleeping calls running, request chunks held by the
//                      server, a response chunk held here; prints "holding"
//                      and waits to be killed
//
// Exit status: 0 if the scenario ran and every server answer it checks was
// right, 1 if some answer was wrong, 2 on a usage or setup error.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/echo.pb.h"
#include "shmrpc/transport/data_layout.h"
#include "shmrpc/transport/futex.h"
#include "shmrpc/transport/handshake_wire.h"
#include "shmrpc/transport/segment.h"
#include "shmrpc/transport/unix_socket.h"
#include "tests/hostile/raw_peer.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using transport::Descriptor;
using transport::PayloadKind;
using transport::RingId;

constexpr uint8_t kNone = static_cast<uint8_t>(PayloadKind::kNone);
constexpr uint8_t kInline = static_cast<uint8_t>(PayloadKind::kInline);
constexpr uint8_t kChunk = static_cast<uint8_t>(PayloadKind::kChunk);
constexpr uint16_t kCallKind = static_cast<uint16_t>(rpc::FrameKind::kCall);
constexpr uint32_t kOk = 0;
constexpr uint32_t kResourceExhausted = 8;

std::string g_endpoint;
int g_ms = 1500;
bool g_failed = false;

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void Case(const std::string& name, bool ok, const std::string& detail) {
  Say(absl::StrCat("case ", name, ": ", ok ? "ok" : "FAIL", " (", detail, ")"));
  if (!ok) g_failed = true;
}

std::string Flag(int argc, char** argv, const std::string& name,
                 const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return fallback;
}

bool Before(steady_clock::time_point end) { return steady_clock::now() < end; }

// A serialized EchoRequest.
std::string EchoBytes(size_t payload_size, int sleep_ms = 0,
                      uint32_t seed = 1) {
  EchoRequest request;
  std::string payload(payload_size, '\0');
  for (size_t i = 0; i < payload_size; ++i) {
    payload[i] = static_cast<char>(seed * 131 + i * 7);
  }
  request.set_payload(payload);
  request.set_sleep_ms(sleep_ms);
  return request.SerializeAsString();
}

// An Echo call (payload of `size` bytes) on `stream`.
RawCall EchoCall(uint32_t method, uint32_t stream, uint32_t generation,
                 size_t size, int sleep_ms = 0) {
  RawCall c;
  c.stream = stream;
  c.generation = generation;
  c.method = method;
  c.message = EchoBytes(size, sleep_ms, generation);
  return c;
}

// Connects, retrying for a while (the server may be busy refusing others).
std::unique_ptr<RawPeer> ConnectOrDie(
    const transport::ClientHandshakeOptions& options = {}) {
  const auto end = steady_clock::now() + milliseconds(5000);
  for (;;) {
    absl::StatusOr<std::unique_ptr<RawPeer>> peer =
        RawPeer::Connect(g_endpoint, options);
    if (peer.ok()) return std::move(*peer);
    if (!Before(end)) {
      Say("cannot connect: " + std::string(peer.status().message()));
      std::exit(2);
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

// A small client pool: the server maps less of us.
transport::ClientHandshakeOptions SmallPool() {
  transport::ClientHandshakeOptions o;
  o.pool.classes = {{256, 64}, {65536, 8}};
  return o;
}

// ---- scribbling ------------------------------------------------------------

enum class Scribble { kHeader, kHeads, kBells, kNotify, kEntries, kAll };

// Every ring region of the control segment.
std::vector<transport::RingView> AllRings(const RawPeer& p) {
  std::vector<transport::RingView> rings;
  for (RingId id : {RingId::kRequests, RingId::kClientReturns,
                    RingId::kServerReturns, RingId::kNotify}) {
    rings.push_back(p.Ring(id));
  }
  for (uint32_t i = 0; i < p.layout().params.stream_count; ++i) {
    rings.push_back(p.StreamRing(i));
  }
  return rings;
}

void ScribbleOnce(RawPeer& p, Scribble what, std::mt19937_64& rng) {
  auto fill = [&](uint8_t* at, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t v = rng();
      std::memcpy(at + i, &v, std::min<size_t>(8, n - i));
    }
  };
  const std::vector<transport::RingView> rings = AllRings(p);
  auto any_ring = [&]() -> const transport::RingView& {
    return rings[rng() % rings.size()];
  };
  switch (what) {
    case Scribble::kHeader:
      fill(p.control(), transport::kControlHeaderSize);
      break;
    case Scribble::kHeads:
      for (const transport::RingView& r : rings) {
        const uint64_t choices[] = {0, ~uint64_t{0}, uint64_t{1} << 63, rng(),
                                    rng() % 4096};
        r.control->head.store(choices[rng() % 5], std::memory_order_relaxed);
      }
      break;
    case Scribble::kBells:
      for (int i = 0; i < 64; ++i) {
        const transport::RingView& r = any_ring();
        transport::BellWord* bell =
            (rng() & 1) ? &r.control->data_bell : &r.control->space_bell;
        bell->seq.store(static_cast<uint32_t>(rng()),
                        std::memory_order_relaxed);
        bell->announced.store(static_cast<uint32_t>(rng() % 3),
                              std::memory_order_relaxed);
        transport::FutexWake(&bell->seq, INT_MAX);
      }
      break;
    case Scribble::kNotify:
      for (uint32_t i = 0; i < p.layout().params.stream_count; ++i) {
        transport::RingControl* c = p.StreamRing(i).control;
        c->notify_mode.store(static_cast<uint32_t>(rng() % 3 == 0 ? rng() : 1),
                             std::memory_order_relaxed);
        c->notify_pending.store(static_cast<uint32_t>(rng() % 2),
                                std::memory_order_relaxed);
      }
      p.Ring(RingId::kNotify)
          .control->head.store(rng() % 64, std::memory_order_relaxed);
      break;
    case Scribble::kEntries:
      for (RingId id : {RingId::kRequests, RingId::kServerReturns}) {
        transport::RingView r = p.Ring(id);
        // The consumer's next position is its head: publish garbage there.
        const uint64_t head = r.control->head.load(std::memory_order_acquire);
        transport::RingEntry& e = r.entries[head & (r.capacity - 1)];
        fill(reinterpret_cast<uint8_t*>(&e.desc), sizeof(Descriptor));
        // Keep kinds plausible half the time, so that the checks beyond
        // the payload kind are reached.
        if (rng() & 1) e.desc.payload = static_cast<uint8_t>(rng() % 3);
        if (rng() & 1) e.desc.length = static_cast<uint32_t>(rng() % 100);
        fill(e.inline_data, transport::kInlineCapacity);
        e.seq.store(head + 1, std::memory_order_release);
        // And garbage sequence numbers elsewhere.
        r.entries[rng() & (r.capacity - 1)].seq.store(
            rng(), std::memory_order_relaxed);
      }
      break;
    case Scribble::kAll:
      fill(p.control(), p.control_size());
      break;
  }
}

// Connections, one after another for --ms, each scribbled on while a second
// thread keeps making calls on it.
int RunScribble(Scribble what) {
  std::mt19937_64 rng(::getpid());
  const auto end = steady_clock::now() + milliseconds(g_ms);
  int connections = 0, answered = 0;
  while (Before(end)) {
    absl::StatusOr<std::unique_ptr<RawPeer>> connected =
        RawPeer::Connect(g_endpoint, SmallPool());
    if (!connected.ok()) {
      std::this_thread::sleep_for(milliseconds(20));
      continue;
    }
    RawPeer& p = **connected;
    ++connections;
    absl::StatusOr<EchoMethods> m = LookUpEchoMethods(p, 0);
    const uint32_t echo = m.ok() ? m->echo : 1;
    if (connections == 1) Say("attacking");
    std::atomic<bool> stop{false};
    std::thread caller([&] {
      for (uint32_t g = 1; !stop.load(); ++g) {
        const uint32_t stream = g % 16;
        const size_t size = (g % 3 == 0) ? 5000 : 10;
        if (p.Call(EchoCall(echo, stream, g, size), milliseconds(100))) {
          ++answered;
        }
        if (p.PeerClosed(milliseconds(0))) break;
      }
    });
    const auto until = std::min(end, steady_clock::now() + milliseconds(300));
    while (Before(until) && !p.PeerClosed(milliseconds(0))) {
      ScribbleOnce(p, what, rng);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    stop.store(true);
    caller.join();
  }
  Say(absl::StrCat("connections ", connections, " answered ", answered));
  return 0;
}

// ---- bad descriptors
// ---------------------------------------------------------

enum class Expect {
  kClose,         // the server closes the connection
  kErrorOrClose,  // a non-OK status on the stream, or a closed connection
  kOk,            // an OK answer
  kAnyThenAlive,  // whatever, as long as the connection then still works or
                  // is closed (not hung)
};

struct BadCase {
  std::string name;
  Expect expect;
  // Publishes the bad thing on `p` (stream 2 is free for it).
  std::function<bool(RawPeer& p, const EchoMethods& m)> act;
};

// A descriptor for stream 2 pointing at our first chunk.
Descriptor ChunkDesc(const RawPeer& p, uint32_t length) {
  Descriptor d{};
  d.stream = 2;
  d.generation = 1;
  d.kind = kCallKind;
  d.flags = rpc::kHasMessage | rpc::kHalfClose;
  d.aux = 1;
  d.payload = kChunk;
  SetChunkOffset(&d, p.geometry().classes[0].offset);
  d.length = length;
  return d;
}

bool PushRaw(RawPeer& p, const Descriptor& d, const void* inline_bytes = "") {
  return p.PushRequest(d, inline_bytes, milliseconds(1000));
}

// A call on stream 2 whose payload is `bytes` exactly (in a chunk).
bool SendBytes(RawPeer& p, uint32_t method, uint16_t flags,
               const std::string& bytes) {
  std::optional<transport::Chunk> c = p.TakeChunk(bytes.size());
  if (!c) return false;
  std::memcpy(c->data, bytes.data(), bytes.size());
  Descriptor d{};
  d.stream = 2;
  d.generation = 1;
  d.kind = kCallKind;
  d.flags = flags;
  d.aux = method;
  d.payload = kChunk;
  SetChunkOffset(&d, c->offset);
  d.length = static_cast<uint32_t>(bytes.size());
  return PushRaw(p, d);
}

std::string U32(uint32_t v) {
  return std::string(reinterpret_cast<char*>(&v), 4);
}

std::vector<BadCase> BadCases() {
  const uint16_t call_flags = rpc::kHasMessage | rpc::kHalfClose;
  std::vector<BadCase> cases;
  auto add = [&](std::string name, Expect e,
                 std::function<bool(RawPeer&, const EchoMethods&)> act) {
    cases.push_back({std::move(name), e, std::move(act)});
  };
  // Transport-level violations: the connection must be closed.
  add("payload-kind-7", Expect::kClose, [](RawPeer& p, const EchoMethods&) {
    Descriptor d = ChunkDesc(p, 10);
    d.payload = 7;
    return PushRaw(p, d);
  });
  add("none-with-length", Expect::kClose, [](RawPeer& p, const EchoMethods&) {
    Descriptor d = ChunkDesc(p, 5);
    d.payload = kNone;
    SetChunkOffset(&d, 0);
    return PushRaw(p, d);
  });
  add("inline-length-200", Expect::kClose, [](RawPeer& p, const EchoMethods&) {
    // The producer copies at most kInlineCapacity bytes but publishes the
    // length as given.
    Descriptor d = ChunkDesc(p, 200);
    d.payload = kInline;
    SetChunkOffset(&d, 0);
    static const std::string bytes(transport::kInlineCapacity, 'x');
    return p.PushRequest(d, bytes.data(), milliseconds(1000));
  });
  add("chunk-segment-1", Expect::kClose, [](RawPeer& p, const EchoMethods&) {
    Descriptor d = ChunkDesc(p, 10);
    d.segment = 1;
    return PushRaw(p, d);
  });
  if (!kOffsetsInUnits) {  // v2 offsets are whole units: always aligned
    add("chunk-offset-unaligned", Expect::kClose,
        [](RawPeer& p, const EchoMethods&) {
          Descriptor d = ChunkDesc(p, 10);
          SetChunkOffset(&d, ChunkOffsetOf(d) + 8);
          return PushRaw(p, d);
        });
  }
  add("chunk-offset-in-header", Expect::kClose,
      [](RawPeer& p, const EchoMethods&) {
        Descriptor d = ChunkDesc(p, 10);
        SetChunkOffset(&d, 0);
        return PushRaw(p, d);
      });
  add("chunk-offset-at-end", Expect::kClose,
      [](RawPeer& p, const EchoMethods&) {
        Descriptor d = ChunkDesc(p, 0);
        SetChunkOffset(&d, p.own_data_size());
        return PushRaw(p, d);
      });
  add("chunk-offset-far-beyond", Expect::kClose,
      [](RawPeer& p, const EchoMethods&) {
        // The largest offset either descriptor version can carry.
        Descriptor d = ChunkDesc(p, 10);
        SetChunkOffset(&d, uint64_t{0xffffffffu} * transport::kChunkAlignment);
        return PushRaw(p, d);
      });
  add("chunk-length-past-end", Expect::kClose,
      [](RawPeer& p, const EchoMethods&) {
        const transport::DataClassEntry& last = p.geometry().classes.back();
        Descriptor d = ChunkDesc(p, 2 * last.chunk_size);
        SetChunkOffset(
            &d, last.offset + uint64_t{last.count - 1} * last.chunk_size);
        return PushRaw(p, d);
      });
  add("chunk-length-2^32-1", Expect::kClose,
      [](RawPeer& p, const EchoMethods&) {
        return PushRaw(p, ChunkDesc(p, 0xffffffffu));
      });
  add("stream-id-count", Expect::kClose, [](RawPeer& p, const EchoMethods&) {
    Descriptor d = ChunkDesc(p, 10);
    d.stream = p.layout().params.stream_count;
    return PushRaw(p, d);
  });
  add("stream-id-2^32-1", Expect::kClose, [](RawPeer& p, const EchoMethods&) {
    Descriptor d = ChunkDesc(p, 10);
    d.stream = 0xffffffffu;
    return PushRaw(p, d);
  });
  add("bytes-on-socket", Expect::kClose, [](RawPeer& p, const EchoMethods&) {
    return ::send(p.socket(), "x", 1, MSG_NOSIGNAL) == 1;
  });
  // Frame-level violations: an error status (or a closed connection).
  add("frame-kind-0", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 10);
        c.kind = 0;
        return p.SendCall(c, milliseconds(1000));
      });
  add("frame-kind-99", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 10);
        c.kind = 99;
        return p.SendCall(c, milliseconds(1000));
      });
    // A message for no running call is dropped, as a late message of a call
  // that ended must be (rpc/frame.h, "Streaming").
  add("message-frame-without-call", Expect::kAnyThenAlive,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 10);
        c.kind = static_cast<uint16_t>(rpc::FrameKind::kMessage);
        return p.SendCall(c, milliseconds(1000));
      });
  add("unknown-flag-bit", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 10);
        c.flags |= 1 << 12;
        return p.SendCall(c, milliseconds(1000));
      });
  add("status-flag-on-a-call", Expect::kAnyThenAlive,
      [=](RawPeer& p, const EchoMethods& m) {
        return SendBytes(p, m.echo, call_flags | rpc::kHasStatus,
                         EchoBytes(10) + U32(0xfffffff0u));
      });
  add("metadata-length-past-start", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        return SendBytes(p, m.echo, call_flags | rpc::kHasMetadata,
                         EchoBytes(10) + U32(0xfffffff0u));
      });
  add("metadata-key-length-2^32-1", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        const std::string section = U32(0xffffffffu) + U32(1) + "k" + "v";
        return SendBytes(p, m.echo, call_flags | rpc::kHasMetadata,
                         EchoBytes(10) + section +
                             U32(static_cast<uint32_t>(section.size())));
      });
  add("metadata-2000-entries", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        std::string section;
        for (int i = 0; i < 2000; ++i) section += U32(0) + U32(0);
        return SendBytes(p, m.echo, call_flags | rpc::kHasMetadata,
                         EchoBytes(10) + section +
                             U32(static_cast<uint32_t>(section.size())));
      });
  // Metadata gRPC would never deliver to a handler (rpc/metadata_check.h).
  add("metadata-illegal-key", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 10);
        c.flags |= rpc::kHasMetadata;
        c.metadata = {{"X-Upper Case", "v"}};
        return p.SendCall(c, milliseconds(1000));
      });
  add("metadata-illegal-text-value", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 10);
        c.flags |= rpc::kHasMetadata;
        c.metadata = {{"k", std::string("a\0\nb", 4)}};
        return p.SendCall(c, milliseconds(1000));
      });
  add("deadline-footer-truncated", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        return SendBytes(p, m.echo, rpc::kHasDeadline | rpc::kHalfClose, "abc");
      });
  add("method-2^32-1", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        return p.SendCall(EchoCall(0xffffffffu, 2, 1, 10), milliseconds(1000));
      });
  add("method-past-table", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        return p.SendCall(EchoCall(m.count + 1, 2, 1, 10), milliseconds(1000));
      });
  add("method-0-with-garbage", Expect::kAnyThenAlive,
      [=](RawPeer& p, const EchoMethods& m) {
        return p.SendCall(EchoCall(0, 2, 1, 50), milliseconds(1000));
      });
  add("not-a-protobuf", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 0);
        c.message = std::string(60, '\xff');
        return p.SendCall(c, milliseconds(1000));
      });
  add("deadline-1ns-after-epoch", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 10);
        c.flags |= rpc::kHasDeadline;
        c.deadline_unix_ns = 1;
        return p.SendCall(c, milliseconds(1000));
      });
  add("deadline-int64-min", Expect::kErrorOrClose,
      [=](RawPeer& p, const EchoMethods& m) {
        RawCall c = EchoCall(m.echo, 2, 1, 10);
        c.flags |= rpc::kHasDeadline;
        c.deadline_unix_ns = INT64_MIN;
        return p.SendCall(c, milliseconds(1000));
      });
  // Values that are odd but legal: the call must work.
  add("deadline-int64-max", Expect::kOk, [=](RawPeer& p, const EchoMethods& m) {
    RawCall c = EchoCall(m.echo, 2, 1, 10);
    c.flags |= rpc::kHasDeadline;
    c.deadline_unix_ns = INT64_MAX;
    return p.SendCall(c, milliseconds(1000));
  });
  add("generation-2^32-1", Expect::kOk, [=](RawPeer& p, const EchoMethods& m) {
    return p.SendCall(EchoCall(m.echo, 2, 0xffffffffu, 10), milliseconds(1000));
  });
  // Protocol abuse without a single bad value.
  add("cancel-of-nothing", Expect::kAnyThenAlive,
      [=](RawPeer& p, const EchoMethods& m) {
        Descriptor d{};
        d.stream = 2;
        d.generation = 12345;
        d.kind = static_cast<uint16_t>(rpc::FrameKind::kCancel);
        d.payload = kNone;
        return PushRaw(p, d);
      });
  add("two-calls-same-stream-and-generation", Expect::kAnyThenAlive,
      [=](RawPeer& p, const EchoMethods& m) {
        return p.SendCall(EchoCall(m.echo, 2, 1, 10), milliseconds(1000)) &&
               p.SendCall(EchoCall(m.echo, 2, 1, 10), milliseconds(1000));
      });
  add("one-chunk-lent-twice", Expect::kAnyThenAlive,
      [=](RawPeer& p, const EchoMethods& m) {
        const std::string bytes = EchoBytes(1000);
        Descriptor d = ChunkDesc(p, static_cast<uint32_t>(bytes.size()));
        const transport::DataClassEntry& c = p.geometry().classes.back();
        SetChunkOffset(&d, c.offset);
        d.aux = m.echo;
        std::memcpy(p.own_data() + ChunkOffsetOf(d), bytes.data(),
                    bytes.size());
        bool ok = PushRaw(p, d);
        d.stream = 3;
        return ok && PushRaw(p, d);
      });
  add("reserved-descriptor-bits", Expect::kAnyThenAlive,
      [=](RawPeer& p, const EchoMethods& m) {
        const std::string bytes = EchoBytes(10);
        Descriptor d{};
        d.stream = 2;
        d.generation = 1;
        d.kind = kCallKind;
        d.flags = call_flags;
        d.aux = m.echo;
        d.payload = kInline;
        d.length = static_cast<uint32_t>(bytes.size());
        d.segment = 0xff;
        d.reserved = 0xffff;
        SetChunkOffset(&d, ~uint64_t{0});
        return PushRaw(p, d, bytes.data());
      });
  return cases;
}

// True if an honest Echo on a stream not used before gets its answer.
bool Alive(RawPeer& p, const EchoMethods& m, uint32_t stream) {
  std::optional<RawResponse> r =
      p.Call(EchoCall(m.echo, stream, 7, 100), milliseconds(2000));
  return r && r->decoded && r->code == kOk;
}

// The server's data segment cannot be made writable from here.
void CheckServerSegmentReadOnly() {
  std::unique_ptr<RawPeer> p = ConnectOrDie(SmallPool());
  void* w = ::mmap(nullptr, p->peer_data_size(), PROT_READ | PROT_WRITE,
                   MAP_SHARED, p->peer_data_fd(), 0);
  const bool mapped = w != MAP_FAILED;
  if (mapped) ::munmap(w, p->peer_data_size());
  const bool reprotected =
      ::mprotect(const_cast<uint8_t*>(p->peer_data()), p->peer_data_size(),
                 PROT_READ | PROT_WRITE) == 0;
  const bool written =
      ::pwrite(p->peer_data_fd(), "x", 1, transport::kDataHeaderSize) == 1;
  Case("server-data-segment-stays-read-only",
       !mapped && !reprotected && !written,
       absl::StrCat("writable mmap ", mapped ? "ALLOWED" : "refused",
                    ", mprotect to writable ",
                    reprotected ? "ALLOWED" : "refused", ", write(2) ",
                    written ? "ALLOWED" : "refused"));
}

int RunBadDescriptors() {
  Say("attacking");
  CheckServerSegmentReadOnly();
  for (const BadCase& c : BadCases()) {
    std::unique_ptr<RawPeer> p = ConnectOrDie(SmallPool());
    absl::StatusOr<EchoMethods> m = LookUpEchoMethods(*p, 0);
    if (!m.ok() || !Alive(*p, *m, 1)) {
      Case(c.name, false, "the server did not answer before the attack");
      continue;
    }
    if (!c.act(*p, *m)) {
      Case(c.name, false, "could not publish the attack");
      continue;
    }
    // Whatever comes back on stream 2 (or the connection closing).
    std::string bad;
    std::optional<RawReceived> got;
    // Cases that may legitimately get no answer wait less.
    const auto end =
        steady_clock::now() +
        milliseconds(c.expect == Expect::kAnyThenAlive ? 300 : 2000);
    bool closed = false;
    while (Before(end)) {
      got = p->Receive(2, milliseconds(20), &bad);
      if (got || !bad.empty()) break;
      if (p->PeerClosed(milliseconds(0))) {
        closed = true;
        break;
      }
    }
    if (got && got->desc.payload == kChunk) p->Return(got->desc);
    const std::optional<RawResponse> r =
        got ? std::optional<RawResponse>(RawPeer::Decode(*got)) : std::nullopt;
    const std::string what =
        closed ? std::string("connection closed")
        : r    ? absl::StrCat("status ", r->code, " '", r->status_message,
                              "' generation ", got->desc.generation)
        : !bad.empty() ? "bad answer: " + bad
                       : std::string("no answer");
    switch (c.expect) {
      case Expect::kClose:
        if (!closed) closed = p->PeerClosed(milliseconds(2000));
        Case(c.name, closed, closed ? "connection closed" : what);
        break;
      case Expect::kErrorOrClose:
        Case(c.name, closed || (r && r->decoded && r->code != kOk), what);
        break;
      case Expect::kOk:
        Case(c.name,
             r && r->decoded && r->code == kOk &&
                 (c.name != "generation-2^32-1" ||
                  got->desc.generation == 0xffffffffu),
             what);
        break;
      case Expect::kAnyThenAlive: {
        const bool alive = !closed && Alive(*p, *m, 5);
        const bool gone = closed || p->PeerClosed(milliseconds(0));
        Case(c.name, alive || gone,
             what + (alive  ? ", then answers"
                     : gone ? ", then closed"
                            : ", then HUNG"));
        break;
      }
    }
  }
  return g_failed ? 1 : 0;
}

// ---- chunk returns
// -----------------------------------------------------------

int RunBogusReturns() {
  std::unique_ptr<RawPeer> p = ConnectOrDie(SmallPool());
  absl::StatusOr<EchoMethods> m = LookUpEchoMethods(*p, 0);
  if (!m.ok()) {
    Say("no method table: " + std::string(m.status().message()));
    return 2;
  }
  Say("attacking");
  // The server's chunk layout is in its (informational) segment header.
  transport::DataHeader header;
  std::memcpy(&header, p->peer_data(), sizeof(header));
  std::vector<uint64_t> never_lent;
  for (uint32_t c = 0; c < std::min<uint32_t>(header.class_count, 16); ++c) {
    never_lent.push_back(header.classes[c].offset +
                         header.classes[c].chunk_size);  // its second chunk
  }
  // 1. Returns of things that were never lent, or are not chunks at all.
  std::vector<Descriptor> garbage;
  auto chunk_at = [](uint64_t offset) {
    Descriptor d{};
    d.payload = kChunk;
    SetChunkOffset(&d, offset);
    d.length = 64;
    return d;
  };
  for (uint64_t off : never_lent) garbage.push_back(chunk_at(off));
  for (uint64_t off : {uint64_t{0}, uint64_t{8}, transport::kDataHeaderSize + 8,
                       uint64_t{p->peer_data_size()}, ~uint64_t{0}}) {
    garbage.push_back(chunk_at(off));
  }
  Descriptor none = chunk_at(never_lent[0]);
  none.payload = kNone;
  garbage.push_back(none);
  Descriptor seg = chunk_at(never_lent[0]);
  seg.segment = 3;
  garbage.push_back(seg);
  Descriptor inl = chunk_at(never_lent[0]);
  inl.payload = kInline;
  inl.length = 200;
  garbage.push_back(inl);
  for (const Descriptor& d : garbage) p->PushReturn(d);
  // The connection keeps serving (or was closed for it, which is also a
  // refusal); a hung connection is not acceptable.
  {
    std::optional<RawResponse> r =
        p->Call(EchoCall(m->echo, 1, 1, 1000), milliseconds(2000));
    const bool closed = p->PeerClosed(milliseconds(0));
    Case("garbage-returns", (r && r->decoded && r->code == kOk) || closed,
         closed ? "connection closed"
         : r    ? "still answering"
                : "HUNG");
    if (closed) {
      p = ConnectOrDie(SmallPool());
      m = LookUpEchoMethods(*p, 0);
      if (!m.ok()) return 2;
    }
  }

  // 2. A duplicate return that arrives after the chunk was lent again. The
  // server's free lists are last-in first-out, so a chunk returned is the
  // next one lent for a response of its size.
  const size_t size = 1000;  // responses of ~1 KiB: the 4 KiB class
  auto call = [&](uint32_t stream, uint32_t gen) -> std::optional<RawReceived> {
    if (!p->SendCall(EchoCall(m->echo, stream, gen, size),
                     milliseconds(2000))) {
      return std::nullopt;
    }
    for (;;) {
      std::optional<RawReceived> got = p->Receive(stream, milliseconds(2000));
      if (!got || got->desc.generation == gen) return got;
      if (got->desc.payload == kChunk) p->Return(got->desc);
    }
  };
  std::optional<RawReceived> first = call(3, 1);
  if (!first || first->desc.payload != kChunk) {
    Case("duplicate-return-after-relend", false,
         "the first response did not come in a chunk");
    return 1;
  }
  p->Return(first->desc);
  std::optional<RawReceived> second = call(3, 2);
  if (!second || second->desc.payload != kChunk) {
    Case("duplicate-return-after-relend", false, "no second response");
    return 1;
  }
  if (ChunkOffsetOf(second->desc) != ChunkOffsetOf(first->desc)) {
    Say(absl::StrCat("note: chunk not reused (", ChunkOffsetOf(first->desc),
                     " then ", ChunkOffsetOf(second->desc),
                     "); the check is weaker"));
  }
  // The second response's chunk stays lent to us. Now the stale duplicate.
  p->PushReturn(first->desc);
  std::optional<RawReceived> third = call(4, 1);
  const bool closed = p->PeerClosed(milliseconds(0));
  const std::string second_now(
      reinterpret_cast<const char*>(p->peer_data() +
                                    ChunkOffsetOf(second->desc)),
      second->desc.length);
  const bool overwritten = second_now != second->payload;
  const bool reused_while_lent =
      third && third->desc.payload == kChunk &&
      ChunkOffsetOf(third->desc) == ChunkOffsetOf(second->desc);
  Case(
      "duplicate-return-after-relend", !reused_while_lent && !overwritten,
      closed ? "connection closed: refused"
      : reused_while_lent
          ? absl::StrCat(
                "ACCEPTED: the server lent chunk ", ChunkOffsetOf(second->desc),
                " again while it was still lent to us",
                overwritten ? " and overwrote the response we hold" : "")
          : "refused");
  if (second->desc.payload == kChunk) p->Return(second->desc);
  return g_failed ? 1 : 0;
}

// Reads responses and never returns their chunks.
int RunNeverReturn() {
  std::unique_ptr<RawPeer> p = ConnectOrDie();
  absl::StatusOr<EchoMethods> m = LookUpEchoMethods(*p, 0);
  if (!m.ok()) return 2;
  Say("attacking");
  const auto end = steady_clock::now() + milliseconds(g_ms);
  int sent = 0, held = 0, errors = 0;
  std::vector<bool> waiting(p->layout().params.stream_count, false);
  for (uint32_t s = 1; s < 100 && Before(end); ++s) {
    // 40 KiB each way: the server answers from its 64 KiB class and up.
    while (!p->SendCall(EchoCall(m->echo, s, 1, 40 << 10), milliseconds(50)) &&
           Before(end)) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    ++sent;
    waiting[s] = true;
    for (uint32_t t = 1; t <= s; ++t) {
      if (!waiting[t]) continue;
      if (std::optional<RawReceived> r = p->Receive(t, milliseconds(0))) {
        waiting[t] = false;
        if (r->desc.payload == kChunk)
          ++held;  // and never returned
        else
          ++errors;
      }
    }
  }
  while (Before(end)) {
    for (uint32_t t = 1; t < waiting.size(); ++t) {
      if (!waiting[t]) continue;
      if (std::optional<RawReceived> r = p->Receive(t, milliseconds(0))) {
        waiting[t] = false;
        if (r->desc.payload == kChunk)
          ++held;
        else
          ++errors;
      }
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  Say(absl::StrCat("sent ", sent, " held ", held, " response chunks, ", errors,
                   " answers without a chunk"));
  return 0;
}

// Publishes calls as fast as the server takes them; never reads a response.
int RunFlood() {
  std::vector<std::unique_ptr<RawPeer>> peers;
  for (int i = 0; i < 3; ++i) peers.push_back(ConnectOrDie());
  absl::StatusOr<EchoMethods> m = LookUpEchoMethods(*peers[0], 0);
  if (!m.ok()) return 2;
  Say("attacking");
  const auto end = steady_clock::now() + milliseconds(g_ms);
  std::atomic<uint64_t> published{0};
  std::vector<std::thread> threads;
  for (auto& peer : peers) {
    threads.emplace_back([&, p = peer.get()] {
      const uint32_t streams = p->layout().params.stream_count;
      for (uint32_t g = 1; Before(end); ++g) {
        const size_t size = (g % 8 == 0) ? 5000 : 10;
        if (p->SendCall(EchoCall(m->echo, g % streams, g, size),
                        milliseconds(0))) {
          published.fetch_add(1);
        } else {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  Say(absl::StrCat("published ", published.load(), " calls"));
  return 0;
}

int RunManyConnections() {
  const int want = 200;
  std::vector<std::unique_ptr<RawPeer>> peers;
  transport::ClientHandshakeOptions o = SmallPool();
  o.stream_count = 16;
  int refused = 0;
  for (int i = 0; i < want; ++i) {
    absl::StatusOr<std::unique_ptr<RawPeer>> p =
        RawPeer::Connect(g_endpoint, o, milliseconds(2000));
    if (p.ok()) {
      peers.push_back(std::move(*p));
    } else {
      ++refused;
    }
  }
  Say(absl::StrCat("connected ", peers.size(), " refused ", refused));
  Say("attacking");
  std::this_thread::sleep_for(milliseconds(g_ms));
  return 0;
}

int RunSilentHandshakes() {
  const size_t want = 200;
  std::vector<transport::UniqueFd> sockets;
  uint64_t opened = 0, dropped = 0;
  auto open_one = [&]() -> transport::UniqueFd {
    absl::StatusOr<transport::UniqueFd> s =
        transport::ConnectSeqpacket(g_endpoint);
    if (!s.ok()) return transport::UniqueFd();
    ++opened;
    return std::move(*s);
  };
  for (size_t i = 0; i < want; ++i) sockets.push_back(open_one());
  Say("attacking");
  const auto end = steady_clock::now() + milliseconds(g_ms);
  while (Before(end)) {
    std::vector<struct pollfd> fds;
    for (auto& s : sockets) fds.push_back({s.get(), POLLIN | POLLRDHUP, 0});
    ::poll(fds.data(), fds.size(), 5);
    for (size_t i = 0; i < sockets.size(); ++i) {
      // Refused, timed out or never opened: open another, and stay silent.
      if (!sockets[i].valid() || fds[i].revents != 0) {
        if (sockets[i].valid()) ++dropped;
        sockets[i] = open_one();
      }
    }
  }
  Say(absl::StrCat("opened ", opened, " silent sockets, ", dropped,
                   " dropped by the server"));
  return 0;
}

int RunFdExhaustion() {
  std::vector<std::unique_ptr<RawPeer>> peers;
  transport::ClientHandshakeOptions o = SmallPool();
  o.stream_count = 4;
  int failures_in_a_row = 0;
  std::string last_error;
  while (failures_in_a_row < 3 && peers.size() < 400) {
    absl::StatusOr<std::unique_ptr<RawPeer>> p =
        RawPeer::Connect(g_endpoint, o, milliseconds(300));
    if (p.ok()) {
      peers.push_back(std::move(*p));
      failures_in_a_row = 0;
    } else {
      ++failures_in_a_row;
      last_error = std::string(p.status().message());
    }
  }
  // And some that wait in the listen backlog (accept4 would need an fd).
  std::vector<transport::UniqueFd> waiting;
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<transport::UniqueFd> s =
        transport::ConnectSeqpacket(g_endpoint);
    if (s.ok()) waiting.push_back(std::move(*s));
  }
  Say(absl::StrCat("established ", peers.size(), ", then: ", last_error));
  Say("holding");
  std::this_thread::sleep_for(milliseconds(g_ms));
  return 0;
}

// Rewrites the request chunk while the server decodes and parses it.
class Rewriter {
 public:
  // Scribbles on `chunk` (`size` bytes) until destroyed: mostly the first
  // region() bytes (the message), every 16th pass all of it (sections and
  // footer too).
  Rewriter(uint8_t* chunk, uint32_t size, uint32_t seed)
      : thread_([this, chunk, size, seed] {
          std::mt19937_64 rng(seed);
          for (uint64_t pass = 0; !stop_.load(); ++pass) {
            const uint32_t n = (pass % 16 == 15) ? size : region_.load();
            for (uint32_t i = 0; i + 8 <= n; i += 8) {
              __atomic_store_n(reinterpret_cast<uint64_t*>(chunk + i), rng(),
                               __ATOMIC_RELAXED);
            }
          }
        }) {}
  ~Rewriter() {
    stop_.store(true);
    thread_.join();
  }
  void set_region(uint32_t bytes) { region_.store(bytes & ~7u); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> region_{0};
  std::thread thread_;
};

int RunRewriteRequest() {
  std::unique_ptr<RawPeer> p = ConnectOrDie();
  absl::StatusOr<EchoMethods> m = LookUpEchoMethods(*p, 0);
  if (!m.ok()) return 2;
  // The first 64 KiB chunk (the default pool has one).
  const transport::DataClassEntry* cls = nullptr;
  for (const auto& c : p->geometry().classes) {
    if (c.chunk_size >= 65536) {
      cls = &c;
      break;
    }
  }
  const uint64_t offset = cls->offset;
  const uint32_t chunk_size = cls->chunk_size;
  Say("attacking");
  auto rewriter = std::make_unique<Rewriter>(p->own_data() + offset, chunk_size,
                                             ::getpid());
  const auto end = steady_clock::now() + milliseconds(g_ms);
  std::map<std::string, int> outcomes;
  for (uint32_t g = 1; Before(end); ++g) {
    RawCall call = EchoCall(m->echo, 1 + g % 8, g, 40 << 10);
    call.flags |= rpc::kHasMetadata | rpc::kHasDeadline;
    call.metadata = {{"a", "b"}, {"x-key", std::string(100, 'v')}};
    call.deadline_unix_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count() +
        1000000000;
    const std::string bytes = RawPeer::EncodeCall(call);
    rewriter->set_region(static_cast<uint32_t>(call.message.size()));
    // Racing with the rewriter on purpose.
    uint8_t* chunk = p->own_data() + offset;
    for (size_t i = 0; i < bytes.size(); ++i) {
      __atomic_store_n(chunk + i, static_cast<uint8_t>(bytes[i]),
                       __ATOMIC_RELAXED);
    }
    Descriptor d{};
    d.stream = call.stream;
    d.generation = g;
    d.kind = kCallKind;
    d.flags = call.flags;
    d.aux = m->echo;
    d.payload = kChunk;
    SetChunkOffset(&d, offset);  // lent again and again, returned or not
    d.length = static_cast<uint32_t>(bytes.size());
    if (!p->PushRequest(d, nullptr, milliseconds(500))) {
      ++outcomes["ring full"];
      continue;
    }
    std::optional<RawResponse> r = p->Await(call.stream, g, milliseconds(1000));
    p->DrainOurReturns();
    if (p->PeerClosed(milliseconds(0))) {
      ++outcomes["closed"];
      rewriter.reset();
      p = ConnectOrDie();
      m = LookUpEchoMethods(*p, 0);
      if (!m.ok()) return 2;
      rewriter = std::make_unique<Rewriter>(p->own_data() + offset, chunk_size,
                                            ::getpid() + g);
      continue;
    }
    ++outcomes[!r            ? std::string("no answer")
               : !r->decoded ? std::string("undecodable")
                             : absl::StrCat("status ", r->code)];
  }
  rewriter.reset();
  std::string summary;
  for (const auto& [k, v] : outcomes) {
    absl::StrAppend(&summary, k, ": ", v, "; ");
  }
  Say("outcomes: " + summary);
  return 0;
}

// A message whose length does not fit in an int, and one over gRPC's
// default 4 MiB receive limit.
int RunHugeLength() {
  transport::ClientHandshakeOptions o;
  const uint32_t huge_chunk = 0x80000040u;  // 2 GiB + 64
  o.pool.classes = {{8u << 20, 1}, {huge_chunk, 1}};
  std::unique_ptr<RawPeer> p = ConnectOrDie(o);
  absl::StatusOr<EchoMethods> m = LookUpEchoMethods(*p, 0);
  if (!m.ok()) return 2;
  Say("attacking");
  // 5 MiB: a valid EchoRequest, over the default limit.
  {
    RawCall c = EchoCall(m->echo, 1, 1, 5 << 20);
    std::optional<RawResponse> r = p->Call(c, milliseconds(10000));
    Case("5-MiB-request", r && r->decoded && r->code == kResourceExhausted,
         r ? absl::StrCat("status ", r->code, " '", r->status_message, "'")
           : "no answer");
  }
  // INT_MAX + 2 bytes of zeros (never written: no memory is used for them).
  {
    const transport::DataClassEntry& c = p->geometry().classes[1];
    Descriptor d{};
    d.stream = 2;
    d.generation = 1;
    d.kind = kCallKind;
    d.flags = rpc::kHasMessage | rpc::kHalfClose;
    d.aux = m->echo;
    d.payload = kChunk;
    SetChunkOffset(&d, c.offset);
    d.length = static_cast<uint32_t>(INT_MAX) + 2;
    if (!p->PushRequest(d, nullptr, milliseconds(1000))) return 2;
    std::optional<RawResponse> r = p->Await(2, 1, milliseconds(10000));
    const bool closed = p->PeerClosed(milliseconds(0));
    Case("length-above-INT_MAX",
         r && r->decoded && r->code == kResourceExhausted,
         r ? absl::StrCat("status ", r->code, " '", r->status_message, "'")
         : closed ? "connection closed (server gone?)"
                  : "no answer in 10 s");
  }
  return g_failed ? 1 : 0;
}

// Three 100 MiB requests at once. The payload bytes are never written (a
// memfd reads as zeros): only the protobuf header is.
int RunOversized() {
  transport::ClientHandshakeOptions o;
  o.pool.classes = {{128u << 20, 3}};
  std::unique_ptr<RawPeer> p = ConnectOrDie(o);
  absl::StatusOr<EchoMethods> m = LookUpEchoMethods(*p, 0);
  if (!m.ok()) return 2;
  const uint32_t payload = 100u << 20;
  // EchoRequest{payload = 1}: tag 0x0a, varint length, bytes.
  std::string header = "\x0a";
  for (uint32_t v = payload;; v >>= 7) {
    if (v < 0x80) {
      header.push_back(static_cast<char>(v));
      break;
    }
    header.push_back(static_cast<char>((v & 0x7f) | 0x80));
  }
  Say("attacking");
  const transport::DataClassEntry& c = p->geometry().classes[0];
  for (uint32_t s = 1; s <= 3; ++s) {
    const uint64_t offset = c.offset + uint64_t{s - 1} * c.chunk_size;
    std::memcpy(p->own_data() + offset, header.data(), header.size());
    Descriptor d{};
    d.stream = s;
    d.generation = 1;
    d.kind = kCallKind;
    d.flags = rpc::kHasMessage | rpc::kHalfClose;
    d.aux = m->echo;
    d.payload = kChunk;
    SetChunkOffset(&d, offset);
    d.length = static_cast<uint32_t>(header.size()) + payload;
    if (!p->PushRequest(d, nullptr, milliseconds(1000))) return 2;
  }
  for (uint32_t s = 1; s <= 3; ++s) {
    std::optional<RawResponse> r = p->Await(s, 1, milliseconds(20000));
    Case(absl::StrCat("100-MiB-request-", s),
         r && r->decoded && r->code == kResourceExhausted,
         r ? absl::StrCat("status ", r->code, " '", r->status_message, "'")
           : "no answer");
  }
  return g_failed ? 1 : 0;
}

// ---- handshake -------------------------------------------------------------

struct HelloOutcome {
  bool replied = false;
  transport::ServerHello reply{};
  size_t fds = 0;
  std::string error;
};

// Sends `bytes` with `fds` as the first record and reads the reply.
HelloOutcome SendHello(const std::string& bytes, const std::vector<int>& fds) {
  HelloOutcome out;
  absl::StatusOr<transport::UniqueFd> s =
      transport::ConnectSeqpacket(g_endpoint);
  if (!s.ok()) {
    out.error = std::string(s.status().message());
    return out;
  }
  if (absl::Status st = transport::SendRecord(
          s->get(),
          {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, fds);
      !st.ok()) {
    out.error = std::string(st.message());
    return out;
  }
  absl::StatusOr<transport::Record> r =
      transport::RecvRecord(s->get(), sizeof(transport::ServerHello) + 1, 4,
                            steady_clock::now() + milliseconds(3000));
  if (!r.ok()) {
    out.error = std::string(r.status().message());
    return out;
  }
  if (r->bytes.size() != sizeof(transport::ServerHello)) {
    out.error = absl::StrCat("reply of ", r->bytes.size(), " bytes");
    return out;
  }
  out.replied = true;
  std::memcpy(&out.reply, r->bytes.data(), sizeof(out.reply));
  out.reply.message[transport::kRefusalMessageSize - 1] = '\0';
  out.fds = r->fds.size();
  return out;
}

int RunBadHello() {
  using transport::ClientHello;
  absl::StatusOr<transport::PoolGeometry> geometry =
      transport::PoolGeometry::Plan(transport::PoolConfig{{{256, 4}}});
  if (!geometry.ok()) return 2;
  auto segment = [&](transport::SealMode mode) {
    absl::StatusOr<transport::Segment> s = transport::Segment::Create(
        "hostile-data", geometry->segment_size, mode);
    if (!s.ok()) {
      Say("cannot create a segment: " + std::string(s.status().message()));
      std::exit(2);
    }
    return std::move(*s);
  };
  transport::Segment data = segment(transport::SealMode::kOwnerWritesOnly);
  ClientHello good{};
  good.header.magic = transport::kHandshakeMagic;
  good.header.type = static_cast<uint16_t>(transport::WireType::kClientHello);
  good.header.length = sizeof(ClientHello);
  good.min_version = transport::kMinProtocolVersion;
  good.max_version = transport::kProtocolVersion;
  good.features = transport::kAllFeatures;
  good.data_segment_size = data.size();
  good.chunk_count = geometry->total_chunks;
  good.stream_count = 16;
  good.stream_capacity = 8;
  good.request_capacity = 64;
  auto bytes = [](const ClientHello& h) {
    return std::string(reinterpret_cast<const char*>(&h), sizeof(h));
  };
  // The server's documented maxima (ServerHandshakeOptions defaults).
  const transport::ServerHandshakeOptions server_defaults;
  auto judge = [&](const std::string& name, const HelloOutcome& o,
                   bool may_accept) {
    if (!o.replied) {
      Case(name, false, "no ServerHello: " + o.error);
      return;
    }
    const transport::ServerHello& r = o.reply;
    if (r.refusal != 0) {
      Case(name, std::strlen(r.message) > 0,
           absl::StrCat("refused ", r.refusal, ": ", r.message));
      return;
    }
    const transport::ControlParams& q = r.params;
    absl::StatusOr<transport::ControlLayout> layout =
        transport::ControlLayout::Compute(q);
    const bool within =
        layout.ok() && q.stream_count <= server_defaults.max_stream_count &&
        q.stream_capacity <= server_defaults.max_stream_capacity &&
        q.request_capacity <= server_defaults.max_request_capacity &&
        (r.features & ~transport::kAllFeatures) == 0 && o.fds == 2;
    Case(name, may_accept && within,
         absl::StrCat("accepted: streams ", q.stream_count, " x ",
                      q.stream_capacity, ", requests ", q.request_capacity,
                      ", client returns ", q.client_return_capacity,
                      ", features 0x", absl::Hex(r.features),
                      may_accept ? "" : " (should have been refused)"));
  };
  Say("attacking");
  const int fd = data.fd();
  auto with = [&](std::function<void(ClientHello&)> edit) {
    ClientHello h = good;
    edit(h);
    return h;
  };
  judge("honest-hello", SendHello(bytes(good), {fd}), true);
  judge(
      "request-capacity-2^31+1",
      SendHello(
          bytes(with([](ClientHello& h) { h.request_capacity = 0x80000001u; })),
          {fd}),
      true);
  judge(
      "stream-capacity-2^32-1",
      SendHello(
          bytes(with([](ClientHello& h) { h.stream_capacity = 0xffffffffu; })),
          {fd}),
      true);
  judge("stream-count-2^32-1",
        SendHello(
            bytes(with([](ClientHello& h) { h.stream_count = 0xffffffffu; })),
            {fd}),
        true);
  judge("every-capacity-2^32-1",
        SendHello(bytes(with([](ClientHello& h) {
                    h.stream_count = h.stream_capacity = h.request_capacity =
                        h.chunk_count = 0xffffffffu;
                  })),
                  {fd}),
        true);
  judge("chunk-count-2^31+1",
        SendHello(
            bytes(with([](ClientHello& h) { h.chunk_count = 0x80000001u; })),
            {fd}),
        true);
  judge("segment-size-lies",
        SendHello(bytes(with([](ClientHello& h) { h.data_segment_size *= 2; })),
                  {fd}),
        false);
  judge("segment-size-2^63",
        SendHello(bytes(with([](ClientHello& h) {
                    h.data_segment_size = uint64_t{1} << 63;
                  })),
                  {fd}),
        false);
  judge("no-fd", SendHello(bytes(good), {}), false);
  judge("two-fds", SendHello(bytes(good), {fd, fd}), false);
  {
    const int efd = ::eventfd(0, EFD_CLOEXEC);
    judge("fd-not-a-memfd", SendHello(bytes(good), {efd}), false);
    ::close(efd);
  }
  {
    transport::Segment writable = segment(transport::SealMode::kShared);
    // Without F_SEAL_FUTURE_WRITE: gives us nothing we do not have anyway
    // (we own the segment), so either answer is fine.
    judge("segment-without-future-write-seal",
          SendHello(bytes(with([&](ClientHello& h) {
                      h.data_segment_size = writable.size();
                    })),
                    {writable.fd()}),
          true);
  }
  judge("versions-0-0",
        SendHello(bytes(with([](ClientHello& h) {
                    h.min_version = h.max_version = 0;
                  })),
                  {fd}),
        false);
  judge("versions-65535",
        SendHello(bytes(with([](ClientHello& h) {
                    h.min_version = h.max_version = 0xffff;
                  })),
                  {fd}),
        false);
  judge("versions-min-above-max",
        SendHello(bytes(with([](ClientHello& h) {
                    h.min_version = 2;
                    h.max_version = 1;
                  })),
                  {fd}),
        false);
  judge(
      "every-feature-bit",
      SendHello(bytes(with([](ClientHello& h) { h.features = ~uint64_t{0}; })),
                {fd}),
      true);
  judge("reserved-fields-set",
        SendHello(bytes(with([](ClientHello& h) { h.zero1 = 1; })), {fd}),
        false);
  judge(
      "bad-magic",
      SendHello(bytes(with([](ClientHello& h) { h.header.magic = 0; })), {fd}),
      false);
  judge("wrong-record-type",
        SendHello(bytes(with([](ClientHello& h) { h.header.type = 2; })), {fd}),
        false);
  judge("truncated-record", SendHello(bytes(good).substr(0, 20), {fd}), false);
  judge("oversized-record",
        SendHello(bytes(good) + std::string(200, 'z'), {fd}), false);
  return g_failed ? 1 : 0;
}

// Calls in every state, then waits to be killed.
int RunDieMidCall() {
  std::unique_ptr<RawPeer> p = ConnectOrDie();
  absl::StatusOr<EchoMethods> m = LookUpEchoMethods(*p, 0);
  if (!m.ok()) return 2;
  // A response whose chunk we hold.
  if (!p->SendCall(EchoCall(m->echo, 1, 1, 100 << 10), milliseconds(2000))) {
    return 2;
  }
  std::optional<RawReceived> held = p->Receive(1, milliseconds(5000));
  // Handlers that run until cancelled, some with large requests the server
  // holds while they run.
  for (uint32_t s = 2; s < 8; ++s) {
    const size_t size = (s % 2 == 0) ? (1u << 20) - 4096 : 10;
    if (!p->SendCall(EchoCall(m->echo, s, 1, size, 30000),
                     milliseconds(2000))) {
      return 2;
    }
  }
  Say(absl::StrCat("holding (a response chunk held: ", held ? "yes" : "no",
                   ")"));
  std::this_thread::sleep_for(milliseconds(g_ms));
  return 0;
}

int Main(int argc, char** argv) {
  g_endpoint = Flag(argc, argv, "endpoint", "");
  g_ms = std::atoi(Flag(argc, argv, "ms", "1500").c_str());
  const std::string scenario = Flag(argc, argv, "scenario", "");
  // Hundreds of connections need fds (four each).
  struct rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  const std::map<std::string, std::function<int()>> scenarios = {
      {"scribble-header", [] { return RunScribble(Scribble::kHeader); }},
      {"scribble-heads", [] { return RunScribble(Scribble::kHeads); }},
      {"scribble-bells", [] { return RunScribble(Scribble::kBells); }},
      {"scribble-notify", [] { return RunScribble(Scribble::kNotify); }},
      {"scribble-entries", [] { return RunScribble(Scribble::kEntries); }},
      {"scribble-all", [] { return RunScribble(Scribble::kAll); }},
      {"bad-descriptors", RunBadDescriptors},
      {"bogus-returns", RunBogusReturns},
      {"never-return", RunNeverReturn},
      {"flood", RunFlood},
      {"many-connections", RunManyConnections},
      {"silent-handshakes", RunSilentHandshakes},
      {"fd-exhaustion", RunFdExhaustion},
      {"rewrite-request", RunRewriteRequest},
      {"huge-length", RunHugeLength},
      {"oversized", RunOversized},
      {"bad-hello", RunBadHello},
      {"die-mid-call", RunDieMidCall},
  };
  auto it = scenarios.find(scenario);
  if (g_endpoint.empty() || it == scenarios.end()) {
    std::fprintf(stderr,
                 "usage: hostile_client --endpoint=PATH --scenario=NAME "
                 "[--ms=N]\n");
    return 2;
  }
  const int rc = it->second();
  Say("done");
  return rc;
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
