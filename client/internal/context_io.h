// The generated stubs' calls as the shared-memory call machinery sees them.
#ifndef SHMRPC_CLIENT_INTERNAL_CONTEXT_IO_H_
#define SHMRPC_CLIENT_INTERNAL_CONTEXT_IO_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/client_context.h>

#include <atomic>
#include <climits>
#include <map>
#include <string>

#include "shmrpc/client/internal/client_context_access.h"
#include "shmrpc/client/internal/shm_channel.h"
#include "shmrpc/message/peer_serialize.h"

namespace shmrpc::internal {

// A generated stub's call as the shared-memory call machinery sees it
// (UnaryIo): the ClientContext (metadata to send, TryCancel, where the
// server's metadata goes), the request (a unary or server-streaming call's;
// null for none) and the response (a unary or client-streaming call's; null
// for none). Neither is owned; all must outlive the call.
class ContextIo : public UnaryIo {
 public:
  ContextIo(grpc::ClientContext* context,
            const google::protobuf::MessageLite* request,
            google::protobuf::MessageLite* response)
      : context_(context), request_(request), response_(response) {}

  size_t RequestSize() override {
    return size_ = request_ == nullptr ? 0 : request_->ByteSizeLong();
  }
  bool WriteRequest(uint8_t* out) override {
    return request_ == nullptr ||
           message::SerializeToPeer(*request_, size_, out);
  }
  bool ParseResponse(absl::Span<const uint8_t> bytes) override {
    // protobuf takes an int (and aborts on a negative one).
    return response_ != nullptr &&
           bytes.size() <= static_cast<size_t>(INT_MAX) &&
           response_->ParseFromArray(bytes.data(),
                                     static_cast<int>(bytes.size()));
  }
  const std::multimap<std::string, std::string>* Metadata() override {
    return &SentMetadata(*context_);
  }
  bool CancelRequested() override {
    return internal::CancelRequested(*context_);
  }
  void SetInitialMetadata(const rpc::DecodedMetadata& md) override {
    SetServerInitialMetadata(*context_, md);
    initial_received_.store(true, std::memory_order_release);
  }
  // Whether the server's initial metadata came (SetInitialMetadata).
  bool initial_received() const {
    return initial_received_.load(std::memory_order_acquire);
  }
  void SetTrailingMetadata(const rpc::DecodedMetadata& md) override {
    SetServerTrailingMetadata(*context_, md);
  }

 private:
  grpc::ClientContext* const context_;
  const google::protobuf::MessageLite* const request_;
  google::protobuf::MessageLite* const response_;
  size_t size_ = 0;
  std::atomic<bool> initial_received_{false};
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CONTEXT_IO_H_
