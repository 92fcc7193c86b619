// Support for the client stubs that protoc-gen-shmrpc generates. Not for
// direct use.
//
// A generated unary method first offers the call to shared memory
// (StubCore::TryUnary); if the channel has no shared-memory connection to a
// server that serves the method, it makes the ordinary gRPC call on the same
// channel instead.
#ifndef SHMRPC_CLIENT_GENERATED_STUB_H_
#define SHMRPC_CLIENT_GENERATED_STUB_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <google/protobuf/message_lite.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/channel_interface.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "absl/strings/string_view.h"
#include "shmrpc/client/flat_call.h"
#include "shmrpc/client/flat_stream.h"
#include "shmrpc/client/internal/callback_stream.h"
#include "shmrpc/codegen/version.h"
#include "shmrpc/message/peer_serialize.h"

namespace shmrpc::internal {

class ChannelState;
class ClientConnection;

// One method of a generated stub: its name, gRPC's description of it (for
// the fallback), and its id on the current shared-memory connection.
// Thread-safe.
class StubMethod {
 public:
  StubMethod(const char* name, grpc::internal::RpcMethod::RpcType type,
             const std::shared_ptr<grpc::ChannelInterface>& channel)
      : name_(name), rpc_method_(name, type, channel) {}

  const char* name() const { return name_; }
  const grpc::internal::RpcMethod& rpc_method() const { return rpc_method_; }

  // The method's id on `conn`, 0 if that server does not serve it. Cached
  // per connection.
  uint32_t IdOn(const ClientConnection& conn) const;

 private:
  const char* name_;
  grpc::internal::RpcMethod rpc_method_;
  mutable std::atomic<uint64_t> cached_{0};  // epoch << 32 | id
};

// The client's side of one streaming call over shared memory (any of the
// three kinds), as the generated stub's stream objects use it. Like gRPC's
// streams: Read (and WaitForInitialMetadata) from one thread and Write (and
// WritesDone) from one other thread at a time; Finish once both are done.
// Destroying it before Finish() returned cancels the call.
class ShmClientStream {
 public:
  virtual ~ShmClientStream() = default;
  // Blocks until the server's initial metadata arrived (or the call ended).
  virtual void WaitForInitialMetadata() = 0;
  // As gRPC's reader: an upper bound of the next message's size (the
  // channel's receive limit).
  virtual bool NextMessageSize(uint32_t* size) = 0;
  // The server's next message into `message`; false once there is none (the
  // call ended: Finish() says how).
  virtual bool Read(google::protobuf::MessageLite* message) = 0;
  // Sends one message, waiting while the server has too many unread (flow
  // control). False once the call is over (the server ended it, TryCancel,
  // the deadline, a message over the send limit: Finish() says which).
  virtual bool Write(const google::protobuf::MessageLite& message,
                     grpc::WriteOptions options) = 0;
  // Half-closes: the server's Read returns false after the messages sent.
  virtual bool WritesDone() = 0;
  // Waits for the call's end (dropping messages not read) and returns its
  // status; for client streaming, the response was parsed into the message
  // given at the start when the status is OK.
  virtual grpc::Status Finish() = 0;
};

// gRPC's client stream interfaces over a ShmClientStream: what the generated
// streaming methods return when the call goes over shared memory.
template <class Response>
class ShmClientReader final : public grpc::ClientReaderInterface<Response> {
 public:
  explicit ShmClientReader(std::unique_ptr<ShmClientStream> stream)
      : stream_(std::move(stream)) {}

  void WaitForInitialMetadata() override { stream_->WaitForInitialMetadata(); }
  bool NextMessageSize(uint32_t* size) override {
    return stream_->NextMessageSize(size);
  }
  bool Read(Response* message) override { return stream_->Read(message); }
  grpc::Status Finish() override { return stream_->Finish(); }

 private:
  std::unique_ptr<ShmClientStream> stream_;
};

template <class Request>
class ShmClientWriter final : public grpc::ClientWriterInterface<Request> {
 public:
  explicit ShmClientWriter(std::unique_ptr<ShmClientStream> stream)
      : stream_(std::move(stream)) {}

  using grpc::internal::WriterInterface<Request>::Write;
  bool Write(const Request& message, grpc::WriteOptions options) override {
    return stream_->Write(message, options);
  }
  bool WritesDone() override { return stream_->WritesDone(); }
  grpc::Status Finish() override { return stream_->Finish(); }

 private:
  std::unique_ptr<ShmClientStream> stream_;
};

template <class Request, class Response>
class ShmClientReaderWriter final
    : public grpc::ClientReaderWriterInterface<Request, Response> {
 public:
  explicit ShmClientReaderWriter(std::unique_ptr<ShmClientStream> stream)
      : stream_(std::move(stream)) {}

  void WaitForInitialMetadata() override { stream_->WaitForInitialMetadata(); }
  bool NextMessageSize(uint32_t* size) override {
    return stream_->NextMessageSize(size);
  }
  bool Read(Response* message) override { return stream_->Read(message); }
  using grpc::internal::WriterInterface<Request>::Write;
  bool Write(const Request& message, grpc::WriteOptions options) override {
    return stream_->Write(message, options);
  }
  bool WritesDone() override { return stream_->WritesDone(); }
  grpc::Status Finish() override { return stream_->Finish(); }

 private:
  std::unique_ptr<ShmClientStream> stream_;
};

// The kinds of streaming call (client/internal/client_stream.h).
enum class StreamKind { kServer, kClient, kBidi };

// What a generated stub shares between its methods. Thread-safe.
class StubCore {
 public:
  explicit StubCore(std::shared_ptr<grpc::ChannelInterface> channel);
  ~StubCore();

  const std::shared_ptr<grpc::ChannelInterface>& channel() const {
    return channel_;
  }

  // Runs the call over shared memory if the channel can; returns false
  // (doing nothing) if the caller should make the gRPC call instead.
  bool TryUnary(const StubMethod& method, grpc::ClientContext* context,
                const google::protobuf::MessageLite& request,
                google::protobuf::MessageLite* response, grpc::Status* status);

  // Flat-message calls (client/flat_call.h, client/flat_stream.h). An
  // arena to build a message of `method` in, of about `size_hint` bytes: a
  // chunk of the channel's shared-memory connection when it has one
  // serving the method (the call then sends it without a copy), else
  // memory of its own.
  std::unique_ptr<rpc::ChunkArena> NewFlatArena(const StubMethod& method,
                                                size_t size_hint);
  // Runs a flat unary call over shared memory if the channel can (the
  // response then read in place from `response`); returns false, doing
  // nothing, if the caller should make the gRPC call instead. `request`
  // must be sealed.
  bool TryFlatUnary(const StubMethod& method, grpc::ClientContext* context,
                    rpc::ChunkArena* request, rpc::HeldMessage* response,
                    grpc::Status* status);
  // A flat streaming call of `kind` over shared memory if the channel can
  // make it (a call that cannot start fails through the stream); nullptr
  // if the caller should make the protobuf call instead. `request`: server
  // streaming's, sealed; `response`: client streaming's (where it is kept
  // when the call ends OK). Both must outlive the stream.
  std::unique_ptr<FlatClientStreamPort> TryFlatStream(
      const StubMethod& method, StreamKind kind, grpc::ClientContext* context,
      rpc::ChunkArena* request, rpc::HeldMessage* response);

  // The asynchronous form: on true, `done` was taken and will be called
  // with the outcome; on false, it is untouched.
  bool TryUnaryAsync(const StubMethod& method, grpc::ClientContext* context,
                     const google::protobuf::MessageLite* request,
                     google::protobuf::MessageLite* response,
                     std::function<void(grpc::Status)>* done);

  // A streaming call of `kind` over shared memory if the channel can make
  // it (a call that cannot start fails through the stream); nullptr if the
  // caller should make the gRPC call instead. `request`: server streaming's;
  // `response`: client streaming's (parsed when the call ends OK).
  std::unique_ptr<ShmClientStream> TryStream(
      const StubMethod& method, StreamKind kind, grpc::ClientContext* context,
      const google::protobuf::MessageLite* request,
      google::protobuf::MessageLite* response);

  // The generated streaming methods: over shared memory when they can,
  // otherwise gRPC's own call on the same channel.
  template <class Response, class Request>
  std::unique_ptr<grpc::ClientReaderInterface<Response>> ServerStreaming(
      const StubMethod& method, grpc::ClientContext* context,
      const Request& request) {
    if (std::unique_ptr<ShmClientStream> stream = TryStream(
            method, StreamKind::kServer, context, &request, nullptr)) {
      return std::make_unique<ShmClientReader<Response>>(std::move(stream));
    }
    return std::unique_ptr<grpc::ClientReaderInterface<Response>>(
        grpc::internal::ClientReaderFactory<Response>::Create(
            channel_.get(), method.rpc_method(), context, request));
  }
  template <class Request, class Response>
  std::unique_ptr<grpc::ClientWriterInterface<Request>> ClientStreaming(
      const StubMethod& method, grpc::ClientContext* context,
      Response* response) {
    if (std::unique_ptr<ShmClientStream> stream = TryStream(
            method, StreamKind::kClient, context, nullptr, response)) {
      return std::make_unique<ShmClientWriter<Request>>(std::move(stream));
    }
    return std::unique_ptr<grpc::ClientWriterInterface<Request>>(
        grpc::internal::ClientWriterFactory<Request>::Create(
            channel_.get(), method.rpc_method(), context, response));
  }
  template <class Request, class Response>
  std::unique_ptr<grpc::ClientReaderWriterInterface<Request, Response>>
  BidiStreaming(const StubMethod& method, grpc::ClientContext* context) {
    if (std::unique_ptr<ShmClientStream> stream =
            TryStream(method, StreamKind::kBidi, context, nullptr, nullptr)) {
      return std::make_unique<ShmClientReaderWriter<Request, Response>>(
          std::move(stream));
    }
    return std::unique_ptr<
        grpc::ClientReaderWriterInterface<Request, Response>>(
        grpc::internal::ClientReaderWriterFactory<Request, Response>::Create(
            channel_.get(), method.rpc_method(), context));
  }

  // The callback form of TryStream: a call over shared memory reporting to
  // `reactions` (a call that cannot start fails through them), or nullptr
  // if the caller should make gRPC's reactor call instead.
  std::shared_ptr<CallbackCall> TryCallbackStream(
      const StubMethod& method, StreamKind kind, grpc::ClientContext* context,
      const google::protobuf::MessageLite* request,
      google::protobuf::MessageLite* response, CallbackReactions* reactions);

  // The generated streaming methods' callback forms (async()): over shared
  // memory when they can (client/internal/callback_stream.h), otherwise
  // gRPC's reactor call on the same channel.
  template <class Response, class Request>
  void ServerStreamingCallback(const StubMethod& method,
                               grpc::ClientContext* context,
                               const Request* request,
                               grpc::ClientReadReactor<Response>* reactor) {
    auto* stream = new ShmCallbackReader<Response>(reactor);
    if (std::shared_ptr<CallbackCall> call = TryCallbackStream(
            method, StreamKind::kServer, context, request, nullptr, stream)) {
      stream->Bind(std::move(call));
      return;
    }
    delete stream;  // gRPC's binds the reactor anew
    grpc::internal::ClientCallbackReaderFactory<Response>::Create(
        channel_.get(), method.rpc_method(), context, request, reactor);
  }
  template <class Request, class Response>
  void ClientStreamingCallback(const StubMethod& method,
                               grpc::ClientContext* context, Response* response,
                               grpc::ClientWriteReactor<Request>* reactor) {
    auto* stream = new ShmCallbackWriter<Request>(reactor);
    if (std::shared_ptr<CallbackCall> call = TryCallbackStream(
            method, StreamKind::kClient, context, nullptr, response, stream)) {
      stream->Bind(std::move(call));
      return;
    }
    delete stream;
    grpc::internal::ClientCallbackWriterFactory<Request>::Create(
        channel_.get(), method.rpc_method(), context, response, reactor);
  }
  template <class Request, class Response>
  void BidiStreamingCallback(
      const StubMethod& method, grpc::ClientContext* context,
      grpc::ClientBidiReactor<Request, Response>* reactor) {
    auto* stream = new ShmCallbackReaderWriter<Request, Response>(reactor);
    if (std::shared_ptr<CallbackCall> call = TryCallbackStream(
            method, StreamKind::kBidi, context, nullptr, nullptr, stream)) {
      stream->Bind(std::move(call));
      return;
    }
    delete stream;
    grpc::internal::ClientCallbackReaderWriterFactory<
        Request, Response>::Create(channel_.get(), method.rpc_method(), context,
                                   reactor);
  }

 private:
  std::shared_ptr<grpc::ChannelInterface> channel_;
  std::shared_ptr<ChannelState> state_;  // null: not a shmrpc channel
};

// How the interceptor (client/credentials.h) handles a method's messages,
// which it only sees as void*. Registered by generated code for every
// method, under its full name.
struct MethodCodec {
  size_t (*request_size)(const void* request);
  // Writes the request (whose request_size was just taken) for the server;
  // false if it did not come out at that size.
  bool (*write_request)(const void* request, size_t size, uint8_t* out);
  // False if the bytes do not parse (or exceed what protobuf can take).
  bool (*parse_response)(void* response, const uint8_t* bytes, size_t size);
};

template <class Request, class Response>
const MethodCodec* CodecFor() {
  static const MethodCodec codec = {
      [](const void* r) {
        return static_cast<const Request*>(r)->ByteSizeLong();
      },
      [](const void* r, size_t size, uint8_t* out) {
        return message::SerializeToPeer(*static_cast<const Request*>(r), size,
                                        out);
      },
      [](void* r, const uint8_t* bytes, size_t size) {
        // protobuf takes an int (and aborts on a negative one).
        if (size > static_cast<size_t>(INT_MAX)) return false;
        return static_cast<Response*>(r)->ParseFromArray(
            bytes, static_cast<int>(size));
      }};
  return &codec;
}

// Thread-safe; called from static initializers of generated code.
void RegisterMethodCodec(const char* name, const MethodCodec* codec);
const MethodCodec* FindMethodCodec(absl::string_view name);

// Registers a method's codec at static-initialization time.
struct MethodCodecRegistration {
  MethodCodecRegistration(const char* name, const MethodCodec* codec) {
    RegisterMethodCodec(name, codec);
  }
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_GENERATED_STUB_H_
