#include "shmrpc/client/internal/client_stream.h"

#include <climits>
#include <utility>

#include "shmrpc/client/internal/client_context_access.h"
#include "shmrpc/client/internal/context_io.h"
#include "shmrpc/client/internal/stream_call.h"
#include "shmrpc/message/peer_serialize.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc::internal {
namespace {

class FailedStream final : public ShmClientStream {
 public:
  explicit FailedStream(grpc::Status status) : status_(std::move(status)) {}
  void WaitForInitialMetadata() override {}
  bool NextMessageSize(uint32_t* size) override {
    *size = 0;
    return false;
  }
  bool Read(google::protobuf::MessageLite*) override { return false; }
  bool Write(const google::protobuf::MessageLite&,
             grpc::WriteOptions) override {
    return false;
  }
  bool WritesDone() override { return false; }
  grpc::Status Finish() override { return status_; }

 private:
  grpc::Status status_;
};

// The generated stub's stream: protobuf messages over a StreamCall.
class ContextStream final : public ShmClientStream {
 public:
  ContextStream(std::shared_ptr<ClientConnection> conn, StreamKind kind,
                grpc::ClientContext* context,
                const google::protobuf::MessageLite* request,
                google::protobuf::MessageLite* response)
      : io_(context, request, response),
        call_(std::move(conn), kind, context->deadline(), &io_) {}

  void Start(uint32_t method) { call_.Start(method); }

  void WaitForInitialMetadata() override { call_.WaitForInitialMetadata(); }

  bool NextMessageSize(uint32_t* size) override {
    *size = call_.MaxMessageSize();
    return true;
  }

  bool Read(google::protobuf::MessageLite* message) override {
    if (!call_.NextMessage(&received_)) return false;
    const absl::Span<const uint8_t> bytes = received_.bytes();
    // protobuf takes an int (and aborts on a negative one).
    const bool parsed =
        bytes.size() <= static_cast<size_t>(INT_MAX) &&
        message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    received_.Release();
    if (!parsed) {
      call_.Cancel(grpc::Status(grpc::StatusCode::INTERNAL,
                                "Failed to parse response message"));
      return false;
    }
    return true;
  }

  bool Write(const google::protobuf::MessageLite& message,
             grpc::WriteOptions options) override {
    const size_t size = message.ByteSizeLong();
    return call_.Write(
        size,
        [&](uint8_t* out) {
          return message::SerializeToPeer(message, size, out);
        },
        options.is_last_message());
  }

  bool WritesDone() override { return call_.WritesDone(); }

  grpc::Status Finish() override { return call_.Finish(); }

 private:
  ContextIo io_;
  StreamCall call_;  // after io_, which it uses until destroyed
  ReceivedMessage received_;
};

// A flat stream: messages built and read in place, over a StreamCall.
class FlatContextStream final : public FlatClientStreamPort {
 public:
  FlatContextStream(std::shared_ptr<ClientConnection> conn, StreamKind kind,
                    grpc::ClientContext* context, rpc::ChunkArena* request,
                    rpc::HeldMessage* response)
      : conn_(conn),
        io_(context, request, response),
        call_(std::move(conn), kind, context->deadline(), &io_) {}

  void Start(uint32_t method) { call_.Start(method); }

  std::unique_ptr<rpc::ChunkArena> NewMessage(size_t size_hint) override {
    transport::Connection* t = &conn_->transport();
    return rpc::ChunkArena::InChunk(t, conn_, size_hint + kSlack);
  }
  bool Write(rpc::ChunkArena* message, grpc::WriteOptions options) override {
    const size_t size = message->used();
    return call_.WriteBuilt(
        size,
        [&](const transport::Connection& t, transport::Chunk* chunk) {
          return message->TakeChunk(t, 0, chunk);
        },
        [&](uint8_t* out) {
          transport::CopyToPeer(out, message->written().data(), size);
          return true;
        },
        options.is_last_message());
  }
  bool WritesDone() override { return call_.WritesDone(); }
  void WaitForInitialMetadata() override { call_.WaitForInitialMetadata(); }
  bool Read(rpc::HeldMessage* out) override {
    ReceivedMessage received;
    if (!call_.NextMessage(&received)) return false;
    out->Adopt(&received.frame, received.offset, received.length);
    return true;
  }
  void Fail(const absl::Status& status) override {
    call_.Cancel(FlatStatus(status));
  }
  grpc::Status Finish() override { return call_.Finish(); }

 private:
  // Room for a small message's header and root beyond its hint.
  static constexpr size_t kSlack = 256;

  const std::shared_ptr<ClientConnection> conn_;
  FlatContextIo io_;
  StreamCall call_;  // after io_, which it uses until destroyed
};

class FailedFlatStream final : public FlatClientStreamPort {
 public:
  explicit FailedFlatStream(grpc::Status status) : status_(std::move(status)) {}
  std::unique_ptr<rpc::ChunkArena> NewMessage(size_t size_hint) override {
    return rpc::ChunkArena::OnHeap(size_hint);
  }
  bool Write(rpc::ChunkArena*, grpc::WriteOptions) override { return false; }
  bool WritesDone() override { return false; }
  void WaitForInitialMetadata() override {}
  bool Read(rpc::HeldMessage*) override { return false; }
  void Fail(const absl::Status&) override {}
  grpc::Status Finish() override { return status_; }

 private:
  grpc::Status status_;
};

}  // namespace

std::unique_ptr<FlatClientStreamPort> StartFlatClientStream(
    std::shared_ptr<ClientConnection> conn, uint32_t method, StreamKind kind,
    grpc::ClientContext* context, rpc::ChunkArena* request,
    rpc::HeldMessage* response) {
  auto stream = std::make_unique<FlatContextStream>(std::move(conn), kind,
                                                    context, request, response);
  stream->Start(method);
  return stream;
}

std::unique_ptr<FlatClientStreamPort> FailedFlatClientStream(
    grpc::Status status) {
  return std::make_unique<FailedFlatStream>(std::move(status));
}

std::unique_ptr<ShmClientStream> StartClientStream(
    std::shared_ptr<ClientConnection> conn, uint32_t method, StreamKind kind,
    grpc::ClientContext* context, const google::protobuf::MessageLite* request,
    google::protobuf::MessageLite* response) {
  auto stream = std::make_unique<ContextStream>(std::move(conn), kind, context,
                                                request, response);
  stream->Start(method);
  return stream;
}

std::unique_ptr<ShmClientStream> FailedClientStream(grpc::Status status) {
  return std::make_unique<FailedStream>(std::move(status));
}

}  // namespace shmrpc::internal
