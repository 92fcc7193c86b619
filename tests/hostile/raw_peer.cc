#include "tests/hostile/raw_peer.h"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "shmrpc/transport/data_layout.h"
#include "shmrpc/transport/unix_socket.h"

namespace shmrpc::testing {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using transport::Descriptor;
using transport::PayloadKind;
using transport::RingId;

absl::StatusOr<std::unique_ptr<RawPeer>> RawPeer::Connect(
    const std::string& path, const transport::ClientHandshakeOptions& options,
    milliseconds timeout) {
  absl::StatusOr<transport::UniqueFd> socket =
      transport::ConnectSeqpacket(path);
  if (!socket.ok()) return socket.status();
  absl::StatusOr<transport::Established> e = transport::ClientHandshake(
      std::move(*socket), options, steady_clock::now() + timeout);
  if (!e.ok()) return e.status();
  return std::make_unique<RawPeer>(std::move(*e));
}

RawPeer::RawPeer(transport::Established established)
    : e_(std::move(established)) {
  requests_.Attach(Ring(RingId::kRequests));
  returns_.Attach(Ring(RingId::kServerReturns));
  our_returns_.Attach(Ring(RingId::kClientReturns));
  streams_ = std::make_unique<transport::RingConsumer[]>(
      e_.layout.params.stream_count);
  for (uint32_t i = 0; i < e_.layout.params.stream_count; ++i) {
    streams_[i].Attach(StreamRing(i));
  }
}

transport::RingView RawPeer::Ring(RingId id) const {
  return transport::RingView::At(control(), e_.layout.RingOffset(id),
                                 e_.layout.RingCapacity(id));
}

transport::RingView RawPeer::StreamRing(uint32_t stream) const {
  return transport::RingView::At(control(), e_.layout.StreamOffset(stream),
                                 e_.layout.params.stream_capacity);
}

bool RawPeer::PushRequest(const Descriptor& d, const void* inline_bytes,
                          milliseconds timeout) {
  static const uint8_t kZeros[transport::kInlineCapacity] = {};
  if (inline_bytes == nullptr) inline_bytes = kZeros;
  const auto end = steady_clock::now() + timeout;
  for (;;) {
    switch (requests_.TryPush(d, inline_bytes)) {
      case transport::PushResult::kOk:
        return true;
      case transport::PushResult::kCorrupt:
        return false;
      case transport::PushResult::kFull:
        break;
    }
    if (steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

bool RawPeer::PushReturn(const Descriptor& d) {
  // Inline bytes for a descriptor that (wrongly) claims some.
  static const uint8_t kZeros[transport::kInlineCapacity] = {};
  return returns_.TryPush(d, kZeros) == transport::PushResult::kOk;
}

int RawPeer::DrainOurReturns() {
  int n = 0;
  transport::RingMessage m;
  for (;;) {
    transport::PopResult r = our_returns_.TryPop(&m);
    if (r == transport::PopResult::kEmpty) break;
    if (r == transport::PopResult::kOk) {
      n += static_cast<int>(lent_.erase(ChunkOffsetOf(m.desc)));
    }
  }
  return n;
}

std::optional<transport::Chunk> RawPeer::TakeChunk(size_t bytes) {
  DrainOurReturns();
  for (const transport::DataClassEntry& c : e_.own_pool.classes) {
    if (c.chunk_size < bytes) continue;
    for (uint32_t i = 0; i < c.count; ++i) {
      const uint64_t offset = c.offset + uint64_t{i} * c.chunk_size;
      if (lent_.count(offset) == 0) {
        return transport::Chunk{offset, c.chunk_size, own_data() + offset};
      }
    }
  }
  return std::nullopt;
}

std::string RawPeer::EncodeCall(const RawCall& call) {
  std::vector<rpc::MetadataEntry> md;
  for (const auto& [k, v] : call.metadata) md.emplace_back(k, v);
  rpc::FrameExtras extras;
  extras.deadline_unix_ns = call.deadline_unix_ns;
  extras.metadata = md;
  // Only the known section flags have an encoding; other bits travel as
  // they are.
  const uint16_t sections = call.flags & rpc::kKnownFlags;
  std::string out = call.message;
  const size_t extra = rpc::ExtrasSize(sections, extras);
  out.resize(call.message.size() + extra);
  rpc::EncodeExtras(
      sections, extras,
      reinterpret_cast<uint8_t*>(out.data()) + call.message.size());
  return out;
}

bool RawPeer::SendCall(const RawCall& call, milliseconds timeout,
                       uint64_t* chunk_offset) {
  const std::string payload = EncodeCall(call);
  Descriptor d{};
  d.stream = call.stream;
  d.generation = call.generation;
  d.kind = call.kind;
  d.flags = call.flags;
  d.aux = call.method;
  if (!call.force_chunk && inline_payloads() &&
      payload.size() <= transport::kInlineCapacity) {
    d.payload = static_cast<uint8_t>(PayloadKind::kInline);
    d.length = static_cast<uint32_t>(payload.size());
    return PushRequest(d, payload.data(), timeout);
  }
  std::optional<transport::Chunk> chunk = TakeChunk(payload.size());
  if (!chunk) return false;
  std::memcpy(chunk->data, payload.data(), payload.size());
  d.payload = static_cast<uint8_t>(PayloadKind::kChunk);
  SetChunkOffset(&d, chunk->offset);
  d.length = static_cast<uint32_t>(payload.size());
  lent_.insert(chunk->offset);
  if (chunk_offset != nullptr) *chunk_offset = chunk->offset;
  if (!PushRequest(d, nullptr, timeout)) {
    lent_.erase(chunk->offset);
    return false;
  }
  return true;
}

std::optional<RawReceived> RawPeer::Receive(uint32_t stream,
                                            milliseconds timeout,
                                            std::string* bad) {
  if (stream >= e_.layout.params.stream_count) {
    if (bad != nullptr) *bad = "no such stream";
    return std::nullopt;
  }
  const auto end = steady_clock::now() + timeout;
  transport::RingMessage m;
  for (uint32_t i = 0;; ++i) {
    transport::PopResult r = streams_[stream].TryPop(&m);
    if (r == transport::PopResult::kCorrupt) {
      if (bad != nullptr) *bad = "malformed stream entry";
      return std::nullopt;
    }
    if (r == transport::PopResult::kOk) break;
    if (steady_clock::now() >= end) return std::nullopt;
    if (i > 100) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  RawReceived out;
  out.desc = m.desc;
  const Descriptor& d = out.desc;
  if (d.payload == static_cast<uint8_t>(PayloadKind::kInline)) {
    out.payload.assign(reinterpret_cast<const char*>(m.inline_data), d.length);
  } else if (d.payload == static_cast<uint8_t>(PayloadKind::kChunk)) {
    const uint64_t size = peer_data_size();
    const uint64_t offset = ChunkOffsetOf(d);
    if (d.segment != 0 || offset < transport::kDataHeaderSize ||
        offset >= size || d.length > size - offset) {
      if (bad != nullptr) {
        *bad = absl::StrCat("chunk outside the server's segment: offset ",
                            offset, " length ", d.length);
      }
      return std::nullopt;
    }
    out.payload.assign(reinterpret_cast<const char*>(peer_data() + offset),
                       d.length);
  } else if (d.payload != static_cast<uint8_t>(PayloadKind::kNone) ||
             d.length != 0) {
    if (bad != nullptr) *bad = "bad payload kind";
    return std::nullopt;
  }
  return out;
}

RawResponse RawPeer::Decode(const RawReceived& received) {
  RawResponse r;
  absl::StatusOr<rpc::DecodedFrame> f = rpc::DecodeFrame(
      received.desc.flags,
      {reinterpret_cast<const uint8_t*>(received.payload.data()),
       received.payload.size()});
  if (!f.ok()) {
    r.error = std::string(f.status().message());
    return r;
  }
  r.decoded = true;
  r.code = (received.desc.flags & rpc::kHasStatus) ? received.desc.aux : 0;
  r.status_message = std::string(f->status_message);
  r.message.assign(reinterpret_cast<const char*>(f->message.data()),
                   f->message.size());
  return r;
}

std::optional<RawResponse> RawPeer::Await(uint32_t stream, uint32_t generation,
                                          milliseconds timeout) {
  const auto end = steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(end - steady_clock::now());
    if (left.count() < 0) return std::nullopt;
    std::optional<RawReceived> m = Receive(stream, left);
    if (!m) return std::nullopt;
    if (m->desc.payload == static_cast<uint8_t>(PayloadKind::kChunk)) {
      Return(m->desc);
    }
    if (m->desc.generation != generation) continue;
    return Decode(*m);
  }
}

std::optional<RawResponse> RawPeer::Call(const RawCall& call,
                                         milliseconds timeout) {
  if (!SendCall(call, timeout)) return std::nullopt;
  return Await(call.stream, call.generation, timeout);
}

absl::StatusOr<std::vector<std::string>> RawPeer::ListMethods(
    uint32_t stream, milliseconds timeout) {
  RawCall call;
  call.stream = stream;
  call.generation = 0x7ab1e;
  call.method = rpc::kListMethodsId;
  call.flags = rpc::kHalfClose;
  std::optional<RawResponse> r = Call(call, timeout);
  if (!r) return absl::DeadlineExceededError("no method table");
  if (!r->decoded) return absl::DataLossError(r->error);
  if (r->code != 0) {
    return absl::UnknownError(
        absl::StrCat("method table: status ", r->code, " ", r->status_message));
  }
  return rpc::DecodeMethodTable(
      {reinterpret_cast<const uint8_t*>(r->message.data()), r->message.size()});
}

bool RawPeer::PeerClosed(milliseconds wait) const {
  struct pollfd p {
    socket(), POLLRDHUP, 0
  };
  const int rc = ::poll(&p, 1, static_cast<int>(wait.count()));
  return rc > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

absl::StatusOr<EchoMethods> LookUpEchoMethods(RawPeer& peer, uint32_t stream) {
  absl::StatusOr<std::vector<std::string>> table =
      peer.ListMethods(stream, milliseconds(2000));
  if (!table.ok()) return table.status();
  EchoMethods m;
  m.count = static_cast<uint32_t>(table->size());
  for (uint32_t i = 0; i < table->size(); ++i) {
    const std::string& name = (*table)[i];
    if (name == "/shmrpc.testing.EchoService/Echo") m.echo = i + 1;
    if (name == "/shmrpc.testing.EchoService/LastCall") m.last_call = i + 1;
    if (name == "/shmrpc.testing.EchoService/Unimplemented") {
      m.unimplemented = i + 1;
    }
  }
  if (m.echo == 0) return absl::NotFoundError("the server serves no Echo");
  return m;
}

}  // namespace shmrpc::testing
