// The client side of gRPC's interoperability tests, as gRPC's published
// interop test descriptions specify each case, on either client path:
//
//   kShmCreds  gRPC's generated stub on a channel made with
//              shmrpc::ShmChannelCredentials
//   kShmStub   shmrpc's generated stub (ShmTestService::Stub), every
//              method
//   kGrpc      gRPC's generated stub on a plain gRPC channel
//
// Each case returns OK or an error naming the first check that failed. The
// transports that the server reported for the case's calls (the trailing
// metadata interop_service.h adds: "shm", "grpc", or "" when the call never
// reached the service) are kept for the caller to assert on.
#ifndef SHMRPC_TESTS_INTEROP_INTEROP_CASES_H_
#define SHMRPC_TESTS_INTEROP_INTEROP_CASES_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpc/testing/test.grpc.pb.h"
#include "grpc/testing/test.shmrpc.h"

namespace shmrpc::interop {

enum class ClientPath { kShmCreds, kShmStub, kGrpc };

// The case names, in the descriptions' spelling.
const std::vector<std::string>& AllCases();

// Whether every call of case `name` is unary (and so travels over shared
// memory on the shm paths).
bool IsUnaryCase(const std::string& name);

// Not thread-safe: one case at a time.
class InteropClient {
 public:
  InteropClient(std::shared_ptr<grpc::Channel> channel, ClientPath path);

  // Runs case `name`; INVALID_ARGUMENT for an unknown name.
  absl::Status Run(const std::string& name);

  // What the server reported for each call of the last case run, in order.
  const std::vector<std::string>& transports() const { return transports_; }

 private:
  absl::Status EmptyUnary();
  absl::Status LargeUnary();
  absl::Status ClientStreaming();
  absl::Status ServerStreaming();
  absl::Status PingPong();
  absl::Status EmptyStream();
  absl::Status CustomMetadata();
  absl::Status StatusCodeAndMessage();
  absl::Status SpecialStatusMessage();
  absl::Status UnimplementedMethod();
  absl::Status UnimplementedService();
  absl::Status CancelAfterBegin();
  absl::Status CancelAfterFirstResponse();
  absl::Status TimeoutOnSleepingServer();

  // A UnaryCall asking the server to end with UNKNOWN and `message`, which
  // must come back exactly.
  absl::Status UnaryEchoStatus(const std::string& message);
  // A unary UnaryCall / EmptyCall on this client's path.
  grpc::Status UnaryCall(grpc::ClientContext* context,
                         const grpc::testing::SimpleRequest& request,
                         grpc::testing::SimpleResponse* response);
  grpc::Status EmptyCall(grpc::ClientContext* context,
                         const grpc::testing::Empty& request,
                         grpc::testing::Empty* response);
  // The streaming calls on this client's path.
  std::unique_ptr<
      grpc::ClientWriterInterface<grpc::testing::StreamingInputCallRequest>>
  StreamingInputCall(grpc::ClientContext* context,
                     grpc::testing::StreamingInputCallResponse* response);
  std::unique_ptr<
      grpc::ClientReaderInterface<grpc::testing::StreamingOutputCallResponse>>
  StreamingOutputCall(grpc::ClientContext* context,
                      const grpc::testing::StreamingOutputCallRequest& request);
  std::unique_ptr<grpc::ClientReaderWriterInterface<
      grpc::testing::StreamingOutputCallRequest,
      grpc::testing::StreamingOutputCallResponse>>
  FullDuplexCall(grpc::ClientContext* context);
  // Records the transport the server reported in `context`'s trailers.
  void Note(const grpc::ClientContext& context);

  const std::shared_ptr<grpc::Channel> channel_;
  const ClientPath path_;
  std::unique_ptr<grpc::testing::TestService::Stub> grpc_stub_;
  std::unique_ptr<grpc::testing::ShmTestService::Stub> shm_stub_;
  std::vector<std::string> transports_;
};

}  // namespace shmrpc::interop

#endif  // SHMRPC_TESTS_INTEROP_INTEROP_CASES_H_
