// RawPeer: a shmrpc client built by hand from the transport's pieces, the way
// a hostile (or merely buggy) peer can build one. It completes the handshake
// honestly (transport::ClientHandshake) and then has what every client has:
// the control segment mapped read-write (every ring entry, head, bell,
// notify word and header field), its own data segment read-write (including
// chunks it has lent to the server), the server's data segment read-only,
// and the socket. Ring offsets come from transport::ControlLayout, exactly as
// in the real client.
//
// Besides raw access it offers just enough honest protocol (publish a call,
// read a response, return a chunk, list methods) to drive a server into the
// states an attack needs. Nothing here trusts the server either: every
// descriptor read from a stream ring is checked before its payload is
// touched.
//
// Not thread-safe, except where noted: one thread drives a RawPeer, other
// threads may scribble on its memory through the raw pointers.
#ifndef SHMRPC_TESTS_HOSTILE_RAW_PEER_H_
#define SHMRPC_TESTS_HOSTILE_RAW_PEER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/transport/chunk_pool.h"
#include "shmrpc/transport/control_layout.h"
#include "shmrpc/transport/handshake.h"
#include "shmrpc/transport/ring.h"

namespace shmrpc::testing {

// ---- chunk offsets in descriptors -------------------------------------------
// Protocol v1 descriptors carry a chunk's byte offset (Descriptor::offset);
// v2 carries it in kChunkAlignment units with a lend generation
// (chunk_offset() / set_chunk_offset(), Descriptor::lend). These helpers
// read and write it whichever the transport in this build uses.
namespace descriptor_internal {
template <typename D>
auto Get(const D& d, int) -> decltype(uint64_t{d.chunk_offset()}) {
  return d.chunk_offset();
}
template <typename D>
uint64_t Get(const D& d, long) {
  return d.offset;
}
template <typename D>
auto Set(D& d, uint64_t offset, int) -> decltype(d.set_chunk_offset(offset)) {
  d.set_chunk_offset(offset);
}
template <typename D>
void Set(D& d, uint64_t offset, long) {
  d.offset = offset;
}
template <typename D, typename = void>
struct InUnits : std::false_type {};
template <typename D>
struct InUnits<D, std::void_t<decltype(std::declval<D&>().offset_units)>>
    : std::true_type {};
}  // namespace descriptor_internal

// The byte offset of the chunk `d` names.
inline uint64_t ChunkOffsetOf(const transport::Descriptor& d) {
  return descriptor_internal::Get(d, 0);
}
// Makes `d` name the chunk at byte `offset` (v2: truncated to whole units,
// and to 32 bits of them).
inline void SetChunkOffset(transport::Descriptor* d, uint64_t offset) {
  descriptor_internal::Set(*d, offset, 0);
}
// True if descriptors carry offsets in units (so cannot be unaligned).
inline constexpr bool kOffsetsInUnits =
    descriptor_internal::InUnits<transport::Descriptor>::value;

// A call frame to publish on the requests ring. Plain value.
struct RawCall {
  uint32_t stream = 0;
  uint32_t generation = 1;
  uint16_t kind = 1;  // rpc::FrameKind::kCall
  uint32_t method = 1;
  uint16_t flags = rpc::kHasMessage | rpc::kHalfClose;
  std::string message;
  int64_t deadline_unix_ns = 0;  // with rpc::kHasDeadline
  std::vector<std::pair<std::string, std::string>> metadata;  // kHasMetadata
  bool force_chunk = false;  // in a chunk even if it would fit inline
};

// A message read off a stream ring, copied out. Plain value.
struct RawReceived {
  transport::Descriptor desc{};
  std::string payload;
};

// A response frame decoded. Plain value.
struct RawResponse {
  bool decoded = false;  // false: the frame did not decode (see error)
  std::string error;
  uint32_t code = 0;  // grpc::StatusCode, from Descriptor::aux
  std::string status_message;
  std::string message;  // the serialized response message, if any
};

class RawPeer {
 public:
  // Connects to the server listening at `path` and completes the handshake
  // with `options` (pool sizes, ring sizes: whatever a client may ask for).
  static absl::StatusOr<std::unique_ptr<RawPeer>> Connect(
      const std::string& path,
      const transport::ClientHandshakeOptions& options = {},
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

  explicit RawPeer(transport::Established established);
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  // ---- raw access (the pointers may be used from any thread) -------------
  uint8_t* control() const { return e_.control.data(); }
  size_t control_size() const { return e_.control.size(); }
  const transport::ControlLayout& layout() const { return e_.layout; }
  uint8_t* own_data() const { return e_.own_data.data(); }
  size_t own_data_size() const { return e_.own_data.size(); }
  const transport::PoolGeometry& geometry() const { return e_.own_pool; }
  const uint8_t* peer_data() const { return e_.peer_data.data(); }
  size_t peer_data_size() const { return e_.peer_data.size(); }
  // The server's data segment's fd (what a peer would try to map writable).
  int peer_data_fd() const { return e_.peer_data.fd(); }
  int socket() const { return e_.socket.get(); }
  bool inline_payloads() const {
    return (e_.features & transport::kFeatureInlinePayload) != 0;
  }
  transport::RingView Ring(transport::RingId id) const;
  transport::RingView StreamRing(uint32_t stream) const;

  // ---- sending -----------------------------------------------------------

  // Publishes `d` (with `inline_bytes` for an inline payload) on the requests
  // ring, waiting up to `timeout` for space. False if the ring stayed full
  // or the server's head is impossible.
  bool PushRequest(const transport::Descriptor& d, const void* inline_bytes,
                   std::chrono::milliseconds timeout);

  // Publishes `d` on the server_returns ring (the server's chunks coming
  // back). False if that ring is full.
  bool PushReturn(const transport::Descriptor& d);

  // Gives back a chunk the server lent us: echoes its descriptor (every
  // field, so whatever the server uses to recognise the lending comes back).
  bool Return(const transport::Descriptor& lent) { return PushReturn(lent); }

  // Offset of a chunk of ours with capacity >= `bytes` that is not lent to
  // the server now (taking back returned chunks first), or nullopt.
  std::optional<transport::Chunk> TakeChunk(size_t bytes);

  // Takes back the chunks the server returned; returns how many.
  int DrainOurReturns();

  // The payload bytes of `call` (message, sections, footer).
  static std::string EncodeCall(const RawCall& call);

  // Publishes `call`: inline if it fits and inline payloads were negotiated
  // (unless force_chunk), otherwise in one of our chunks, whose offset goes
  // to `*chunk_offset` if not null. False if no chunk or no ring space.
  bool SendCall(const RawCall& call, std::chrono::milliseconds timeout,
                uint64_t* chunk_offset = nullptr);

  // ---- receiving ---------------------------------------------------------

  // The next message on `stream`, waiting up to `timeout`; its chunk (if
  // any) stays lent to us until Return(). nullopt on timeout, on a
  // malformed entry or descriptor (then *bad says what), or once the server
  // closed the connection and nothing is left.
  std::optional<RawReceived> Receive(uint32_t stream,
                                     std::chrono::milliseconds timeout,
                                     std::string* bad = nullptr);

  // Decodes a response frame.
  static RawResponse Decode(const RawReceived& received);

  // Receive, Return, Decode in one. `generation` must match, else the frame
  // is skipped (an earlier call's late answer).
  std::optional<RawResponse> Await(uint32_t stream, uint32_t generation,
                                   std::chrono::milliseconds timeout);

  // Sends `call` and awaits its response.
  std::optional<RawResponse> Call(const RawCall& call,
                                  std::chrono::milliseconds timeout);

  // The server's method table (method 0), on `stream`.
  absl::StatusOr<std::vector<std::string>> ListMethods(
      uint32_t stream, std::chrono::milliseconds timeout);

  // True once the server has shut down or closed the socket (waits up to
  // `wait` for it).
  bool PeerClosed(std::chrono::milliseconds wait) const;

 private:
  transport::Established e_;
  transport::RingProducer requests_;
  transport::RingProducer returns_;
  transport::RingConsumer our_returns_;
  std::unique_ptr<transport::RingConsumer[]> streams_;  // per stream
  std::set<uint64_t> lent_;  // our chunks the server has now
};

// Method ids of EchoService on a server, from its method table.
struct EchoMethods {
  uint32_t echo = 0;
  uint32_t last_call = 0;
  uint32_t unimplemented = 0;
  uint32_t count = 0;  // entries in the table
};
absl::StatusOr<EchoMethods> LookUpEchoMethods(RawPeer& peer, uint32_t stream);

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_HOSTILE_RAW_PEER_H_
