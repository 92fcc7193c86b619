// The client side of shared-memory calls, shared by the generated stubs and
// the credentials (interceptor) path:
//
//   ChannelState      one per channel: the target, the options, and the
//                     lazily made, shared connection to the server (with
//                     reconnection and gRPC-like backoff).
//   ClientConnection  one live connection: the transport connection, the
//                     server's method table, and the completion thread that
//                     finishes asynchronous calls.
//   UnaryIo           what a call needs from its caller (serialize the
//                     request, parse the response, metadata, cancellation),
//                     implemented once for ClientContext-based stubs and once
//                     for interceptors.
//   RunUnary /        one unary call, blocking or asynchronous.
//   StartUnary
#ifndef SHMRPC_CLIENT_INTERNAL_SHM_CHANNEL_H_
#define SHMRPC_CLIENT_INTERNAL_SHM_CHANNEL_H_

#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "shmrpc/client/internal/server_peer.h"
#include "shmrpc/client/options.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/rpc/limits.h"
#include "shmrpc/transport/adaptive_spin.h"
#include "shmrpc/transport/connection.h"

namespace shmrpc::internal {

// What one call needs from whoever started it. Methods are called on the
// calling thread for blocking calls and on the completion thread for
// asynchronous ones; never concurrently.
class UnaryIo {
 public:
  virtual ~UnaryIo() = default;
  // Size of the serialized request, then the request itself written to
  // `out` (exactly that many bytes; `out` is shared memory the server reads
  // next, or a small private buffer). WriteRequest returns false if the
  // request did not come out at the size RequestSize() said (the message was
  // changed in between); the call then fails with INTERNAL.
  virtual size_t RequestSize() = 0;
  virtual bool WriteRequest(uint8_t* out) = 0;
  // Parses the response from `bytes` (read in place from shared memory).
  virtual bool ParseResponse(absl::Span<const uint8_t> bytes) = 0;
  // Metadata to send (may be null).
  virtual const std::multimap<std::string, std::string>* Metadata() = 0;
  // Polled while the call waits (for a free stream, a free chunk, ring
  // space or the answer; at least every 10 ms): true once the application
  // cancelled it. Thread-safe: the completion thread may poll it while the
  // application cancels.
  virtual bool CancelRequested() = 0;
  // The server's metadata, delivered before the call ends.
  virtual void SetInitialMetadata(const rpc::DecodedMetadata& md) = 0;
  virtual void SetTrailingMetadata(const rpc::DecodedMetadata& md) = 0;
  // The server that answered, once its status came (after the last
  // CancelRequested() of the call); before SetInitialMetadata. Default:
  // nothing (the interceptors name the peer when they take the call over).
  virtual void SetPeer(const ServerPeer& peer) {}

  // Requests built in place (flat messages): the chunk of `t` that already
  // holds the RequestSize() bytes of the request at its start, with `extra`
  // more bytes free behind them for the rest of the frame, which the call
  // then sends as it is (and owns from then on); false (the default) to
  // have the request written by WriteRequest instead.
  virtual bool TakeRequestChunk(const transport::Connection& t, size_t extra,
                                transport::Chunk* chunk) {
    return false;
  }
  // Responses read in place (flat messages): takes the response frame `m`,
  // whose payload's `message_size` bytes from `offset` are the message, and
  // keeps it (its chunk stays lent until the caller releases it); false
  // (the default) to have it parsed by ParseResponse instead.
  virtual bool AdoptResponse(transport::InboundMessage* m, size_t offset,
                             size_t message_size) {
    return false;
  }
};

// An asynchronous call also wants to hear how it ended. The machinery does
// not own it: it must stay valid until Done() is called, which is the last
// use (Done() may delete it).
class AsyncUnaryIo : public UnaryIo {
 public:
  // Called exactly once, on the connection's completion thread (or on the
  // starting thread if the call could not be started).
  virtual void Done(const grpc::Status& status) = 0;
};

class ClientConnection;

// One per channel; always owned by a shared_ptr (a connection attempt holds
// one while it runs). Thread-safe.
class ChannelState : public std::enable_shared_from_this<ChannelState> {
 public:
  // `limits`: gRPC's message and metadata size limits, from the channel's
  // arguments (see client/credentials.cc), applied to every call over
  // shared memory.
  ChannelState(std::string target, ShmChannelOptions options,
               rpc::MessageLimits limits = {});
  ~ChannelState();

  // The connection for a call starting now whose deadline is `deadline`,
  // or nullptr if it should use gRPC (shared memory disabled, server not on
  // this host or not offering shared memory, or reconnection backing off).
  // In ShmMode::kRequired an unavailable connection is an error
  // (UNAVAILABLE) instead. Without a connection, starts an attempt (one at
  // a time, each bounded by options.connect_timeout) and waits for its
  // outcome, never past `deadline`: a call whose deadline passes first gets
  // DEADLINE_EXCEEDED, whatever the mode (as a gRPC call waiting for its
  // channel would), and the attempt goes on, on a thread of its own, for
  // the calls that come after (as gRPC keeps connecting after a call gives
  // up). A call without a deadline makes the attempt on its own (the
  // calling) thread.
  absl::StatusOr<std::shared_ptr<ClientConnection>> Get(
      std::chrono::system_clock::time_point deadline =
          std::chrono::system_clock::time_point::max());

  ChannelPath path() const { return path_.load(std::memory_order_acquire); }
  // A human-readable account of path() (endpoint, server pid, or why not).
  std::string Describe() const;

  const std::string& target() const { return target_; }
  const ShmChannelOptions& options() const { return options_; }
  const rpc::MessageLimits& limits() const { return limits_; }

 private:
  void Log(const std::string& message);
  // One connection attempt (connecting_ is set): resolves the endpoint,
  // opens the connection, records the outcome (or backs off), clears
  // connecting_ and wakes the waiters.
  void Attempt();

  const std::string target_;
  const ShmChannelOptions options_;
  const rpc::MessageLimits limits_;
  const ShmMode mode_;

  mutable std::mutex mu_;
  std::condition_variable connected_;
  std::shared_ptr<ClientConnection> connection_;
  bool connecting_ = false;
  bool resolved_ = false;
  std::string endpoint_;  // empty: not on this host
  std::string why_not_;   // last reason for not using shared memory
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_;
  uint64_t epoch_ = 0;
  std::string last_logged_;
  std::atomic<ChannelPath> path_{ChannelPath::kNotConnected};
};

// The largest method-table reply a client accepts (a server with 65536
// methods of 64-byte names sends about 4.3 MB).
inline constexpr size_t kMaxMethodTableBytes = size_t{8} << 20;

// One live shared-memory connection. Thread-safe.
//
// Who holds it: the channel (ChannelState) while it is the channel's
// connection, each call while it runs (never longer), and the completion
// thread while that runs.
class ClientConnection : public std::enable_shared_from_this<ClientConnection> {
 public:
  // Connects to `path`, runs the handshake and fetches the method table, all
  // before `deadline`. A method-table reply that is not a kResponse of the
  // request's generation, is larger than kMaxMethodTableBytes, carries an
  // error status or does not decode is refused (FAILED_PRECONDITION or
  // DATA_LOSS, saying what was wrong), and the connection is not used.
  // `limits` are applied to every call made on the connection.
  static absl::StatusOr<std::shared_ptr<ClientConnection>> Open(
      const std::string& path, const ShmChannelOptions& options,
      const rpc::MessageLimits& limits, uint64_t epoch,
      transport::Deadline deadline);
  ~ClientConnection();

  transport::Connection& transport() { return *transport_; }
  // Usable for new calls: open, and the server is not shutting down.
  bool usable() const {
    return transport_->ok() && !transport_->peer_closing();
  }
  // The id of method `name` ("/pkg.Service/Method"), 0 if not served.
  uint32_t MethodId(absl::string_view name) const;
  // The names of the methods the server serves, sorted.
  std::vector<std::string> MethodNames() const;
  // Changes whenever the channel makes a new connection.
  uint64_t epoch() const { return epoch_; }
  const transport::WaitPolicy& wait() const { return wait_; }
  // Whether callers' spins for their answers pay off on this connection,
  // kept apart for calls whose request found the server's polling thread
  // awake and for calls whose request had to wake it: the latter's answer
  // comes only after a wake-up on the server's side, and at a low call rate
  // (where nearly every request wakes the server) spinning for it pays only
  // about half the time, so that place spins only while three of its last
  // four spins paid.
  transport::AdaptiveSpin& spin(bool woke_server) {
    return woke_server ? spin_after_wake_ : spin_;
  }
  // Whether a caller that does not spin (spinning does not pay, or every
  // CPU that may spin already does) should yield its CPU while it waits for
  // its answer, rather than sleep at once: with more callers than CPUs, most
  // of them are in that place. Kept apart by whether the request woke the
  // server, as spin() is: at a low call rate the answer to a request that
  // woke the server comes only after the server's wake-up, and yields on an
  // otherwise idle CPU return at once and burn the CPU until then, while
  // they pay now and then only because the woken server thread happened to
  // be queued on the caller's CPU; that place yields only while three of its
  // last four yield phases paid.
  transport::AdaptiveSpin& yield(bool woke_server) {
    return woke_server ? yield_after_wake_ : yield_;
  }
  const rpc::MessageLimits& limits() const { return limits_; }
  // The server, as ClientContext::peer() names it.
  const ServerPeer& server_peer() const { return server_peer_; }

  // The channel no longer uses this connection: the completion thread exits
  // as soon as it has no calls (instead of lingering), so that the
  // connection's fds and mappings go as soon as its last call ends.
  void Retire();

  // The generation to use for the next call on `stream` (which the caller
  // holds open).
  uint32_t NextGeneration(uint32_t stream) { return ++generations_[stream]; }

  // Hands a call that was sent on `stream` (opened without notifications)
  // to the completion thread, which finishes it: answer, deadline,
  // cancellation, or loss of the connection. `position` is the request's
  // place in the requests ring and `sent` when it was sent; from
  // `next_kick` on, and every 10 ms after, the completion thread wakes an
  // idle server thread while the server has not taken the request (the
  // takeover kick, see server/server.h). If the answer is already there,
  // finishes it on this thread. Wakes the completion thread (starting it if
  // needed); the thread sleeps no longer than the earliest deadline or kick
  // of its calls, and 1 ms (10 ms once every call is older than 100 ms) at
  // most, so it sees cancellations that soon.
  void Defer(uint32_t stream, uint32_t generation, uint64_t position,
             std::chrono::system_clock::time_point deadline, AsyncUnaryIo* io,
             std::chrono::steady_clock::time_point sent,
             std::chrono::steady_clock::time_point next_kick);

 private:
  struct Pending {
    uint32_t generation = 0;
    uint64_t position = 0;
    std::chrono::system_clock::time_point deadline;
    std::chrono::steady_clock::time_point sent;
    std::chrono::steady_clock::time_point next_kick;  // max: no more
    AsyncUnaryIo* io = nullptr;  // null: the stream is not deferred
  };

  ClientConnection(std::shared_ptr<transport::Connection> transport,
                   absl::flat_hash_map<std::string, uint32_t> methods,
                   uint64_t epoch, transport::WaitPolicy wait,
                   rpc::MessageLimits limits);
  void CompletionLoop();
  // With mu_ held: takes the answer of the deferred call on `stream` if it
  // arrived (dropping stale messages of earlier calls).
  bool TakeAnswer(uint32_t stream, transport::InboundMessage* m);
  // Ends a call taken out of pending_ with `status`, or with the answer `m`.
  void Finish(uint32_t stream, Pending p, const grpc::Status& status,
              transport::InboundMessage* m);

  const std::shared_ptr<transport::Connection> transport_;
  const ServerPeer server_peer_;
  const absl::flat_hash_map<std::string, uint32_t> methods_;
  const uint64_t epoch_;
  const transport::WaitPolicy wait_;
  transport::AdaptiveSpin spin_;
  transport::AdaptiveSpin yield_{1, transport::AdaptiveSpin::Mode::kYield};
  transport::AdaptiveSpin yield_after_wake_{
      transport::AdaptiveSpin::kHistory - 1,
      transport::AdaptiveSpin::Mode::kYield};
  transport::AdaptiveSpin spin_after_wake_{transport::AdaptiveSpin::kHistory -
                                           1};
  const rpc::MessageLimits limits_;
  std::unique_ptr<uint32_t[]> generations_;

  std::mutex mu_;
  // The idle completion thread sleeps on it; Defer and Retire wake it.
  std::condition_variable wake_;
  std::vector<Pending> pending_;  // by stream; io == nullptr when free
  int pending_count_ = 0;
  bool thread_running_ = false;
  bool retired_ = false;
};

// Runs one unary call on `conn` and blocks until it ends: the server's
// status, or DEADLINE_EXCEEDED, CANCELLED (io.CancelRequested(), looked at
// in every wait: for a stream, a chunk, ring space or the answer),
// UNAVAILABLE (connection lost), RESOURCE_EXHAUSTED (a request over the
// send limit, which is then not sent, or larger than the largest chunk; a
// response, initial metadata or trailing metadata over conn.limits(), which
// is then neither parsed nor copied).
grpc::Status RunUnary(ClientConnection& conn, uint32_t method,
                      std::chrono::system_clock::time_point deadline,
                      UnaryIo& io);

// Starts one unary call on `conn`; io->Done() reports its end, on the
// connection's completion thread.
void StartUnary(const std::shared_ptr<ClientConnection>& conn, uint32_t method,
                std::chrono::system_clock::time_point deadline,
                AsyncUnaryIo* io);

// Starts one unary call on `conn` and spins for its answer for the
// connection's spin budget: if the answer comes, io->Done() runs on this
// thread before returning; otherwise the call is handed to the completion
// thread. For callers that may be synchronous or asynchronous (interceptors).
void RunUnaryOrDefer(const std::shared_ptr<ClientConnection>& conn,
                     uint32_t method,
                     std::chrono::system_clock::time_point deadline,
                     AsyncUnaryIo* io);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_SHM_CHANNEL_H_
