// The server process of the server's cross-process tests. Usage:
//
//   probe_server [--max-connections=N] [--max-threads-per-connection=N]
//                [--max-receive=BYTES] [--max-send=BYTES]
//                [--max-metadata=BYTES] [--stream-window=BYTES]
//                [--max-streams-per-connection=N]
//
// Serves shmrpc.testing.Probe over gRPC on 127.0.0.1 (any free port) and
// over shared memory for the same address, with the given shmrpc server
// options (default: the library's); the message size limits apply to the
// gRPC server too. Prints "ready PORT" when both listen. On
// SIGTERM shuts both down and exits 0.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shmrpc/shmrpc.h"
#include "tests/rpc/probe_service.h"

namespace shmrpc::testing {
namespace {

// The value of --name=VALUE, or nullptr.
const char* Flag(int argc, char** argv, const char* name) {
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--", 2) == 0 &&
        std::strncmp(argv[i] + 2, name, n) == 0 && argv[i][2 + n] == '=') {
      return argv[i] + 3 + n;
    }
  }
  return nullptr;
}

int Main(int argc, char** argv) {
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
  // The same size limits for gRPC as for shared memory, so that tests can
  // compare the two.
  if (const char* v = Flag(argc, argv, "max-receive")) {
    builder.SetMaxReceiveMessageSize(std::atoi(v));
  }
  if (const char* v = Flag(argc, argv, "max-send")) {
    builder.SetMaxSendMessageSize(std::atoi(v));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "probe_server: cannot listen\n");
    return 1;
  }

  shmrpc::ServerBuilder shm_builder;
  shm_builder.AddListeningAddress("127.0.0.1:" + std::to_string(port))
      .RegisterService(&service);
  ServerOptions options;
  if (const char* v = Flag(argc, argv, "max-connections")) {
    options.max_connections = std::atoi(v);
  }
  if (const char* v = Flag(argc, argv, "max-threads-per-connection")) {
    options.max_threads_per_connection = std::atoi(v);
  }
  if (const char* v = Flag(argc, argv, "max-streams-per-connection")) {
    options.max_streams_per_connection = std::atoi(v);
  }
  if (const char* v = Flag(argc, argv, "stream-window")) {
    options.stream_window_bytes = std::atoll(v);
  }
  shm_builder.SetOptions(options);
  if (const char* v = Flag(argc, argv, "max-receive")) {
    shm_builder.SetMaxReceiveMessageSize(std::atoi(v));
  }
  if (const char* v = Flag(argc, argv, "max-send")) {
    shm_builder.SetMaxSendMessageSize(std::atoi(v));
  }
  if (const char* v = Flag(argc, argv, "max-metadata")) {
    shm_builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, std::atoi(v));
  }
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

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
