// What generated flat services (ShmS::FlatService, from
// cc_shm_grpc_library(..., flat = True)) make streaming methods of: the
// handler reads every client message in place through a flat view and
// builds every message it writes in place (shmrpc/message/flat.h), through
// the handles of shmrpc/rpc/flat_message.h. The shapes follow gRPC's
// ServerWriter, ServerReader and ServerReaderWriter:
//
//   grpc::Status Watch(shmrpc::ServerContext* context, FrameQueryView query,
//                      shmrpc::FlatServerWriter<FrameBuilder>* writer) {
//     while (...) {
//       shmrpc::FlatMessageBuilder<FrameBuilder> frame =
//           writer->NewMessage(width * height);
//       Render(frame->mutable_pixels(width * height));   // in place
//       if (!writer->Write(std::move(frame))) break;     // the client left
//     }
//     return grpc::Status::OK;
//   }
//
// Over shared memory a message written lives in a chunk of the server's
// own segment, sent as it is, and a message read is the client's chunk,
// read where it lies until its FlatMessage releases it or reads the next.
// Over gRPC (remote clients, fallback), and for clients that send the
// protobuf form over shared memory (gRPC's stub on ShmChannelCredentials),
// the same handler runs with each message converted from and to protobuf,
// so a flat service serves every gRPC client.
//
// Semantics are those of the protobuf streams: Read returns false once the
// client half-closed or the call is over; Write returns false once the
// call is over, waiting while the client has too much unread (flow
// control). A message that cannot be built (RESOURCE_EXHAUSTED) or a client
// message that is not one of its type (INTERNAL) ends the call with that
// status, whatever the handler returns. Threads: as gRPC's, a
// bidirectional handler may Read on one thread while it Writes on another.
// The stream objects live while the handler runs.
#ifndef SHMRPC_SERVER_FLAT_STREAM_H_
#define SHMRPC_SERVER_FLAT_STREAM_H_
// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "shmrpc/message/flat.h"
#include "shmrpc/rpc/flat_message.h"
#include "shmrpc/server/flat_service.h"
#include "shmrpc/server/server_context.h"
#include "shmrpc/server/service.h"

namespace shmrpc {
namespace internal {

// One flat streaming call as the public stream classes below use it: over
// shared memory in place (ShmFlatServerStream) or on protobuf messages
// (ProtobufFlatServerStream).
class FlatServerStreamPort {
 public:
  virtual ~FlatServerStreamPort() = default;
  virtual std::unique_ptr<rpc::ChunkArena> NewMessage(size_t size_hint) = 0;
  // Sends the sealed message in `message`; false once the call is over.
  virtual bool Write(rpc::ChunkArena* message, grpc::WriteOptions options) = 0;
  // The client's next message into `out`; false once there is none.
  virtual bool Read(rpc::HeldMessage* out) = 0;
  virtual bool NextMessageSize(uint32_t* size) = 0;
  virtual void SendInitialMetadata() = 0;
  // Ends the call with `status` whatever the handler returns.
  virtual void Fail(const absl::Status& status) = 0;
};

// (grpc::Status from the absl::Status of building or reading a message.)
inline grpc::Status FlatCallStatus(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

// What the public classes share: the call, and making messages to write.
class FlatServerStreamBase {
 public:
  explicit FlatServerStreamBase(FlatServerStreamPort* port) : port_(port) {}

 protected:
  template <class Builder>
  FlatMessageBuilder<Builder> NewBuilt(size_t size_hint) {
    return FlatMessageBuilder<Builder>(port_->NewMessage(size_hint));
  }

  FlatServerStreamPort* const port_;
};

}  // namespace internal

// A flat server-streaming handler's writer: messages built with `Builder`.
template <class Builder>
class FlatServerWriter final : private internal::FlatServerStreamBase {
 public:
  explicit FlatServerWriter(internal::FlatServerStreamPort* port)
      : FlatServerStreamBase(port) {}
  // Sends the initial metadata now (otherwise it goes with the first
  // message, or with the status).
  void SendInitialMetadata() { port_->SendInitialMetadata(); }
  // A message to fill and Write, of about `size_hint` bytes (it grows).
  FlatMessageBuilder<Builder> NewMessage(size_t size_hint = 0) {
    return NewBuilt<Builder>(size_hint);
  }
  bool Write(FlatMessageBuilder<Builder> message,
             grpc::WriteOptions options = grpc::WriteOptions()) {
    return internal::WriteFlatMessage(port_, &message, options);
  }
};

// A flat client-streaming handler's reader: reads `View`s.
template <class View>
class FlatServerReader final : private internal::FlatServerStreamBase {
 public:
  explicit FlatServerReader(internal::FlatServerStreamPort* port)
      : FlatServerStreamBase(port) {}
  void SendInitialMetadata() { port_->SendInitialMetadata(); }
  // An upper bound of the next message's size (the receive limit).
  bool NextMessageSize(uint32_t* size) { return port_->NextMessageSize(size); }
  // The client's next message into `message` (released first), read in
  // place; false once the client half-closed or the call is over.
  bool Read(FlatMessage<View>* message) {
    return internal::ReadFlatMessage(port_, message);
  }
};

// A flat bidirectional-streaming handler's stream.
template <class Builder, class View>
class FlatServerReaderWriter final : private internal::FlatServerStreamBase {
 public:
  explicit FlatServerReaderWriter(internal::FlatServerStreamPort* port)
      : FlatServerStreamBase(port) {}
  void SendInitialMetadata() { port_->SendInitialMetadata(); }
  bool NextMessageSize(uint32_t* size) { return port_->NextMessageSize(size); }
  bool Read(FlatMessage<View>* message) {
    return internal::ReadFlatMessage(port_, message);
  }
  FlatMessageBuilder<Builder> NewMessage(size_t size_hint = 0) {
    return NewBuilt<Builder>(size_hint);
  }
  bool Write(FlatMessageBuilder<Builder> message,
             grpc::WriteOptions options = grpc::WriteOptions()) {
    return internal::WriteFlatMessage(port_, &message, options);
  }
};

namespace internal {

// A flat stream over shared memory, in place.
class ShmFlatServerStream final : public FlatServerStreamPort {
 public:
  explicit ShmFlatServerStream(ServerStreamCall* call) : call_(call) {}
  std::unique_ptr<rpc::ChunkArena> NewMessage(size_t size_hint) override {
    return call_->NewMessageArena(size_hint);
  }
  bool Write(rpc::ChunkArena* message, grpc::WriteOptions options) override {
    return call_->WriteArena(message, options);
  }
  bool Read(rpc::HeldMessage* out) override { return call_->ReadHeld(out); }
  bool NextMessageSize(uint32_t* size) override {
    return call_->NextMessageSize(size);
  }
  void SendInitialMetadata() override { call_->SendInitialMetadata(); }
  void Fail(const absl::Status& status) override {
    call_->FailCall(FlatCallStatus(status));
  }

 private:
  ServerStreamCall* const call_;
};

// The request of a flat server-streaming call, read in place.
template <class RequestView>
absl::StatusOr<RequestView> FlatRequestOf(const flat::Reader& reader) {
  absl::StatusOr<RequestView> view = reader.Root<RequestView>();
  if (!view.ok()) {
    return absl::InternalError("Failed to read the flat request: " +
                               std::string(view.status().message()));
  }
  return view;
}

// A server-streaming method of a flat service.
template <class ServiceT, class RequestView, class ResponseBuilder>
class FlatServerStreamingMethodHandler final : public ShmMethodHandler {
 public:
  using Method = grpc::Status (*)(ServiceT*, ServerContext*, RequestView,
                                  FlatServerWriter<ResponseBuilder>*);
  FlatServerStreamingMethodHandler(Method method, ServiceT* service)
      : method_(method), service_(service) {}
  ShmMethodKind kind() const override {
    return ShmMethodKind::kServerStreaming;
  }
  void RunStream(ServerStreamCall* call) override {
    std::vector<uint64_t> copy;
    const flat::Reader reader(AlignedRequest(call->request(), &copy));
    absl::StatusOr<RequestView> request = FlatRequestOf<RequestView>(reader);
    if (!request.ok()) {
      call->Finish(FlatCallStatus(request.status()), nullptr);
      return;
    }
    ShmFlatServerStream port(call);
    FlatServerWriter<ResponseBuilder> writer(&port);
    call->Finish(method_(service_, call->context(), *request, &writer),
                 nullptr);
  }

 private:
  const Method method_;
  ServiceT* const service_;
};

// A client-streaming method of a flat service: the response is built in
// place.
template <class ServiceT, class RequestView, class ResponseBuilder>
class FlatClientStreamingMethodHandler final : public ShmMethodHandler {
 public:
  using Method = grpc::Status (*)(ServiceT*, ServerContext*,
                                  FlatServerReader<RequestView>*,
                                  ResponseBuilder);
  FlatClientStreamingMethodHandler(Method method, ServiceT* service)
      : method_(method), service_(service) {}
  ShmMethodKind kind() const override {
    return ShmMethodKind::kClientStreaming;
  }
  void RunStream(ServerStreamCall* call) override {
    ShmFlatServerStream port(call);
    FlatServerReader<RequestView> reader(&port);
    std::unique_ptr<rpc::ChunkArena> arena =
        call->NewMessageArena(kFirstResponseBufferBytes);
    ResponseBuilder response = ResponseBuilder::New(arena.get());
    grpc::Status status = method_(service_, call->context(), &reader, response);
    if (status.ok()) {
      if (absl::Status s = arena->Finish(response); !s.ok()) {
        status = FlatCallStatus(s);
      }
    }
    call->FinishArena(status, arena.get());
  }

 private:
  const Method method_;
  ServiceT* const service_;
};

// A bidirectional-streaming method of a flat service.
template <class ServiceT, class RequestView, class ResponseBuilder>
class FlatBidiStreamingMethodHandler final : public ShmMethodHandler {
 public:
  using Method =
      grpc::Status (*)(ServiceT*, ServerContext*,
                       FlatServerReaderWriter<ResponseBuilder, RequestView>*);
  FlatBidiStreamingMethodHandler(Method method, ServiceT* service)
      : method_(method), service_(service) {}
  ShmMethodKind kind() const override { return ShmMethodKind::kBidiStreaming; }
  void RunStream(ServerStreamCall* call) override {
    ShmFlatServerStream port(call);
    FlatServerReaderWriter<ResponseBuilder, RequestView> stream(&port);
    call->Finish(method_(service_, call->context(), &stream), nullptr);
  }

 private:
  const Method method_;
  ServiceT* const service_;
};

// A flat stream on protobuf messages (gRPC's server streams, or the
// protobuf form over shared memory): `reader` (null for server streaming)
// gives `Request`s, converted to flat messages as they are read; messages
// written are converted to `Response`s for `writer` (null for client
// streaming).
template <class Request, class Response, class RequestView,
          class ResponseBuilder>
class ProtobufFlatServerStream final : public FlatServerStreamPort {
 public:
  ProtobufFlatServerStream(grpc::internal::ServerStreamingInterface* stream,
                           grpc::internal::ReaderInterface<Request>* reader,
                           grpc::internal::WriterInterface<Response>* writer)
      : stream_(stream), reader_(reader), writer_(writer) {}

  std::unique_ptr<rpc::ChunkArena> NewMessage(size_t size_hint) override {
    return rpc::ChunkArena::OnHeap(size_hint + 256);
  }
  bool Write(rpc::ChunkArena* message, grpc::WriteOptions options) override {
    if (writer_ == nullptr || failed()) return false;
    Response response;
    if (absl::Status s = FlatToProto<typename ResponseBuilder::View>(
            message->written(), &response);
        !s.ok()) {
      Fail(s);
      return false;
    }
    return writer_->Write(response, options);
  }
  bool Read(rpc::HeldMessage* out) override {
    if (reader_ == nullptr || failed()) return false;
    Request request;
    if (!reader_->Read(&request)) return false;
    flat::HeapArena arena(request.ByteSizeLong() + 256);
    typename RequestView::Builder built = RequestView::Builder::New(&arena);
    built.CopyFrom(request);
    if (absl::Status s = arena.Finish(built); !s.ok()) {
      Fail(s);
      return false;
    }
    out->AdoptCopy(arena.written());
    return true;
  }
  bool NextMessageSize(uint32_t* size) override {
    return reader_ != nullptr && reader_->NextMessageSize(size);
  }
  void SendInitialMetadata() override { stream_->SendInitialMetadata(); }
  void Fail(const absl::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_.ok()) failure_ = FlatCallStatus(status);
  }
  // The handler's `status`, unless a message failed.
  grpc::Status Outcome(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_.ok() ? status : failure_;
  }

 private:
  bool failed() {
    std::lock_guard<std::mutex> lock(mu_);
    return !failure_.ok();
  }

  grpc::internal::ServerStreamingInterface* const stream_;
  grpc::internal::ReaderInterface<Request>* const reader_;
  grpc::internal::WriterInterface<Response>* const writer_;
  std::mutex mu_;  // Read and Write may run on two threads
  grpc::Status failure_;
};

// The flat streaming methods called with protobuf messages: over gRPC, and
// over shared memory by clients that send protobuf. Each converts the
// messages and runs `method`.
template <class ServiceT, class RequestView, class ResponseBuilder,
          class Request, class Response>
grpc::Status RunFlatServerStreamingOnProtobuf(
    grpc::Status (*method)(ServiceT*, ServerContext*, RequestView,
                           FlatServerWriter<ResponseBuilder>*),
    ServiceT* service, ServerContext* context, const Request& request,
    grpc::ServerWriterInterface<Response>* writer) {
  using RequestBuilder = typename RequestView::Builder;
  flat::HeapArena in(request.ByteSizeLong() + 256);
  RequestBuilder in_builder = RequestBuilder::New(&in);
  in_builder.CopyFrom(request);
  if (absl::Status s = in.Finish(in_builder); !s.ok()) {
    return FlatCallStatus(s);
  }
  const flat::Reader reader(in.written());
  absl::StatusOr<RequestView> view = FlatRequestOf<RequestView>(reader);
  if (!view.ok()) return FlatCallStatus(view.status());
  ProtobufFlatServerStream<Request, Response, RequestView, ResponseBuilder>
      port(writer, nullptr, writer);
  FlatServerWriter<ResponseBuilder> flat_writer(&port);
  return port.Outcome(method(service, context, *view, &flat_writer));
}

template <class ServiceT, class RequestView, class ResponseBuilder,
          class Request, class Response>
grpc::Status RunFlatClientStreamingOnProtobuf(
    grpc::Status (*method)(ServiceT*, ServerContext*,
                           FlatServerReader<RequestView>*, ResponseBuilder),
    ServiceT* service, ServerContext* context,
    grpc::ServerReaderInterface<Request>* reader, Response* response) {
  ProtobufFlatServerStream<Request, Response, RequestView, ResponseBuilder>
      port(reader, reader, nullptr);
  FlatServerReader<RequestView> flat_reader(&port);
  flat::HeapArena out;
  ResponseBuilder out_builder = ResponseBuilder::New(&out);
  grpc::Status status =
      port.Outcome(method(service, context, &flat_reader, out_builder));
  if (!status.ok()) return status;
  if (absl::Status s = out.Finish(out_builder); !s.ok()) {
    return FlatCallStatus(s);
  }
  if (absl::Status s =
          FlatToProto<typename ResponseBuilder::View>(out.written(), response);
      !s.ok()) {
    return FlatCallStatus(s);
  }
  return grpc::Status::OK;
}

template <class ServiceT, class RequestView, class ResponseBuilder,
          class Request, class Response>
grpc::Status RunFlatBidiStreamingOnProtobuf(
    grpc::Status (*method)(
        ServiceT*, ServerContext*,
        FlatServerReaderWriter<ResponseBuilder, RequestView>*),
    ServiceT* service, ServerContext* context,
    grpc::ServerReaderWriterInterface<Response, Request>* stream) {
  ProtobufFlatServerStream<Request, Response, RequestView, ResponseBuilder>
      port(stream, stream, stream);
  FlatServerReaderWriter<ResponseBuilder, RequestView> flat_stream(&port);
  return port.Outcome(method(service, context, &flat_stream));
}

}  // namespace internal
}  // namespace shmrpc

#endif  // SHMRPC_SERVER_FLAT_STREAM_H_
