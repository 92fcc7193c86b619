// The server side of gRPC's interoperability tests: grpc.testing.TestService
// (grpc/testing/test.proto) as gRPC's interop test descriptions specify it,
// one object serving both gRPC and shared memory. UnimplementedCall is left
// to the generated default (UNIMPLEMENTED), as gRPC's own interop server
// does; UnimplementedService is not registered at all.
//
// Beyond the descriptions, every answer carries the trailing metadata
// kTransportKey ("shm" or "grpc": how the call arrived), so that a test can
// assert which transport carried each case. Clients that do not look for it
// (gRPC's own, Python's) are unaffected.
#ifndef SHMRPC_TESTS_INTEROP_INTEROP_SERVICE_H_
#define SHMRPC_TESTS_INTEROP_INTEROP_SERVICE_H_

#include "grpc/testing/test.shmrpc.h"

namespace shmrpc::interop {

inline constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
inline constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";
inline constexpr char kTransportKey[] = "x-shmrpc-transport";

// Thread-safe (stateless).
class TestServiceImpl final : public grpc::testing::ShmTestService::Service {
 public:
  grpc::Status EmptyCall(ServerContext* context,
                         const grpc::testing::Empty* request,
                         grpc::testing::Empty* response) override;
  grpc::Status UnaryCall(ServerContext* context,
                         const grpc::testing::SimpleRequest* request,
                         grpc::testing::SimpleResponse* response) override;
  grpc::Status CacheableUnaryCall(
      ServerContext* context, const grpc::testing::SimpleRequest* request,
      grpc::testing::SimpleResponse* response) override;
  grpc::Status StreamingOutputCall(
      ServerContext* context,
      const grpc::testing::StreamingOutputCallRequest* request,
      grpc::ServerWriterInterface<grpc::testing::StreamingOutputCallResponse>*
          writer) override;
  grpc::Status StreamingInputCall(
      ServerContext* context,
      grpc::ServerReaderInterface<grpc::testing::StreamingInputCallRequest>*
          reader,
      grpc::testing::StreamingInputCallResponse* response) override;
  grpc::Status FullDuplexCall(
      ServerContext* context,
      grpc::ServerReaderWriterInterface<
          grpc::testing::StreamingOutputCallResponse,
          grpc::testing::StreamingOutputCallRequest>* stream) override;
  grpc::Status HalfDuplexCall(
      ServerContext* context,
      grpc::ServerReaderWriterInterface<
          grpc::testing::StreamingOutputCallResponse,
          grpc::testing::StreamingOutputCallRequest>* stream) override;
};

}  // namespace shmrpc::interop

#endif  // SHMRPC_TESTS_INTEROP_INTEROP_SERVICE_H_
