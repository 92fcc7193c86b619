#include "shmrpc/rpc/endpoint.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::rpc {
namespace {

Address Target(const std::string& t) {
  absl::StatusOr<Address> a = ParseTarget(t);
  EXPECT_TRUE(a.ok()) << t << ": " << a.status();
  return a.ok() ? *a : Address{};
}

TEST(EndpointTest, ParsesGrpcTargets) {
  EXPECT_EQ(Target("localhost:50051").host, "localhost");
  EXPECT_EQ(Target("localhost:50051").port, 50051);
  EXPECT_EQ(Target("127.0.0.1:1").host, "127.0.0.1");
  EXPECT_EQ(Target("[::1]:50051").host, "::1");
  EXPECT_EQ(Target("[::1]:50051").port, 50051);
  EXPECT_EQ(Target("dns:///example.com:8080").host, "example.com");
  EXPECT_EQ(Target("dns://8.8.8.8/example.com:8080").port, 8080);
  EXPECT_EQ(Target("dns:example.com").port, 443);
  EXPECT_EQ(Target("ipv4:10.0.0.1:99").host, "10.0.0.1");
  EXPECT_EQ(Target("ipv6:[::1]:99").host, "::1");
  EXPECT_EQ(Target("example.com").port, 443);
  Address u = Target("unix:///run/app.sock");
  EXPECT_EQ(u.kind, Address::Kind::kUnix);
  EXPECT_EQ(u.path, "/run/app.sock");
  EXPECT_EQ(Target("unix:/run//./app.sock").path, "/run/app.sock");
  EXPECT_EQ(Target("unix-abstract:name").kind, Address::Kind::kUnixAbstract);
  EXPECT_FALSE(ParseTarget("ipv4:1.2.3.4:1,5.6.7.8:2").ok());
  EXPECT_FALSE(ParseTarget("xds:///service").ok());
  EXPECT_FALSE(ParseTarget("localhost:99999").ok());
  EXPECT_FALSE(ParseTarget("[::1").ok());
  EXPECT_FALSE(ParseTarget(":50051").ok());
}

TEST(EndpointTest, ParsesListeningAddresses) {
  auto a = ParseListeningAddress("[::]:50051");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, 50051);
  EXPECT_TRUE(ParseListeningAddress("0.0.0.0:1").ok());
  EXPECT_TRUE(ParseListeningAddress("unix:/tmp/x.sock").ok());
  EXPECT_FALSE(ParseListeningAddress("localhost").ok());  // no port
}

TEST(EndpointTest, RecognizesThisHost) {
  EXPECT_TRUE(IsLocalHost("localhost"));
  EXPECT_TRUE(IsLocalHost("LOCALHOST"));
  EXPECT_TRUE(IsLocalHost("127.0.0.1"));
  EXPECT_TRUE(IsLocalHost("127.3.4.5"));
  EXPECT_TRUE(IsLocalHost("::1"));
  EXPECT_TRUE(IsLocalHost("0.0.0.0"));
  EXPECT_TRUE(IsLocalHost("::ffff:127.0.0.1"));
  char name[256];
  ASSERT_EQ(::gethostname(name, sizeof(name)), 0);
  EXPECT_TRUE(IsLocalHost(name)) << name;    // resolves to this machine
  EXPECT_FALSE(IsLocalHost("192.0.2.1"));    // TEST-NET-1, never local
  EXPECT_FALSE(IsLocalHost("2001:db8::1"));  // documentation prefix
  EXPECT_FALSE(IsLocalHost("no-such-host.invalid"));
}

TEST(EndpointTest, ClientAndServerAgreeOnThePath) {
  testing::TempDir dir;
  ASSERT_EQ(::setenv("SHMRPC_DIR", dir.File("ep").c_str(), 1), 0);
  auto server = ServerEndpoint("[::]:50051");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(*server, dir.File("ep") + "/port-50051.sock");
  for (const char* t : {"localhost:50051", "127.0.0.1:50051", "[::1]:50051",
                        "dns:///localhost:50051", "ipv4:127.0.0.1:50051"}) {
    auto client = ClientEndpoint(t);
    ASSERT_TRUE(client.ok()) << t << ": " << client.status();
    EXPECT_EQ(*client, *server) << t;
  }
  auto unix_server = ServerEndpoint("unix:/run/x.sock");
  auto unix_client = ClientEndpoint("unix:///run/x.sock");
  ASSERT_TRUE(unix_server.ok() && unix_client.ok());
  EXPECT_EQ(*unix_server, *unix_client);
  EXPECT_NE(*unix_server, *ServerEndpoint("unix:/run/y.sock"));
  // Remote targets have no endpoint.
  EXPECT_TRUE(absl::IsNotFound(ClientEndpoint("192.0.2.1:50051").status()));
  ::unsetenv("SHMRPC_DIR");
}

TEST(EndpointTest, DirectoryIsPrivate) {
  testing::TempDir dir;
  const std::string ep = dir.File("ep");
  ASSERT_EQ(::setenv("SHMRPC_DIR", ep.c_str(), 1), 0);
  EXPECT_TRUE(absl::IsNotFound(EndpointDirectory(false).status()));
  ASSERT_TRUE(EndpointDirectory(true).ok());
  struct stat st;
  ASSERT_EQ(::stat(ep.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // Opened up to others: refused.
  ASSERT_EQ(::chmod(ep.c_str(), 0755), 0);
  EXPECT_TRUE(absl::IsPermissionDenied(EndpointDirectory(false).status()));
  // A symlink to a private directory: refused (lstat).
  ASSERT_EQ(::chmod(ep.c_str(), 0700), 0);
  const std::string link = dir.File("link");
  ASSERT_EQ(::symlink(ep.c_str(), link.c_str()), 0);
  ASSERT_EQ(::setenv("SHMRPC_DIR", link.c_str(), 1), 0);
  EXPECT_TRUE(absl::IsPermissionDenied(EndpointDirectory(false).status()));
  ::unsetenv("SHMRPC_DIR");
}

TEST(EndpointTest, NamesThePeerAsGrpcsPeerStringsDo) {
  EXPECT_EQ(PeerName(1234, 1000), "shmrpc:pid=1234,uid=1000");
  EXPECT_EQ(PeerName(1, 0), "shmrpc:pid=1,uid=0");
}

}  // namespace
}  // namespace shmrpc::rpc
