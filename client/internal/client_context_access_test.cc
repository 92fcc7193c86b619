// Checks every accessor of client_context_access.h against what gRPC's own
// ClientContext methods then report, so that a gRPC whose private layout
// differs fails here (the file also refuses to compile against another gRPC
// version).
#include "shmrpc/client/internal/client_context_access.h"

#include <grpc/support/alloc.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace shmrpc::internal {
namespace {

std::string Str(const grpc::string_ref& r) {
  return std::string(r.data(), r.size());
}

TEST(ClientContextAccessTest, SeesMetadataTheApplicationAdded) {
  grpc::ClientContext context;
  EXPECT_TRUE(SentMetadata(context).empty());
  context.AddMetadata("x-a", "1");
  context.AddMetadata("x-b-bin", std::string("\0\1", 2));
  const auto& md = SentMetadata(context);
  ASSERT_EQ(md.size(), 2u);
  EXPECT_EQ(md.find("x-a")->second, "1");
  EXPECT_EQ(md.find("x-b-bin")->second, std::string("\0\1", 2));
}

TEST(ClientContextAccessTest, SeesTryCancel) {
  grpc::ClientContext context;
  EXPECT_FALSE(CancelRequested(context));
  std::thread([&] { context.TryCancel(); }).join();
  EXPECT_TRUE(CancelRequested(context));
}

TEST(ClientContextAccessTest, DeliversServerMetadata) {
  grpc::ClientContext context;
  const std::string binary("\0\xff\x01", 3);
  rpc::DecodedMetadata initial = {{"k1", "v1"}, {"k1", "v2"}, {"k2", ""}};
  rpc::DecodedMetadata trailing = {{"t-bin", binary}};
  SetServerInitialMetadata(context, initial);
  SetServerTrailingMetadata(context, trailing);
  const auto& got = context.GetServerInitialMetadata();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.count("k1"), 2u);
  EXPECT_EQ(Str(got.find("k2")->second), "");
  const auto& tr = context.GetServerTrailingMetadata();
  ASSERT_EQ(tr.size(), 1u);
  EXPECT_EQ(Str(tr.find("t-bin")->second), binary);
}

TEST(ClientContextAccessTest, DeliveredMetadataOutlivesItsSource) {
  grpc::ClientContext context;
  {
    std::string key = "x-temporary";
    std::string value(100, 'v');
    SetServerInitialMetadata(context, rpc::DecodedMetadata{{key, value}});
    key.assign(key.size(), '?');
    value.assign(value.size(), '?');
  }
  const auto& got = context.GetServerInitialMetadata();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Str(got.begin()->first), "x-temporary");
  EXPECT_EQ(Str(got.begin()->second), std::string(100, 'v'));
}

TEST(ClientContextAccessTest, EmptyMetadataAndRepeatedDelivery) {
  grpc::ClientContext context;
  SetServerInitialMetadata(context, {});
  EXPECT_TRUE(context.GetServerInitialMetadata().empty());
  // Delivering again replaces (and frees) what was there.
  SetServerTrailingMetadata(context, rpc::DecodedMetadata{{"a", "1"}});
  SetServerTrailingMetadata(context, rpc::DecodedMetadata{{"b", "2"}});
  const auto& tr = context.GetServerTrailingMetadata();
  ASSERT_EQ(tr.size(), 1u);
  EXPECT_EQ(Str(tr.begin()->first), "b");
}

transport::PeerCredentials Creds(pid_t pid, uid_t uid) {
  transport::PeerCredentials c;
  c.pid = pid;
  c.uid = uid;
  return c;
}

TEST(ClientContextAccessTest, NamesThePeerOfACallWithoutACoreCall) {
  grpc::ClientContext context;
  EXPECT_EQ(context.peer(), "");
  {
    ServerPeer peer(Creds(1234, 1000));
    EXPECT_EQ(peer.name(), "shmrpc:pid=1234,uid=1000");
    NamePeerOnce(context, peer);
    // Named once: a second server does not rename it.
    ServerPeer other(Creds(99, 98));
    NamePeerOnce(context, other);
  }
  // The context holds its own reference: the name outlives the ServerPeer.
  EXPECT_EQ(context.peer(), "shmrpc:pid=1234,uid=1000");
  // Cancelling afterwards reaches the shared object and changes nothing.
  context.TryCancel();
  EXPECT_EQ(context.peer(), "shmrpc:pid=1234,uid=1000");
}

TEST(ClientContextAccessTest, ReplacesACoreCallAndHandsItBack) {
  ServerPeer first(Creds(7, 8));
  ServerPeer second(Creds(70, 80));
  grpc::ClientContext context;
  // No core call yet: nothing handed back.
  EXPECT_EQ(ReplaceCallWithPeer(context, first), nullptr);
  EXPECT_EQ(context.peer(), "shmrpc:pid=7,uid=8");
  grpc_call* former = ReplaceCallWithPeer(context, second);
  ASSERT_NE(former, nullptr);
  char* name = grpc_call_get_peer(former);
  EXPECT_STREQ(name, "shmrpc:pid=7,uid=8");
  gpr_free(name);
  grpc_call_unref(former);
  EXPECT_EQ(context.peer(), "shmrpc:pid=70,uid=80");
}

// Many threads naming many contexts from one ServerPeer (the shared objects'
// reference counts), and contexts that outlive it.
TEST(ClientContextAccessTest, OneServerPeerNamesContextsOnManyThreads) {
  auto peer = std::make_unique<ServerPeer>(Creds(4321, 0));
  constexpr int kThreads = 8;
  constexpr int kEach = 200;
  std::vector<std::vector<std::unique_ptr<grpc::ClientContext>>> kept(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto context = std::make_unique<grpc::ClientContext>();
        NamePeerOnce(*context, *peer);
        if (context->peer() != "shmrpc:pid=4321,uid=0") {
          ADD_FAILURE() << context->peer();
        }
        if (i % 2 == 0) kept[t].push_back(std::move(context));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  peer.reset();
  for (auto& contexts : kept) {
    for (auto& context : contexts) {
      EXPECT_EQ(context->peer(), "shmrpc:pid=4321,uid=0");
    }
  }
}

}  // namespace
}  // namespace shmrpc::internal
