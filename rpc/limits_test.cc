#include "shmrpc/rpc/limits.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shmrpc::rpc {
namespace {

TEST(LimitsTest, ReceivedMessageUsesGrpcWording) {
  EXPECT_TRUE(
      CheckReceivedMessageSize(4 << 20, kDefaultMaxReceiveMessageSize).ok());
  const absl::Status s =
      CheckReceivedMessageSize((4 << 20) + 1, kDefaultMaxReceiveMessageSize);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "Received message larger than max (4194305 vs. 4194304)");
}

TEST(LimitsTest, NegativeMeansUnlimited) {
  EXPECT_TRUE(CheckReceivedMessageSize(size_t{1} << 40, -1).ok());
  EXPECT_TRUE(CheckSentMessageSize(size_t{1} << 40, -1).ok());
  EXPECT_TRUE(CheckReceivedMetadataSize(size_t{1} << 40, -1, "x").ok());
}

TEST(LimitsTest, SizesAboveIntMaxAreRefusedNotWrapped) {
  const absl::Status s = CheckReceivedMessageSize(size_t{3} << 30, 1 << 30);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "Received message larger than max (3221225472 vs. 1073741824)");
  EXPECT_EQ(CheckReceivedMessageSize(size_t{3} << 30, 0x7fffffff).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(LimitsTest, SentMessage) {
  EXPECT_TRUE(CheckSentMessageSize(10, 10).ok());
  const absl::Status s = CheckSentMessageSize(11, 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "Sent message larger than max (11 vs. 10)");
}

TEST(LimitsTest, MetadataSizeCountsHpackOverhead) {
  const std::vector<MetadataEntry> md = {{"a", "bc"}, {"key-bin", ""}};
  EXPECT_EQ(MetadataSize(md), (1 + 2 + 32) + (7 + 0 + 32));
  EXPECT_TRUE(CheckReceivedMetadataSize(74, 74, "initial metadata").ok());
  const absl::Status s = CheckReceivedMetadataSize(75, 74, "initial metadata");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "received initial metadata size exceeds limit (75 vs. 74)");
}

}  // namespace
}  // namespace shmrpc::rpc
