#include "shmrpc/server/health.h"

#include <chrono>
#include <string>

namespace shmrpc {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// How often a Watch waiting for a change looks whether its client cancelled
// (cancellation is not signalled to the handler).
constexpr std::chrono::milliseconds kCancelLook{50};

}  // namespace

HealthService::HealthService() { serving_.emplace("", true); }

HealthService::~HealthService() = default;

void HealthService::SetServingStatus(const std::string& service_name,
                                     bool serving) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // As gRPC's: after Shutdown, NOT_SERVING for good (also for a name set
    // for the first time).
    serving_[service_name] = serving && !shutdown_;
  }
  changed_.notify_all();
}

void HealthService::SetServingStatus(bool serving) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    for (auto& [name, value] : serving_) value = serving;
  }
  changed_.notify_all();
}

void HealthService::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    for (auto& [name, value] : serving_) value = false;
  }
  changed_.notify_all();
}

void HealthService::EndWatches() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ending_ = true;
  }
  changed_.notify_all();
}

HealthCheckResponse::ServingStatus HealthService::StatusLocked(
    const std::string& name) const {
  auto it = serving_.find(name);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING
                    : HealthCheckResponse::NOT_SERVING;
}

HealthCheckResponse::ServingStatus HealthService::GetServingStatus(
    const std::string& service_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return StatusLocked(service_name);
}

grpc::Status HealthService::Check(ServerContext* context,
                                  const HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  if (request->service().size() > kMaxServiceNameLength) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "could not parse request");
  }
  const HealthCheckResponse::ServingStatus status =
      GetServingStatus(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "service name unknown");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(
    ServerContext* context, const HealthCheckRequest* request,
    grpc::ServerWriterInterface<HealthCheckResponse>* writer) {
  const std::string& name = request->service();
  if (name.size() > kMaxServiceNameLength) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "could not parse request");
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (watches_ >= kMaxWatches) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many health Watch calls at once (at most " +
                            std::to_string(kMaxWatches) + ")");
  }
  ++watches_;
  struct Release {
    HealthService* self;
    ~Release() ABSL_NO_THREAD_SAFETY_ANALYSIS { --self->watches_; }
  } release{this};  // runs with mu_ held: declared after `lock`
  bool sent_any = false;
  HealthCheckResponse::ServingStatus sent = HealthCheckResponse::UNKNOWN;
  while (true) {
    // A change first, so that a Watch open at shutdown sees NOT_SERVING
    // before it ends.
    const HealthCheckResponse::ServingStatus now = StatusLocked(name);
    if (!sent_any || now != sent) {
      lock.unlock();
      HealthCheckResponse response;
      response.set_status(now);
      const bool written = writer->Write(response);
      lock.lock();
      if (!written) {
        return grpc::Status(grpc::StatusCode::CANCELLED,
                            "the client went away");
      }
      sent_any = true;
      sent = now;
      continue;
    }
    if (ending_) {
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          "not writing due to shutdown");
    }
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    changed_.wait_for(lock, kCancelLook);
  }
}

}  // namespace shmrpc
