// The shmrpc server's connection cap, from other processes' point of view:
// clients beyond ServerOptions::max_connections are refused at the handshake
// and fall back to gRPC, saying why; the clients already connected keep
// working; a slot that frees up is taken by the next client.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/probe_service.h"
#include "tests/rpc/probe_testing.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;

class ConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
    ::unsetenv(kShmModeEnvVar);
  }
  void TearDown() override { ::unsetenv("SHMRPC_DIR"); }

  TempDir dir_;
};

std::shared_ptr<grpc::Channel> Channel(const std::string& target,
                                       ShmMode mode = ShmMode::kAuto) {
  ShmChannelOptions options;
  options.mode = mode;
  options.initial_backoff = milliseconds(50);
  options.max_backoff = milliseconds(100);
  return grpc::CreateChannel(
      target,
      ShmChannelCredentials(grpc::InsecureChannelCredentials(), options));
}

TEST_F(ConnectionsTest, ClientsBeyondTheCapFallBackToGrpc) {
  ProbeServer server({"--max-connections=2"});
  ASSERT_NE(server.port(), 0);
  auto first = Channel(server.target(), ShmMode::kRequired);
  auto second = Channel(server.target(), ShmMode::kRequired);
  ASSERT_TRUE(EchoProbe(first, "1").ok());
  ASSERT_TRUE(EchoProbe(second, "2").ok());
  EXPECT_EQ(GetChannelPath(first), ChannelPath::kSharedMemory);
  EXPECT_EQ(GetChannelPath(second), ChannelPath::kSharedMemory);

  // The third is refused and uses gRPC; the channel says why.
  auto third = Channel(server.target());
  const grpc::Status status = EchoProbe(third, "3");
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(GetChannelPath(third), ChannelPath::kGrpc);
  EXPECT_NE(DescribeChannelPath(third).find(
                "shmrpc server is at its connection limit (2)"),
            std::string::npos)
      << DescribeChannelPath(third);
  // One that requires shared memory fails instead, the way gRPC would.
  auto required = Channel(server.target(), ShmMode::kRequired);
  EXPECT_EQ(EchoProbe(required, "4").error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // The first two keep working over shared memory.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(EchoProbe(first, "again").ok());
    ASSERT_TRUE(EchoProbe(second, "again").ok());
  }
  EXPECT_EQ(GetChannelPath(first), ChannelPath::kSharedMemory);

  // A connection that goes away frees its place for the next client.
  first.reset();
  bool moved = false;
  for (int i = 0; i < 200 && !moved; ++i) {
    moved = EchoProbe(required, "5").ok() &&
            GetChannelPath(required) == ChannelPath::kSharedMemory;
    if (!moved) std::this_thread::sleep_for(milliseconds(25));
  }
  EXPECT_TRUE(moved) << DescribeChannelPath(required);
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH_TO_PROBE_SERVER\n", argv[0]);
    return 2;
  }
  shmrpc::testing::g_probe_server = argv[1];
  return RUN_ALL_TESTS();
}
