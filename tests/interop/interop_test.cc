// gRPC's interop cases (interop_cases.h) against interop_server in another
// process, on both shmrpc client paths and on plain gRPC, asserting for each
// call which transport carried it: every call over shared memory on both
// shm paths (gRPC's own stub on shmrpc's credentials and the generated
// stub), everything over gRPC on the plain channel.
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
  const std::string streaming = unary;
  if (name == "empty_unary" || name == "large_unary" ||
      name == "special_status_message") {
    return {{unary}};
  }
  if (name == "custom_metadata" || name == "status_code_and_message") {
    return {{unary}, {streaming}};  // a unary call, then a streaming one
  }
  if (name == "unimplemented_method" || name == "unimplemented_service") {
    return {{""}};  // no handler ran
  }
  if (name == "cancel_after_begin" || name == "cancel_after_first_response" ||
      name == "timeout_on_sleeping_server") {
    // Ended by the client: the server's trailers may never arrive.
    return {{"", streaming}};
  }
  return {{streaming}};
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
    // A call that reached the handler over shared memory had a connection (a
  // call whose deadline passed first may never have made one).
  if (path != ClientPath::kGrpc && !client.transports().empty() &&
      client.transports()[0] == "shm") {
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

std::shared_ptr<grpc::Channel> MakeChannel(ClientPath path) {
  const std::string target =
      "localhost:" + std::to_string(InteropEnvironment::port());
  return path == ClientPath::kGrpc
             ? grpc::CreateChannel(target, grpc::InsecureChannelCredentials())
             : grpc::CreateChannel(
                   target,
                   ShmChannelCredentials(grpc::InsecureChannelCredentials()));
}

grpc::Status CallUnary(ClientPath path, grpc::ClientContext* context,
                       const grpc::testing::SimpleRequest& request,
                       grpc::testing::SimpleResponse* response) {
  std::shared_ptr<grpc::Channel> channel = MakeChannel(path);
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(20));
  return path == ClientPath::kShmStub
             ? grpc::testing::ShmTestService::NewStub(channel)->UnaryCall(
                   context, request, response)
             : grpc::testing::TestService::NewStub(channel)->UnaryCall(
                   context, request, response);
}

class InteropEdgeTest : public ::testing::TestWithParam<ClientPath> {};

// A handler that returns OK with a message: gRPC's client sees OK and no
// message (an OK status carries none), on every path.
TEST_P(InteropEdgeTest, OkStatusCarriesNoMessage) {
  ASSERT_NE(InteropEnvironment::port(), 0);
  grpc::testing::SimpleRequest request;
  request.mutable_response_status()->set_code(0);
  request.mutable_response_status()->set_message("fine");
  grpc::ClientContext context;
  grpc::testing::SimpleResponse response;
  const grpc::Status s = CallUnary(GetParam(), &context, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(s.error_message(), "");
  EXPECT_EQ(s.error_details(), "");
}

INSTANTIATE_TEST_SUITE_P(AllPaths, InteropEdgeTest,
                         ::testing::Values(ClientPath::kShmCreds,
                                           ClientPath::kShmStub,
                                           ClientPath::kGrpc),
                         [](const ::testing::TestParamInfo<ClientPath>& info) {
                           return PathName(info.param);
                         });

// Metadata that gRPC's core refuses (it then aborts the process as an API
// misuse, so the plain gRPC path is not run): over shared memory the call
// ends with INTERNAL and gRPC's wording, and nothing is sent.
class IllegalMetadataTest
    : public ::testing::TestWithParam<std::tuple<ClientPath, int>> {};

TEST_P(IllegalMetadataTest, FailsTheCallWithInternal) {
  ASSERT_NE(InteropEnvironment::port(), 0);
  const auto& [path, which] = GetParam();
  struct Entry {
    std::string key, value, wording;
  };
  const Entry entries[] = {
      {"X-Upper", "v", "Illegal header key"},
      {"bad key", "v", "Illegal header key"},
      {":authority", "v", "Illegal header key"},
      {"", "v", "Metadata keys cannot be zero length"},
      {"k", "line\nbreak", "Illegal header value"},
      {"k", "\xc3\xa9", "Illegal header value"},
  };
  const Entry& e = entries[which];
  grpc::ClientContext context;
  context.AddMetadata(e.key, e.value);
  grpc::testing::SimpleResponse response;
  const grpc::Status s =
      CallUnary(path, &context, grpc::testing::SimpleRequest(), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL) << s.error_message();
  EXPECT_NE(s.error_message().find(e.wording), std::string::npos)
      << s.error_message();
}

INSTANTIATE_TEST_SUITE_P(
    ShmPaths, IllegalMetadataTest,
    ::testing::Combine(::testing::Values(ClientPath::kShmCreds,
                                         ClientPath::kShmStub),
                       ::testing::Range(0, 6)));

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
