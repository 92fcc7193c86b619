#include "shmrpc/server/server.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/client/credentials.h"
#include "tests/rpc/echo_service.h"
#include "tests/rpc/probe_service.h"
#include "tests/rpc/probe_testing.h"
#include "tests/util/temp_dir.h"

namespace shmrpc {
namespace {

using std::chrono::milliseconds;
using testing::EchoRequest;
using testing::EchoResponse;
using testing::EchoServiceImpl;
using testing::ProbeRequest;
using testing::ProbeResponse;
using testing::ProbeServiceImpl;
using testing::RawClient;
using testing::ShmEchoService;
using testing::ShmProbe;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
  }
  void TearDown() override { ::unsetenv("SHMRPC_DIR"); }

  // A shared-memory-only channel to `server` (nothing listens for gRPC).
  std::shared_ptr<grpc::Channel> ChannelTo(const Server& server) {
    ShmChannelOptions options;
    options.endpoint_path = server.endpoints().at(0);
    options.mode = ShmMode::kRequired;
    return CreateChannel("localhost:1", grpc::InsecureChannelCredentials(),
                         options);
  }

  testing::TempDir dir_;
  EchoServiceImpl service_;
  ProbeServiceImpl probe_;
};

TEST_F(ServerTest, ListensOnAPrivateEndpointDerivedFromTheAddress) {
  std::string error;
  auto server = ServerBuilder()
                    .AddListeningAddress("[::]:40001")
                    .RegisterService(&service_)
                    .BuildAndStart(&error);
  ASSERT_NE(server, nullptr) << error;
  ASSERT_EQ(server->endpoints().size(), 1u);
  EXPECT_EQ(server->endpoints()[0],
            dir_.File("endpoints") + "/port-40001.sock");
  struct stat st;
  ASSERT_EQ(::stat(dir_.File("endpoints").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(server->endpoints()[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  server->Shutdown();
  EXPECT_NE(::stat(dir_.File("endpoints/port-40001.sock").c_str(), &st), 0);
}

TEST_F(ServerTest, RefusesBadConfigurations) {
  std::string error;
  EXPECT_EQ(ServerBuilder().RegisterService(&service_).BuildAndStart(&error),
            nullptr);
  EXPECT_NE(error.find("no listening address"), std::string::npos) << error;

  EXPECT_EQ(ServerBuilder()
                .AddListeningAddress("[::]:40002")
                .RegisterService(&service_)
                .RegisterService(&service_)
                .BuildAndStart(&error),
            nullptr);
  EXPECT_NE(error.find("registered twice"), std::string::npos) << error;

  EXPECT_EQ(ServerBuilder()
                .AddListeningAddress("[::]:0")
                .RegisterService(&service_)
                .BuildAndStart(&error),
            nullptr);
  EXPECT_NE(error.find("port 0"), std::string::npos) << error;

  auto first = ServerBuilder()
                   .AddListeningAddress("localhost:40003")
                   .RegisterService(&service_)
                   .BuildAndStart(&error);
  ASSERT_NE(first, nullptr) << error;
  EXPECT_EQ(ServerBuilder()
                .AddListeningAddress("127.0.0.1:40003")
                .RegisterService(&service_)
                .BuildAndStart(&error),
            nullptr);
  EXPECT_NE(error.find("another shmrpc server"), std::string::npos) << error;
}

TEST_F(ServerTest, ServesAndCounts) {
  auto server = ServerBuilder()
                    .AddListeningAddress("[::]:40004")
                    .RegisterService(&service_)
                    .BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = ShmEchoService::NewStub(ChannelTo(*server));
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext context;
    EchoRequest request;
    request.set_payload("hi");
    EchoResponse response;
    ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
    EXPECT_TRUE(response.shared_memory());
  }
  const ServerStats stats = server->stats();
  EXPECT_EQ(stats.connections, 1u);
  EXPECT_GE(stats.calls, 5u);  // plus the method-table request
  EXPECT_EQ(stats.live_connections, 1);
  EXPECT_GE(stats.threads, 2);
}

TEST_F(ServerTest, ShutdownDeadlineCancelsCallsStillRunning) {
  auto server = ServerBuilder()
                    .AddListeningAddress("[::]:40005")
                    .RegisterService(&service_)
                    .BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = ShmEchoService::NewStub(ChannelTo(*server));
  grpc::Status status;
  std::thread call([&] {
    grpc::ClientContext context;
    EchoRequest request;
    request.set_sleep_ms(10000);
    EchoResponse response;
    status = stub->Echo(&context, request, &response);
  });
  std::this_thread::sleep_for(milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  server->Shutdown(std::chrono::system_clock::now() + milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - start;
  call.join();
  EXPECT_GE(took, milliseconds(150));
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_EQ(server->stats().live_connections, 0);
  // A second Shutdown returns at once; Wait() too.
  server->Shutdown();
  server->Wait();
}

// However many calls its clients make at once, the server runs at most
// max_connections x max_threads_per_connection serving threads, and refuses
// clients beyond max_connections at the handshake.
TEST_F(ServerTest, ThreadsAndConnectionsStayWithinTheirCaps) {
  for (int per_connection : {1, 3}) {
    SCOPED_TRACE(per_connection);
    ServerOptions options;
    options.max_connections = 2;
    options.max_threads_per_connection = per_connection;
    auto server = ServerBuilder()
                      .AddListeningAddress("[::]:40006")
                      .RegisterService(&probe_)
                      .SetOptions(options)
                      .BuildAndStart();
    ASSERT_NE(server, nullptr);
    std::atomic<bool> done{false};
    std::atomic<int> peak{0};
    std::thread sampler([&] {
      while (!done.load()) {
        const int n = server->stats().threads;
        int p = peak.load();
        while (n > p && !peak.compare_exchange_weak(p, n)) {
        }
        std::this_thread::sleep_for(milliseconds(2));
      }
    });
    std::vector<std::shared_ptr<grpc::Channel>> channels = {ChannelTo(*server),
                                                            ChannelTo(*server)};
    std::atomic<int> failed{0};
    std::vector<std::thread> callers;
    for (auto& channel : channels) {
      for (int t = 0; t < 6; ++t) {
        callers.emplace_back([&failed, channel] {
          auto stub = ShmProbe::NewStub(channel);
          for (int i = 0; i < 3; ++i) {
            grpc::ClientContext context;
            ProbeRequest request;
            request.set_wait_for_cancel_ms(30);
            ProbeResponse response;
            if (!stub->Call(&context, request, &response).ok()) ++failed;
          }
        });
      }
    }
    for (auto& c : callers) c.join();
    EXPECT_EQ(failed.load(), 0);
    // A third client is refused at the handshake, with the reason.
    auto third = ChannelTo(*server);
    grpc::ClientContext context;
    ProbeResponse response;
    const grpc::Status refused =
        ShmProbe::NewStub(third)->Call(&context, ProbeRequest(), &response);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(refused.error_message().find(
                  "shmrpc server is at its connection limit (2)"),
              std::string::npos)
        << refused.error_message();
    done.store(true);
    sampler.join();
    EXPECT_GE(peak.load(), 2);
    EXPECT_LE(peak.load(), 2 * per_connection);
    EXPECT_EQ(server->stats().live_connections, 2);
    EXPECT_GE(server->stats().refused_connections, 1u);
    server->Shutdown();
  }
}

// A client that sends calls and never reads the answers nor returns their
// chunks holds its own connection's threads only until each call's deadline
// (not a fixed timeout), and other clients are served meanwhile.
TEST_F(ServerTest, ClientThatStopsReadingCostsBoundedTimeOnItsOwnConnection) {
  auto server = ServerBuilder()
                    .AddListeningAddress("[::]:40007")
                    .RegisterService(&probe_)
                    .BuildAndStart();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<RawClient>> stuck =
      RawClient::ConnectToPath(server->endpoints().at(0));
  ASSERT_TRUE(stuck.ok()) << stuck.status();
  const uint32_t method = (*stuck)->MethodId("/shmrpc.testing.Probe/Call");
  ASSERT_NE(method, 0u);
  // Each answer needs a chunk of 64 KiB or more: the server's segment has 43
  // of those, so most of these calls wait for chunks that never come back.
  ProbeRequest big;
  big.set_response_bytes(60000);
  const std::string request = big.SerializeAsString();
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = std::chrono::system_clock::now() + milliseconds(500);
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE((*stuck)->Start(method, request, deadline).ok()) << i;
  }
  // Another client is served at once.
  auto stub = ShmProbe::NewStub(ChannelTo(*server));
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext context;
    ProbeRequest small;
    small.set_payload("x");
    ProbeResponse response;
    const auto call_start = std::chrono::steady_clock::now();
    ASSERT_TRUE(stub->Call(&context, small, &response).ok());
    EXPECT_LT(std::chrono::steady_clock::now() - call_start, milliseconds(500));
  }
  // The stuck client's calls held its threads until their deadline, and not
  // the 5 s a response may wait without one.
  int in_flight = server->stats().calls_in_flight;
  while (in_flight > 0 &&
         std::chrono::steady_clock::now() - start < milliseconds(4000)) {
    std::this_thread::sleep_for(milliseconds(10));
    in_flight = server->stats().calls_in_flight;
  }
  const auto drained = std::chrono::steady_clock::now() - start;
  std::printf("stuck client's calls drained after %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(drained).count()));
  EXPECT_EQ(in_flight, 0);
  EXPECT_LT(drained, milliseconds(2500));
  EXPECT_LE(server->stats().threads, 2 * 16);  // two connections
  // Without a deadline, a response waits for the client at most 5 s.
  const auto later = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE((*stuck)
                    ->Start(method, request,
                            std::chrono::system_clock::time_point::max())
                    .ok());
  }
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_GT(server->stats().calls_in_flight, 0);
  while (server->stats().calls_in_flight > 0 &&
         std::chrono::steady_clock::now() - later < milliseconds(10000)) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(server->stats().calls_in_flight, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - later, milliseconds(7000));
  stuck->reset();
  server->Shutdown();
}

}  // namespace
}  // namespace shmrpc
