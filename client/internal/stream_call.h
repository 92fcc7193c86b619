// The client's side of one streaming call over shared memory (the protocol
// in rpc/frame.h, "Streaming"), all three kinds, for both client paths: the
// generated stubs (client_stream.h) and the credentials' interceptor
// (stream_interceptor.h). It knows frames, flow control, deadlines and
// cancellation; what the messages are and where metadata goes is its
// caller's (a UnaryIo).
//
//   server streaming  the call starts as a unary one does (request,
//                     half-close); the reading side takes each kMessage frame
//                     off the stream's ring only when it wants the next
//                     message, which is what lets the server send more
//   client streaming  the kCall carries metadata and deadline only; every
//                     Write sends a kMessage frame on the requests ring,
//                     WritesDone a half-close, and the kResponse brings the
//                     response message with the status
//   bidirectional     both
//
// A writer keeps at most the stream ring's capacity of messages that the
// server has not consumed (the credit word of the stream's ring control,
// transport/connection.h); the server marks that word closed when it ends
// the call, so a writer stops instead of waiting.
#ifndef SHMRPC_CLIENT_INTERNAL_STREAM_CALL_H_
#define SHMRPC_CLIENT_INTERNAL_STREAM_CALL_H_

#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "shmrpc/client/generated_stub.h"
#include "shmrpc/client/internal/shm_channel.h"
#include "shmrpc/transport/connection.h"

namespace shmrpc::internal {

// A message of the server's, read in place: bytes() are valid while
// `frame` is held (until Release() or destruction). Movable: the bytes are
// kept as a place in the frame's payload, which an inline payload's move
// changes.
struct ReceivedMessage {
  transport::InboundMessage frame;
  size_t offset = 0;
  size_t length = 0;

  bool held() const { return !frame.empty(); }
  absl::Span<const uint8_t> bytes() const {
    return frame.payload().subspan(offset, length);
  }
  void Release() {
    frame.Release();
    offset = length = 0;
  }
};

// Threads: the reading side (NextMessage, WaitForInitialMetadata: the only
// consumer of the stream's ring until Finish) and the writing side (Write,
// WritesDone) may be two threads; Cancel, Done and status from any thread.
// Finish once neither side is in use. `io` (the request of a server
// streaming call, metadata to send, TryCancel, where the server's metadata
// and client streaming's response go) must outlive the call; its
// CancelRequested is polled in every wait, its Set*Metadata and
// ParseResponse called on the reading side.
class StreamCall {
 public:
  StreamCall(std::shared_ptr<ClientConnection> conn, StreamKind kind,
             std::chrono::system_clock::time_point deadline, UnaryIo* io);
  // Given up before its end (Finish not called): the server stops working
  // on it, and the stream is given back.
  ~StreamCall();
  StreamCall(const StreamCall&) = delete;
  StreamCall& operator=(const StreamCall&) = delete;

  // Opens a stream and sends the kCall of `method` (the connection's id). A
  // call that cannot start (no free stream before its deadline, a request
  // over the send limit, ...) ends here, with that status.
  void Start(uint32_t method);

  // ---- reading side ----

  // Blocks until the server's initial metadata arrived (delivered to the
  // io) or the call ended. A message that came with it waits for
  // NextMessage.
  void WaitForInitialMetadata();
  // Blocks for the server's next message; false once there is none (the
  // call ended: status() says how).
  bool NextMessage(ReceivedMessage* out);
  // What TryNextMessage found.
  enum class Try { kMessage, kEnded, kNotYet };
  // NextMessage for a caller that must not block: the next message if it
  // is there or comes within the connection's (adaptive) spin budget,
  // kEnded if the call ended, else kNotYet (the caller then waits with
  // NextMessage, or hands the read to a thread that does).
  Try TryNextMessage(ReceivedMessage* out);
  // Blocks until a message waits to be taken by NextMessage (taking the
  // frames before it: initial metadata) or the call ended; true for the
  // former. What a reader that must see the call's end without reading
  // messages (a held Finish) waits for.
  bool WaitForMessageOrEnd();
  // What gRPC's NextMessageSize says: the receive limit, or UINT32_MAX.
  uint32_t MaxMessageSize() const;

  // ---- writing side ----

  // Sends one message of `size` bytes that `write` serializes to `out`,
  // waiting while the server has too many unread (flow control); `last`
  // half-closes with it. False once the call is over (the server ended it,
  // cancellation, the deadline, a message over the send limit: status()
  // says which).
  bool Write(size_t size, absl::FunctionRef<bool(uint8_t* out)> write,
             bool last);
  // Write for a message built in place (a flat message): `take` hands over
  // the chunk of this call's connection that holds its `size` bytes (false:
  // it is not in one, and `write` copies it as Write does). The chunk is
  // the call's once taken, sent or not.
  bool WriteBuilt(size_t size,
                  absl::FunctionRef<bool(const transport::Connection& t,
                                         transport::Chunk* chunk)>
                      take,
                  absl::FunctionRef<bool(uint8_t* out)> write, bool last);
  // Whether one more message fits in the window now (the server has
  // consumed enough), or the call is over (Write returns at once either
  // way). Never blocks.
  bool WriteWouldNotWait();
  // Half-closes: the server's Read returns false after the messages sent.
  bool WritesDone();

  // ---- the end ----

  // Ends the call with `status` unless it ended already (the server is told
  // to stop; waiting sides wake). Never blocks; thread-safe.
  void Cancel(grpc::Status status);
  // Waits for the call's end (dropping messages not read), gives the
  // stream back and returns the call's status.
  grpc::Status Finish();
  bool Done() const { return done_.load(std::memory_order_acquire); }
  // Ends the call if its deadline passed, the io's CancelRequested() says
  // so, or the connection is lost; returns Done(). For a waiter that is not
  // in one of the call's own waits.
  bool Poll();
  // The call's outcome; final once Done().
  grpc::Status status();

 private:
  using Clock = std::chrono::steady_clock;

  void EndWithServerStatus(grpc::Status status);
  bool Expired(Clock::time_point now);
  Clock::time_point Kick(Clock::time_point now);
  bool WaitForCredit();
  bool Next(transport::InboundMessage* m);
  bool Handle(transport::InboundMessage m);
  bool HandlePending();
  bool TakeInitialMetadata(const rpc::DecodedFrame& frame);

  const std::shared_ptr<ClientConnection> conn_;
  transport::Connection& t_;
  const StreamKind kind_;
  const std::chrono::system_clock::time_point deadline_system_;
  const transport::Deadline deadline_;
  const uint32_t window_;  // our messages the server may have unconsumed
  UnaryIo& io_;
  uint32_t stream_ = 0;
  uint32_t generation_ = 0;
  uint64_t request_position_ = 0;
  bool started_ = false;         // the kCall went out
  bool holding_stream_ = false;  // stream_ is ours until Finish/destructor

  std::mutex mu_;
  std::atomic<bool> done_{false};  // status_ is the call's outcome
  grpc::Status status_;            // guarded by mu_; final once done_
  Clock::time_point next_kick_ = Clock::time_point::max();

  // Reading side.
  uint32_t reads_ = 0;  // NextMessage calls (wrapping)
  bool initial_received_ = false;
  ReceivedMessage pending_;  // a message received and not yet taken
  size_t last_received_bytes_ = 0;

  // Writing side.
  uint32_t sent_ = 0;  // messages sent (wrapping)
  // Read by the reading side's spin (a hint; relaxed).
  std::atomic<size_t> last_sent_bytes_{0};
  bool writes_done_ = false;
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_STREAM_CALL_H_
