#include "tests/rpc/probe_service.h"

#include <chrono>
#include <thread>

namespace shmrpc::testing {
namespace {

int64_t UnixNanos(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             t.time_since_epoch())
      .count();
}

}  // namespace

grpc::Status ProbeServiceImpl::Call(ServerContext* context,
                                    const ProbeRequest* request,
                                    ProbeResponse* response) {
  const std::string& tag = request->tag();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (!tag.empty()) reports_[tag].set_started(true);
  }
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(request->wait_for_cancel_ms());
  bool cancelled = context->IsCancelled();
  while (!cancelled && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    cancelled = context->IsCancelled();
  }
  const auto seen = std::chrono::system_clock::now();
  if (request->response_bytes() > 0) {
    response->set_payload(std::string(request->response_bytes(), 'r'));
  } else {
    response->set_payload(request->payload());
  }
  if (!tag.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    Report& r = reports_[tag];
    r.set_finished(true);
    r.set_saw_cancel(cancelled);
    if (cancelled) r.set_cancel_seen_unix_ns(UnixNanos(seen));
  }
  return cancelled ? grpc::Status::CANCELLED : grpc::Status::OK;
}

grpc::Status ProbeServiceImpl::GetReport(ServerContext* context,
                                         const ReportRequest* request,
                                         Report* response) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = reports_.find(request->tag());
  if (it != reports_.end()) *response = it->second;
  response->set_calls(calls_);
  return grpc::Status::OK;
}

int64_t ProbeServiceImpl::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

}  // namespace shmrpc::testing
