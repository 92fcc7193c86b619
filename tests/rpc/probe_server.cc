// The server process of the server's cross-process tests. Usage:
//
//   probe_server
//
// Serves shmrpc.testing.Probe over gRPC on 127.0.0.1 (any free port) and
// over shared memory for the same address. Prints "ready PORT" when both
// listen. On SIGTERM shuts both down and exits 0.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "shmrpc/shmrpc.h"
#include "tests/rpc/probe_service.h"

namespace shmrpc::testing {
namespace {

int Main() {
  // Block SIGTERM before any thread starts; we wait for it below.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  ProbeServiceImpl service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "probe_server: cannot listen\n");
    return 1;
  }

  shmrpc::ServerBuilder shm_builder;
  shm_builder.AddListeningAddress("127.0.0.1:" + std::to_string(port))
      .RegisterService(&service);
  std::string error;
  std::unique_ptr<shmrpc::Server> shm_server =
      shm_builder.BuildAndStart(&error);
  if (shm_server == nullptr) {
    std::fprintf(stderr, "probe_server: %s\n", error.c_str());
    return 1;
  }
  std::printf("ready %d\n", port);
  std::fflush(stdout);
  int signal;
  sigwait(&set, &signal);
  shm_server->Shutdown();
  server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace shmrpc::testing

int main() { return shmrpc::testing::Main(); }
