#include "shmrpc/server/server.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "shmrpc/client/credentials.h"
#include "tests/rpc/echo_service.h"
#include "tests/util/temp_dir.h"

namespace shmrpc {
namespace {

using std::chrono::milliseconds;
using testing::EchoRequest;
using testing::EchoResponse;
using testing::EchoServiceImpl;
using testing::ShmEchoService;

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

}  // namespace
}  // namespace shmrpc
