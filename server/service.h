// What generated services are made of on the shared-memory side: a list of
// methods, each with a handler that parses the request, runs the user's
// method and hands back the response. protoc-gen-shmrpc generates, for every
// service, a class deriving from both grpc::Service (so the same object is
// registered with grpc::ServerBuilder for remote clients) and ShmService (so
// it is registered with shmrpc::ServerBuilder for local ones).
//
// Users never touch these classes directly; they implement the generated
// Service's virtual methods.
#ifndef SHMRPC_SERVER_SERVICE_H_
#define SHMRPC_SERVER_SERVICE_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <google/protobuf/arena.h>
#include <google/protobuf/message_lite.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "shmrpc/codegen/version.h"
#include "shmrpc/rpc/flat_frames.h"
#include "shmrpc/rpc/limits.h"
#include "shmrpc/server/server_context.h"

namespace shmrpc::internal {

// One unary call as a method handler sees it. Implemented by the server.
// Not thread-safe: used by the one thread running the handler.
class ServerUnaryCall {
 public:
  virtual ~ServerUnaryCall() = default;
  virtual ServerContext* context() = 0;
  // The serialized request, read in place from shared memory. Valid until
  // Finish(). Its size is checked against the server's receive limit before
  // the handler runs; the handler refuses more than INT_MAX bytes itself.
  virtual absl::Span<const uint8_t> request() const = 0;
  // Ends the call: sends `status`, and `response` if the status is OK.
  // Called exactly once (this, or FinishInPlace).
  virtual void Finish(const grpc::Status& status,
                      const google::protobuf::MessageLite* response) = 0;

  // Responses built in place (flat messages, server/flat_service.h): a
  // buffer of at least `bytes` in the server's shared memory, 64-byte
  // aligned, whose first `keep` bytes are those of the buffer this call
  // handed out before (which it replaces and takes back). The call keeps it
  // until FinishInPlace. RESOURCE_EXHAUSTED when no chunk that large is to
  // be had (within the call's deadline).
  virtual absl::StatusOr<absl::Span<uint8_t>> ResponseBuffer(size_t bytes,
                                                             size_t keep) {
    return absl::UnimplementedError("no in-place responses on this call");
  }
  // Ends the call as Finish does, the response being the first `used` bytes
  // of the last ResponseBuffer (none if the status is not OK).
  virtual void FinishInPlace(const grpc::Status& status, size_t used) {
    Finish(status.ok() ? grpc::Status(grpc::StatusCode::INTERNAL,
                                      "no in-place responses on this call")
                       : status,
           nullptr);
  }
};

// One streaming call as a method handler sees it (all three kinds).
// Implemented by the server. Not thread-safe: used by the thread running
// the handler, except that a bidirectional handler may Read on one thread
// while it Writes on another, as with gRPC's ServerReaderWriter.
class ServerStreamCall {
 public:
  virtual ~ServerStreamCall() = default;
  virtual ServerContext* context() = 0;
  // Server streaming: the serialized request, as for
  // ServerUnaryCall::request(). Valid until Finish() (the client's metadata
  // is read in place from the same frame). Empty for the other kinds.
  virtual absl::Span<const uint8_t> request() const = 0;
  // Client and bidirectional streaming: the client's next message into
  // `message`; false once the client half-closed (and every message was
  // read) or the call is over (cancelled, past its deadline, the connection
  // lost, a message that does not parse). Waits for it.
  virtual bool Read(google::protobuf::MessageLite* message) = 0;
  // As gRPC's ServerReader: an upper bound of the next message's size (the
  // server's receive limit).
  virtual bool NextMessageSize(uint32_t* size) = 0;
  // Sends the initial metadata now (otherwise it goes with the first
  // message, or with the status). Later calls do nothing.
  virtual void SendInitialMetadata() = 0;
  // Server and bidirectional streaming: sends one message, waiting while
  // the client has too much unread (flow control; see rpc/frame.h). False
  // if the call is over: cancelled by either side, past its deadline, the
  // connection lost, or the message over the server's send limit (the call
  // then ends with RESOURCE_EXHAUSTED, whatever the handler returns).
  virtual bool Write(const google::protobuf::MessageLite& message,
                     grpc::WriteOptions options) = 0;
  // Ends the call with `status` and, for client streaming when `status` is
  // OK, `response`. Called exactly once, after the handler returned.
  virtual void Finish(const grpc::Status& status,
                      const google::protobuf::MessageLite* response) = 0;

  // Flat messages (server/flat_stream.h). An arena for a message to write,
  // of about `size_hint` bytes: a chunk of the server's segment when it can
  // be had at once, else memory of its own.
  virtual std::unique_ptr<rpc::ChunkArena> NewMessageArena(size_t size_hint) {
    return rpc::ChunkArena::OnHeap(size_hint);
  }
  // Write for the sealed flat message in `message`: sent as its chunk when
  // it is one of the call's connection, else copied.
  virtual bool WriteArena(rpc::ChunkArena* message,
                          grpc::WriteOptions options) {
    return false;
  }
  // Read for flat messages: the client's next message into `out`, held in
  // place (its chunk lent until `out` releases it).
  virtual bool ReadHeld(rpc::HeldMessage* out) { return false; }
  // Finish for client streaming's flat response: the sealed message in
  // `response` (sent as its chunk when it is one of the call's connection)
  // when `status` is OK.
  virtual void FinishArena(const grpc::Status& status,
                           rpc::ChunkArena* response) {
    Finish(status.ok() ? grpc::Status(grpc::StatusCode::INTERNAL,
                                      "no flat responses on this call")
                       : status,
           nullptr);
  }
  // Ends the call with `status` (a flat message the handler could not read
  // or build) whatever the handler returns; reads and writes stop.
  virtual void FailCall(grpc::Status status) {}
};

// The kinds of method served over shared memory.
enum class ShmMethodKind {
  kUnary,
  kServerStreaming,
  kClientStreaming,
  kBidiStreaming,
};

// Runs one method. Thread-safe: many calls of the same method run at once.
// The server calls RunUnary for kUnary handlers and RunStream for the
// others.
class ShmMethodHandler {
 public:
  virtual ~ShmMethodHandler() = default;
  virtual ShmMethodKind kind() const { return ShmMethodKind::kUnary; }
  virtual void RunUnary(ServerUnaryCall* call) {
    call->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                              "a streaming method was called as unary"),
                 nullptr);
  }
  virtual void RunStream(ServerStreamCall* call) {
    call->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                              "a unary method was called as streaming"),
                 nullptr);
  }
};

// Requests and responses up to this many serialized bytes are parsed into and
// built in messages that the serving thread keeps for the next call of the
// same method (see UnaryMethodHandler).
inline constexpr size_t kReusedMessageMaxBytes = 256;

// A unary method of `ServiceT` taking `Request` and returning `Response`.
//
// Messages. A small call (request and response both at most
// kReusedMessageMaxBytes serialized) runs on a request and a response that
// the serving thread keeps between calls of this method: parsing reuses the
// request's string and repeated-field capacity, so a small call allocates
// nothing and builds no arena on its way to the response (measured: ~170 ns
// of a 64 B call's server path). The handler sees a freshly cleared response
// and a freshly parsed request, exactly as with new messages. What a thread
// keeps is bounded: after a call whose request or response was larger, the
// thread's messages are freed (the next small call makes new ones), so each
// thread holds at most what a kReusedMessageMaxBytes message can take in
// memory, per handler type (handlers of the same service and message types
// share one pair per thread, which `in_use` keeps from being used twice at
// once). Any other call (a larger request, or a handler that
// re-enters this method on the same thread) uses messages in an arena whose
// first block is on the stack.
template <class ServiceT, class Request, class Response>
class UnaryMethodHandler final : public ShmMethodHandler {
 public:
  using Method = grpc::Status (*)(ServiceT*, ServerContext*, const Request*,
                                  Response*);

  UnaryMethodHandler(Method method, ServiceT* service)
      : method_(method), service_(service) {}

  void RunUnary(ServerUnaryCall* call) override {
    const absl::Span<const uint8_t> bytes = call->request();
    // protobuf parses at most INT_MAX bytes (and takes the size as an int):
    // refuse anything larger before a byte of it is read.
    if (absl::Status too_big = rpc::CheckReceivedMessageSize(
            bytes.size(), std::numeric_limits<int>::max());
        !too_big.ok()) {
      call->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                std::string(too_big.message())),
                   nullptr);
      return;
    }
    Reused& reused = ThreadReused();
    if (!reused.in_use && bytes.size() <= kReusedMessageMaxBytes) {
      reused.in_use = true;
      if (reused.request == nullptr) {
        reused.request = std::make_unique<Request>();
        reused.response = std::make_unique<Response>();
      }
      Run(call, bytes, reused.request.get(), reused.response.get());
      // After the response went out: off the call's critical path.
      if (reused.response->ByteSizeLong() <= kReusedMessageMaxBytes) {
        reused.response->Clear();
      } else {
        reused.request.reset();
        reused.response.reset();
      }
      reused.in_use = false;
      return;
    }
    alignas(16) char first_block[2048];
    google::protobuf::ArenaOptions options;
    options.initial_block = first_block;
    options.initial_block_size = sizeof(first_block);
    google::protobuf::Arena arena(options);
    Run(call, bytes, google::protobuf::Arena::CreateMessage<Request>(&arena),
        google::protobuf::Arena::CreateMessage<Response>(&arena));
  }

 private:
  // The messages one thread keeps for this method (see above).
  struct Reused {
    std::unique_ptr<Request> request;
    std::unique_ptr<Response> response;  // cleared between calls
    bool in_use = false;
  };
  static Reused& ThreadReused() {
    static thread_local Reused reused;
    return reused;
  }

  // Parses the request into `request` (which parsing clears first), runs the
  // method on the empty `response`, and finishes the call.
  void Run(ServerUnaryCall* call, absl::Span<const uint8_t> bytes,
           Request* request, Response* response) {
    if (!request->ParseFromArray(bytes.data(),
                                 static_cast<int>(bytes.size()))) {
      call->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                "Error parsing request message"),
                   nullptr);
      return;
    }
    const grpc::Status status =
        method_(service_, call->context(), request, response);
    call->Finish(status, response);
  }

  Method method_;
  ServiceT* service_;
};

// The stream objects a streaming handler sees for a shared-memory call:
// gRPC's interfaces over a ServerStreamCall. Not thread-safe, like gRPC's
// (a bidirectional handler may Read and Write from two threads at once).
template <class Response>
class ShmServerWriter final : public grpc::ServerWriterInterface<Response> {
 public:
  explicit ShmServerWriter(ServerStreamCall* call) : call_(call) {}

  void SendInitialMetadata() override { call_->SendInitialMetadata(); }
  using grpc::internal::WriterInterface<Response>::Write;
  bool Write(const Response& message, grpc::WriteOptions options) override {
    return call_->Write(message, options);
  }

 private:
  ServerStreamCall* const call_;
};

template <class Request>
class ShmServerReader final : public grpc::ServerReaderInterface<Request> {
 public:
  explicit ShmServerReader(ServerStreamCall* call) : call_(call) {}

  void SendInitialMetadata() override { call_->SendInitialMetadata(); }
  bool NextMessageSize(uint32_t* size) override {
    return call_->NextMessageSize(size);
  }
  bool Read(Request* message) override { return call_->Read(message); }

 private:
  ServerStreamCall* const call_;
};

template <class Response, class Request>
class ShmServerReaderWriter final
    : public grpc::ServerReaderWriterInterface<Response, Request> {
 public:
  explicit ShmServerReaderWriter(ServerStreamCall* call) : call_(call) {}

  void SendInitialMetadata() override { call_->SendInitialMetadata(); }
  bool NextMessageSize(uint32_t* size) override {
    return call_->NextMessageSize(size);
  }
  bool Read(Request* message) override { return call_->Read(message); }
  using grpc::internal::WriterInterface<Response>::Write;
  bool Write(const Response& message, grpc::WriteOptions options) override {
    return call_->Write(message, options);
  }

 private:
  ServerStreamCall* const call_;
};

// A server-streaming method of `ServiceT` taking `Request` and writing
// `Response`s. The request is parsed into an arena message before the
// handler runs.
template <class ServiceT, class Request, class Response>
class ServerStreamingMethodHandler final : public ShmMethodHandler {
 public:
  using Method = grpc::Status (*)(ServiceT*, ServerContext*, const Request*,
                                  grpc::ServerWriterInterface<Response>*);

  ServerStreamingMethodHandler(Method method, ServiceT* service)
      : method_(method), service_(service) {}

  ShmMethodKind kind() const override {
    return ShmMethodKind::kServerStreaming;
  }
  void RunStream(ServerStreamCall* call) override {
    const absl::Span<const uint8_t> bytes = call->request();
    if (absl::Status too_big = rpc::CheckReceivedMessageSize(
            bytes.size(), std::numeric_limits<int>::max());
        !too_big.ok()) {
      call->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                std::string(too_big.message())),
                   nullptr);
      return;
    }
    google::protobuf::Arena arena;
    Request* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
    if (!request->ParseFromArray(bytes.data(),
                                 static_cast<int>(bytes.size()))) {
      call->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                "Error parsing request message"),
                   nullptr);
      return;
    }
    ShmServerWriter<Response> writer(call);
    call->Finish(method_(service_, call->context(), request, &writer), nullptr);
  }

 private:
  Method method_;
  ServiceT* service_;
};

// A client-streaming method of `ServiceT` reading `Request`s and returning
// one `Response`.
template <class ServiceT, class Request, class Response>
class ClientStreamingMethodHandler final : public ShmMethodHandler {
 public:
  using Method = grpc::Status (*)(ServiceT*, ServerContext*,
                                  grpc::ServerReaderInterface<Request>*,
                                  Response*);

  ClientStreamingMethodHandler(Method method, ServiceT* service)
      : method_(method), service_(service) {}

  ShmMethodKind kind() const override {
    return ShmMethodKind::kClientStreaming;
  }
  void RunStream(ServerStreamCall* call) override {
    google::protobuf::Arena arena;
    Response* response =
        google::protobuf::Arena::CreateMessage<Response>(&arena);
    ShmServerReader<Request> reader(call);
    const grpc::Status status =
        method_(service_, call->context(), &reader, response);
    call->Finish(status, status.ok() ? response : nullptr);
  }

 private:
  Method method_;
  ServiceT* service_;
};

// A bidirectional-streaming method of `ServiceT`.
template <class ServiceT, class Request, class Response>
class BidiStreamingMethodHandler final : public ShmMethodHandler {
 public:
  using Method =
      grpc::Status (*)(ServiceT*, ServerContext*,
                       grpc::ServerReaderWriterInterface<Response, Request>*);

  BidiStreamingMethodHandler(Method method, ServiceT* service)
      : method_(method), service_(service) {}

  ShmMethodKind kind() const override { return ShmMethodKind::kBidiStreaming; }
  void RunStream(ServerStreamCall* call) override {
    ShmServerReaderWriter<Response, Request> stream(call);
    call->Finish(method_(service_, call->context(), &stream), nullptr);
  }

 private:
  Method method_;
  ServiceT* service_;
};

// Base of every generated service: the methods it serves over shared memory.
// Not thread-safe during construction; read-only afterwards.
class ShmService {
 public:
  struct Method {
    std::string name;  // "/package.Service/Method"
    std::unique_ptr<ShmMethodHandler> handler;
  };

  virtual ~ShmService() = default;

  const std::vector<Method>& shm_methods() const { return methods_; }

 protected:
  void AddShmMethod(std::string name,
                    std::unique_ptr<ShmMethodHandler> handler) {
    methods_.push_back(Method{std::move(name), std::move(handler)});
  }

 private:
  std::vector<Method> methods_;
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_SERVER_SERVICE_H_
