#include "shmrpc/transport/handshake.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/numeric/bits.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace shmrpc::transport {
namespace {

// A refusal travelling inside ServerHandshake before it is sent.
struct Refused {
  Refusal code;
  std::string message;
};

// The capacity a server grants for a ring of `asked` entries under its
// `limit` (at most kMaxRingCapacity): `asked` rounded up to a power of two,
// within [kMinRingCapacity, the largest power of two <= limit]. Any u32
// `asked` is fine: it is clamped before it is rounded (absl::bit_ceil of a
// value above 2^31 is undefined).
uint32_t GrantCapacity(uint32_t asked, uint32_t limit) {
  const uint32_t cap = std::max(kMinRingCapacity, absl::bit_floor(limit));
  return absl::bit_ceil(std::clamp(asked, kMinRingCapacity, cap));
}

// The most a server may grant for a ring of `asked` entries: the power of
// two at or above it (2^32 for asked > 2^31, so anything goes).
uint64_t MostGranted(uint32_t asked) {
  return absl::bit_ceil(uint64_t{std::max(asked, kMinRingCapacity)});
}

// The stream count a server grants for `asked` under `limit`.
uint32_t GrantStreams(uint32_t asked, uint32_t limit) {
  const uint32_t cap = std::clamp<uint32_t>(limit, 1, kMaxStreamCount);
  return std::clamp<uint32_t>(asked == 0 ? kDefaultStreamCount : asked, 1, cap);
}

WireHeader MakeHeader(WireType type, uint32_t length) {
  WireHeader h{};
  h.magic = kHandshakeMagic;
  h.type = static_cast<uint16_t>(type);
  h.length = length;
  return h;
}

// Checks the common record header. `bytes` must hold at least a WireHeader.
std::optional<std::string> CheckHeader(const WireHeader& h, WireType type,
                                       size_t record_size) {
  if (h.magic != kHandshakeMagic) {
    return absl::StrCat("not a shmrpc handshake record (magic 0x",
                        absl::Hex(h.magic), ")");
  }
  if (h.type != static_cast<uint16_t>(type)) {
    return absl::StrCat("unexpected record type ", h.type);
  }
  if (h.length != record_size || h.zero0 != 0 || h.zero1 != 0) {
    return absl::StrCat("malformed record header (length ", h.length,
                        ", record is ", record_size, " bytes)");
  }
  return std::nullopt;
}

absl::Status CheckOptions(const HandshakeOptions& o) {
  if (o.min_version < kMinProtocolVersion || o.max_version > kProtocolVersion ||
      o.min_version > o.max_version) {
    return absl::InvalidArgumentError(
        absl::StrCat("offered versions [", o.min_version, ", ", o.max_version,
                     "] must lie within [", kMinProtocolVersion, ", ",
                     kProtocolVersion, "]"));
  }
  return absl::OkStatus();
}

std::string PeerDescription(const PeerCredentials& p) {
  return absl::StrCat("pid ", p.pid, " uid ", p.uid, " gid ", p.gid);
}

// Builds this side's data segment and its geometry.
absl::StatusOr<std::pair<Segment, PoolGeometry>> MakeDataSegment(
    const PoolConfig& pool, const char* name) {
  absl::StatusOr<PoolGeometry> geometry = PoolGeometry::Plan(pool);
  if (!geometry.ok()) return geometry.status();
  absl::StatusOr<Segment> segment =
      Segment::Create(name, geometry->segment_size, SealMode::kOwnerWritesOnly);
  if (!segment.ok()) return segment.status();
  return std::make_pair(std::move(*segment), std::move(*geometry));
}

void FillServerHello(ServerHello* reply, const HandshakeOptions& options) {
  std::memset(reply, 0, sizeof(*reply));
  reply->header = MakeHeader(WireType::kServerHello, sizeof(ServerHello));
  reply->min_version = options.min_version;
  reply->max_version = options.max_version;
}

}  // namespace

PeerAllowList PeerAllowList::SameUser() {
  PeerAllowList list;
  list.uids.push_back(::geteuid());
  return list;
}

bool PeerAllowList::Allows(const PeerCredentials& peer) const {
  if (allow_any) return true;
  return std::find(uids.begin(), uids.end(), peer.uid) != uids.end() ||
         std::find(gids.begin(), gids.end(), peer.gid) != gids.end();
}

std::optional<uint16_t> NegotiateVersion(uint16_t our_min, uint16_t our_max,
                                         uint16_t peer_min, uint16_t peer_max) {
  if (our_min > our_max || peer_min > peer_max) return std::nullopt;
  const uint16_t high = std::min(our_max, peer_max);
  const uint16_t low = std::max(our_min, peer_min);
  if (high < low) return std::nullopt;
  return high;
}

absl::Status RefusalToStatus(Refusal refusal, const std::string& message) {
  std::string text = absl::StrCat(kHandshakeRefusedPrefix, message);
  switch (refusal) {
    case Refusal::kAccepted:
      return absl::OkStatus();
    case Refusal::kPermissionDenied:
      return absl::PermissionDeniedError(text);
    case Refusal::kVersionMismatch:
    case Refusal::kBadSegment:
    case Refusal::kMalformed:
      return absl::FailedPreconditionError(text);
    case Refusal::kBadParameters:
      return absl::InvalidArgumentError(text);
    case Refusal::kResourceExhausted:
      return absl::ResourceExhaustedError(text);
    case Refusal::kTimeout:
      return absl::DeadlineExceededError(text);
    case Refusal::kShuttingDown:
      return absl::UnavailableError(text);
  }
  return absl::UnknownError(absl::StrCat(text, " (unknown refusal code ",
                                         static_cast<int>(refusal), ")"));
}

void SendRefusal(int socket, Refusal refusal, const std::string& message,
                 const HandshakeOptions& options) {
  ServerHello reply;
  FillServerHello(&reply, options);
  reply.refusal = static_cast<uint16_t>(refusal);
  const size_t n = std::min(message.size(), kRefusalMessageSize - 1);
  std::memcpy(reply.message, message.data(), n);
  // Best effort: the peer may already be gone.
  (void)SendRecord(
      socket, {reinterpret_cast<const uint8_t*>(&reply), sizeof(reply)}, {});
}

// ---- pure checks ---------------------------------------------------------

absl::StatusOr<NegotiatedTerms> CheckServerHello(
    absl::Span<const uint8_t> bytes, bool truncated, size_t fd_count,
    bool fds_truncated, uint32_t client_chunk_count,
    const ClientHandshakeOptions& options) {
  if (bytes.size() != sizeof(ServerHello) || truncated) {
    return absl::DataLossError(
        absl::StrCat("malformed ServerHello: ", bytes.size(), " bytes",
                     truncated ? " or more" : ""));
  }
  ServerHello reply;
  std::memcpy(&reply, bytes.data(), sizeof(reply));
  if (auto bad =
          CheckHeader(reply.header, WireType::kServerHello, bytes.size())) {
    return absl::DataLossError(absl::StrCat("malformed ServerHello: ", *bad));
  }
  reply.message[kRefusalMessageSize - 1] = '\0';
  if (reply.refusal != static_cast<uint16_t>(Refusal::kAccepted)) {
    return RefusalToStatus(static_cast<Refusal>(reply.refusal),
                           std::string(reply.message));
  }

  // The server accepted; check everything it chose before using any of it.
  std::optional<uint16_t> expected =
      NegotiateVersion(options.min_version, options.max_version,
                       reply.min_version, reply.max_version);
  if (!expected || reply.version != *expected) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server chose protocol version ", reply.version, " but we offer [",
        options.min_version, ", ", options.max_version, "] and it offers [",
        reply.min_version, ", ", reply.max_version, "]"));
  }
  if ((reply.features & ~options.features) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server chose features 0x", absl::Hex(reply.features),
        " that we did not offer (0x", absl::Hex(options.features), ")"));
  }
  absl::StatusOr<ControlLayout> layout = ControlLayout::Compute(reply.params);
  if (!layout.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server chose bad ring sizes: ", layout.status().message()));
  }
  const ControlParams& p = layout->params;
  // Never more than we asked for: a server cannot make us map and watch
  // rings larger than we wanted.
  const uint32_t asked_streams =
      options.stream_count == 0 ? kDefaultStreamCount : options.stream_count;
  auto more_than_asked = [](const char* field, uint64_t granted,
                            uint64_t most) {
    return absl::FailedPreconditionError(
        absl::StrCat("server granted ", field, " ", granted,
                     ", more than we asked for (at most ", most, ")"));
  };
  if (p.stream_count > asked_streams) {
    return more_than_asked("stream_count", p.stream_count, asked_streams);
  }
  if (p.stream_capacity > MostGranted(options.stream_capacity)) {
    return more_than_asked("stream_capacity", p.stream_capacity,
                           MostGranted(options.stream_capacity));
  }
  if (p.request_capacity > MostGranted(options.request_capacity)) {
    return more_than_asked("request_capacity", p.request_capacity,
                           MostGranted(options.request_capacity));
  }
  // The other rings are sized from what each side declared.
  if (p.client_return_capacity < client_chunk_count) {
    return absl::FailedPreconditionError(
        absl::StrCat("server's client_returns ring (", p.client_return_capacity,
                     ") cannot hold our ", client_chunk_count, " chunks"));
  }
  if (p.client_return_capacity != MostGranted(client_chunk_count)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server sized client_return_capacity ", p.client_return_capacity,
        " for our ", client_chunk_count, " chunks (expected ",
        MostGranted(client_chunk_count), ")"));
  }
  if (p.notify_capacity != MostGranted(p.stream_count)) {
    return absl::FailedPreconditionError(
        absl::StrCat("server sized notify_capacity ", p.notify_capacity,
                     " for ", p.stream_count, " streams (expected ",
                     MostGranted(p.stream_count), ")"));
  }
  if (reply.control_segment_size != layout->size) {
    return absl::FailedPreconditionError(
        absl::StrCat("control segment size ", reply.control_segment_size,
                     " does not match its layout (", layout->size, ")"));
  }
  if (reply.data_segment_size < kDataHeaderSize + kChunkAlignment ||
      reply.data_segment_size > options.max_peer_segment_size) {
    return absl::FailedPreconditionError(
        absl::StrCat("server data segment size ", reply.data_segment_size,
                     " is out of bounds"));
  }
  // The server cannot lend more chunks than fit in its segment, so its
  // returns ring needs no more entries than that.
  const uint64_t most_server_chunks =
      (reply.data_segment_size - kDataHeaderSize) / kChunkAlignment;
  const uint64_t most_server_returns = absl::bit_ceil(std::clamp<uint64_t>(
      most_server_chunks, kMinRingCapacity, kMaxRingCapacity));
  if (p.server_return_capacity > most_server_returns) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server sized server_return_capacity ", p.server_return_capacity,
        " but its ", reply.data_segment_size,
        "-byte data segment holds at most ", most_server_chunks, " chunks"));
  }
  if (fd_count != 2 || fds_truncated) {
    return absl::FailedPreconditionError(
        absl::StrCat("ServerHello carried ", fd_count,
                     fds_truncated ? " or more" : "", " fds, expected 2"));
  }
  NegotiatedTerms terms;
  terms.version = reply.version;
  terms.features = reply.features;
  terms.layout = *layout;
  terms.peer_segment_size = reply.data_segment_size;
  return terms;
}

ClientHelloVerdict CheckClientHello(absl::Span<const uint8_t> bytes,
                                    bool truncated, size_t fd_count,
                                    bool fds_truncated,
                                    uint32_t server_chunk_count,
                                    const ServerHandshakeOptions& options) {
  ClientHelloVerdict v;
  auto refuse = [&v](Refusal code, std::string message) {
    v.refusal = code;
    v.message = std::move(message);
    return v;
  };
  if (truncated || bytes.size() != sizeof(ClientHello)) {
    if (bytes.size() >= sizeof(WireHeader)) {
      WireHeader h;
      std::memcpy(&h, bytes.data(), sizeof(h));
      if (h.magic != kHandshakeMagic) {
        return refuse(Refusal::kMalformed,
                      "not a shmrpc handshake record (bad magic)");
      }
    }
    return refuse(Refusal::kMalformed,
                  absl::StrCat("ClientHello must be ", sizeof(ClientHello),
                               " bytes, got ", bytes.size(),
                               truncated ? " or more" : ""));
  }
  ClientHello in;
  std::memcpy(&in, bytes.data(), sizeof(in));
  if (auto bad = CheckHeader(in.header, WireType::kClientHello, bytes.size())) {
    return refuse(Refusal::kMalformed, *bad);
  }
  if (in.zero0 != 0 || in.zero1 != 0) {
    return refuse(Refusal::kMalformed, "reserved ClientHello fields not zero");
  }

  std::optional<uint16_t> version = NegotiateVersion(
      options.min_version, options.max_version, in.min_version, in.max_version);
  if (!version) {
    return refuse(Refusal::kVersionMismatch,
                  absl::StrCat("no common protocol version: client offers [",
                               in.min_version, ", ", in.max_version,
                               "], server supports [", options.min_version,
                               ", ", options.max_version, "]"));
  }

  if (fd_count != 1 || fds_truncated) {
    return refuse(Refusal::kBadSegment,
                  absl::StrCat("ClientHello must carry exactly 1 fd, got ",
                               fd_count, fds_truncated ? " or more" : ""));
  }
  if (in.data_segment_size < kDataHeaderSize + kChunkAlignment ||
      in.data_segment_size > options.max_peer_segment_size) {
    return refuse(
        Refusal::kBadParameters,
        absl::StrCat("client data segment size ", in.data_segment_size,
                     " is not in [", kDataHeaderSize + kChunkAlignment, ", ",
                     options.max_peer_segment_size, "]"));
  }
  if (in.chunk_count == 0 || in.chunk_count > kMaxRingCapacity) {
    return refuse(Refusal::kBadParameters,
                  absl::StrCat("client chunk count ", in.chunk_count,
                               " is not in [1, ", kMaxRingCapacity, "]"));
  }
  if (server_chunk_count == 0 || server_chunk_count > kMaxRingCapacity) {
    return refuse(Refusal::kResourceExhausted,
                  absl::StrCat("server misconfigured: ", server_chunk_count,
                               " chunks in its data segment"));
  }

  // Grant what the client asked for, within our limits. Every requested
  // value is clamped before it is rounded.
  ControlParams params{};
  params.stream_count = GrantStreams(
      in.stream_count, std::min(options.max_stream_count, kMaxStreamCount));
  params.stream_capacity =
      GrantCapacity(in.stream_capacity,
                    std::min(options.max_stream_capacity, kMaxStreamCapacity));
  params.request_capacity =
      GrantCapacity(in.request_capacity,
                    std::min(options.max_request_capacity, kMaxRingCapacity));
  params.client_return_capacity =
      GrantCapacity(in.chunk_count, kMaxRingCapacity);
  params.server_return_capacity =
      GrantCapacity(server_chunk_count, kMaxRingCapacity);
  params.notify_capacity = GrantCapacity(params.stream_count, kMaxRingCapacity);
  absl::StatusOr<ControlLayout> layout = ControlLayout::Compute(params);
  if (!layout.ok()) {
    return refuse(Refusal::kBadParameters,
                  std::string(layout.status().message()));
  }
  v.terms.version = *version;
  v.terms.features = in.features & options.features;
  v.terms.layout = *layout;
  v.terms.peer_segment_size = in.data_segment_size;
  return v;
}

// ---- client -------------------------------------------------------------

absl::StatusOr<Established> ClientHandshake(
    UniqueFd socket, const ClientHandshakeOptions& options, Deadline deadline) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;

  absl::StatusOr<PeerCredentials> server = GetPeerCredentials(socket.get());
  if (!server.ok()) return server.status();
  if (!options.allow.Allows(*server)) {
    return absl::PermissionDeniedError(
        absl::StrCat("shared-memory server (", PeerDescription(*server),
                     ") is not on this client's allow-list"));
  }

  auto data = MakeDataSegment(options.pool, "shmrpc-client-data");
  if (!data.ok()) return data.status();
  Segment& own_data = data->first;
  PoolGeometry& geometry = data->second;

  ClientHello hello{};
  hello.header = MakeHeader(WireType::kClientHello, sizeof(ClientHello));
  hello.min_version = options.min_version;
  hello.max_version = options.max_version;
  hello.features = options.features;
  hello.data_segment_size = own_data.size();
  hello.chunk_count = geometry.total_chunks;
  hello.stream_count = options.stream_count;
  hello.stream_capacity = options.stream_capacity;
  hello.request_capacity = options.request_capacity;
  const int fds[] = {own_data.fd()};
  if (absl::Status s = SendRecord(
          socket.get(),
          {reinterpret_cast<const uint8_t*>(&hello), sizeof(hello)}, fds);
      !s.ok()) {
    // A server may refuse us before it reads our hello (too many handshakes
    // from this process, out of fds) and close at once: then its refusal is
    // waiting to be read and says more than EPIPE.
    absl::StatusOr<Record> early =
        RecvRecord(socket.get(), sizeof(ServerHello) + 1, 2,
                   std::chrono::steady_clock::now());
    if (early.ok()) {
      absl::StatusOr<NegotiatedTerms> refused = CheckServerHello(
          early->bytes, early->truncated, early->fds.size(),
          early->fds_truncated, geometry.total_chunks, options);
      if (!refused.ok()) return refused.status();
    }
    return s;
  }

  absl::StatusOr<Record> record =
      RecvRecord(socket.get(), sizeof(ServerHello) + 1, 2, deadline);
  if (!record.ok()) {
    if (absl::IsDeadlineExceeded(record.status())) {
      return absl::DeadlineExceededError(
          "shared-memory server did not answer the handshake in time");
    }
    return record.status();
  }
  absl::StatusOr<NegotiatedTerms> terms =
      CheckServerHello(record->bytes, record->truncated, record->fds.size(),
                       record->fds_truncated, geometry.total_chunks, options);
  if (!terms.ok()) return terms.status();
  const ControlLayout* layout = &terms->layout;
  absl::StatusOr<Segment> control = Segment::Adopt(
      std::move(record->fds[0]), layout->size, Access::kReadWrite);
  if (!control.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server control segment refused: ", control.status().message()));
  }
  absl::StatusOr<Segment> peer_data = Segment::Adopt(
      std::move(record->fds[1]), terms->peer_segment_size, Access::kReadOnly);
  if (!peer_data.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server data segment refused: ", peer_data.status().message()));
  }
  // The header the server wrote must agree with the reply. Read each field
  // once into a local.
  const auto* header = reinterpret_cast<const ControlHeader*>(control->data());
  const uint32_t magic = header->magic;
  const uint16_t version = header->version;
  const uint64_t size = header->segment_size;
  const uint64_t features = header->features;
  ControlParams params;
  std::memcpy(&params, &header->params, sizeof(params));
  if (magic != kControlMagic || version != terms->version ||
      size != layout->size || features != terms->features ||
      std::memcmp(&params, &layout->params, sizeof(params)) != 0) {
    return absl::FailedPreconditionError(
        "control segment header does not match the ServerHello");
  }

  Established e;
  e.role = Role::kClient;
  e.version = terms->version;
  e.features = terms->features;
  e.layout = *layout;
  e.control = std::move(*control);
  e.own_data = std::move(own_data);
  e.own_pool = std::move(geometry);
  e.peer_data = std::move(*peer_data);
  e.socket = std::move(socket);
  e.peer = *server;
  return e;
}

// ---- server -------------------------------------------------------------

absl::StatusOr<Established> ServerHandshake(
    UniqueFd socket, Record hello, const PeerCredentials& peer,
    const ServerHandshakeOptions& options) {
  auto refuse = [&](Refusal code, std::string message) -> absl::Status {
    SendRefusal(socket.get(), code, message, options);
    return RefusalToStatus(code, message);
  };
  if (absl::Status s = CheckOptions(options); !s.ok()) {
    return refuse(Refusal::kResourceExhausted,
                  "server misconfigured: " + std::string(s.message()));
  }

  // Credentials first: an unknown user learns nothing else.
  if (!options.allow.Allows(peer)) {
    return refuse(Refusal::kPermissionDenied,
                  absl::StrCat("peer ", PeerDescription(peer),
                               " is not on the server's allow-list"));
  }
  if (options.admit) {
    if (absl::Status admitted = options.admit(peer); !admitted.ok()) {
      return refuse(Refusal::kResourceExhausted,
                    std::string(admitted.message()));
    }
  }

  // Our own pool's geometry first (pure): it sizes the server_returns ring.
  absl::StatusOr<PoolGeometry> geometry = PoolGeometry::Plan(options.pool);
  if (!geometry.ok()) {
    return refuse(
        Refusal::kResourceExhausted,
        absl::StrCat("server misconfigured: ", geometry.status().message()));
  }
  ClientHelloVerdict verdict =
      CheckClientHello(hello.bytes, hello.truncated, hello.fds.size(),
                       hello.fds_truncated, geometry->total_chunks, options);
  if (!verdict.accepted()) return refuse(verdict.refusal, verdict.message);
  const NegotiatedTerms& terms = verdict.terms;
  const ControlLayout* layout = &terms.layout;

  // The client's segment: checked for seals and exact size before mapping.
  absl::StatusOr<Segment> peer_data = Segment::Adopt(
      std::move(hello.fds[0]), terms.peer_segment_size, Access::kReadOnly);
  if (!peer_data.ok()) {
    return refuse(Refusal::kBadSegment,
                  absl::StrCat("client data segment refused: ",
                               peer_data.status().message()));
  }

  absl::StatusOr<Segment> own_data = Segment::Create(
      "shmrpc-server-data", geometry->segment_size, SealMode::kOwnerWritesOnly);
  if (!own_data.ok()) {
    return refuse(Refusal::kResourceExhausted,
                  absl::StrCat("cannot create server data segment: ",
                               own_data.status().message()));
  }

  absl::StatusOr<Segment> control =
      Segment::Create("shmrpc-control", layout->size, SealMode::kShared);
  if (!control.ok()) {
    return refuse(Refusal::kResourceExhausted,
                  absl::StrCat("cannot create control segment: ",
                               control.status().message()));
  }
  // The segment starts zeroed, which is the initial state of every ring
  // (head 0, no entry published, no sleepers). Only the header needs values.
  auto* header = reinterpret_cast<ControlHeader*>(control->data());
  header->magic = kControlMagic;
  header->version = terms.version;
  header->header_size = sizeof(ControlHeader);
  header->segment_size = layout->size;
  header->features = terms.features;
  header->params = layout->params;

  ServerHello reply;
  FillServerHello(&reply, options);
  reply.version = terms.version;
  reply.refusal = static_cast<uint16_t>(Refusal::kAccepted);
  reply.features = terms.features;
  reply.control_segment_size = layout->size;
  reply.data_segment_size = own_data->size();
  reply.params = layout->params;
  const int fds[] = {control->fd(), own_data->fd()};
  if (absl::Status s = SendRecord(
          socket.get(),
          {reinterpret_cast<const uint8_t*>(&reply), sizeof(reply)}, fds);
      !s.ok()) {
    return s;
  }

  Established e;
  e.role = Role::kServer;
  e.version = terms.version;
  e.features = terms.features;
  e.layout = *layout;
  e.control = std::move(*control);
  e.own_data = std::move(*own_data);
  e.own_pool = std::move(*geometry);
  e.peer_data = std::move(*peer_data);
  e.socket = std::move(socket);
  e.peer = peer;
  return e;
}

}  // namespace shmrpc::transport
