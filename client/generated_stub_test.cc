// The method codecs that generated code registers for the interceptor.
#include "shmrpc/client/generated_stub.h"

#include <climits>
#include <cstdint>

#include "gtest/gtest.h"
#include "proto/echo.pb.h"

namespace shmrpc::internal {
namespace {

using shmrpc::testing::EchoRequest;
using shmrpc::testing::EchoResponse;

TEST(CodecForTest, RoundTrip) {
  const MethodCodec* codec = CodecFor<EchoRequest, EchoResponse>();
  EchoRequest request;
  request.set_payload("hello");
  const size_t size = codec->request_size(&request);
  std::string bytes(size, '\0');
  ASSERT_TRUE(codec->write_request(&request, size,
                                   reinterpret_cast<uint8_t*>(bytes.data())));
  // An EchoResponse shares field 1 (bytes payload) with EchoRequest.
  EchoResponse response;
  ASSERT_TRUE(codec->parse_response(
      &response, reinterpret_cast<const uint8_t*>(bytes.data()), size));
  EXPECT_EQ(response.payload(), "hello");
}

// protobuf takes the size as an int and aborts on a negative one: a size
// above INT_MAX is refused without being handed over (or read).
TEST(CodecForTest, SizeAboveIntMaxIsRefused) {
  const MethodCodec* codec = CodecFor<EchoRequest, EchoResponse>();
  EchoResponse response;
  const uint8_t byte = 0;
  EXPECT_FALSE(codec->parse_response(&response, &byte,
                                     static_cast<size_t>(INT_MAX) + 1));
  EXPECT_FALSE(
      codec->parse_response(&response, &byte, static_cast<size_t>(UINT32_MAX)));
}

}  // namespace
}  // namespace shmrpc::internal
