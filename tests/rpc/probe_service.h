// The test implementation of shmrpc.testing.Probe (tests/rpc/probe.proto),
// shared by the server's cross-process tests and their server binary. One
// object serves both gRPC and shared-memory calls.
#ifndef SHMRPC_TESTS_RPC_PROBE_SERVICE_H_
#define SHMRPC_TESTS_RPC_PROBE_SERVICE_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "tests/rpc/probe.shmrpc.h"

namespace shmrpc::testing {

// Thread-safe.
class ProbeServiceImpl final : public ShmProbe::Service {
 public:
  grpc::Status Call(ServerContext* context, const ProbeRequest* request,
                    ProbeResponse* response) override;
  grpc::Status GetReport(ServerContext* context, const ReportRequest* request,
                         Report* response) override;

  // Call handlers started so far.
  int64_t calls() const;

 private:
  mutable std::mutex mu_;
  int64_t calls_ = 0;
  std::map<std::string, Report> reports_;  // by tag
};

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_RPC_PROBE_SERVICE_H_
