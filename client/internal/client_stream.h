// The generated stubs' streaming calls over shared memory: gRPC's stream
// shapes (ShmClientStream, generated_stub.h) over a StreamCall
// (stream_call.h), with the ClientContext as gRPC's own stubs use it.
#ifndef SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_
#define SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <climits>
#include <map>
#include <memory>
#include <string>

#include "shmrpc/client/generated_stub.h"
#include "shmrpc/client/internal/client_context_access.h"
#include "shmrpc/client/internal/shm_channel.h"
#include "shmrpc/message/peer_serialize.h"

namespace shmrpc::internal {

// The call's side of the generated stub's stream: the ClientContext
// (metadata to send, TryCancel, where the server's metadata goes), server
// streaming's request, client streaming's response.
class ContextIo final : public UnaryIo {
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

// Starts call `method` (the connection's id of a streaming method of
// `kind`) on `conn`: `request` for server streaming, `response` (parsed
// when the call ends OK) for client streaming, null otherwise. Never fails
// here: a call that cannot start (no free stream before its deadline, a
// request over the send limit, ...) reports its status through Finish().
// `context`, `request` and `response` must outlive the stream; `context`
// must not be used for another call.
std::unique_ptr<ShmClientStream> StartClientStream(
    std::shared_ptr<ClientConnection> conn, uint32_t method, StreamKind kind,
    grpc::ClientContext* context, const google::protobuf::MessageLite* request,
    google::protobuf::MessageLite* response);

// A stream that has already ended with `status` (a call whose connection
// could not be had, in ShmMode::kRequired or past its deadline).
std::unique_ptr<ShmClientStream> FailedClientStream(grpc::Status status);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_
