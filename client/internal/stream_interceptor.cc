#include "shmrpc/client/internal/stream_interceptor.h"

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/interceptor.h>
#include <grpcpp/support/slice.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "shmrpc/client/internal/client_context_access.h"
#include "shmrpc/client/internal/stream_driver.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc::internal {
namespace {

using grpc::experimental::ClientRpcInfo;
using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;
using H = InterceptionHookPoints;

// One message the application sends, as gRPC hands it to an interceptor:
// the object itself (the blocking API; serialized straight into shared
// memory) or its serialized slices (the asynchronous APIs serialize first;
// referenced, then copied once into shared memory). Valid until the batch
// that carried it proceeds.
class OutMessage {
 public:
  void Capture(InterceptorBatchMethods* m, const MethodCodec* codec) {
    codec_ = codec;
    object_ = m->GetSendMessage();
    slices_.clear();
    if (object_ == nullptr) {
      if (grpc::ByteBuffer* buffer = m->GetSerializedSendMessage()) {
        if (!buffer->Dump(&slices_).ok()) slices_.clear();
      }
    }
  }
  size_t Size() {
    if (object_ != nullptr) return size_ = codec_->request_size(object_);
    size_ = 0;
    for (const grpc::Slice& s : slices_) size_ += s.size();
    return size_;
  }
  // Exactly Size() bytes; false if the object changed size meanwhile.
  bool Write(uint8_t* out) const {
    if (object_ != nullptr) return codec_->write_request(object_, size_, out);
    for (const grpc::Slice& s : slices_) {
      transport::CopyToPeer(out, s.begin(), s.size());
      out += s.size();
    }
    return true;
  }

 private:
  const MethodCodec* codec_ = nullptr;
  const void* object_ = nullptr;
  std::vector<grpc::Slice> slices_;
  size_t size_ = 0;
};

// The call's io, shared by the interceptor and the driver's threads: the
// metadata to send, the request of a server streaming call, TryCancel, and
// owned copies of the server's metadata (gRPC's maps only hold views of
// them, so they live as long as the interceptor, that is as long as the
// ClientContext) and of client streaming's response.
class InterceptorIo final : public UnaryIo {
 public:
  explicit InterceptorIo(const MethodCodec* codec) : codec_(codec) {}

  size_t RequestSize() override { return request_.Size(); }
  bool WriteRequest(uint8_t* out) override { return request_.Write(out); }
  bool ParseResponse(absl::Span<const uint8_t> bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    response_.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return true;
  }
  const std::multimap<std::string, std::string>* Metadata() override {
    return &metadata_;
  }
  bool CancelRequested() override {
    return cancel_.load(std::memory_order_acquire);
  }
  void SetInitialMetadata(const rpc::DecodedMetadata& md) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [k, v] : md) initial_.emplace_back(k, v);
  }
  void SetTrailingMetadata(const rpc::DecodedMetadata& md) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [k, v] : md) trailing_.emplace_back(k, v);
  }

  // The start batch's: before the call starts.
  void TakeStart(InterceptorBatchMethods* m, StreamKind kind) {
    if (auto* md = m->GetSendInitialMetadata()) metadata_ = *md;
    if (kind == StreamKind::kServer &&
        m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE)) {
      request_.Capture(m, codec_);
    }
  }
  void RequestCancel() { cancel_.store(true, std::memory_order_release); }

  // Fills a batch's receive ops: the initial metadata (once per call),
  void DeliverInitialMetadata(InterceptorBatchMethods* m) {
    if (!m->QueryInterceptionHookPoint(H::PRE_RECV_INITIAL_METADATA)) return;
    auto* map = m->GetRecvInitialMetadata();
    std::lock_guard<std::mutex> lock(mu_);
    if (map == nullptr || initial_delivered_) return;
    initial_delivered_ = true;
    for (const auto& [k, v] : initial_) {
      map->emplace(grpc::string_ref(k), grpc::string_ref(v));
    }
  }
  // and the finish's: status, trailing metadata, client streaming's
  // response.
  void DeliverFinish(InterceptorBatchMethods* m, grpc::Status status) {
    DeliverInitialMetadata(m);
    std::lock_guard<std::mutex> lock(mu_);
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE)) {
      void* target = m->GetRecvMessage();
      if (status.ok() &&
          (target == nullptr ||
           !codec_->parse_response(
               target, reinterpret_cast<const uint8_t*>(response_.data()),
               response_.size()))) {
        status = grpc::Status(grpc::StatusCode::INTERNAL,
                              "Failed to parse response message");
      }
      if (!status.ok()) m->FailHijackedRecvMessage();
    }
    if (auto* s = m->GetRecvStatus()) *s = status;
    if (auto* map = m->GetRecvTrailingMetadata()) {
      for (const auto& [k, v] : trailing_) {
        map->emplace(grpc::string_ref(k), grpc::string_ref(v));
      }
    }
  }

  const MethodCodec* codec() const { return codec_; }

 private:
  const MethodCodec* const codec_;
  std::multimap<std::string, std::string> metadata_;  // set before Start
  OutMessage request_;                                // server streaming's
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  bool initial_delivered_ = false;
  std::vector<std::pair<std::string, std::string>> initial_;
  std::vector<std::pair<std::string, std::string>> trailing_;
  std::string response_;  // client streaming's, until the finish
};

// A batch as the driver's operation; deletes itself when complete.
//
// A write (PRE_SEND_MESSAGE, PRE_SEND_CLOSE): the message is captured at
// once (valid until the batch proceeds); a message that could not be sent
// fails the batch's send. The start batch's write (corked metadata) does not
// proceed: Hijack() follows.
class BatchWrite final : public StreamOp {
 public:
  BatchWrite(InterceptorBatchMethods* m, const MethodCodec* codec,
             bool proceed = true)
      : StreamOp(Kind::kWrite),
        m_(m),
        message_(m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE)),
        close_(m->QueryInterceptionHookPoint(H::PRE_SEND_CLOSE)),
        proceed_(proceed) {
    if (message_) out_.Capture(m, codec);
  }
  bool HasMessage() const override { return message_; }
  bool HalfClose() const override { return close_; }
  size_t MessageSize() override { return out_.Size(); }
  bool WriteMessage(uint8_t* out) override { return out_.Write(out); }
  void WriteDone(bool ok) override {
    InterceptorBatchMethods* m = m_;
    const bool fail = !ok && message_;
    const bool proceed = proceed_;
    delete this;
    if (fail) m->FailHijackedSendMessage();
    if (proceed) m->Proceed();
  }

 private:
  InterceptorBatchMethods* const m_;
  const bool message_;
  const bool close_;
  const bool proceed_;
  OutMessage out_;
};

// A read (PRE_RECV_MESSAGE and/or PRE_RECV_INITIAL_METADATA).
class BatchRead final : public StreamOp {
 public:
  BatchRead(InterceptorBatchMethods* m, std::shared_ptr<InterceptorIo> io)
      : StreamOp(Kind::kRead), m_(m), io_(std::move(io)) {}
  bool WantsMessage() const override {
    return m_->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE);
  }
  bool ParseMessage(absl::Span<const uint8_t> bytes) override {
    void* target = m_->GetRecvMessage();
    return target != nullptr &&
           io_->codec()->parse_response(target, bytes.data(), bytes.size());
  }
  void ReadDone(bool ok) override {
    io_->DeliverInitialMetadata(m_);
    if (!ok && WantsMessage()) m_->FailHijackedRecvMessage();
    InterceptorBatchMethods* m = m_;
    delete this;
    m->Proceed();
  }

 private:
  InterceptorBatchMethods* const m_;
  const std::shared_ptr<InterceptorIo> io_;
};

// The finish (PRE_RECV_STATUS), held until the call ends.
class BatchFinish final : public StreamOp {
 public:
  BatchFinish(InterceptorBatchMethods* m, std::shared_ptr<InterceptorIo> io)
      : StreamOp(Kind::kFinish), m_(m), io_(std::move(io)) {}
  void FinishDone(const grpc::Status& status) override {
    io_->DeliverFinish(m_, status);
    InterceptorBatchMethods* m = m_;
    delete this;
    m->Proceed();
  }

 private:
  InterceptorBatchMethods* const m_;
  const std::shared_ptr<InterceptorIo> io_;
};

class StreamInterceptor final : public grpc::experimental::Interceptor {
 public:
  StreamInterceptor(ClientRpcInfo* info, std::shared_ptr<ClientConnection> conn,
                    uint32_t method, const MethodCodec* codec, StreamKind kind)
      : context_(info->client_context()),
        conn_(conn),
        method_(method),
        kind_(kind),
        io_(std::make_shared<InterceptorIo>(codec)),
        driver_(std::make_shared<StreamDriver>(std::move(conn), kind,
                                               context_->deadline(), io_)) {}

  // ClientContext's destructor destroys its interceptors: the call is over.
  ~StreamInterceptor() override {
    driver_->Stop();
    if (grpc_call_ != nullptr) grpc_call_unref(grpc_call_);
  }

  void Intercept(InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(H::PRE_SEND_CANCEL)) {
      // Must not block, and needs no Proceed.
      io_->RequestCancel();
      driver_->Cancel(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled"));
      return;
    }
    if (passthrough_) {
      m->Proceed();
      return;
    }
    if (!hijacked_) {
      if (!m->QueryInterceptionHookPoint(H::PRE_SEND_INITIAL_METADATA)) {
        // Only a batch that sends the initial metadata can be hijacked
        // (never the case with gRPC's stream objects): leave it to gRPC.
        passthrough_ = true;
        driver_->Stop();
        conn_.reset();
        m->Proceed();
        return;
      }
      hijacked_ = true;
      grpc_call_ = ReplaceCallWithPeer(*context_, conn_->server_peer());
      conn_.reset();  // the driver holds it while the call runs
      io_->TakeStart(m, kind_);
      const bool writes = kind_ != StreamKind::kServer &&
                          (m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE) ||
                           m->QueryInterceptionHookPoint(H::PRE_SEND_CLOSE));
      driver_->Start(method_, writes ? new BatchWrite(m, io_->codec(),
                                                      /*proceed=*/false)
                                     : nullptr);
      m->Hijack();  // calls us right back with the batch's receive ops
      return;
    }
    if (m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE) ||
        m->QueryInterceptionHookPoint(H::PRE_SEND_CLOSE)) {
      driver_->Submit(new BatchWrite(m, io_->codec()));
      return;
    }
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_STATUS)) {
      driver_->Submit(new BatchFinish(m, io_));
      return;
    }
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_INITIAL_METADATA) ||
        m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE)) {
      driver_->Submit(new BatchRead(m, io_));
      return;
    }
    m->Proceed();
  }

 private:
  grpc::ClientContext* const context_;
  // Until the call is taken over (or left to gRPC).
  std::shared_ptr<ClientConnection> conn_;
  // The core call gRPC made for the call, which its call objects keep
  // using; the context names the server instead (ReplaceCallWithPeer).
  grpc_call* grpc_call_ = nullptr;
  const uint32_t method_;
  const StreamKind kind_;
  const std::shared_ptr<InterceptorIo> io_;
  const std::shared_ptr<StreamDriver> driver_;
  bool hijacked_ = false;
  bool passthrough_ = false;
};

}  // namespace

grpc::experimental::Interceptor* NewStreamInterceptor(
    ClientRpcInfo* info, std::shared_ptr<ClientConnection> conn,
    uint32_t method, const MethodCodec* codec, StreamKind kind) {
  return new StreamInterceptor(info, std::move(conn), method, codec, kind);
}

}  // namespace shmrpc::internal
