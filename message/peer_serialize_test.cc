#include "shmrpc/message/peer_serialize.h"

#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "proto/echo.pb.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc::message {
namespace {

using shmrpc::testing::EchoRequest;
using transport::kStreamingCopyMinBytes;

std::string Bytes(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>(seed + static_cast<char>(i * 7 + (i >> 9)));
  }
  return s;
}

// Serializes `m` with SerializeToPeer into a buffer with guard bytes on both
// sides; expects exactly protobuf's own serialization and untouched guards.
void ExpectSameAsProtobuf(const google::protobuf::MessageLite& m) {
  const size_t size = m.ByteSizeLong();
  constexpr size_t kGuard = 64;
  std::vector<uint8_t> buffer(size + 2 * kGuard + 3, 0x5a);
  uint8_t* out = buffer.data() + kGuard + 3;  // misaligned on purpose
  ASSERT_TRUE(SerializeToPeer(m, size, out)) << "size " << size;
  const std::string expected = m.SerializeAsString();
  ASSERT_EQ(expected.size(), size);
  EXPECT_EQ(expected, std::string(reinterpret_cast<const char*>(out), size))
      << "size " << size;
  for (size_t i = 0; i < kGuard + 3; ++i) ASSERT_EQ(buffer[i], 0x5a);
  for (size_t i = kGuard + 3 + size; i < buffer.size(); ++i) {
    ASSERT_EQ(buffer[i], 0x5a) << "wrote past the message, size " << size;
  }
}

TEST(SerializeToPeerTest, SmallMessage) {
  EchoRequest m;
  m.set_payload(Bytes(64, 1));
  m.set_checksum(0xdeadbeef);
  m.set_fail_message("boom");
  ExpectSameAsProtobuf(m);
}

TEST(SerializeToPeerTest, EmptyMessage) {
  EchoRequest m;
  std::vector<uint8_t> out(1);
  EXPECT_TRUE(SerializeToPeer(m, m.ByteSizeLong(), out.data()));
}

// Payloads around the streaming threshold and the stream's 8 KiB blocks,
// with small fields before and after the payload.
TEST(SerializeToPeerTest, LargeBytesFieldAtEverySizeBoundary) {
  for (size_t n :
       {size_t{8191}, size_t{8192}, size_t{8193}, kStreamingCopyMinBytes - 20,
        kStreamingCopyMinBytes - 1, kStreamingCopyMinBytes,
        kStreamingCopyMinBytes + 1, size_t{(1u << 20) + 3}, size_t{4u << 20}}) {
    EchoRequest m;
    m.set_payload(Bytes(n, 3));
    m.set_checksum(7);
    m.set_sleep_ms(-1);
    m.set_fail_message(Bytes(100, 'a'));
    m.set_fail_details(Bytes(20000, 'b'));
    m.set_server_cancel(true);
    ExpectSameAsProtobuf(m);
  }
}

// Nested and repeated messages: many small strings, some large ones, lists
// inside lists. Nested sizes come from ByteSizeLong()'s cache.
TEST(SerializeToPeerTest, NestedAndRepeatedFields) {
  google::protobuf::ListValue root;
  for (int i = 0; i < 200; ++i) {
    root.add_values()->set_string_value(Bytes(100 + i, static_cast<char>(i)));
  }
  for (int i = 0; i < 5; ++i) {
    google::protobuf::ListValue* inner =
        root.add_values()->mutable_list_value();
    inner->add_values()->set_string_value(Bytes(50000 + i, 'x'));
    inner->add_values()->set_number_value(i * 0.5);
    inner->add_values()->mutable_list_value()->add_values()->set_string_value(
        Bytes(70000 - i, 'y'));
  }
  root.add_values()->set_string_value(Bytes(3 << 20, 'z'));
  ExpectSameAsProtobuf(root);
}

// A message that grew after ByteSizeLong() (a caller bug) is refused and
// nothing is written past the end of the destination.
TEST(SerializeToPeerTest, MessageChangedAfterSizingNeverOverflows) {
  EchoRequest m;
  m.set_payload(Bytes(kStreamingCopyMinBytes * 2, 4));
  const size_t size = m.ByteSizeLong();
  m.set_payload(Bytes(kStreamingCopyMinBytes * 3, 4));
  std::vector<uint8_t> buffer(size + 4096, 0x77);
  EXPECT_FALSE(SerializeToPeer(m, size, buffer.data()));
  for (size_t i = size; i < buffer.size(); ++i) {
    ASSERT_EQ(buffer[i], 0x77) << "wrote past the destination at " << i;
  }
}

TEST(SerializeToPeerTest, RefusesOverTwoGibibytes) {
  EchoRequest m;
  uint8_t out[1];
  EXPECT_FALSE(SerializeToPeer(m, size_t{1} << 31, out));
}

}  // namespace
}  // namespace shmrpc::message
