// Concurrency soak: one server process (tests/rpc:rpc_peer) and several
// client processes (soak_client), each with many threads calling in all four
// client styles at once, with checksummed payloads of mixed sizes and with
// cancellations and deadlines mixed in, for a bounded time. Every call is
// checked by the client (see soak_client.cc): nothing lost, corrupted or
// duplicated, every cancellation and deadline takes effect, no call slower
// than a bound. Afterwards the server is still alive and still answers.
//
// SHMRPC_SOAK_SECONDS (default 8) sets how long the clients run.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/echo_service.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;

std::string g_server;  // path of rpc_peer
std::string g_client;  // path of soak_client

int SoakSeconds() {
  const char* env = std::getenv("SHMRPC_SOAK_SECONDS");
  const int s = env != nullptr ? std::atoi(env) : 0;
  return s > 0 ? s : 8;
}

TEST(SoakTest, ClientProcessesTimesThreadsInEveryStyle) {
  TempDir dir;
  ::setenv("SHMRPC_DIR", dir.File("endpoints").c_str(), 1);
  Subprocess server({g_server, "server"});
  std::optional<std::string> port =
      server.WaitForPrefix("ready ", milliseconds(20000));
  ASSERT_TRUE(port.has_value()) << "server did not start";
  const std::string target = "localhost:" + *port;

  constexpr int kProcesses = 3;
  constexpr int kThreads = 6;
  const int seconds = SoakSeconds();
  std::vector<std::unique_ptr<Subprocess>> clients;
  for (int i = 0; i < kProcesses; ++i) {
    clients.push_back(std::make_unique<Subprocess>(std::vector<std::string>{
        g_client, "--target=" + target, "--threads=" + std::to_string(kThreads),
        "--seconds=" + std::to_string(seconds),
        "--seed=" + std::to_string(i + 1)}));
  }
  for (auto& c : clients) {
    const int code = c->ExitCode(milliseconds((seconds + 60) * 1000));
    const std::string out = c->ReadToEnd(milliseconds(1000));
    std::printf("client %d: %s", c->pid(), out.c_str());
    EXPECT_EQ(code, 0) << out;
    // It did real work of every kind.
    EXPECT_EQ(out.find("ok=0 "), std::string::npos) << out;
    EXPECT_EQ(out.find("cancelled=0 "), std::string::npos) << out;
    EXPECT_EQ(out.find("deadline=0 "), std::string::npos) << out;
  }

  // The server survived and still answers over shared memory.
  auto channel = grpc::CreateChannel(
      target, ShmChannelCredentials(grpc::InsecureChannelCredentials()));
  auto stub = ShmEchoService::NewStub(channel);
  EchoRequest request;
  request.set_payload("after the soak");
  request.set_checksum(PayloadChecksum(request.payload()));
  EchoResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  const grpc::Status status = stub->Echo(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.shared_memory());
  EXPECT_EQ(response.payload(), "after the soak");
  ::unsetenv("SHMRPC_DIR");
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s PATH_TO_RPC_PEER PATH_TO_SOAK_CLIENT\n",
                 argv[0]);
    return 2;
  }
  shmrpc::testing::g_server = argv[1];
  shmrpc::testing::g_client = argv[2];
  return RUN_ALL_TESTS();
}
