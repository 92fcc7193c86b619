#include "shmrpc/server/server_context.h"

#include <grpcpp/support/time.h>

namespace shmrpc {

std::chrono::system_clock::time_point ServerContext::deadline() const {
  if (grpc_ != nullptr) return grpc_->deadline();
  return shm_->deadline;
}

gpr_timespec ServerContext::raw_deadline() const {
  if (grpc_ != nullptr) return grpc_->raw_deadline();
  if (shm_->deadline == std::chrono::system_clock::time_point::max()) {
    return gpr_inf_future(GPR_CLOCK_REALTIME);
  }
  return grpc::TimePoint<std::chrono::system_clock::time_point>(shm_->deadline)
      .raw_time();
}

void ServerContext::AddInitialMetadata(const std::string& key,
                                       const std::string& value) {
  if (grpc_ != nullptr) return grpc_->AddInitialMetadata(key, value);
  shm_->initial_metadata.emplace(key, value);
}

void ServerContext::AddTrailingMetadata(const std::string& key,
                                        const std::string& value) {
  if (grpc_ != nullptr) return grpc_->AddTrailingMetadata(key, value);
  shm_->trailing_metadata.emplace(key, value);
}

const std::multimap<grpc::string_ref, grpc::string_ref>&
ServerContext::client_metadata() const {
  if (grpc_ != nullptr) return grpc_->client_metadata();
  if (!shm_->client_metadata_map) {
    auto& map = shm_->client_metadata_map.emplace();
    if (shm_->client_metadata != nullptr) {
      for (const auto& [key, value] : *shm_->client_metadata) {
        map.emplace(grpc::string_ref(key.data(), key.size()),
                    grpc::string_ref(value.data(), value.size()));
      }
    }
  }
  return *shm_->client_metadata_map;
}

bool ServerContext::IsCancelled() const {
  if (grpc_ != nullptr) return grpc_->IsCancelled();
  return shm_->server_cancelled.load(std::memory_order_acquire) ||
         (shm_->cancel_word != nullptr &&
          (shm_->cancel_word->load(std::memory_order_acquire) &
           internal::ShmCallState::kCancelledBit) != 0) ||
         (shm_->deadline != std::chrono::system_clock::time_point::max() &&
          std::chrono::system_clock::now() >= shm_->deadline) ||
         (shm_->abandoned && shm_->abandoned());
}

void ServerContext::TryCancel() const {
  if (grpc_ != nullptr) return grpc_->TryCancel();
  shm_->server_cancelled.store(true, std::memory_order_release);
}

std::string ServerContext::peer() const {
  if (grpc_ != nullptr) return grpc_->peer();
  return shm_->peer != nullptr ? *shm_->peer : std::string();
}

std::shared_ptr<const grpc::AuthContext> ServerContext::auth_context() const {
  if (grpc_ != nullptr) return grpc_->auth_context();
  return nullptr;
}

grpc_compression_level ServerContext::compression_level() const {
  return grpc_ != nullptr ? grpc_->compression_level()
                          : GRPC_COMPRESS_LEVEL_NONE;
}

void ServerContext::set_compression_level(grpc_compression_level level) {
  if (grpc_ != nullptr) grpc_->set_compression_level(level);
}

bool ServerContext::compression_level_set() const {
  return grpc_ != nullptr && grpc_->compression_level_set();
}

grpc_compression_algorithm ServerContext::compression_algorithm() const {
  return grpc_ != nullptr ? grpc_->compression_algorithm() : GRPC_COMPRESS_NONE;
}

void ServerContext::set_compression_algorithm(
    grpc_compression_algorithm algorithm) {
  if (grpc_ != nullptr) grpc_->set_compression_algorithm(algorithm);
}

}  // namespace shmrpc
