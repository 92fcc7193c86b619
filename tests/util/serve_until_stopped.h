// ServeUntilStopped: the main loop of a test server process. Serves one
// service object over gRPC on 127.0.0.1:PORT and, optionally, over shared
// memory for the same address; prints "ready PORT" once both listen (what
// Subprocess::WaitForPrefix("ready ") waits for); on SIGTERM or SIGINT shuts
// both down (calls in flight finish) and returns.
#ifndef SHMRPC_TESTS_UTIL_SERVE_UNTIL_STOPPED_H_
#define SHMRPC_TESTS_UTIL_SERVE_UNTIL_STOPPED_H_

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "shmrpc/shmrpc.h"

namespace shmrpc::testing {

// Serves `service` (a generated Shm<Service>::Service, which both servers
// accept) on 127.0.0.1:`port` (0: any free port), over shared memory too if
// `shm`. Returns main's exit status: 0 after a clean stop, 1 if a server
// could not start (reported on stderr with `name`). Call from main before
// any other thread exists: it blocks the stop signals in the calling thread,
// which the threads started later inherit.
template <typename Service>
int ServeUntilStopped(const char* name, Service* service, int port, bool shm) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "%s: cannot listen\n", name);
    return 1;
  }
  std::unique_ptr<shmrpc::Server> shm_server;
  if (shm) {
    shmrpc::ServerBuilder shm_builder;
    shm_builder.AddListeningAddress("127.0.0.1:" + std::to_string(port))
        .RegisterService(service);
    std::string error;
    shm_server = shm_builder.BuildAndStart(&error);
    if (shm_server == nullptr) {
      std::fprintf(stderr, "%s: %s\n", name, error.c_str());
      return 1;
    }
  }
  std::printf("ready %d\n", port);
  std::fflush(stdout);
  int signal = 0;
  sigwait(&set, &signal);
  if (shm_server != nullptr) shm_server->Shutdown();
  server->Shutdown();
  return 0;
}

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_UTIL_SERVE_UNTIL_STOPPED_H_
