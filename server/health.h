// shmrpc::HealthService: gRPC's health checking protocol
// (grpc.health.v1.Health, Check and Watch) answered over shared memory and
// over gRPC from one state. ServerBuilder::BuildAndStart makes one when
// grpc::EnableDefaultHealthCheckService(true) was called, and
// Server::GetHealthCheckService() returns it; applications set the state
// through grpc::HealthCheckServiceInterface as they do with gRPC's own.
//
// It behaves as gRPC 1.51's default health service:
//   * The overall service "" is SERVING from the start; other names are
//     unknown until SetServingStatus(name, ...) names them.
//   * Check of an unknown name: NOT_FOUND "service name unknown"; a name
//     longer than 200 bytes: INVALID_ARGUMENT "could not parse request".
//   * Watch sends the status at once (SERVICE_UNKNOWN for an unknown name)
//     and again each time it changes, until the client cancels.
//   * SetServingStatus(serving) sets every known name.
//   * Shutdown() makes every name NOT_SERVING for good: Watch calls get
//     NOT_SERVING and stay open, and a later SetServingStatus(name, ...)
//     sets `name` NOT_SERVING whatever it asks.
// When the server itself shuts down (Server::Shutdown() calls Shutdown()
// and then EndWatches(), before either transport stops), every Watch ends
// with CANCELLED "not writing due to shutdown", as gRPC's reactors do.
//
// Unlike gRPC's (callback reactors), a Watch holds a serving thread while it
// runs, so at most kMaxWatches run at once; the next one fails with
// RESOURCE_EXHAUSTED.
#ifndef SHMRPC_SERVER_HEALTH_H_
#define SHMRPC_SERVER_HEALTH_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpcpp/health_check_service_interface.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "grpc/health/v1/health.shmrpc.h"

namespace shmrpc {

// Thread-safe. Register it with both builders (or let ServerBuilder do it);
// it must outlive the servers it is registered with.
class HealthService final : public grpc::health::v1::ShmHealth::Service,
                            public grpc::HealthCheckServiceInterface {
 public:
  using Response = grpc::health::v1::HealthCheckResponse;

  HealthService();
  ~HealthService() override;

  // grpc::HealthCheckServiceInterface.
  void SetServingStatus(const std::string& service_name, bool serving) override;
  void SetServingStatus(bool serving) override;
  void Shutdown() override;

  // Ends every Watch, now and from now on (the server is shutting down).
  void EndWatches();

  static constexpr int kMaxWatches = 256;
  static constexpr size_t kMaxServiceNameLength = 200;  // as gRPC's

  // The status Check would answer for `service_name`; SERVICE_UNKNOWN if the
  // name is unknown.
  Response::ServingStatus GetServingStatus(
      const std::string& service_name) const;

  // grpc.health.v1.Health.
  grpc::Status Check(ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     Response* response) override;
  grpc::Status Watch(ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriterInterface<Response>* writer) override;

 private:
  // Unknown names: SERVICE_UNKNOWN. Requires mu_.
  Response::ServingStatus StatusLocked(const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable std::mutex mu_;
  std::condition_variable changed_;  // a status changed, or shutdown
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  int watches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace shmrpc

#endif  // SHMRPC_SERVER_HEALTH_H_
