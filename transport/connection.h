// Connection: one established shared-memory link between a client process and
// a server process, as produced by Connect() (connector.h) or a Listener
// (listener.h).
//
// Message flow (layout in control_layout.h):
//
//   client                                             server
//   Send(stream s, ...) --- requests ring ------------> ReceiveRequest()
//   ReceiveStream(s)   <--- stream ring s ------------- Send(stream s, ...)
//   ReceiveNotification() <- notify ring (opt-in) ----  (per stream with news)
//   chunk returns      <--- client_returns ring -------  InboundMessage dtor
//   InboundMessage dtor --- server_returns ring ------>  chunk returns
//
// A message carries no payload, a small inline payload (feature
// kFeatureInlinePayload, up to kInlineCapacity bytes), or a chunk that the
// sender allocated from its own data segment and wrote. The receiver reads a
// chunk in place through its read-only mapping; dropping the InboundMessage
// sends the chunk back. Every descriptor is validated before its payload is
// exposed; a peer that breaks the protocol gets the connection closed with
// kDataLoss and a message saying what it did.
//
// Streams. The client opens a stream (OpenStream) for each exchange, e.g. one
// RPC; the server answers on the stream id it received. A waiter on a stream
// is woken only by messages for that stream.
//
// Liveness. The connection watches its Unix socket on an EventLoop; when the
// peer exits (even by kill -9) the socket hangs up, the connection closes
// with kUnavailable within milliseconds, every waiter wakes, and chunks the
// peer held are taken back. Memory and fds are released when the last
// shared_ptr to the Connection (including those held by InboundMessages) is
// dropped.
//
// Thread safety: all methods are thread-safe unless noted. Per-stream receive
// calls must not run concurrently for the same stream; ReceiveRequest and
// TryReceiveRequest may be called from many threads (they serialize).
#ifndef SHMRPC_TRANSPORT_CONNECTION_H_
#define SHMRPC_TRANSPORT_CONNECTION_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "shmrpc/transport/chunk_pool.h"
#include "shmrpc/transport/control_layout.h"
#include "shmrpc/transport/doorbell.h"
#include "shmrpc/transport/event_loop.h"
#include "shmrpc/transport/handshake.h"
#include "shmrpc/transport/index_stack.h"
#include "shmrpc/transport/ring.h"
#include "shmrpc/transport/segment.h"

namespace shmrpc::transport {

class Connection;

// A received message. Its payload stays valid, and its chunk stays lent to
// us, until Release() or destruction, which send the chunk back to the peer.
// A message whose payload is in a chunk keeps its connection (and so the
// mapping it reads) alive until then; an inline payload is a private copy
// inside the message, which holds nothing of the connection (receiving and
// releasing it touch no shared reference count). Move-only. Not thread-safe.
class InboundMessage {
 public:
  InboundMessage() = default;
  InboundMessage(InboundMessage&& other) noexcept;
  InboundMessage& operator=(InboundMessage&& other) noexcept;
  InboundMessage(const InboundMessage&) = delete;
  InboundMessage& operator=(const InboundMessage&) = delete;
  ~InboundMessage() { Release(); }

  // The validated descriptor (stream, generation, kind, flags, aux, length).
  const Descriptor& descriptor() const { return message_.desc; }

  // The payload bytes (empty for PayloadKind::kNone). For a chunk these are
  // read in place from the peer's read-only segment: the peer can in
  // principle still change them, so parsers must not trust them more than
  // bytes read from a socket.
  absl::Span<const uint8_t> payload() const {
    return {data_, message_.desc.length};
  }

  // Returns the chunk (if any) to the peer now.
  void Release();

  bool empty() const { return !held_; }

 private:
  friend class Connection;
  std::shared_ptr<Connection> connection_;  // chunk payloads only
  RingMessage message_{};
  const uint8_t* data_ = nullptr;
  bool held_ = false;
};

// The upper layer's fields of an outgoing message. Plain value.
struct MessageHeader {
  uint32_t stream = 0;
  uint32_t generation = 0;
  uint16_t kind = 0;
  uint16_t flags = 0;
  uint32_t aux = 0;
};

// What an outgoing message carries. Plain value; build with the factories.
struct OutgoingPayload {
  PayloadKind kind = PayloadKind::kNone;
  absl::Span<const uint8_t> inline_bytes;  // kInline
  Chunk chunk;                             // kChunk
  uint32_t length = 0;                     // kChunk: bytes written

  static OutgoingPayload None() { return {}; }
  static OutgoingPayload Inline(absl::Span<const uint8_t> bytes) {
    OutgoingPayload p;
    p.kind = PayloadKind::kInline;
    p.inline_bytes = bytes;
    return p;
  }
  static OutgoingPayload InChunk(const Chunk& chunk, uint32_t length) {
    OutgoingPayload p;
    p.kind = PayloadKind::kChunk;
    p.chunk = chunk;
    p.length = length;
    return p;
  }
};

// Counters for tests and monitoring. Plain value.
struct ConnectionStats {
  PoolStats pool;                   // our data segment
  uint64_t refused_returns = 0;     // bogus/duplicate returns from the peer
  uint64_t reclaimed_on_close = 0;  // chunks taken back when it closed
};

// Per-connection tuning. Plain value.
struct ConnectionOptions {
  // How blocking calls wait: spin budget before sleeping on a futex.
  WaitPolicy wait;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Takes over a finished handshake and starts watching its socket on
  // `monitor` (which must outlive the connection).
  static absl::StatusOr<std::shared_ptr<Connection>> Create(
      Established established, EventLoop* monitor,
      const ConnectionOptions& options = {});

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Role role() const { return role_; }
  uint16_t version() const { return version_; }
  uint64_t features() const { return features_; }
  const ControlParams& params() const { return layout_.params; }
  const PeerCredentials& peer() const { return peer_; }
  const ConnectionOptions& options() const { return options_; }
  bool inline_payloads() const {
    return (features_ & kFeatureInlinePayload) != 0;
  }

  // ---- state -------------------------------------------------------------

  // True until the connection closes (for any reason).
  bool ok() const { return !closed_.load(std::memory_order_acquire); }

  // OK while open; afterwards, why it closed.
  absl::Status status() const;

  // Closes the connection with `reason` (idempotent; the first reason wins):
  // shuts the socket down so the peer notices, wakes every waiter, takes
  // back lent chunks, then runs the close callback. Mappings stay valid
  // until the last reference is dropped.
  void Close(absl::Status reason);

  // Runs `callback(reason)` once when the connection closes (at once, on this
  // thread, if it already has). Replaces any earlier callback. The callback
  // may run on the EventLoop thread and must not block.
  void OnClose(std::function<void(const absl::Status&)> callback);

  // Marks this side as no longer accepting new streams (graceful shutdown);
  // the peer sees it through peer_closing().
  void SetClosing();
  // True once the peer called SetClosing() (advisory: a hostile peer can set
  // or clear it at will).
  bool peer_closing() const;

  // ---- sending -----------------------------------------------------------

  // The largest payload one chunk of our data segment can carry.
  size_t max_chunk_size() const { return pool_.max_chunk_size(); }

  // A chunk of at least `bytes` from our data segment to write a payload
  // into. Drains chunks the peer returned first; if none is free, waits for
  // returns until `deadline`. kResourceExhausted if `bytes` exceeds the
  // largest chunk or the deadline passes; kUnavailable if closed.
  absl::StatusOr<Chunk> AllocateChunk(size_t bytes, Deadline deadline);

  // Gives back a chunk from AllocateChunk that was never sent.
  void DiscardChunk(const Chunk& chunk);

  // Sends one message. The client sends on the requests ring; the server
  // sends on the ring of `header.stream`. Waits for ring space until
  // `deadline` (kDeadlineExceeded). On success a chunk payload is lent to the
  // peer (do not touch it again); on failure it is still ours to discard.
  // kInvalidArgument for a bad payload (inline too long or not negotiated,
  // chunk length beyond capacity, stream out of range).
  //
  // `position` (if not null) receives the message's position in its ring:
  // for the client in the requests ring, for RequestTaken(); for the server
  // in the stream's ring, for StreamTaken(). For the client, `woke_server`
  // (if not null) receives whether sending it woke a server thread that
  // slept waiting for requests (a hint: it is on its way to take the
  // request).
  absl::Status Send(const MessageHeader& header, const OutgoingPayload& payload,
                    Deadline deadline, uint64_t* position = nullptr,
                    bool* woke_server = nullptr);

  // Client: true once the server has taken the request at `position` off the
  // requests ring. A hint (the server writes the index), never trusted for
  // safety.
  bool RequestTaken(uint64_t position) const;

  // Client: wakes one server thread sleeping on the requests ring even if
  // the server did not announce that it sleeps (see doorbell.h, Kick). A
  // client that waits long for a request to be taken uses it to get an idle
  // server thread to take over from a busy one.
  void KickServer();

  // The bell a client's waiter on `stream` sleeps on, for custom wait loops.
  Doorbell stream_bell(uint32_t stream) const;

  // ---- receiving (server) ------------------------------------------------

  // The next message from any stream, waiting (per options().wait) until
  // `deadline`. kDeadlineExceeded on timeout; kUnavailable/kDataLoss if the
  // connection closed.
  absl::StatusOr<InboundMessage> ReceiveRequest(Deadline deadline);

  // The next message if one is ready now. Returns false if none is ready or
  // another thread is receiving; check ok() to tell a closed connection.
  bool TryReceiveRequest(InboundMessage* out);

  // The bell the requests ring's consumer sleeps on, for servers that build
  // their own wait strategy (see doorbell.h).
  Doorbell request_bell() const;

  // True if a request is published and waiting (one acquire load).
  bool HasRequest() const;

  // ---- stream flow control (server) --------------------------------------
  //
  // The client takes a stream's messages off its ring only as its
  // application reads them, so the ring's head tells the server how much of
  // what it streamed is still unread: the ring's capacity bounds the
  // messages, and the server bounds the bytes from these positions (see
  // rpc/frame.h, "Streaming").

  // True once the client took the message at `position` (as Send reported
  // it) off the ring of `stream`. Read from shared memory: a client can only
  // make it wrong for its own streams. A head beyond what was sent closes
  // the connection (kDataLoss) and reads as false.
  bool StreamTaken(uint32_t stream, uint64_t position);

  // Waits until StreamTaken(stream, position), or the client abandons call
  // `generation` on `stream` (kCancelled), or `deadline` passes
  // (kDeadlineExceeded), or the connection closes (its status). Sleeps on the
  // ring's space bell, which the client rings as it reads and when it
  // abandons the call.
  absl::Status WaitStreamTaken(uint32_t stream, uint64_t position,
                               uint32_t generation, Deadline deadline);

  // True if the client abandoned call `generation` on `stream`
  // (AbandonStream). A hint from shared memory that can only end the
  // client's own call.
  bool StreamAbandoned(uint32_t stream, uint32_t generation) const;

  // Server: publishes `credit` for call `generation` on `stream` (what the
  // layer above means by it: rpc/frame.h, the count of the client's
  // messages consumed and a closed bit) and wakes a client writer waiting
  // for it (flow control from client to server).
  void GrantStreamCredit(uint32_t stream, uint32_t generation, uint32_t credit);

  // ---- streams and receiving (client) ------------------------------------

  // Reserves a free stream for one exchange. Stale messages left in its ring
  // by an earlier use are dropped (and their chunks returned). With
  // `notify`, news on the stream is also posted to the notify ring (needs
  // kFeatureNotifyRing). kResourceExhausted if all streams are in use.
  absl::StatusOr<uint32_t> OpenStream(bool notify = false);

  // Makes `stream` available again. Messages still queued are dropped on its
  // next OpenStream.
  void CloseStream(uint32_t stream);

  // Turns notifications for an open `stream` on or off (needs
  // kFeatureNotifyRing). After turning them on, look at the stream once
  // (TryReceiveStream): a message that arrived before is not notified.
  // Notifications are hints: the notify ring may drop some when full, so a
  // notified receiver should also look at its streams now and then.
  void SetStreamNotify(uint32_t stream, bool notify);

  // The next message on `stream`, waiting until `deadline`. kCancelled if
  // InterruptStream() was called for it; kDeadlineExceeded on timeout.
  absl::StatusOr<InboundMessage> ReceiveStream(uint32_t stream,
                                               Deadline deadline);
  // Same, with an explicit wait policy.
  absl::StatusOr<InboundMessage> ReceiveStream(uint32_t stream,
                                               Deadline deadline,
                                               const WaitPolicy& policy);

  // The next message on `stream` if one is ready now.
  bool TryReceiveStream(uint32_t stream, InboundMessage* out);

  // Wakes a ReceiveStream() waiting on `stream` and makes it (and later
  // calls, until the stream is reopened) return kCancelled.
  void InterruptStream(uint32_t stream);

  // Client: the credit the server last published for call `generation` on
  // `stream` (GrantStreamCredit); 0 until it publishes one for this call. A
  // hint from shared memory: callers clamp it to what they sent.
  uint32_t StreamCredit(uint32_t stream, uint32_t generation) const;

  // Client: waits until StreamCredit(stream, generation) is no longer
  // `seen`, `deadline` (kDeadlineExceeded), InterruptStream(stream)
  // (kCancelled) or the connection closing (its status). Sleeps on the
  // stream's bell, which GrantStreamCredit rings.
  absl::Status WaitStreamCredit(uint32_t stream, uint32_t generation,
                                uint32_t seen, Deadline deadline);

  // Tells the server that call `generation` on the open `stream` is given
  // up (cancelled, past its deadline, its reader gone), and wakes a server
  // writer waiting for the stream's space, so that it stops at once even if
  // nobody on the server reads the kCancel that should accompany this.
  void AbandonStream(uint32_t stream, uint32_t generation);

  // The id of the next stream opened with `notify` that has messages,
  // waiting until `deadline`. The caller then drains it with
  // TryReceiveStream until that returns false.
  absl::StatusOr<uint32_t> ReceiveNotification(Deadline deadline);

  // ---- monitoring --------------------------------------------------------

  ConnectionStats stats() const;

 private:
  friend class InboundMessage;

  struct StreamState {
    RingConsumer consumer;  // client side
    std::atomic<bool> interrupted{false};
  };

  Connection(Established established, EventLoop* monitor,
             const ConnectionOptions& options);
  absl::Status StartWatching();
  void OnSocketEvent(uint32_t events);

  // Validates a popped message and turns it into an InboundMessage.
  absl::Status Accept(const RingMessage& message, InboundMessage* out);
  // Sends a chunk of the peer's back to it.
  void ReturnToPeer(const Descriptor& desc);
  // Takes back chunks the peer returned. Returns how many were accepted.
  uint32_t DrainReturns();
  // The status to report when a wait ended because the connection closed.
  absl::Status ClosedStatus() const;
  void WakeEverything();
  RingView Ring(RingId id) const;
  RingView StreamRing(uint32_t stream) const;
  template <typename Try>
  absl::StatusOr<InboundMessage> Receive(RingConsumer& consumer,
                                         std::atomic<bool>* interrupted,
                                         Deadline deadline,
                                         const WaitPolicy& policy, Try&& pop);

  const Role role_;
  const uint16_t version_;
  const uint64_t features_;
  const ControlLayout layout_;
  const PeerCredentials peer_;
  const ConnectionOptions options_;
  EventLoop* const monitor_;
  Segment control_;
  Segment own_data_;
  Segment peer_data_;
  UniqueFd socket_;
  ChunkPool pool_;

  // Sending: the client produces requests, the server produces stream
  // messages; each side produces the returns of the other's chunks.
  RingProducer requests_out_;                    // client
  std::unique_ptr<RingProducer[]> streams_out_;  // server, per stream
  RingProducer notify_out_;                      // server
  RingProducer returns_out_;

  // Receiving.
  std::mutex request_mu_;  // server: one consumer
  RingConsumer requests_in_ ABSL_GUARDED_BY(request_mu_);
  std::unique_ptr<StreamState[]> streams_in_;  // client, per stream
  std::mutex notify_mu_;
  RingConsumer notify_in_ ABSL_GUARDED_BY(notify_mu_);  // client
  std::atomic_flag returns_busy_ = ATOMIC_FLAG_INIT;
  RingConsumer returns_in_;  // guarded by returns_busy_

  // Client: the streams not open now (lock-free, most recently closed
  // first).
  std::unique_ptr<std::atomic<uint32_t>[]> stream_links_;
  IndexStack free_streams_;

  std::atomic<bool> closed_{false};
  mutable std::mutex close_mu_;
  absl::Status close_status_ ABSL_GUARDED_BY(close_mu_);
  std::function<void(const absl::Status&)> on_close_ ABSL_GUARDED_BY(close_mu_);
  bool watching_ = false;

  std::atomic<uint64_t> reclaimed_on_close_{0};
  std::atomic<uint64_t> refused_returns_{0};
};

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_CONNECTION_H_
