// gRPC's interop server for shmrpc: serves grpc.testing.TestService
// (interop_service.h) over gRPC on 127.0.0.1:PORT and, unless --no-shm, over
// shared memory for the same address, with one service object. Usage:
//
//   interop_server [--port=N] [--no-shm]
//
// N=0 (the default) picks a free port. Prints "ready PORT" once both listen;
// on SIGTERM or SIGINT shuts both down (calls in flight finish) and exits 0.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/interop/interop_service.h"
#include "tests/util/serve_until_stopped.h"

int main(int argc, char** argv) {
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
  return shmrpc::testing::ServeUntilStopped("interop_server", &service, port,
                                            shm);
}
