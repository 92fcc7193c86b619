// Checks every accessor of client_context_access.h against what gRPC's own
// ClientContext methods then report, so that a gRPC whose private layout
// differs fails here (the file also refuses to compile against another gRPC
// version).
#include "shmrpc/client/internal/client_context_access.h"

#include <grpcpp/client_context.h>

#include <string>
#include <thread>

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

}  // namespace
}  // namespace shmrpc::internal
