// The Unix-socket handshake that turns a connected socket into the shared
// state of a connection: version and feature negotiation, peer credential
// checks, and the exchange of sealed segments. Wire format: handshake_wire.h.
//
// Both functions treat everything from the peer as hostile: every field is
// range-checked, every segment's seals and size are verified before it is
// mapped, and every refusal carries a message that says what was wrong.
#ifndef SHMRPC_TRANSPORT_HANDSHAKE_H_
#define SHMRPC_TRANSPORT_HANDSHAKE_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "shmrpc/transport/chunk_pool.h"
#include "shmrpc/transport/control_layout.h"
#include "shmrpc/transport/handshake_wire.h"
#include "shmrpc/transport/segment.h"
#include "shmrpc/transport/unix_socket.h"

namespace shmrpc::transport {

// Which peers a side accepts, judged on the credentials the kernel reports
// for the socket (SO_PEERCRED). A peer is allowed if allow_any is set, or its
// uid is in `uids`, or its gid is in `gids`. Plain value.
struct PeerAllowList {
  std::vector<uid_t> uids;
  std::vector<gid_t> gids;
  bool allow_any = false;

  // Only processes running as this process's effective uid (the default).
  static PeerAllowList SameUser();

  bool Allows(const PeerCredentials& peer) const;
};

// Options common to both sides. Plain value.
struct HandshakeOptions {
  // The protocol versions this side offers; must lie within
  // [kMinProtocolVersion, kProtocolVersion].
  uint16_t min_version = kMinProtocolVersion;
  uint16_t max_version = kProtocolVersion;
  // Feature bits this side offers (handshake_wire.h).
  uint64_t features = kAllFeatures;
  // Who may be at the other end.
  PeerAllowList allow = PeerAllowList::SameUser();
  // Size classes of this side's data segment.
  PoolConfig pool = PoolConfig::Default();
  // The largest data segment this side accepts from the peer.
  uint64_t max_peer_segment_size = uint64_t{4} << 30;
};

// The number of streams a server grants a client that asks for 0.
inline constexpr uint32_t kDefaultStreamCount = 256;

// What a client asks for. The server may grant less, never more: ring
// capacities are rounded up to a power of two (within [kMinRingCapacity,
// the server's limit]) and the stream count is capped. Plain value.
struct ClientHandshakeOptions : HandshakeOptions {
  uint32_t stream_count = 256;  // concurrent streams (0: kDefaultStreamCount)
  // Messages queued per stream (the server-to-client window in messages;
  // the byte window applies too). 32 and not fewer: with 8, a stream of
  // small messages kept its two ends within a few entries of each other,
  // and every message cost both sides a cache-line exchange (64 B server
  // streaming: 2.0 M against 5-9 M messages/s on the 2-core VM).
  uint32_t stream_capacity = 32;
  uint32_t request_capacity = 1024;
};

// What a server grants at most. Requests above these limits (any u32 value)
// are clamped to them, never refused. A limit below the protocol's minimum
// (1 stream, kMinRingCapacity entries) acts as that minimum. Plain value.
struct ServerHandshakeOptions : HandshakeOptions {
  uint32_t max_stream_count = 1024;      // capped at kMaxStreamCount
  uint32_t max_stream_capacity = 64;     // rounded down to a power of two,
  uint32_t max_request_capacity = 4096;  // capped at the ring maxima
  // Admission control, asked once per handshake right after the peer passed
  // the allow-list and before anything is created for it: a non-OK status
  // refuses the client with Refusal::kResourceExhausted and the status's
  // message (e.g. the server's connection cap). Empty: admit everyone.
  // Called on the listener's loop thread; must not block.
  std::function<absl::Status(const PeerCredentials&)> admit;
};

enum class Role { kClient, kServer };

// Everything a successful handshake yields; becomes a Connection. Move-only.
struct Established {
  Role role = Role::kClient;
  uint16_t version = 0;
  uint64_t features = 0;
  ControlLayout layout{};
  Segment control;        // mapped read-write by both sides
  Segment own_data;       // ours, read-write, sealed against other writers
  PoolGeometry own_pool;  // how own_data is cut into chunks
  Segment peer_data;      // theirs, mapped read-only
  UniqueFd socket;        // stays open for the life of the connection
  PeerCredentials peer;
};

// The highest version in both [our_min, our_max] and [peer_min, peer_max],
// or nullopt if the ranges do not meet (or a range is empty).
std::optional<uint16_t> NegotiateVersion(uint16_t our_min, uint16_t our_max,
                                         uint16_t peer_min, uint16_t peer_max);

// What a hello's checks decided, before any segment is touched. Plain value.
struct NegotiatedTerms {
  uint16_t version = 0;
  uint64_t features = 0;
  ControlLayout layout{};  // from the granted params, checked by Compute()
  // The size the peer declared for its data segment; the segment's fd must
  // have exactly this size (Segment::Adopt checks it).
  uint64_t peer_segment_size = 0;
};

// The verdict on a ClientHello. Plain value.
struct ClientHelloVerdict {
  Refusal refusal = Refusal::kAccepted;
  std::string message;    // why, when refused
  NegotiatedTerms terms;  // valid when accepted

  bool accepted() const { return refusal == Refusal::kAccepted; }
};

// Server side, pure (no system calls, no allocation beyond the message):
// checks a received ClientHello record (`bytes`, `truncated`: longer than
// what was read, `fd_count` fds attached, `fds_truncated`: more were
// dropped) against `options` and decides what to grant. The server's own
// data segment has `server_chunk_count` chunks (sizes the server_returns
// ring). Every value is range-checked before it is used; sizes a client asks
// for are clamped to the server's limits (any u32 is fine). Refusals carry the
// code and message the client will see. Does not check credentials or admission
// (ServerHandshake does that first). Thread-safe.
ClientHelloVerdict CheckClientHello(absl::Span<const uint8_t> bytes,
                                    bool truncated, size_t fd_count,
                                    bool fds_truncated,
                                    uint32_t server_chunk_count,
                                    const ServerHandshakeOptions& options);

// Client side, pure: checks a received ServerHello record against what this
// client offered and asked for (`options`, and `client_chunk_count`, the
// chunks of its data segment). A refusal in the record becomes its status
// (RefusalToStatus). kDataLoss for a malformed record; kFailedPrecondition,
// naming the field, if the server chose a version or features we did not
// offer, granted more than we asked for (stream_count above what we asked,
// stream_capacity or request_capacity above the power of two of what we
// asked), sized the return or notify rings other than both sides' declared
// chunk and stream counts imply, or announced segment sizes out of bounds or
// attached other than 2 fds. Thread-safe.
absl::StatusOr<NegotiatedTerms> CheckServerHello(
    absl::Span<const uint8_t> bytes, bool truncated, size_t fd_count,
    bool fds_truncated, uint32_t client_chunk_count,
    const ClientHandshakeOptions& options);

// Client side. `socket` is connected to a server; sends the ClientHello
// (creating this side's data segment), waits for the ServerHello until
// `deadline`, and validates it. Errors: the server's refusal mapped to a
// status code (kPermissionDenied, kFailedPrecondition for version or segment
// problems, ...) with the server's message; kDeadlineExceeded if the server
// is silent; kPermissionDenied if the server's uid is not allowed;
// kDataLoss/kFailedPrecondition if its reply or segments are malformed.
absl::StatusOr<Established> ClientHandshake(
    UniqueFd socket, const ClientHandshakeOptions& options, Deadline deadline);

// Server side. `socket` is an accepted connection whose first record has
// already been received as `hello` (see RecvRecord), and `peer` are its
// SO_PEERCRED credentials. Validates the hello, creates the control and
// server data segments and replies. On any refusal, sends a ServerHello
// carrying the refusal code and message, and returns an error status with
// the same message.
absl::StatusOr<Established> ServerHandshake(
    UniqueFd socket, Record hello, const PeerCredentials& peer,
    const ServerHandshakeOptions& options);

// Sends a refusal ServerHello on `socket` (best effort). Used by the server
// for refusals that happen before or outside ServerHandshake (timeouts,
// shutdown, bad records).
void SendRefusal(int socket, Refusal refusal, const std::string& message,
                 const HandshakeOptions& options);

// A status for refusal code `refusal` with `message` (what a client returns):
// its message is kHandshakeRefusedPrefix followed by `message`.
absl::Status RefusalToStatus(Refusal refusal, const std::string& message);
inline constexpr char kHandshakeRefusedPrefix[] =
    "shared-memory handshake refused: ";

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_HANDSHAKE_H_
