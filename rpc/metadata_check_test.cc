#include "shmrpc/rpc/metadata_check.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace shmrpc::rpc {
namespace {

absl::Status Check(std::vector<MetadataEntry> entries) {
  return CheckMetadata(entries);
}

TEST(MetadataCheckTest, AcceptsWhatGrpcAccepts) {
  EXPECT_TRUE(Check({}).ok());
  EXPECT_TRUE(Check({{"x-key_1.a", "printable value ~!"}}).ok());
  EXPECT_TRUE(Check({{"grpc-custom", "v"}}).ok());
  EXPECT_TRUE(Check({{"k", ""}}).ok());
  const std::string binary("\0\xff\n\x01", 4);
  EXPECT_TRUE(Check({{"x-data-bin", binary}}).ok());
}

TEST(MetadataCheckTest, RefusesIllegalKeys) {
  for (const char* key : {"X-Upper", "bad key", ":authority", "k\n", "é"}) {
    const absl::Status s = Check({{"ok", "v"}, {key, "v"}});
    EXPECT_TRUE(absl::IsInternal(s)) << key << ": " << s;
    EXPECT_NE(s.message().find("Illegal header key"), absl::string_view::npos)
        << s;
  }
  const absl::Status s = Check({{"", "v"}});
  EXPECT_TRUE(absl::IsInternal(s));
  EXPECT_EQ(s.message(), "Metadata keys cannot be zero length");
}

TEST(MetadataCheckTest, RefusesNonPrintableTextValues) {
  for (const std::string value :
       {std::string("a\nb"), std::string("\xc3\xa9"), std::string("\x7f"),
        std::string("a\0b", 3)}) {
    const absl::Status s = Check({{"k", value}});
    EXPECT_TRUE(absl::IsInternal(s)) << s;
    EXPECT_NE(s.message().find("Illegal header value"), absl::string_view::npos)
        << s;
  }
}

TEST(MetadataCheckTest, BinaryKeysAreOnlyThoseEndingInBin) {
  EXPECT_TRUE(IsBinaryKey("a-bin"));
  EXPECT_FALSE(IsBinaryKey("a-bi"));
  EXPECT_FALSE(IsBinaryKey("bin"));
  EXPECT_FALSE(Check({{"binx", "\n"}}).ok());
}

}  // namespace
}  // namespace shmrpc::rpc
