#include "shmrpc/client/internal/client_stream.h"

#include <climits>
#include <utility>

#include "shmrpc/client/internal/client_context_access.h"
#include "shmrpc/client/internal/context_io.h"
#include "shmrpc/client/internal/stream_call.h"
#include "shmrpc/message/peer_serialize.h"

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

}  // namespace

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
