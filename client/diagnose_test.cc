// DiagnoseTarget tells every reason apart, against servers in this process.
#include "shmrpc/client/diagnose.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "shmrpc/client/credentials.h"
#include "shmrpc/server/server.h"
#include "shmrpc/transport/unix_socket.h"
#include "tests/rpc/echo_service.h"
#include "tests/util/temp_dir.h"

namespace shmrpc {
namespace {

constexpr char kEcho[] = "/shmrpc.testing.EchoService/Echo";

class DiagnoseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
    ::unsetenv("XDG_RUNTIME_DIR");
    ::unsetenv(kShmModeEnvVar);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    ::unsetenv("SHMRPC_DIR");
  }

  // A server for `address` (with `options`), in the current SHMRPC_DIR.
  void Start(const std::string& address,
             const ServerOptions& options = ServerOptions()) {
    std::string error;
    server_ = ServerBuilder()
                  .AddListeningAddress(address)
                  .RegisterService(&echo_)
                  .SetOptions(options)
                  .BuildAndStart(&error);
    ASSERT_NE(server_, nullptr) << error;
  }

  testing::TempDir dir_;
  testing::EchoServiceImpl echo_;
  std::unique_ptr<Server> server_;
};

TEST_F(DiagnoseTest, SharedMemory) {
  Start("127.0.0.1:40201");
  DiagnoseOptions diagnose;
  diagnose.method = kEcho;
  const PathDiagnosis d = DiagnoseTarget("localhost:40201", {}, diagnose);
  EXPECT_EQ(d.path, ChannelPath::kSharedMemory);
  EXPECT_EQ(d.reason, PathReason::kSharedMemory) << d.message;
  EXPECT_EQ(d.endpoint, dir_.File("endpoints/port-40201.sock"));
  EXPECT_EQ(d.server_pid, ::getpid());
  EXPECT_EQ(d.server_uid, ::geteuid());
  EXPECT_TRUE(d.status.ok());
  EXPECT_NE(std::find(d.methods.begin(), d.methods.end(), kEcho),
            d.methods.end());
  EXPECT_NE(d.message.find("shared memory via " + d.endpoint),
            std::string::npos)
      << d.message;
  EXPECT_STREQ(PathReasonName(d.reason), "shared-memory");
  // Also with the endpoint given.
  ShmChannelOptions explicit_path;
  explicit_path.endpoint_path = d.endpoint;
  EXPECT_EQ(DiagnoseTarget("ignored:1", explicit_path).reason,
            PathReason::kSharedMemory);
}

TEST_F(DiagnoseTest, Disabled) {
  ShmChannelOptions off;
  off.mode = ShmMode::kDisabled;
  EXPECT_EQ(DiagnoseTarget("localhost:1", off).reason, PathReason::kDisabled);
  ::setenv(kShmModeEnvVar, "off", 1);
  const PathDiagnosis d = DiagnoseTarget("localhost:1");
  ::unsetenv(kShmModeEnvVar);
  EXPECT_EQ(d.reason, PathReason::kDisabled);
  EXPECT_NE(d.message.find("SHMRPC_MODE=off"), std::string::npos) << d.message;
  EXPECT_EQ(d.path, ChannelPath::kGrpc);
}

TEST_F(DiagnoseTest, BadTarget) {
  const PathDiagnosis d = DiagnoseTarget("localhost:99999");
  EXPECT_EQ(d.reason, PathReason::kBadTarget) << d.message;
  EXPECT_NE(d.message.find("bad port"), std::string::npos) << d.message;
}

TEST_F(DiagnoseTest, NotOnThisHost) {
  // TEST-NET-1: never an address of this machine, and no name to resolve.
  const PathDiagnosis d = DiagnoseTarget("192.0.2.1:50051");
  EXPECT_EQ(d.reason, PathReason::kNotOnThisHost) << d.message;
  EXPECT_EQ(d.path, ChannelPath::kGrpc);
  EXPECT_TRUE(d.endpoint.empty());
  EXPECT_NE(d.message.find("'192.0.2.1'"), std::string::npos) << d.message;
}

TEST_F(DiagnoseTest, NoEndpoint) {
  // The directory does not even exist yet.
  PathDiagnosis d = DiagnoseTarget("unix:" + dir_.File("nothing.sock"));
  EXPECT_EQ(d.reason, PathReason::kNoEndpoint) << d.message;
  EXPECT_NE(d.message.find("the directory does not exist"), std::string::npos)
      << d.message;
  // It does, without the endpoint.
  Start("127.0.0.1:40202");
  d = DiagnoseTarget("unix:" + dir_.File("nothing.sock"));
  EXPECT_EQ(d.reason, PathReason::kNoEndpoint) << d.message;
  EXPECT_EQ(d.message.find("does not exist"), std::string::npos) << d.message;
  EXPECT_NE(d.message.find(d.endpoint), std::string::npos) << d.message;
}

TEST_F(DiagnoseTest, EndpointDirDiffers) {
  Start("127.0.0.1:40203");  // in <tmp>/endpoints
  ::setenv("SHMRPC_DIR", dir_.File("elsewhere").c_str(), 1);
  // The server's directory is one this process could have derived.
  ::setenv("XDG_RUNTIME_DIR", dir_.path().c_str(), 1);
  ASSERT_EQ(
      ::rename(dir_.File("endpoints").c_str(), dir_.File("shmrpc").c_str()), 0);
  const PathDiagnosis d = DiagnoseTarget("localhost:40203");
  EXPECT_EQ(d.reason, PathReason::kEndpointDirDiffers) << d.message;
  EXPECT_EQ(d.endpoint, dir_.File("elsewhere/port-40203.sock"));
  EXPECT_EQ(d.found_endpoint, dir_.File("shmrpc/port-40203.sock"));
  EXPECT_NE(d.message.find("SHMRPC_DIR=" + dir_.File("shmrpc")),
            std::string::npos)
      << d.message;
  ::unsetenv("XDG_RUNTIME_DIR");
  // Or one named by the caller.
  DiagnoseOptions diagnose;
  diagnose.other_directories = {dir_.File("shmrpc")};
  EXPECT_EQ(DiagnoseTarget("localhost:40203", {}, diagnose).reason,
            PathReason::kEndpointDirDiffers);
  EXPECT_EQ(DiagnoseTarget("localhost:40203").reason, PathReason::kNoEndpoint);
  ASSERT_EQ(
      ::rename(dir_.File("shmrpc").c_str(), dir_.File("endpoints").c_str()), 0);
}

TEST_F(DiagnoseTest, StaleEndpoint) {
  ASSERT_EQ(::mkdir(dir_.File("endpoints").c_str(), 0700), 0);
  const std::string path = dir_.File("endpoints/port-40204.sock");
  {
    // A socket file whose listener is gone.
    absl::StatusOr<transport::UniqueFd> fd =
        transport::ListenSeqpacket(path, 1, 0600);
    ASSERT_TRUE(fd.ok()) << fd.status();
  }
  const PathDiagnosis d = DiagnoseTarget("localhost:40204");
  EXPECT_EQ(d.reason, PathReason::kStaleEndpoint) << d.message;
  EXPECT_NE(d.message.find("nobody listens"), std::string::npos) << d.message;
}

TEST_F(DiagnoseTest, HandshakeRefusedAtTheConnectionLimit) {
  ServerOptions options;
  options.max_connections = 1;
  Start("127.0.0.1:40205", options);
  ShmChannelOptions required;
  required.mode = ShmMode::kRequired;
  auto holder = CreateChannel("localhost:40205",
                              grpc::InsecureChannelCredentials(), required);
  ASSERT_EQ(ConnectSharedMemory(holder), ChannelPath::kSharedMemory);
  const PathDiagnosis d = DiagnoseTarget("localhost:40205");
  EXPECT_EQ(d.reason, PathReason::kHandshakeRefused) << d.message;
  EXPECT_NE(d.message.find("connection limit (1)"), std::string::npos)
      << d.message;
  EXPECT_TRUE(absl::IsResourceExhausted(d.status)) << d.status;
}

TEST_F(DiagnoseTest, HandshakeRefusedByTheAllowList) {
  ServerOptions options;
  options.handshake.allow.uids = {::geteuid() + 1};
  Start("127.0.0.1:40206", options);
  PathDiagnosis d = DiagnoseTarget("localhost:40206");
  EXPECT_EQ(d.reason, PathReason::kHandshakeRefused) << d.message;
  EXPECT_NE(d.message.find("not on the server's allow-list"), std::string::npos)
      << d.message;
  // This client's own allow-list refusing the server.
  server_->Shutdown();
  Start("127.0.0.1:40207");
  ShmChannelOptions picky;
  picky.handshake.allow.uids = {::geteuid() + 1};
  d = DiagnoseTarget("localhost:40207", picky);
  EXPECT_EQ(d.reason, PathReason::kHandshakeRefused) << d.message;
  EXPECT_NE(d.message.find("this client refused"), std::string::npos)
      << d.message;
}

TEST_F(DiagnoseTest, MethodNotServed) {
  Start("127.0.0.1:40208");
  DiagnoseOptions diagnose;
  diagnose.method = "/other.Service/Method";
  const PathDiagnosis d = DiagnoseTarget("localhost:40208", {}, diagnose);
  EXPECT_EQ(d.reason, PathReason::kMethodNotServed) << d.message;
  EXPECT_EQ(d.path, ChannelPath::kGrpc);
  EXPECT_EQ(d.server_pid, ::getpid());
  EXPECT_NE(d.message.find("does not serve /other.Service/Method"),
            std::string::npos)
      << d.message;
  EXPECT_NE(d.message.find(kEcho), std::string::npos) << d.message;
}

}  // namespace
}  // namespace shmrpc
