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

#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "shmrpc/codegen/version.h"
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
  // Called exactly once.
  virtual void Finish(const grpc::Status& status,
                      const google::protobuf::MessageLite* response) = 0;
};

// Runs one method. Thread-safe: many calls of the same method run at once.
class ShmMethodHandler {
 public:
  virtual ~ShmMethodHandler() = default;
  virtual void RunUnary(ServerUnaryCall* call) = 0;
};

// A unary method of `ServiceT` taking `Request` and returning `Response`.
// Messages live in an arena whose first block is on the stack, so small
// calls allocate nothing.
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
    alignas(16) char first_block[2048];
    google::protobuf::ArenaOptions options;
    options.initial_block = first_block;
    options.initial_block_size = sizeof(first_block);
    google::protobuf::Arena arena(options);
    Request* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
    if (!request->ParseFromArray(bytes.data(),
                                 static_cast<int>(bytes.size()))) {
      call->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                "Error parsing request message"),
                   nullptr);
      return;
    }
    Response* response =
        google::protobuf::Arena::CreateMessage<Response>(&arena);
    const grpc::Status status =
        method_(service_, call->context(), request, response);
    call->Finish(status, response);
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
