#include "shmrpc/rpc/frame.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace shmrpc::rpc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Builds a frame: the message, then the extras.
std::vector<uint8_t> Build(uint16_t flags, const std::string& message,
                           const FrameExtras& extras) {
  std::vector<uint8_t> out(message.size() + ExtrasSize(flags, extras));
  std::memcpy(out.data(), message.data(), message.size());
  EncodeExtras(flags, extras, out.data() + message.size());
  return out;
}

std::string Str(absl::Span<const uint8_t> s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

TEST(FrameTest, MessageOnlyHasNoOverhead) {
  FrameExtras none;
  EXPECT_EQ(ExtrasSize(kHasMessage, none), 0u);
  auto bytes = Build(kHasMessage, "hello", none);
  auto f = DecodeFrame(kHasMessage, bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(Str(f->message), "hello");
  EXPECT_TRUE(f->metadata.empty());
  EXPECT_EQ(f->deadline_unix_ns, 0);
}

TEST(FrameTest, CallFrameRoundTrip) {
  const std::string binary("\0\1\2", 3);
  const MetadataEntry md[] = {{"x-user", "alice"}, {"x-bin", binary}};
  FrameExtras x;
  x.deadline_unix_ns = 1234567890123456789;
  x.metadata = md;
  const uint16_t flags = kHasMessage | kHasMetadata | kHasDeadline | kHalfClose;
  auto bytes = Build(flags, "payload", x);
  EXPECT_EQ(bytes.size(), 7 + ExtrasSize(flags, x));
  auto f = DecodeFrame(flags, bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(Str(f->message), "payload");
  EXPECT_EQ(f->deadline_unix_ns, 1234567890123456789);
  EXPECT_THAT(f->metadata,
              ElementsAre(Pair("x-user", "alice"),
                          Pair("x-bin", absl::string_view("\0\1\2", 3))));
  // The message starts at offset 0 of the payload.
  EXPECT_EQ(f->message.data(), bytes.data());
}

TEST(FrameTest, ResponseWithStatusAndBothMetadataSets) {
  const MetadataEntry initial[] = {{"a", "1"}};
  const MetadataEntry trailing[] = {{"t1", "x"}, {"t2", ""}};
  FrameExtras x;
  x.metadata = initial;
  x.status_message = "bad\tthing\r\n\xe2\x82\xac \xf0\x9f\x98\x80";
  const std::string details("\x08\x02", 2);
  x.status_details = details;
  x.trailing = trailing;
  const uint16_t flags = kHasMessage | kHasMetadata | kHasStatus;
  auto bytes = Build(flags, "", x);
  auto f = DecodeFrame(flags, bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->message.empty());
  EXPECT_EQ(f->status_message, x.status_message);
  EXPECT_EQ(f->status_details, x.status_details);
  EXPECT_THAT(f->metadata, ElementsAre(Pair("a", "1")));
  EXPECT_THAT(f->trailing, ElementsAre(Pair("t1", "x"), Pair("t2", "")));
}

TEST(FrameTest, RejectsUnknownFlagsAndStrayBytes) {
  auto bytes = Build(kHasMessage, "m", {});
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrame(1 << 9, bytes).status()));
  // Bytes but no message flag.
  auto s = DecodeFrame(0, bytes);
  EXPECT_TRUE(absl::IsDataLoss(s.status()));
  EXPECT_THAT(s.status().message(), HasSubstr("extra bytes"));
}

TEST(FrameTest, RejectsLengthsThatDoNotAddUp) {
  const MetadataEntry md[] = {{"k", "v"}};
  FrameExtras x;
  x.metadata = md;
  const uint16_t flags = kHasMessage | kHasMetadata;
  auto good = Build(flags, "msg", x);
  // Every truncation is rejected or decodes within bounds; none crashes.
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + n);
    auto f = DecodeFrame(flags, cut);
    if (f.ok()) {
      EXPECT_LE(f->message.size(), n);
    }
  }
  // A metadata length larger than the frame.
  auto bad = good;
  uint32_t huge = 0xfffffff0u;
  std::memcpy(bad.data() + bad.size() - 4, &huge, 4);
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrame(flags, bad).status()));
  // An entry whose key length runs past the section.
  auto bad_entry = good;
  uint32_t key_len = 1000;
  std::memcpy(bad_entry.data() + 3, &key_len, 4);
  auto f = DecodeFrame(flags, bad_entry);
  EXPECT_TRUE(absl::IsDataLoss(f.status())) << f.status();
  // Too short for the footer it announces.
  std::vector<uint8_t> tiny = {1, 2};
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrame(kHasStatus, tiny).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrame(kHasDeadline, tiny).status()));
}

TEST(FrameTest, LimitsMetadataEntries) {
  std::vector<MetadataEntry> many(kMaxMetadataEntries + 1, {"k", "v"});
  FrameExtras x;
  x.metadata = many;
  auto bytes = Build(kHasMetadata, "", x);
  EXPECT_TRUE(
      absl::IsResourceExhausted(DecodeFrame(kHasMetadata, bytes).status()));
  many.pop_back();
  x.metadata = many;
  bytes = Build(kHasMetadata, "", x);
  auto f = DecodeFrame(kHasMetadata, bytes);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->metadata.size(), kMaxMetadataEntries);
}

TEST(FrameTest, MethodTableRoundTrip) {
  std::vector<std::string> names = {"/a.B/C", "/a.B/D", ""};
  std::string bytes = EncodeMethodTable(names);
  auto decoded = DecodeMethodTable(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, names);
  bytes.pop_back();
  EXPECT_FALSE(
      DecodeMethodTable(
          {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()})
          .ok());
  std::string huge_count("\xff\xff\xff\xff", 4);
  EXPECT_FALSE(
      DecodeMethodTable({reinterpret_cast<const uint8_t*>(huge_count.data()),
                         huge_count.size()})
          .ok());
}

}  // namespace
}  // namespace shmrpc::rpc
