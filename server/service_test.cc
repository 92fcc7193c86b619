// The method handlers of generated services (service.h), driven by a fake
// call: what they do with request sizes protobuf cannot take.
#include "shmrpc/server/service.h"

#include <sys/mman.h>

#include <climits>
#include <cstdint>
#include <optional>

#include "gtest/gtest.h"
#include "proto/echo.pb.h"

namespace shmrpc::internal {
namespace {

using testing::EchoRequest;
using testing::EchoResponse;

// A call whose request is any span at all: the bytes need not exist.
class FakeCall final : public ServerUnaryCall {
 public:
  explicit FakeCall(absl::Span<const uint8_t> request)
      : request_(request), context_(&state_) {}

  ServerContext* context() override { return &context_; }
  absl::Span<const uint8_t> request() const override { return request_; }
  void Finish(const grpc::Status& status,
              const google::protobuf::MessageLite* response) override {
    ASSERT_FALSE(status_.has_value()) << "Finish called twice";
    status_ = status;
    if (response != nullptr) response_ = response->SerializeAsString();
  }

  const std::optional<grpc::Status>& status() const { return status_; }
  const std::string& response() const { return response_; }

 private:
  absl::Span<const uint8_t> request_;
  ShmCallState state_;
  ServerContext context_;
  std::optional<grpc::Status> status_;
  std::string response_;
};

struct Service {
  int calls = 0;
  static grpc::Status Echo(Service* self, ServerContext*,
                           const EchoRequest* request, EchoResponse* response) {
    ++self->calls;
    response->set_payload(request->payload());
    return grpc::Status::OK;
  }
};

using Handler = UnaryMethodHandler<Service, EchoRequest, EchoResponse>;

TEST(UnaryMethodHandlerTest, ParsesTheRequestAndFinishesWithTheResponse) {
  Service service;
  Handler handler(&Service::Echo, &service);
  EchoRequest request;
  request.set_payload("hello");
  const std::string bytes = request.SerializeAsString();
  FakeCall call({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  handler.RunUnary(&call);
  ASSERT_TRUE(call.status().has_value());
  EXPECT_TRUE(call.status()->ok());
  EXPECT_EQ(service.calls, 1);
  EchoResponse response;
  ASSERT_TRUE(response.ParseFromString(call.response()));
  EXPECT_EQ(response.payload(), "hello");
}

// Sizes of INT_MAX + 1 and beyond, over memory that faults if touched at
// all: refused with gRPC's wording before a byte is read (protobuf would
// abort on the negative int, or read the wrapped-around size).
TEST(UnaryMethodHandlerTest, RequestsOverIntMaxAreRefusedUnread) {
  void* guard =
      ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(guard, MAP_FAILED);
  const auto* data = static_cast<const uint8_t*>(guard);
  Service service;
  Handler handler(&Service::Echo, &service);
  for (uint64_t size : {uint64_t{INT_MAX} + 1, (uint64_t{1} << 32) + 5,
                        (uint64_t{1} << 32) - 1}) {
    SCOPED_TRACE(size);
    FakeCall call({data, static_cast<size_t>(size)});
    handler.RunUnary(&call);
    ASSERT_TRUE(call.status().has_value());
    EXPECT_EQ(call.status()->error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(call.status()->error_message(),
              "Received message larger than max (" + std::to_string(size) +
                  " vs. 2147483647)");
  }
  EXPECT_EQ(service.calls, 0);
  ::munmap(guard, 4096);
}

TEST(UnaryMethodHandlerTest, UnparsableRequestIsAnInternalError) {
  Service service;
  Handler handler(&Service::Echo, &service);
  const uint8_t junk[] = {0xff, 0xff, 0xff};
  FakeCall call(junk);
  handler.RunUnary(&call);
  ASSERT_TRUE(call.status().has_value());
  EXPECT_EQ(call.status()->error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(service.calls, 0);
}

}  // namespace
}  // namespace shmrpc::internal
