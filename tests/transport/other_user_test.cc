// The server's allow-list refuses a process of another user. Runs outside
// Bazel's sandbox (tag no-sandbox): inside it, the test runs in a user
// namespace where no other uid exists.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/transport/echo_peer.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;

std::string g_peer;  // path of transport_peer, from argv

// A process of another user is refused by the server's allow-list (the
// default: same uid only), even when file permissions would let it connect.
TEST(OtherUserTest, RefusesOtherUser) {
  TempDir dir;
  const std::string path = dir.File("peer.sock");
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to run a peer under another uid";
  }
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);
  transport::ListenerOptions options;
  options.socket_mode = 0666;
  EchoServer server(path, options);
  auto other = std::make_unique<Subprocess>(
      std::vector<std::string>{g_peer, "connect-as", "65534", path});
  EXPECT_EQ(other->ExitCode(milliseconds(10000)),
            static_cast<int>(absl::StatusCode::kPermissionDenied))
      << other->output();
  const std::string& said = other->ReadToEnd(milliseconds(5000));
  EXPECT_NE(said.find("PERMISSION_DENIED"), std::string::npos) << said;
  EXPECT_NE(said.find("allow-list"), std::string::npos) << said;
  // The listener counts the refusal right after sending it.
  for (int i = 0; i < 5000 && server.listener().stats().refused == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(server.listener().stats().accepted, 0u);
  EXPECT_EQ(server.listener().stats().refused, 1u);
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH_TO_TRANSPORT_PEER\n", argv[0]);
    return 2;
  }
  shmrpc::testing::g_peer = argv[1];
  return RUN_ALL_TESTS();
}
