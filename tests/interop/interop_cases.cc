#include "tests/interop/interop_cases.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/interop/interop_service.h"

namespace shmrpc::interop {
namespace {

using grpc::testing::Empty;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingInputCallRequest;
using grpc::testing::StreamingInputCallResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;

// The sizes the descriptions use.
constexpr int kLargeRequest = 271828;
constexpr int kLargeResponse = 314159;
constexpr int kStreamRequests[] = {27182, 8, 1828, 45904};
constexpr int kStreamResponses[] = {31415, 9, 2653, 58979};

constexpr char kInitialValue[] = "test_initial_metadata_value";
constexpr char kTrailingValue[] = "\x0a\x0b\x0a\x0b\x0a\x0b";
constexpr char kStatusMessage[] = "test status message";
constexpr char kSpecialMessage[] =
    "\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP "
    "\U0001F608\t\n";

#define INTEROP_CHECK(cond, ...)                                   \
  do {                                                             \
    if (!(cond)) {                                                 \
      return absl::InternalError(                                  \
          absl::StrCat("check failed: " #cond ": ", __VA_ARGS__)); \
    }                                                              \
  } while (false)

std::string Describe(const grpc::Status& s) {
  return absl::StrCat("status ", static_cast<int>(s.error_code()), " '",
                      absl::CHexEscape(s.error_message()), "'");
}

absl::Status ExpectStatus(const grpc::Status& s, grpc::StatusCode code,
                          const char* what) {
  if (s.error_code() != code) {
    return absl::InternalError(absl::StrCat(what, ": expected code ",
                                            static_cast<int>(code), ", got ",
                                            Describe(s)));
  }
  return absl::OkStatus();
}

// `s` has `code` and exactly `message`.
absl::Status ExpectStatusAndMessage(const grpc::Status& s,
                                    grpc::StatusCode code,
                                    const std::string& message,
                                    const char* what) {
  if (absl::Status e = ExpectStatus(s, code, what); !e.ok()) return e;
  if (s.error_message() != message) {
    return absl::InternalError(
        absl::StrCat(what, ": message '", absl::CHexEscape(s.error_message()),
                     "', expected '", absl::CHexEscape(message), "'"));
  }
  return absl::OkStatus();
}

absl::Status ExpectOk(const grpc::Status& s, const char* what) {
  return ExpectStatus(s, grpc::StatusCode::OK, what);
}

#define INTEROP_RETURN_IF_ERROR(expr) \
  do {                                \
    absl::Status _s = (expr);         \
    if (!_s.ok()) return _s;          \
  } while (false)

void SetDeadline(grpc::ClientContext* context,
                 std::chrono::milliseconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

void WithDeadline(grpc::ClientContext* context) {
  SetDeadline(context, std::chrono::seconds(20));
}

bool IsZeros(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

// The one value of `key` in `md`, or "<absent>"/"<N values>".
std::string OneValue(
    const std::multimap<grpc::string_ref, grpc::string_ref>& md,
    const std::string& key) {
  auto [begin, end] = md.equal_range(key);
  const auto n = std::distance(begin, end);
  if (n == 0) return "<absent>";
  if (n > 1) return absl::StrCat("<", n, " values>");
  return std::string(begin->second.data(), begin->second.size());
}

absl::Status CheckEchoedMetadata(const grpc::ClientContext& context) {
  const std::string initial =
      OneValue(context.GetServerInitialMetadata(), kEchoInitialKey);
  INTEROP_CHECK(initial == kInitialValue, "initial metadata '",
                absl::CHexEscape(initial), "'");
  const std::string trailing =
      OneValue(context.GetServerTrailingMetadata(), kEchoTrailingKey);
  INTEROP_CHECK(trailing == kTrailingValue, "trailing metadata '",
                absl::CHexEscape(trailing), "'");
  return absl::OkStatus();
}

StreamingOutputCallRequest StreamRequest(int request_bytes,
                                         int response_bytes) {
  StreamingOutputCallRequest request;
  request.set_response_type(grpc::testing::COMPRESSABLE);
  if (response_bytes >= 0) {
    request.add_response_parameters()->set_size(response_bytes);
  }
  request.mutable_payload()->set_body(
      std::string(static_cast<size_t>(request_bytes), '\0'));
  return request;
}

absl::Status CheckStreamResponse(const StreamingOutputCallResponse& r,
                                 int bytes) {
  INTEROP_CHECK(r.payload().type() == grpc::testing::COMPRESSABLE,
                "payload type ", r.payload().type());
  INTEROP_CHECK(r.payload().body().size() == static_cast<size_t>(bytes),
                "response of ", r.payload().body().size(), " bytes, expected ",
                bytes);
  INTEROP_CHECK(IsZeros(r.payload().body()), "response body not zeros");
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& AllCases() {
  static const std::vector<std::string> cases = {
      "empty_unary",
      "large_unary",
      "client_streaming",
      "server_streaming",
      "ping_pong",
      "empty_stream",
      "custom_metadata",
      "status_code_and_message",
      "special_status_message",
      "unimplemented_method",
      "unimplemented_service",
      "cancel_after_begin",
      "cancel_after_first_response",
      "timeout_on_sleeping_server",
  };
  return cases;
}

bool IsUnaryCase(const std::string& name) {
  return name == "empty_unary" || name == "large_unary" ||
         name == "special_status_message" || name == "unimplemented_method" ||
         name == "unimplemented_service";
}

InteropClient::InteropClient(std::shared_ptr<grpc::Channel> channel,
                             ClientPath path)
    : channel_(std::move(channel)),
      path_(path),
      grpc_stub_(grpc::testing::TestService::NewStub(channel_)),
      shm_stub_(grpc::testing::ShmTestService::NewStub(channel_)) {}

absl::Status InteropClient::Run(const std::string& name) {
  transports_.clear();
  using Case = absl::Status (InteropClient::*)();
  static const std::map<std::string, Case> kCases = {
      {"empty_unary", &InteropClient::EmptyUnary},
      {"large_unary", &InteropClient::LargeUnary},
      {"client_streaming", &InteropClient::ClientStreaming},
      {"server_streaming", &InteropClient::ServerStreaming},
      {"ping_pong", &InteropClient::PingPong},
      {"empty_stream", &InteropClient::EmptyStream},
      {"custom_metadata", &InteropClient::CustomMetadata},
      {"status_code_and_message", &InteropClient::StatusCodeAndMessage},
      {"special_status_message", &InteropClient::SpecialStatusMessage},
      {"unimplemented_method", &InteropClient::UnimplementedMethod},
      {"unimplemented_service", &InteropClient::UnimplementedService},
      {"cancel_after_begin", &InteropClient::CancelAfterBegin},
      {"cancel_after_first_response", &InteropClient::CancelAfterFirstResponse},
      {"timeout_on_sleeping_server", &InteropClient::TimeoutOnSleepingServer},
  };
  auto it = kCases.find(name);
  if (it == kCases.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown case ", name));
  }
  return (this->*(it->second))();
}

grpc::Status InteropClient::UnaryCall(grpc::ClientContext* context,
                                      const SimpleRequest& request,
                                      SimpleResponse* response) {
  return path_ == ClientPath::kShmStub
             ? shm_stub_->UnaryCall(context, request, response)
             : grpc_stub_->UnaryCall(context, request, response);
}

grpc::Status InteropClient::EmptyCall(grpc::ClientContext* context,
                                      const Empty& request, Empty* response) {
  return path_ == ClientPath::kShmStub
             ? shm_stub_->EmptyCall(context, request, response)
             : grpc_stub_->EmptyCall(context, request, response);
}

std::unique_ptr<grpc::ClientWriterInterface<StreamingInputCallRequest>>
InteropClient::StreamingInputCall(grpc::ClientContext* context,
                                  StreamingInputCallResponse* response) {
  if (path_ == ClientPath::kShmStub) {
    return shm_stub_->StreamingInputCall(context, response);
  }
  return grpc_stub_->StreamingInputCall(context, response);
}

std::unique_ptr<grpc::ClientReaderInterface<StreamingOutputCallResponse>>
InteropClient::StreamingOutputCall(grpc::ClientContext* context,
                                   const StreamingOutputCallRequest& request) {
  if (path_ == ClientPath::kShmStub) {
    return shm_stub_->StreamingOutputCall(context, request);
  }
  return grpc_stub_->StreamingOutputCall(context, request);
}

std::unique_ptr<grpc::ClientReaderWriterInterface<StreamingOutputCallRequest,
                                                  StreamingOutputCallResponse>>
InteropClient::FullDuplexCall(grpc::ClientContext* context) {
  if (path_ == ClientPath::kShmStub) return shm_stub_->FullDuplexCall(context);
  return grpc_stub_->FullDuplexCall(context);
}

void InteropClient::Note(const grpc::ClientContext& context) {
  const auto& md = context.GetServerTrailingMetadata();
  auto it = md.find(kTransportKey);
  transports_.push_back(
      it == md.end() ? std::string()
                     : std::string(it->second.data(), it->second.size()));
}

absl::Status InteropClient::EmptyUnary() {
  grpc::ClientContext context;
  WithDeadline(&context);
  Empty response;
  const grpc::Status s = EmptyCall(&context, Empty(), &response);
  Note(context);
  INTEROP_RETURN_IF_ERROR(ExpectOk(s, "EmptyCall"));
  INTEROP_CHECK(response.ByteSizeLong() == 0, "non-empty response");
  return absl::OkStatus();
}

absl::Status InteropClient::LargeUnary() {
  SimpleRequest request;
  request.set_response_type(grpc::testing::COMPRESSABLE);
  request.set_response_size(kLargeResponse);
  request.mutable_payload()->set_body(std::string(kLargeRequest, '\0'));
  grpc::ClientContext context;
  WithDeadline(&context);
  SimpleResponse response;
  const grpc::Status s = UnaryCall(&context, request, &response);
  Note(context);
  INTEROP_RETURN_IF_ERROR(ExpectOk(s, "UnaryCall"));
  INTEROP_CHECK(response.payload().type() == grpc::testing::COMPRESSABLE,
                "payload type ", response.payload().type());
  INTEROP_CHECK(response.payload().body().size() == kLargeResponse,
                "response of ", response.payload().body().size(), " bytes");
  INTEROP_CHECK(IsZeros(response.payload().body()), "body not zeros");
  return absl::OkStatus();
}

absl::Status InteropClient::ClientStreaming() {
  grpc::ClientContext context;
  WithDeadline(&context);
  StreamingInputCallResponse response;
  auto writer = StreamingInputCall(&context, &response);
  for (int bytes : kStreamRequests) {
    StreamingInputCallRequest request;
    request.mutable_payload()->set_body(
        std::string(static_cast<size_t>(bytes), '\0'));
    INTEROP_CHECK(writer->Write(request), "write of ", bytes, " bytes");
  }
  INTEROP_CHECK(writer->WritesDone(), "WritesDone");
  const grpc::Status s = writer->Finish();
  Note(context);
  INTEROP_RETURN_IF_ERROR(ExpectOk(s, "StreamingInputCall"));
  INTEROP_CHECK(response.aggregated_payload_size() == 74922, "aggregated size ",
                response.aggregated_payload_size());
  return absl::OkStatus();
}

absl::Status InteropClient::ServerStreaming() {
  StreamingOutputCallRequest request;
  request.set_response_type(grpc::testing::COMPRESSABLE);
  for (int bytes : kStreamResponses) {
    request.add_response_parameters()->set_size(bytes);
  }
  grpc::ClientContext context;
  WithDeadline(&context);
  auto reader = StreamingOutputCall(&context, request);
  StreamingOutputCallResponse response;
  size_t i = 0;
  while (reader->Read(&response)) {
    INTEROP_CHECK(i < std::size(kStreamResponses), "extra response");
    INTEROP_RETURN_IF_ERROR(CheckStreamResponse(response, kStreamResponses[i]));
    ++i;
  }
  const grpc::Status s = reader->Finish();
  Note(context);
  INTEROP_RETURN_IF_ERROR(ExpectOk(s, "StreamingOutputCall"));
  INTEROP_CHECK(i == std::size(kStreamResponses), i, " responses");
  return absl::OkStatus();
}

absl::Status InteropClient::PingPong() {
  grpc::ClientContext context;
  WithDeadline(&context);
  auto stream = FullDuplexCall(&context);
  StreamingOutputCallResponse response;
  for (size_t i = 0; i < std::size(kStreamRequests); ++i) {
    INTEROP_CHECK(
        stream->Write(StreamRequest(kStreamRequests[i], kStreamResponses[i])),
        "write ", i);
    INTEROP_CHECK(stream->Read(&response), "read ", i);
    INTEROP_RETURN_IF_ERROR(CheckStreamResponse(response, kStreamResponses[i]));
  }
  INTEROP_CHECK(stream->WritesDone(), "WritesDone");
  INTEROP_CHECK(!stream->Read(&response), "a response after the last");
  const grpc::Status s = stream->Finish();
  Note(context);
  return ExpectOk(s, "FullDuplexCall");
}

absl::Status InteropClient::EmptyStream() {
  grpc::ClientContext context;
  WithDeadline(&context);
  auto stream = FullDuplexCall(&context);
  INTEROP_CHECK(stream->WritesDone(), "WritesDone");
  StreamingOutputCallResponse response;
  INTEROP_CHECK(!stream->Read(&response), "a response to no request");
  const grpc::Status s = stream->Finish();
  Note(context);
  return ExpectOk(s, "FullDuplexCall");
}

absl::Status InteropClient::CustomMetadata() {
  {
    SimpleRequest request;
    request.set_response_type(grpc::testing::COMPRESSABLE);
    request.set_response_size(kLargeResponse);
    request.mutable_payload()->set_body(std::string(kLargeRequest, '\0'));
    grpc::ClientContext context;
    WithDeadline(&context);
    context.AddMetadata(kEchoInitialKey, kInitialValue);
    context.AddMetadata(kEchoTrailingKey, kTrailingValue);
    SimpleResponse response;
    const grpc::Status s = UnaryCall(&context, request, &response);
    Note(context);
    INTEROP_RETURN_IF_ERROR(ExpectOk(s, "UnaryCall"));
    INTEROP_CHECK(response.payload().body().size() == kLargeResponse,
                  "response of ", response.payload().body().size(), " bytes");
    INTEROP_RETURN_IF_ERROR(CheckEchoedMetadata(context));
  }
  grpc::ClientContext context;
  WithDeadline(&context);
  context.AddMetadata(kEchoInitialKey, kInitialValue);
  context.AddMetadata(kEchoTrailingKey, kTrailingValue);
  auto stream = FullDuplexCall(&context);
  INTEROP_CHECK(stream->Write(StreamRequest(kLargeRequest, kLargeResponse)),
                "write");
  StreamingOutputCallResponse response;
  INTEROP_CHECK(stream->Read(&response), "read");
  INTEROP_RETURN_IF_ERROR(CheckStreamResponse(response, kLargeResponse));
  INTEROP_CHECK(stream->WritesDone(), "WritesDone");
  const grpc::Status s = stream->Finish();
  Note(context);
  INTEROP_RETURN_IF_ERROR(ExpectOk(s, "FullDuplexCall"));
  return CheckEchoedMetadata(context);
}

absl::Status InteropClient::UnaryEchoStatus(const std::string& message) {
  SimpleRequest request;
  request.mutable_response_status()->set_code(2);
  request.mutable_response_status()->set_message(message);
  grpc::ClientContext context;
  WithDeadline(&context);
  SimpleResponse response;
  const grpc::Status s = UnaryCall(&context, request, &response);
  Note(context);
  return ExpectStatusAndMessage(s, grpc::StatusCode::UNKNOWN, message,
                                "UnaryCall");
}

absl::Status InteropClient::StatusCodeAndMessage() {
  INTEROP_RETURN_IF_ERROR(UnaryEchoStatus(kStatusMessage));
  grpc::ClientContext context;
  WithDeadline(&context);
  auto stream = FullDuplexCall(&context);
  StreamingOutputCallRequest request;
  request.mutable_response_status()->set_code(2);
  request.mutable_response_status()->set_message(kStatusMessage);
  INTEROP_CHECK(stream->Write(request), "write");
  INTEROP_CHECK(stream->WritesDone(), "WritesDone");
  const grpc::Status s = stream->Finish();
  Note(context);
  return ExpectStatusAndMessage(s, grpc::StatusCode::UNKNOWN, kStatusMessage,
                                "FullDuplexCall");
}

absl::Status InteropClient::SpecialStatusMessage() {
  return UnaryEchoStatus(kSpecialMessage);
}

absl::Status InteropClient::UnimplementedMethod() {
  grpc::ClientContext context;
  WithDeadline(&context);
  Empty response;
  const grpc::Status s =
      path_ == ClientPath::kShmStub
          ? shm_stub_->UnimplementedCall(&context, Empty(), &response)
          : grpc_stub_->UnimplementedCall(&context, Empty(), &response);
  Note(context);
  return ExpectStatus(s, grpc::StatusCode::UNIMPLEMENTED, "UnimplementedCall");
}

absl::Status InteropClient::UnimplementedService() {
  grpc::ClientContext context;
  WithDeadline(&context);
  Empty response;
  grpc::Status s;
  if (path_ == ClientPath::kShmStub) {
    s = grpc::testing::ShmUnimplementedService::NewStub(channel_)
            ->UnimplementedCall(&context, Empty(), &response);
  } else {
    s = grpc::testing::UnimplementedService::NewStub(channel_)
            ->UnimplementedCall(&context, Empty(), &response);
  }
  Note(context);
  return ExpectStatus(s, grpc::StatusCode::UNIMPLEMENTED,
                      "UnimplementedService.UnimplementedCall");
}

absl::Status InteropClient::CancelAfterBegin() {
  grpc::ClientContext context;
  WithDeadline(&context);
  StreamingInputCallResponse response;
  auto writer = StreamingInputCall(&context, &response);
  context.TryCancel();
  const grpc::Status s = writer->Finish();
  Note(context);
  return ExpectStatus(s, grpc::StatusCode::CANCELLED, "StreamingInputCall");
}

absl::Status InteropClient::CancelAfterFirstResponse() {
  grpc::ClientContext context;
  WithDeadline(&context);
  auto stream = FullDuplexCall(&context);
  INTEROP_CHECK(
      stream->Write(StreamRequest(kStreamRequests[0], kStreamResponses[0])),
      "write");
  StreamingOutputCallResponse response;
  INTEROP_CHECK(stream->Read(&response), "read");
  INTEROP_RETURN_IF_ERROR(CheckStreamResponse(response, kStreamResponses[0]));
  context.TryCancel();
  const grpc::Status s = stream->Finish();
  Note(context);
  return ExpectStatus(s, grpc::StatusCode::CANCELLED, "FullDuplexCall");
}

absl::Status InteropClient::TimeoutOnSleepingServer() {
  grpc::ClientContext context;
  SetDeadline(&context, std::chrono::milliseconds(1));
  auto stream = FullDuplexCall(&context);
  // The write may fail once the deadline has passed; only the status counts.
  (void)stream->Write(StreamRequest(kStreamRequests[0], -1));
  const grpc::Status s = stream->Finish();
  Note(context);
  return ExpectStatus(s, grpc::StatusCode::DEADLINE_EXCEEDED, "FullDuplexCall");
}

}  // namespace shmrpc::interop
