// A separate process for the cross-process RPC tests. Usage:
//
//   rpc_peer server [--port=N] [--no-shm]
//       Serves EchoService over gRPC on 127.0.0.1:N (N=0: any free port) and,
//       unless --no-shm, over shared memory for the same address. Prints
//       "ready PORT" when both listen. On SIGTERM shuts both down gracefully
//       (calls in flight finish) and exits 0.
//   rpc_peer client --target=T --threads=N --calls=M
//       N threads each make M Echo calls with checksummed payloads of assorted
//       sizes, alternating the generated shmrpc stub and the gRPC stub (on one
//       channel made with shmrpc's credentials), checking every answer. Exits
//       0 if every call succeeded over shared memory, 1 otherwise.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "shmrpc/shmrpc.h"
#include "tests/rpc/echo_service.h"
#include "tests/util/serve_until_stopped.h"

namespace shmrpc::testing {
namespace {

std::string Flag(int argc, char** argv, const std::string& name,
                 const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 2; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return argv[i] + prefix.size();
    }
    if (argv[i] == "--" + name) return "true";
  }
  return fallback;
}

int Server(int argc, char** argv) {
  const bool shm = Flag(argc, argv, "no-shm", "false") != "true";
  const int port = std::atoi(Flag(argc, argv, "port", "0").c_str());
  EchoServiceImpl service;
  return ServeUntilStopped("rpc_peer", &service, port, shm);
}

int Client(int argc, char** argv) {
  const std::string target = Flag(argc, argv, "target", "");
  const int threads = std::atoi(Flag(argc, argv, "threads", "16").c_str());
  const int calls = std::atoi(Flag(argc, argv, "calls", "100").c_str());
  auto channel = grpc::CreateChannel(
      target, ShmChannelCredentials(grpc::InsecureChannelCredentials()));
  auto stub = ShmEchoService::NewStub(channel);
  auto grpc_stub = EchoService::NewStub(channel);
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(t * 7919 + ::getpid());
      const size_t sizes[] = {0, 1, 60, 100, 4096, 65536, 300000};
      for (int i = 0; i < calls; ++i) {
        EchoRequest request;
        std::string payload(sizes[rng() % std::size(sizes)], '\0');
        for (char& c : payload) c = static_cast<char>(rng());
        request.set_checksum(PayloadChecksum(payload));
        request.set_payload(payload);
        EchoResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(30));
        const grpc::Status status =
            (i % 2 == 0) ? stub->Echo(&context, request, &response)
                         : grpc_stub->Echo(&context, request, &response);
        if (!status.ok() || response.payload() != payload ||
            response.checksum() != request.checksum() ||
            !response.shared_memory()) {
          std::fprintf(stderr, "thread %d call %d: %s (%d)\n", t, i,
                       status.error_message().c_str(), status.error_code());
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  std::printf("%s\n", DescribeChannelPath(channel).c_str());
  return failures.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "server") == 0) {
    return shmrpc::testing::Server(argc, argv);
  }
  if (argc >= 2 && std::strcmp(argv[1], "client") == 0) {
    return shmrpc::testing::Client(argc, argv);
  }
  std::fprintf(stderr, "usage: rpc_peer server|client [flags]\n");
  return 2;
}
