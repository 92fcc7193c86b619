// The method handlers of generated services (service.h), driven by a fake
// call: what they do with request sizes protobuf cannot take.
#include "shmrpc/server/service.h"

#include <sys/mman.h>

#include <climits>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// Small calls run on messages the thread keeps between calls: each call must
// still see exactly what new messages would hold.
struct Recorder {
  // What the handler saw on entry.
  std::vector<std::string> requests;   // the request, serialized
  std::vector<size_t> response_bytes;  // the response's ByteSizeLong()
  std::vector<size_t> capacity;        // of the response's payload string
  size_t reply_bytes = 0;              // payload bytes of the next response
  std::function<void()> inside;        // runs inside the handler, once
  static grpc::Status Echo(Recorder* self, ServerContext*,
                           const EchoRequest* request, EchoResponse* response) {
    self->requests.push_back(request->SerializeAsString());
    self->response_bytes.push_back(response->ByteSizeLong());
    self->capacity.push_back(response->payload().capacity());
    if (self->inside) std::exchange(self->inside, nullptr)();
    response->set_payload(std::string(self->reply_bytes, 'r'));
    response->set_checksum(request->checksum() + 1);
    response->set_peer("set by the handler");
    return grpc::Status::OK;
  }
};

using RecordingHandler =
    UnaryMethodHandler<Recorder, EchoRequest, EchoResponse>;

// Runs one call of `request` through `handler`; returns the response.
EchoResponse Call(RecordingHandler& handler, const EchoRequest& request) {
  const std::string bytes = request.SerializeAsString();
  FakeCall call({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  handler.RunUnary(&call);
  EchoResponse response;
  EXPECT_TRUE(call.status().has_value() && call.status()->ok());
  EXPECT_TRUE(response.ParseFromString(call.response()));
  return response;
}

TEST(UnaryMethodHandlerTest, EveryCallSeesAnEmptyResponseAndOnlyItsRequest) {
  Recorder recorder;
  RecordingHandler handler(&Recorder::Echo, &recorder);
  EchoRequest full;
  full.set_payload("first");
  full.set_checksum(7);
  full.set_sleep_ms(3);
  full.set_fail_message("left over?");
  full.set_server_cancel(true);
  recorder.reply_bytes = 100;
  EXPECT_EQ(Call(handler, full).checksum(), 8u);
  // Fields the first call set, on both messages, must not show through.
  EchoRequest sparse;
  sparse.set_payload("second");
  recorder.reply_bytes = 0;
  const EchoResponse second = Call(handler, sparse);
  EXPECT_EQ(second.checksum(), 1u);
  EXPECT_EQ(second.payload(), "");
  ASSERT_EQ(recorder.requests.size(), 2u);
  EXPECT_EQ(recorder.requests[0], full.SerializeAsString());
  EXPECT_EQ(recorder.requests[1], sparse.SerializeAsString());
  EXPECT_EQ(recorder.response_bytes, (std::vector<size_t>{0, 0}));
  // An empty request after them parses to an empty message.
  Call(handler, EchoRequest());
  EXPECT_EQ(recorder.requests[2], "");
}

// The thread keeps its messages after small calls (their capacity is reused)
// but not after a large response: what one thread keeps stays small.
TEST(UnaryMethodHandlerTest, AThreadKeepsSmallMessagesOnly) {
  Recorder recorder;
  RecordingHandler handler(&Recorder::Echo, &recorder);
  EchoRequest request;
  request.set_payload("x");
  recorder.reply_bytes = 200;  // within kReusedMessageMaxBytes
  Call(handler, request);
  recorder.reply_bytes = 1 << 20;
  Call(handler, request);  // runs on the kept messages
  recorder.reply_bytes = 0;
  Call(handler, request);  // after a large response: new messages
  ASSERT_EQ(recorder.capacity.size(), 3u);
  EXPECT_GE(recorder.capacity[1], 200u)
      << "the small call's messages were not kept";
  EXPECT_LT(recorder.capacity[2], kReusedMessageMaxBytes)
      << "the thread kept a response of 1 MiB";
  // A request over the limit runs on new messages (its own arena).
  EchoRequest large;
  large.set_payload(std::string(kReusedMessageMaxBytes + 1, 'q'));
  recorder.reply_bytes = 10;
  EXPECT_EQ(Call(handler, large).payload(), std::string(10, 'r'));
  EXPECT_EQ(recorder.requests.back(), large.SerializeAsString());
}

// A handler that runs a call of the same method on its own thread (as a
// handler calling straight into its service might): the inner call gets
// messages of its own, and neither call sees the other's.
TEST(UnaryMethodHandlerTest, ACallInsideACallOfTheSameMethodIsSeparate) {
  Recorder recorder;
  RecordingHandler handler(&Recorder::Echo, &recorder);
  EchoRequest outer;
  outer.set_payload("outer");
  outer.set_checksum(100);
  EchoRequest inner;
  inner.set_payload("inner");
  inner.set_checksum(200);
  EchoResponse inner_response;
  recorder.inside = [&] { inner_response = Call(handler, inner); };
  recorder.reply_bytes = 3;
  const EchoResponse outer_response = Call(handler, outer);
  EXPECT_EQ(outer_response.checksum(), 101u);
  EXPECT_EQ(inner_response.checksum(), 201u);
  ASSERT_EQ(recorder.requests.size(), 2u);
  EXPECT_EQ(recorder.requests[0], outer.SerializeAsString());
  EXPECT_EQ(recorder.requests[1], inner.SerializeAsString());
  EXPECT_EQ(recorder.response_bytes, (std::vector<size_t>{0, 0}));
}

}  // namespace
}  // namespace shmrpc::internal
