#include "tests/interop/interop_service.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace shmrpc::interop {
namespace {

using grpc::testing::Payload;
using grpc::testing::ResponseParameters;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;

// Echoes the test's metadata keys back and says how the call arrived.
void StartAnswer(ServerContext* context) {
  for (const auto& [key, value] : context->client_metadata()) {
    const std::string k(key.data(), key.size());
    if (k == kEchoInitialKey) {
      context->AddInitialMetadata(k, std::string(value.data(), value.size()));
    } else if (k == kEchoTrailingKey) {
      context->AddTrailingMetadata(k, std::string(value.data(), value.size()));
    }
  }
  context->AddTrailingMetadata(kTransportKey,
                               context->is_shared_memory() ? "shm" : "grpc");
}

// A COMPRESSABLE payload of `size` zero bytes, as the descriptions ask for.
bool FillPayload(int32_t size, Payload* payload) {
  if (size < 0) return false;
  payload->set_type(grpc::testing::COMPRESSABLE);
  payload->set_body(std::string(static_cast<size_t>(size), '\0'));
  return true;
}

// The status a request asks the server to end with, if any.
bool RequestedStatus(const grpc::testing::EchoStatus& s, bool present,
                     grpc::Status* out) {
  if (!present) return false;
  *out = grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
  return true;
}

// Sleeps `interval_us` (a response's pacing), waking early if the call is
// cancelled. False if it was.
bool Pace(ServerContext* context, int32_t interval_us) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::microseconds(std::max(0, interval_us));
  while (std::chrono::steady_clock::now() < until) {
    if (context->IsCancelled()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(1),
        until - std::chrono::steady_clock::now()));
  }
  return !context->IsCancelled();
}

// Writes one response per entry of `params`. Returns false (with *status
// set) if the call ended meanwhile.
bool WriteResponses(
    ServerContext* context,
    const google::protobuf::RepeatedPtrField<ResponseParameters>& params,
    grpc::internal::WriterInterface<StreamingOutputCallResponse>* writer,
    grpc::Status* status) {
  for (const ResponseParameters& p : params) {
    if (!Pace(context, p.interval_us())) {
      *status = grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
      return false;
    }
    StreamingOutputCallResponse response;
    if (!FillPayload(p.size(), response.mutable_payload())) {
      *status =
          grpc::Status(grpc::StatusCode::INTERNAL, "Error creating payload.");
      return false;
    }
    if (!writer->Write(response)) {
      *status = grpc::Status(grpc::StatusCode::CANCELLED, "Write failed");
      return false;
    }
  }
  return true;
}

}  // namespace

grpc::Status TestServiceImpl::EmptyCall(ServerContext* context,
                                        const grpc::testing::Empty*,
                                        grpc::testing::Empty*) {
  StartAnswer(context);
  return grpc::Status::OK;
}

grpc::Status TestServiceImpl::UnaryCall(
    ServerContext* context, const grpc::testing::SimpleRequest* request,
    grpc::testing::SimpleResponse* response) {
  StartAnswer(context);
  if (request->response_size() > 0 &&
      !FillPayload(request->response_size(), response->mutable_payload())) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "Error creating payload.");
  }
  grpc::Status status;
  if (RequestedStatus(request->response_status(),
                      request->has_response_status(), &status)) {
    return status;
  }
  return grpc::Status::OK;
}

grpc::Status TestServiceImpl::CacheableUnaryCall(
    ServerContext* context, const grpc::testing::SimpleRequest* request,
    grpc::testing::SimpleResponse* response) {
  return UnaryCall(context, request, response);
}

grpc::Status TestServiceImpl::StreamingOutputCall(
    ServerContext* context, const StreamingOutputCallRequest* request,
    grpc::ServerWriterInterface<StreamingOutputCallResponse>* writer) {
  StartAnswer(context);
  grpc::Status status;
  if (!WriteResponses(context, request->response_parameters(), writer,
                      &status)) {
    return status;
  }
  if (RequestedStatus(request->response_status(),
                      request->has_response_status(), &status)) {
    return status;
  }
  return grpc::Status::OK;
}

grpc::Status TestServiceImpl::StreamingInputCall(
    ServerContext* context,
    grpc::ServerReaderInterface<grpc::testing::StreamingInputCallRequest>*
        reader,
    grpc::testing::StreamingInputCallResponse* response) {
  StartAnswer(context);
  grpc::testing::StreamingInputCallRequest request;
  int64_t total = 0;
  while (reader->Read(&request)) total += request.payload().body().size();
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
  }
  response->set_aggregated_payload_size(static_cast<int32_t>(total));
  return grpc::Status::OK;
}

grpc::Status TestServiceImpl::FullDuplexCall(
    ServerContext* context,
    grpc::ServerReaderWriterInterface<StreamingOutputCallResponse,
                                      StreamingOutputCallRequest>* stream) {
  StartAnswer(context);
  StreamingOutputCallRequest request;
  grpc::Status status;
  while (stream->Read(&request)) {
    if (RequestedStatus(request.response_status(),
                        request.has_response_status(), &status)) {
      return status;
    }
    if (!WriteResponses(context, request.response_parameters(), stream,
                        &status)) {
      return status;
    }
  }
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
  }
  return grpc::Status::OK;
}

grpc::Status TestServiceImpl::HalfDuplexCall(
    ServerContext* context,
    grpc::ServerReaderWriterInterface<StreamingOutputCallResponse,
                                      StreamingOutputCallRequest>* stream) {
  StartAnswer(context);
  std::vector<StreamingOutputCallRequest> requests;
  StreamingOutputCallRequest request;
  while (stream->Read(&request)) requests.push_back(request);
  grpc::Status status;
  for (const StreamingOutputCallRequest& r : requests) {
    if (!WriteResponses(context, r.response_parameters(), stream, &status)) {
      return status;
    }
  }
  return grpc::Status::OK;
}

}  // namespace shmrpc::interop
