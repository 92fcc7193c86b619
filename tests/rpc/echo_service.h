// The test implementation of shmrpc.testing.EchoService (proto/echo.proto),
// shared by the cross-process tests and the rpc_peer binary. One object
// serves both gRPC and shared-memory calls.
#ifndef SHMRPC_TESTS_RPC_ECHO_SERVICE_H_
#define SHMRPC_TESTS_RPC_ECHO_SERVICE_H_

#include <cstdint>
#include <mutex>
#include <string>

#include "proto/echo.shmrpc.h"

namespace shmrpc::testing {

// FNV-1a over every byte.
uint32_t PayloadChecksum(const std::string& bytes);

// Metadata keys the service echoes back, as gRPC's interop tests do: the
// value of kEchoInitialKey comes back as initial metadata, the value of
// kEchoTrailingKey as trailing metadata.
inline constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
inline constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";

// Thread-safe.
class EchoServiceImpl final : public ShmEchoService::Service {
 public:
  grpc::Status Echo(ServerContext* context, const EchoRequest* request,
                    EchoResponse* response) override;
  grpc::Status LastCall(ServerContext* context, const EchoRequest* request,
                        EchoResponse* response) override;

 private:
  std::mutex mu_;
  EchoResponse last_;  // what the last Echo handler saw
};

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_RPC_ECHO_SERVICE_H_
