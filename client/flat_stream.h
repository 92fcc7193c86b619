// Flat-message streaming calls from the generated stubs
// (cc_shm_grpc_library(..., flat = True)): every message written is built
// in place and every message read is read in place (shmrpc/message/flat.h),
// through the handles of shmrpc/rpc/flat_message.h. The shapes follow
// gRPC's ClientReader, ClientWriter and ClientReaderWriter:
//
//   // server streaming
//   shmrpc::FlatRequest<FrameQueryBuilder> query = stub.NewWatchRequest();
//   query->set_camera(3);
//   auto reader = stub.Watch(&context, std::move(query));
//   shmrpc::FlatMessage<FrameView> frame;
//   while (reader->Read(&frame)) Show(frame->pixels());   // in place
//   grpc::Status status = reader->Finish();
//
//   // client streaming
//   shmrpc::FlatResponse<SummaryView> summary;
//   auto writer = stub.Upload(&context, &summary);
//   for (...) {
//     shmrpc::FlatMessageBuilder<BlockBuilder> block = writer->NewMessage(n);
//     Fill(block->mutable_data(n));                      // in place
//     if (!writer->Write(std::move(block))) break;
//   }
//   writer->WritesDone();
//   grpc::Status status = writer->Finish();  // then summary->...
//
//   // bidirectional: stub.Chat(&context, shmrpc::kFlat) gives a
//   // FlatClientReaderWriter with both sides.
//
// Over shared memory a written message's builder lives in a chunk of the
// client's own segment, which the stream sends as it is; a message read is
// the server's chunk, read where it lies until its FlatMessage releases it
// or reads the next one. Without shared memory (a remote server, fallback,
// SHMRPC_MODE=off, a server that serves only the protobuf form) the same
// code works: each message is converted to protobuf and back.
//
// Semantics are gRPC's: Read returns false once the stream ended (Finish
// says how); Write returns false once the call is over; flow control,
// deadlines, cancellation (context->TryCancel()) and metadata are those of
// the protobuf streams. Threads: as gRPC's streams, one reader and one
// writer thread at a time; Finish once both are done. Destroying a stream
// before Finish cancels the call.
#ifndef SHMRPC_CLIENT_FLAT_STREAM_H_
#define SHMRPC_CLIENT_FLAT_STREAM_H_
// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "shmrpc/client/flat_call.h"
#include "shmrpc/message/flat.h"
#include "shmrpc/rpc/flat_message.h"

namespace shmrpc {

// Selects the flat form of a bidirectional-streaming stub method, whose
// protobuf form takes the context alone: stub.Chat(&context, shmrpc::kFlat).
struct FlatTag {};
inline constexpr FlatTag kFlat{};

namespace internal {

// One flat streaming call as the public stream classes below use it: over
// shared memory (client/internal/client_stream.cc) or on the protobuf form
// of the method (ProtobufFlatClientStream). Threads as the public classes.
class FlatClientStreamPort {
 public:
  virtual ~FlatClientStreamPort() = default;
  // An arena for a message to write, of about `size_hint` bytes.
  virtual std::unique_ptr<rpc::ChunkArena> NewMessage(size_t size_hint) = 0;
  // Sends the sealed message in `message` (taking its chunk if it is in
  // one of the call's); false once the call is over.
  virtual bool Write(rpc::ChunkArena* message, grpc::WriteOptions options) = 0;
  virtual bool WritesDone() = 0;
  virtual void WaitForInitialMetadata() = 0;
  // The next message into `out`; false once there is none.
  virtual bool Read(rpc::HeldMessage* out) = 0;
  // Ends the call with `status` (a message that could not be built or
  // read) unless it ended already.
  virtual void Fail(const absl::Status& status) = 0;
  // The call's status once it ended; for client streaming, the response
  // is in the holder given at the start when it is OK.
  virtual grpc::Status Finish() = 0;
};

// A stream that ended before it started, with `status`.
std::unique_ptr<FlatClientStreamPort> FailedFlatClientStream(
    grpc::Status status);

// What the public classes share: the call, and making messages to write.
class FlatClientStreamBase {
 public:
  explicit FlatClientStreamBase(std::unique_ptr<FlatClientStreamPort> port)
      : port_(std::move(port)) {}

 protected:
  template <class Builder>
  FlatMessageBuilder<Builder> NewBuilt(size_t size_hint) {
    return FlatMessageBuilder<Builder>(port_->NewMessage(size_hint));
  }

  std::unique_ptr<FlatClientStreamPort> port_;
};

}  // namespace internal

// The client's side of a flat server-streaming call: reads `View`s.
template <class View>
class FlatClientReader final : private internal::FlatClientStreamBase {
 public:
  explicit FlatClientReader(std::unique_ptr<internal::FlatClientStreamPort> p)
      : FlatClientStreamBase(std::move(p)) {}
  // Blocks until the server's initial metadata arrived (or the call ended).
  void WaitForInitialMetadata() { port_->WaitForInitialMetadata(); }
  // The server's next message into `message` (released first), read in
  // place; false once there is none (Finish says why).
  bool Read(FlatMessage<View>* message) {
    return internal::ReadFlatMessage(port_.get(), message);
  }
  // Waits for the call's end (dropping messages not read).
  grpc::Status Finish() { return port_->Finish(); }
};

// The client's side of a flat client-streaming call: writes messages built
// with `Builder`; the response goes where the stub method was told.
template <class Builder>
class FlatClientWriter final : private internal::FlatClientStreamBase {
 public:
  FlatClientWriter(std::unique_ptr<internal::FlatClientStreamPort> p,
                   std::function<grpc::Status()> bind_response)
      : FlatClientStreamBase(std::move(p)),
        bind_response_(std::move(bind_response)) {}
  // A message to fill and Write, of about `size_hint` bytes (it grows).
  FlatMessageBuilder<Builder> NewMessage(size_t size_hint = 0) {
    return NewBuilt<Builder>(size_hint);
  }
  // Sends `message`, waiting while the server has too many unread (flow
  // control); false once the call is over. options.set_last_message()
  // half-closes with it.
  bool Write(FlatMessageBuilder<Builder> message,
             grpc::WriteOptions options = grpc::WriteOptions()) {
    return internal::WriteFlatMessage(port_.get(), &message, options);
  }
  bool WritesDone() { return port_->WritesDone(); }
  // Waits for the call's end; when OK the response can be read.
  grpc::Status Finish() {
    grpc::Status status = port_->Finish();
    return status.ok() ? bind_response_() : status;
  }

 private:
  std::function<grpc::Status()> bind_response_;
};

// The client's side of a flat bidirectional-streaming call.
template <class Builder, class View>
class FlatClientReaderWriter final : private internal::FlatClientStreamBase {
 public:
  explicit FlatClientReaderWriter(
      std::unique_ptr<internal::FlatClientStreamPort> p)
      : FlatClientStreamBase(std::move(p)) {}
  void WaitForInitialMetadata() { port_->WaitForInitialMetadata(); }
  bool Read(FlatMessage<View>* message) {
    return internal::ReadFlatMessage(port_.get(), message);
  }
  FlatMessageBuilder<Builder> NewMessage(size_t size_hint = 0) {
    return NewBuilt<Builder>(size_hint);
  }
  bool Write(FlatMessageBuilder<Builder> message,
             grpc::WriteOptions options = grpc::WriteOptions()) {
    return internal::WriteFlatMessage(port_.get(), &message, options);
  }
  bool WritesDone() { return port_->WritesDone(); }
  grpc::Status Finish() { return port_->Finish(); }
};

namespace internal {

// A flat stream on the protobuf form of its method (`Stream`: the
// ClientReaderInterface, ClientWriterInterface or ClientReaderWriterInterface
// the stub's protobuf method returned; over shared memory or gRPC): every
// message written is converted to a `Request`, every `Response` read to a
// flat message. Client streaming: the response is converted into
// `response_holder` once the call ended OK.
template <class Stream, class Request, class Response, class RequestView,
          class ResponseBuilder>
class ProtobufFlatClientStream final : public FlatClientStreamPort {
  static constexpr bool kReads =
      std::is_base_of_v<grpc::internal::ReaderInterface<Response>, Stream>;
  static constexpr bool kWrites =
      std::is_base_of_v<grpc::internal::WriterInterface<Request>, Stream>;

 public:
  // `keep` (the protobuf request of a server-streaming call, `response` of
  // a client-streaming one) lives as long as the stream.
  ProtobufFlatClientStream(grpc::ClientContext* context,
                           std::shared_ptr<void> keep,
                           std::unique_ptr<Stream> stream, Response* response,
                           rpc::HeldMessage* response_holder)
      : context_(context),
        keep_(std::move(keep)),
        stream_(std::move(stream)),
        response_(response),
        response_holder_(response_holder) {}

  std::unique_ptr<rpc::ChunkArena> NewMessage(size_t size_hint) override {
    return rpc::ChunkArena::OnHeap(size_hint + 256);
  }
  bool Write(rpc::ChunkArena* message, grpc::WriteOptions options) override {
    if constexpr (kWrites) {
      const flat::Reader reader(message->written());
      absl::StatusOr<RequestView> view = reader.Root<RequestView>();
      Request request;
      absl::Status s = view.ok() ? view->ToProto(&request) : view.status();
      if (!s.ok()) {
        Fail(s);
        return false;
      }
      return stream_->Write(request, options);
    } else {
      return false;
    }
  }
  bool WritesDone() override {
    if constexpr (kWrites) {
      return stream_->WritesDone();
    } else {
      return false;
    }
  }
  void WaitForInitialMetadata() override {
    if constexpr (kReads) stream_->WaitForInitialMetadata();
  }
  bool Read(rpc::HeldMessage* out) override {
    if constexpr (kReads) {
      Response response;
      if (!stream_->Read(&response)) return false;
      absl::Status s = Convert(response, out);
      if (!s.ok()) {
        Fail(s);
        return false;
      }
      return true;
    } else {
      return false;
    }
  }
  void Fail(const absl::Status& status) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_.ok()) failed_ = FlatStatus(status);
    }
    context_->TryCancel();
  }
  grpc::Status Finish() override {
    grpc::Status status = stream_->Finish();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!failed_.ok()) return failed_;
    }
    if (status.ok() && response_ != nullptr && response_holder_ != nullptr) {
      return FlatStatus(Convert(*response_, response_holder_));
    }
    return status;
  }

 private:
  static absl::Status Convert(const Response& response, rpc::HeldMessage* out) {
    flat::HeapArena arena(response.ByteSizeLong() + 256);
    ResponseBuilder built = ResponseBuilder::New(&arena);
    built.CopyFrom(response);
    if (absl::Status s = arena.Finish(built); !s.ok()) return s;
    out->AdoptCopy(arena.written());
    return absl::OkStatus();
  }

  grpc::ClientContext* const context_;
  std::shared_ptr<void> keep_;
  std::unique_ptr<Stream> stream_;
  Response* const response_;
  rpc::HeldMessage* const response_holder_;
  std::mutex mu_;        // the reading and the writing thread may fail
  grpc::Status failed_;  // guarded by mu_: a message we could not convert
};

}  // namespace internal
}  // namespace shmrpc

#endif  // SHMRPC_CLIENT_FLAT_STREAM_H_
