// Asynchronous operations on a shared-memory streaming call (a StreamCall,
// stream_call.h), for the client APIs whose operations must not block the
// caller: the credentials' interceptor, which answers gRPC's stream batches
// (stream_interceptor.h), and the generated stub's callback streams
// (callback_stream.h).
//
// An API layer hands the driver operations (StreamOp) in its API's order;
// each completes exactly once:
//
//   write (message, half-close)  sent at once on the submitting thread when
//                                the window has room, otherwise by the
//                                call's writer thread once it has; completes
//                                when sent (the backpressure on a writer)
//   read (message, or initial    answered at once if the message is there
//   metadata only)               or comes within the spin budget, otherwise
//                                by the call's reader thread, in order
//   finish                       held until the call ended and every
//                                earlier read was answered, without taking
//                                a message the application may still read
//                                (at most one is taken off the ring to see
//                                past it); then the stream is given back
//
// An operation submitted from inside a completion (a reactor starting its
// next read from OnReadDone) never completes on the spot: it goes to the
// reader or writer thread, so that a long stream does not recurse once per
// message. The reader thread lives while the call does; the writer thread
// only while a write has to wait (or was submitted from a completion).
// Neither runs anything of the API layer's but the operations' completions.
#ifndef SHMRPC_CLIENT_INTERNAL_STREAM_DRIVER_H_
#define SHMRPC_CLIENT_INTERNAL_STREAM_DRIVER_H_

#include <grpcpp/support/status.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "absl/types/span.h"
#include "shmrpc/client/generated_stub.h"
#include "shmrpc/client/internal/shm_channel.h"
#include "shmrpc/client/internal/stream_call.h"

namespace shmrpc::internal {

// One operation. The driver does not own it; it must stay valid until its
// completion (WriteDone, ReadDone or FinishDone) has been called, which is
// the driver's last use of it and may delete it. Completions run on the
// submitting thread or on one of the driver's threads, never under the
// driver's lock.
class StreamOp {
 public:
  enum class Kind { kWrite, kRead, kFinish };
  explicit StreamOp(Kind kind) : kind_(kind) {}
  virtual ~StreamOp() = default;
  Kind kind() const { return kind_; }

  // kWrite: a message (its size, then the message itself written to `out`,
  // exactly that many bytes; false if it came out otherwise), a half-close,
  // or both (a last message).
  virtual bool HasMessage() const { return false; }
  virtual bool HalfClose() const { return false; }
  virtual size_t MessageSize() { return 0; }
  virtual bool WriteMessage(uint8_t* /*out*/) { return true; }
  virtual void WriteDone(bool /*ok*/) {}

  // kRead: whether it wants a message (false: only the server's initial
  // metadata, which the call's io has by the time ReadDone runs). A message
  // is parsed (read in place; false if it does not parse, which ends the
  // call with INTERNAL) before ReadDone(true); ReadDone(false) means there
  // is none: the call ended.
  virtual bool WantsMessage() const { return true; }
  virtual bool ParseMessage(absl::Span<const uint8_t> /*bytes*/) {
    return false;
  }
  virtual void ReadDone(bool /*ok*/) {}

  // kFinish: the call's status, once it ended.
  virtual void FinishDone(const grpc::Status& /*status*/) {}

 private:
  const Kind kind_;
};

// Always owned by a shared_ptr (its threads hold one). Thread-safe.
class StreamDriver : public std::enable_shared_from_this<StreamDriver> {
 public:
  // `io` (metadata to send, server streaming's request, cancellation, where
  // the server's metadata and client streaming's response go) is used until
  // the finish completes.
  StreamDriver(std::shared_ptr<ClientConnection> conn, StreamKind kind,
               std::chrono::system_clock::time_point deadline,
               std::shared_ptr<UnaryIo> io);
  ~StreamDriver();
  StreamDriver(const StreamDriver&) = delete;
  StreamDriver& operator=(const StreamDriver&) = delete;

  // Sends the kCall of `method` (the connection's id), then `first` if not
  // null (a write that came with the start: corked metadata), on this
  // thread, and starts the reader thread.
  void Start(uint32_t method, StreamOp* first = nullptr);

  // Hands over an operation (see StreamOp). Operations of one kind complete
  // in the order submitted.
  void Submit(StreamOp* op);

  // Ends the call with `status` (TryCancel: CANCELLED) unless it ended
  // already; waiting operations wake. Never blocks.
  void Cancel(const grpc::Status& status);

  // The API layer is going away: the call is cancelled if still running,
  // and the threads end. No operation may be outstanding.
  void Stop();

 private:
  void Write(StreamOp* op);
  void Receive(StreamOp* op);
  bool StartThread(void (StreamDriver::*loop)(), bool* running);
  bool QueueWrite(StreamOp* op);
  void RunWrite(StreamOp* op);
  void WriterLoop();
  void Read(StreamOp* op, bool have_message);
  void ReaderLoop();

  const std::shared_ptr<UnaryIo> io_;

  std::mutex mu_;
  std::condition_variable wake_;
  // Until the finish completes (then dropped, so that an API object kept
  // after its call does not keep the connection's fds and mappings): reset
  // by the reader thread alone, under mu_, once finished_ is set and
  // nobody else uses it.
  std::unique_ptr<StreamCall> call_;
  bool stop_ = false;
  bool reader_running_ = false;
  bool writer_running_ = false;
  bool no_reader_ = false;  // the reader thread could not be started
  // Someone owns the writing side of call_: the submitting thread sending
  // at once, or the writer thread (handed_to_writer_).
  bool writer_busy_ = false;
  bool handed_to_writer_ = false;
  // Someone is on the reading side of call_ (and uses received_): the
  // reader thread, or a submitting thread trying a read at once.
  bool reading_ = false;
  std::deque<StreamOp*> writes_;  // waiting for the writer thread
  std::deque<StreamOp*> reads_;   // waiting for the reader thread
  StreamOp* finish_ = nullptr;    // held until the end
  bool finished_ = false;         // finish_ completed: the call is over

  // Whoever is on the reading side's (reading_).
  ReceivedMessage received_;
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_STREAM_DRIVER_H_
