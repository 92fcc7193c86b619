// gRPC's interop server for shmrpc: serves grpc.testing.TestService
// (interop_service.h) over gRPC on 127.0.0.1:PORT and, unless --no-shm, over
// shared memory for the same address, with one service object. Usage:
//
//   interop_server [--port=N] [--no-shm]
//
// N=0 (the default) picks a free port. Prints "ready PORT" once both listen;
// on SIGTERM or SIGINT shuts both down (calls in flight finish) and exits 0.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "shmrpc/shmrpc.h"
#include "tests/interop/interop_service.h"

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts; main waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  int port = 0;
  bool shm = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--port=", 7) == 0) {
      char* end = nullptr;
      const long v = std::strtol(argv[i] + 7, &end, 10);
      if (*end != '\0' || v < 0 || v > 65535) {
        std::fprintf(stderr, "interop_server: bad port '%s'\n", argv[i] + 7);
        return 2;
      }
      port = static_cast<int>(v);
    } else if (std::strcmp(argv[i], "--no-shm") == 0) {
      shm = false;
    } else {
      std::fprintf(stderr, "usage: interop_server [--port=N] [--no-shm]\n");
      return 2;
    }
  }

  shmrpc::interop::TestServiceImpl service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "interop_server: cannot listen\n");
    return 1;
  }
  std::unique_ptr<shmrpc::Server> shm_server;
  if (shm) {
    shmrpc::ServerBuilder shm_builder;
    shm_builder.AddListeningAddress("127.0.0.1:" + std::to_string(port))
        .RegisterService(&service);
    std::string error;
    shm_server = shm_builder.BuildAndStart(&error);
    if (shm_server == nullptr) {
      std::fprintf(stderr, "interop_server: %s\n", error.c_str());
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
