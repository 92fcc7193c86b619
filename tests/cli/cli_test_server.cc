// The server process of the `shmrpc` tool's tests (shmrpc_cli_test.sh).
// Usage:
//
//   cli_test_server [--health] [--max-connections=N] [--allow-uid=UID]
//
// Serves shmrpc.testing.EchoService over gRPC on 127.0.0.1 (any free port)
// and over shared memory for the same address; with --health, also
// grpc.health.v1.Health (TestHealth below) on both. --max-connections and
// --allow-uid set the shared-memory server's connection limit and the one
// uid its handshake admits. Prints "ready PORT" and "endpoint PATH" once
// both listen; on SIGTERM shuts both down and exits 0.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "grpc/health/v1/health.shmrpc.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/echo_service.h"
#include "tests/util/flags.h"

namespace shmrpc::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// The overall health ("") and EchoService's are SERVING, "down" is
// NOT_SERVING, any other service is unknown (NOT_FOUND, as the protocol
// says).
class TestHealth final : public grpc::health::v1::ShmHealth::Service {
 public:
  grpc::Status Check(ServerContext* context, const HealthCheckRequest* request,
                     HealthCheckResponse* response) override {
    const std::string& service = request->service();
    if (service.empty() || service == "shmrpc.testing.EchoService") {
      response->set_status(HealthCheckResponse::SERVING);
    } else if (service == "down") {
      response->set_status(HealthCheckResponse::NOT_SERVING);
    } else {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
    }
    return grpc::Status::OK;
  }
};

// The value of --name=VALUE, or nullptr; `present` for a bare --name.
int Main(int argc, char** argv) {
  // Block SIGTERM before any thread starts; we wait for it below.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  bool with_health = false;
  Flag(argc, argv, "health", &with_health);
  EchoServiceImpl echo;
  TestHealth health;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&echo);
  if (with_health) builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "cli_test_server: cannot listen\n");
    return 1;
  }

  ServerOptions options;
  if (const char* v = Flag(argc, argv, "max-connections")) {
    options.max_connections = std::atoi(v);
  }
  if (const char* v = Flag(argc, argv, "allow-uid")) {
    options.handshake.allow.uids = {static_cast<uid_t>(std::atol(v))};
  }
  shmrpc::ServerBuilder shm_builder;
  shm_builder.AddListeningAddress("127.0.0.1:" + std::to_string(port))
      .RegisterService(&echo)
      .SetOptions(options);
  if (with_health) shm_builder.RegisterService(&health);
  std::string error;
  std::unique_ptr<shmrpc::Server> shm_server =
      shm_builder.BuildAndStart(&error);
  if (shm_server == nullptr) {
    std::fprintf(stderr, "cli_test_server: %s\n", error.c_str());
    return 1;
  }
  std::printf("ready %d\nendpoint %s\n", port,
              shm_server->endpoints().at(0).c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&set, &signal);
  shm_server->Shutdown();
  server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
