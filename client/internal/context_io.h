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
#include "shmrpc/rpc/flat_frames.h"
#include "shmrpc/transport/peer_copy.h"

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
  // gRPC's context names the peer through a core call, which TryCancel()
  // would then cancel instead of telling us: only once the call ended.
  void SetPeer(const ServerPeer& peer) override {
    NamePeerOnce(*context_, peer);
  }

 private:
  grpc::ClientContext* const context_;
  const google::protobuf::MessageLite* const request_;
  google::protobuf::MessageLite* const response_;
  size_t size_ = 0;
  std::atomic<bool> initial_received_{false};
};

// A generated stub's flat-message call (client/flat_call.h,
// client/flat_stream.h): the request (a unary or server-streaming call's;
// null for none) was built in place and is sent as its chunk (copied when
// it is not in one of this connection's chunks); the response (a unary or
// client-streaming call's; null for none) is kept where it arrived. Neither
// is owned; both must outlive the call.
class FlatContextIo final : public ContextIo {
 public:
  FlatContextIo(grpc::ClientContext* context, rpc::ChunkArena* request,
                rpc::HeldMessage* response)
      : ContextIo(context, nullptr, nullptr),
        request_(request),
        response_(response) {}

  size_t RequestSize() override {
    return request_ == nullptr ? 0 : request_->used();
  }
  bool WriteRequest(uint8_t* out) override {
    if (request_ != nullptr) {
      transport::CopyToPeer(out, request_->written().data(), request_->used());
    }
    return true;
  }
  bool ParseResponse(absl::Span<const uint8_t> bytes) override {
    if (response_ == nullptr) return false;
    response_->AdoptCopy(bytes);
    return true;
  }
  bool TakeRequestChunk(const transport::Connection& t, size_t extra,
                        transport::Chunk* chunk) override {
    return request_ != nullptr && request_->TakeChunk(t, extra, chunk);
  }
  bool AdoptResponse(transport::InboundMessage* m, size_t offset,
                     size_t message_size) override {
    if (response_ == nullptr) return false;
    response_->Adopt(m, offset, message_size);
    return true;
  }

 private:
  rpc::ChunkArena* const request_;
  rpc::HeldMessage* const response_;
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CONTEXT_IO_H_
