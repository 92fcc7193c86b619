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

uint32_t NextPowerOfTwo(uint32_t n, uint32_t floor) {
  n = std::max(n, floor);
  return absl::bit_ceil(n);
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
  std::string text = absl::StrCat("shared-memory handshake refused: ", message);
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
  if (record->bytes.size() != sizeof(ServerHello) || record->truncated) {
    return absl::DataLossError(absl::StrCat(
        "malformed ServerHello: ", record->bytes.size(), " bytes"));
  }
  ServerHello reply;
  std::memcpy(&reply, record->bytes.data(), sizeof(reply));
  if (auto bad = CheckHeader(reply.header, WireType::kServerHello,
                             record->bytes.size())) {
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
  if (layout->params.client_return_capacity < geometry.total_chunks) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server's client_returns ring (", layout->params.client_return_capacity,
        ") cannot hold our ", geometry.total_chunks, " chunks"));
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
  if (record->fds.size() != 2 || record->fds_truncated) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ServerHello carried ", record->fds.size(), " fds, expected 2"));
  }
  absl::StatusOr<Segment> control = Segment::Adopt(
      std::move(record->fds[0]), layout->size, Access::kReadWrite);
  if (!control.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server control segment refused: ", control.status().message()));
  }
  absl::StatusOr<Segment> peer_data = Segment::Adopt(
      std::move(record->fds[1]), reply.data_segment_size, Access::kReadOnly);
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
  if (magic != kControlMagic || version != reply.version ||
      size != layout->size || features != reply.features ||
      std::memcmp(&params, &reply.params, sizeof(params)) != 0) {
    return absl::FailedPreconditionError(
        "control segment header does not match the ServerHello");
  }

  Established e;
  e.role = Role::kClient;
  e.version = reply.version;
  e.features = reply.features;
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

  if (hello.truncated || hello.bytes.size() != sizeof(ClientHello)) {
    if (hello.bytes.size() >= sizeof(WireHeader)) {
      WireHeader h;
      std::memcpy(&h, hello.bytes.data(), sizeof(h));
      if (h.magic != kHandshakeMagic) {
        return refuse(Refusal::kMalformed,
                      "not a shmrpc handshake record (bad magic)");
      }
    }
    return refuse(Refusal::kMalformed,
                  absl::StrCat("ClientHello must be ", sizeof(ClientHello),
                               " bytes, got ", hello.bytes.size(),
                               hello.truncated ? " or more" : ""));
  }
  ClientHello in;
  std::memcpy(&in, hello.bytes.data(), sizeof(in));
  if (auto bad =
          CheckHeader(in.header, WireType::kClientHello, hello.bytes.size())) {
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
  const uint64_t features = in.features & options.features;

  if (hello.fds.size() != 1 || hello.fds_truncated) {
    return refuse(
        Refusal::kBadSegment,
        absl::StrCat("ClientHello must carry exactly 1 fd, got ",
                     hello.fds.size(), hello.fds_truncated ? " or more" : ""));
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

  // The client's segment: checked for seals and exact size before mapping.
  absl::StatusOr<Segment> peer_data = Segment::Adopt(
      std::move(hello.fds[0]), in.data_segment_size, Access::kReadOnly);
  if (!peer_data.ok()) {
    return refuse(Refusal::kBadSegment,
                  absl::StrCat("client data segment refused: ",
                               peer_data.status().message()));
  }

  auto data = MakeDataSegment(options.pool, "shmrpc-server-data");
  if (!data.ok()) {
    return refuse(Refusal::kResourceExhausted,
                  absl::StrCat("cannot create server data segment: ",
                               data.status().message()));
  }

  // Grant what the client asked for, within our limits.
  ControlParams params{};
  params.stream_count =
      std::clamp<uint32_t>(in.stream_count == 0 ? 256 : in.stream_count, 1,
                           std::min(options.max_stream_count, kMaxStreamCount));
  params.stream_capacity =
      std::min(NextPowerOfTwo(in.stream_capacity, kMinRingCapacity),
               absl::bit_floor(
                   std::min(options.max_stream_capacity, kMaxStreamCapacity)));
  params.request_capacity =
      std::min(NextPowerOfTwo(in.request_capacity, kMinRingCapacity),
               absl::bit_floor(
                   std::min(options.max_request_capacity, kMaxRingCapacity)));
  params.client_return_capacity =
      NextPowerOfTwo(in.chunk_count, kMinRingCapacity);
  params.server_return_capacity =
      NextPowerOfTwo(data->second.total_chunks, kMinRingCapacity);
  params.notify_capacity =
      NextPowerOfTwo(params.stream_count, kMinRingCapacity);
  absl::StatusOr<ControlLayout> layout = ControlLayout::Compute(params);
  if (!layout.ok()) {
    return refuse(Refusal::kBadParameters,
                  std::string(layout.status().message()));
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
  header->version = *version;
  header->header_size = sizeof(ControlHeader);
  header->segment_size = layout->size;
  header->features = features;
  header->params = params;

  ServerHello reply;
  FillServerHello(&reply, options);
  reply.version = *version;
  reply.refusal = static_cast<uint16_t>(Refusal::kAccepted);
  reply.features = features;
  reply.control_segment_size = layout->size;
  reply.data_segment_size = data->first.size();
  reply.params = params;
  const int fds[] = {control->fd(), data->first.fd()};
  if (absl::Status s = SendRecord(
          socket.get(),
          {reinterpret_cast<const uint8_t*>(&reply), sizeof(reply)}, fds);
      !s.ok()) {
    return s;
  }

  Established e;
  e.role = Role::kServer;
  e.version = *version;
  e.features = features;
  e.layout = *layout;
  e.control = std::move(*control);
  e.own_data = std::move(data->first);
  e.own_pool = std::move(data->second);
  e.peer_data = std::move(*peer_data);
  e.socket = std::move(socket);
  e.peer = peer;
  return e;
}

}  // namespace shmrpc::transport
