// gRPC's interop cases (interop_cases.h) against interop_server in another
// process, on both shmrpc client paths and on plain gRPC, asserting for each
// call which transport carried it: unary calls over shared memory on the
// shm paths, streaming calls over gRPC (they do not travel over shared
// memory yet), everything over gRPC on the plain channel.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/shmrpc.h"
#include "tests/interop/interop_cases.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::interop {
namespace {

using shmrpc::testing::Subprocess;
using shmrpc::testing::TempDir;

const char* g_server = nullptr;

// The server, shared by every case of the binary: started before the first
// test, killed (and its endpoint directory removed) after the last.
class InteropEnvironment : public ::testing::Environment {
 public:
  static int port() { return port_; }

  void SetUp() override {
    dir_ = std::make_unique<TempDir>();
    ::setenv("SHMRPC_DIR", dir_->File("endpoints").c_str(), 1);
    ::unsetenv(kShmModeEnvVar);
    server_ = std::make_unique<Subprocess>(
        std::vector<std::string>{g_server, "--port=0"});
    std::optional<std::string> port =
        server_->WaitForPrefix("ready ", std::chrono::seconds(20));
    port_ = port ? std::atoi(port->c_str()) : 0;
  }

  void TearDown() override {
    server_.reset();
    ::unsetenv("SHMRPC_DIR");
    dir_.reset();
  }

 private:
  static inline int port_ = 0;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Subprocess> server_;
};

std::string PathName(ClientPath path) {
  switch (path) {
    case ClientPath::kShmCreds:
      return "ShmCreds";
    case ClientPath::kShmStub:
      return "ShmStub";
    case ClientPath::kGrpc:
      return "Grpc";
  }
  return "?";
}

// What the server may report for each call of `name` on `path`: a set of
// acceptable values per call.
std::vector<std::set<std::string>> ExpectedTransports(const std::string& name,
                                                      ClientPath path) {
  const std::string unary = path == ClientPath::kGrpc ? "grpc" : "shm";
  if (name == "empty_unary" || name == "large_unary" ||
      name == "special_status_message") {
    return {{unary}};
  }
  if (name == "custom_metadata" || name == "status_code_and_message") {
    return {{unary}, {"grpc"}};  // a unary call, then a streaming one
  }
  if (name == "unimplemented_method" || name == "unimplemented_service") {
    return {{""}};  // no handler ran
  }
  if (name == "cancel_after_begin" || name == "cancel_after_first_response" ||
      name == "timeout_on_sleeping_server") {
    // Ended by the client: the server's trailers may never arrive.
    return {{"", "grpc"}};
  }
  return {{"grpc"}};
}

class InteropTest
    : public ::testing::TestWithParam<std::tuple<ClientPath, std::string>> {};

TEST_P(InteropTest, Passes) {
  const auto& [path, name] = GetParam();
  const int port = InteropEnvironment::port();
  ASSERT_NE(port, 0) << "interop_server did not start";
  const std::string target = "localhost:" + std::to_string(port);
  std::shared_ptr<grpc::Channel> channel =
      path == ClientPath::kGrpc
          ? grpc::CreateChannel(target, grpc::InsecureChannelCredentials())
          : grpc::CreateChannel(
                target,
                ShmChannelCredentials(grpc::InsecureChannelCredentials()));
  InteropClient client(channel, path);
  const absl::Status status = client.Run(name);
  EXPECT_TRUE(status.ok()) << status;

  const std::vector<std::set<std::string>> expected =
      ExpectedTransports(name, path);
  ASSERT_EQ(client.transports().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(expected[i].count(client.transports()[i]))
        << "call " << i << " reported transport '" << client.transports()[i]
        << "'";
  }
  // A shm channel connects on its first unary call.
  if (path != ClientPath::kGrpc && expected[0].count("shm")) {
    EXPECT_EQ(GetChannelPath(channel), ChannelPath::kSharedMemory)
        << DescribeChannelPath(channel);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllCases, InteropTest,
    ::testing::Combine(::testing::Values(ClientPath::kShmCreds,
                                         ClientPath::kShmStub,
                                         ClientPath::kGrpc),
                       ::testing::ValuesIn(AllCases())),
    [](const ::testing::TestParamInfo<InteropTest::ParamType>& info) {
      return PathName(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
    });

TEST(InteropClientTest, UnknownCaseIsAnError) {
  InteropClient client(
      grpc::CreateChannel("localhost:1", grpc::InsecureChannelCredentials()),
      ClientPath::kGrpc);
  EXPECT_TRUE(absl::IsInvalidArgument(client.Run("no_such_case")));
}

}  // namespace
}  // namespace shmrpc::interop

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: interop_test PATH_TO_interop_server\n");
    return 2;
  }
  shmrpc::interop::g_server = argv[1];
  ::testing::AddGlobalTestEnvironment(
      new shmrpc::interop::InteropEnvironment());  // gtest owns it
  return RUN_ALL_TESTS();
}
