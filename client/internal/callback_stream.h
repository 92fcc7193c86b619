// The generated stub's callback streams (async()->Method(context, ...,
// reactor)) over shared memory, without gRPC's call machinery: gRPC's
// callback stream interfaces (ClientCallbackReader, ClientCallbackWriter,
// ClientCallbackReaderWriter, which the reactors drive through
// StartRead/StartWrite/...) implemented over a StreamDriver
// (stream_driver.h). The reactions run on the caller's thread (a read whose
// message is there, a write with room in the window), on the call's reader
// or writer thread, or - OnDone - on whichever completes the call last.
//
// As gRPC's: operations started before StartCall() wait for it; the
// reactor's OnReadInitialMetadataDone comes first; OnDone comes once the call
// ended, every started operation's reaction has returned and every hold was
// removed, and is the last reaction.
#ifndef SHMRPC_CLIENT_INTERNAL_CALLBACK_STREAM_H_
#define SHMRPC_CLIENT_INTERNAL_CALLBACK_STREAM_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <memory>

namespace shmrpc::internal {

class ClientConnection;
enum class StreamKind;  // generated_stub.h, which includes this header

// What a call's reactor is told; implemented by the typed adapters below.
class CallbackReactions {
 public:
  virtual ~CallbackReactions() = default;
  virtual void InitialMetadataDone(bool ok) = 0;
  virtual void ReadDone(bool ok) = 0;
  virtual void WriteDone(bool ok) = 0;
  virtual void WritesDoneDone(bool ok) = 0;
  // The last: the adapter deletes itself, then calls the reactor's OnDone.
  virtual void Done(const grpc::Status& status) = 0;
};

// The untyped call (callback_stream.cc). Thread-safe as gRPC's callback
// streams are: one read and one write (or WritesDone) outstanding at a
// time, holds from any thread.
class CallbackCall {
 public:
  virtual ~CallbackCall() = default;
  virtual void StartCall() = 0;
  virtual void Read(google::protobuf::MessageLite* response) = 0;
  virtual void Write(const google::protobuf::MessageLite* request,
                     grpc::WriteOptions options) = 0;
  virtual void WritesDone() = 0;
  virtual void AddHold(int holds) = 0;
  virtual void RemoveHold() = 0;
};

// Call `method` (the connection's id) of `kind` on `conn`, reporting to
// `reactions`; `request` (server streaming's) and `response` (client
// streaming's) as for StartClientStream. Nothing happens until StartCall.
std::shared_ptr<CallbackCall> NewCallbackCall(
    std::shared_ptr<ClientConnection> conn, uint32_t method, StreamKind kind,
    grpc::ClientContext* context, const google::protobuf::MessageLite* request,
    google::protobuf::MessageLite* response, CallbackReactions* reactions);

// A call whose connection could not be had (ShmMode::kRequired, or its
// deadline passed): every operation fails and OnDone reports `status`, as
// gRPC's reactor call would.
std::shared_ptr<CallbackCall> FailedCallbackCall(grpc::Status status,
                                                 CallbackReactions* reactions);

// gRPC's callback stream interfaces over a CallbackCall. Each deletes itself
// when the call is done, just before the reactor's OnDone.
template <class Response>
class ShmCallbackReader final : public grpc::ClientCallbackReader<Response>,
                                public CallbackReactions {
 public:
  explicit ShmCallbackReader(grpc::ClientReadReactor<Response>* reactor)
      : reactor_(reactor) {
    this->BindReactor(reactor);
  }
  void Bind(std::shared_ptr<CallbackCall> call) { call_ = std::move(call); }

  void StartCall() override { call_->StartCall(); }
  void Read(Response* response) override { call_->Read(response); }
  void AddHold(int holds) override { call_->AddHold(holds); }
  void RemoveHold() override { call_->RemoveHold(); }

  void InitialMetadataDone(bool ok) override {
    reactor_->OnReadInitialMetadataDone(ok);
  }
  void ReadDone(bool ok) override { reactor_->OnReadDone(ok); }
  void WriteDone(bool) override {}
  void WritesDoneDone(bool) override {}
  void Done(const grpc::Status& status) override {
    grpc::ClientReadReactor<Response>* reactor = reactor_;
    delete this;
    reactor->OnDone(status);
  }

 private:
  grpc::ClientReadReactor<Response>* const reactor_;
  std::shared_ptr<CallbackCall> call_;
};

template <class Request>
class ShmCallbackWriter final : public grpc::ClientCallbackWriter<Request>,
                                public CallbackReactions {
 public:
  explicit ShmCallbackWriter(grpc::ClientWriteReactor<Request>* reactor)
      : reactor_(reactor) {
    this->BindReactor(reactor);
  }
  void Bind(std::shared_ptr<CallbackCall> call) { call_ = std::move(call); }

  void StartCall() override { call_->StartCall(); }
  using grpc::ClientCallbackWriter<Request>::Write;
  void Write(const Request* request, grpc::WriteOptions options) override {
    call_->Write(request, options);
  }
  void WritesDone() override { call_->WritesDone(); }
  void AddHold(int holds) override { call_->AddHold(holds); }
  void RemoveHold() override { call_->RemoveHold(); }

  void InitialMetadataDone(bool ok) override {
    reactor_->OnReadInitialMetadataDone(ok);
  }
  void ReadDone(bool) override {}
  void WriteDone(bool ok) override { reactor_->OnWriteDone(ok); }
  void WritesDoneDone(bool ok) override { reactor_->OnWritesDoneDone(ok); }
  void Done(const grpc::Status& status) override {
    grpc::ClientWriteReactor<Request>* reactor = reactor_;
    delete this;
    reactor->OnDone(status);
  }

 private:
  grpc::ClientWriteReactor<Request>* const reactor_;
  std::shared_ptr<CallbackCall> call_;
};

template <class Request, class Response>
class ShmCallbackReaderWriter final
    : public grpc::ClientCallbackReaderWriter<Request, Response>,
      public CallbackReactions {
 public:
  explicit ShmCallbackReaderWriter(
      grpc::ClientBidiReactor<Request, Response>* reactor)
      : reactor_(reactor) {
    this->BindReactor(reactor);
  }
  void Bind(std::shared_ptr<CallbackCall> call) { call_ = std::move(call); }

  void StartCall() override { call_->StartCall(); }
  void Write(const Request* request, grpc::WriteOptions options) override {
    call_->Write(request, options);
  }
  void WritesDone() override { call_->WritesDone(); }
  void Read(Response* response) override { call_->Read(response); }
  void AddHold(int holds) override { call_->AddHold(holds); }
  void RemoveHold() override { call_->RemoveHold(); }

  void InitialMetadataDone(bool ok) override {
    reactor_->OnReadInitialMetadataDone(ok);
  }
  void ReadDone(bool ok) override { reactor_->OnReadDone(ok); }
  void WriteDone(bool ok) override { reactor_->OnWriteDone(ok); }
  void WritesDoneDone(bool ok) override { reactor_->OnWritesDoneDone(ok); }
  void Done(const grpc::Status& status) override {
    grpc::ClientBidiReactor<Request, Response>* reactor = reactor_;
    delete this;
    reactor->OnDone(status);
  }

 private:
  grpc::ClientBidiReactor<Request, Response>* const reactor_;
  std::shared_ptr<CallbackCall> call_;
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CALLBACK_STREAM_H_
