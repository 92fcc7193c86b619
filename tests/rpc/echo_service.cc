#include "tests/rpc/echo_service.h"

#include <chrono>
#include <thread>

namespace shmrpc::testing {

uint32_t PayloadChecksum(const std::string& bytes) {
  uint32_t h = 2166136261u;
  for (unsigned char b : bytes) {
    h ^= b;
    h *= 16777619u;
  }
  return h;
}

grpc::Status EchoServiceImpl::Echo(ServerContext* context,
                                   const EchoRequest* request,
                                   EchoResponse* response) {
  const auto start = std::chrono::system_clock::now();
  const uint32_t checksum = PayloadChecksum(request->payload());
  if (request->checksum() != 0 && request->checksum() != checksum) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        "request payload checksum mismatch");
  }
  response->set_checksum(checksum);
  response->set_payload(request->payload());
  response->set_peer(context->peer());
  response->set_shared_memory(context->is_shared_memory());
  const auto deadline = context->deadline();
  response->set_deadline_ms_left(
      deadline == std::chrono::system_clock::time_point::max()
          ? -1
          : std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                  start)
                .count());
  for (const auto& [key, value] : context->client_metadata()) {
    const std::string k(key.data(), key.size());
    const std::string v(value.data(), value.size());
    if (k == kEchoInitialKey) context->AddInitialMetadata(k, v);
    if (k == kEchoTrailingKey) context->AddTrailingMetadata(k, v);
  }
  // Sleep as asked, but stop as soon as the call is cancelled.
  const auto until = start + std::chrono::milliseconds(request->sleep_ms());
  while (std::chrono::system_clock::now() < until && !context->IsCancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  response->set_cancelled(context->IsCancelled());
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_.set_cancelled(response->cancelled());
    last_.set_deadline_ms_left(response->deadline_ms_left());
    last_.set_shared_memory(response->shared_memory());
  }
  if (request->server_cancel()) {
    context->TryCancel();
    return grpc::Status::CANCELLED;
  }
  if (request->fail_code() != 0) {
    return grpc::Status(static_cast<grpc::StatusCode>(request->fail_code()),
                        request->fail_message(), request->fail_details());
  }
  return grpc::Status::OK;
}

grpc::Status EchoServiceImpl::LastCall(ServerContext* context,
                                       const EchoRequest* request,
                                       EchoResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  *response = last_;
  return grpc::Status::OK;
}

}  // namespace shmrpc::testing
