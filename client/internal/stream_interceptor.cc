#include "shmrpc/client/internal/stream_interceptor.h"

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/interceptor.h>
#include <grpcpp/support/slice.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "shmrpc/client/internal/stream_call.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc::internal {
namespace {

using grpc::experimental::ClientRpcInfo;
using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;
using H = InterceptionHookPoints;
using Clock = std::chrono::steady_clock;

// How long a waiting reader sleeps before it looks at the call's deadline,
// cancellation and connection again.
constexpr auto kPollSlice = std::chrono::milliseconds(10);
// How long the writer thread waits for the next write before it exits.
constexpr auto kWriterLinger = std::chrono::milliseconds(100);

grpc::Status Cancelled() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
}

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

// What the interceptor and its threads share (each holds a reference, so
// that whichever goes last - the interceptor is destroyed with the call's
// ClientContext, possibly on one of these threads, from a callback run
// inside Proceed() - frees it). The StreamCall's io: the metadata to send,
// the request of a server streaming call, TryCancel, and owned copies of
// the server's metadata (gRPC's maps only hold views of them, so they live
// as long as the interceptor, that is as long as the ClientContext).
class SharedStream final : public UnaryIo,
                           public std::enable_shared_from_this<SharedStream> {
 public:
  SharedStream(std::shared_ptr<ClientConnection> conn, StreamKind kind,
               std::chrono::system_clock::time_point deadline,
               const MethodCodec* codec)
      : codec_(codec),
        kind_(kind),
        call_(std::make_unique<StreamCall>(std::move(conn), kind, deadline,
                                           this)) {}

  // ---- UnaryIo (the StreamCall's side) ----
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

  // ---- the interceptor's side ----

  // The first batch (hijacked after this returns): sends the kCall, and a
  // message and half-close the batch carries (corked initial metadata);
  // starts the reader thread.
  void Start(InterceptorBatchMethods* m, uint32_t method) {
    if (auto* md = m->GetSendInitialMetadata()) metadata_ = *md;
    const bool message = m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE);
    const bool close = m->QueryInterceptionHookPoint(H::PRE_SEND_CLOSE);
    if (kind_ == StreamKind::kServer && message) request_.Capture(m, codec_);
    call_->Start(method);
    if (kind_ != StreamKind::kServer && (message || close)) {
      writer_busy_ = true;
      RunWrite(m, message, close);
      writer_busy_ = false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!StartThread(&SharedStream::ReaderLoop, &reader_running_)) {
      // Nobody to wait for the server: every receive is answered at once,
      // with the end of the call.
      no_reader_ = true;
      call_->Cancel(NoThread());
    }
  }

  // TryCancel(): ends the call now; waits wake.
  void CancelFromApplication() {
    cancel_.store(true, std::memory_order_release);
    std::lock_guard<std::mutex> lock(mu_);
    if (call_ != nullptr) call_->Cancel(Cancelled());
    wake_.notify_all();
  }

  // The interceptor is going away (with the ClientContext): nothing more
  // will be asked; the threads end.
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    if (call_ != nullptr) call_->Cancel(Cancelled());
    stop_ = true;
    wake_.notify_all();
  }

  // A batch's send phase with PRE_SEND_MESSAGE or PRE_SEND_CLOSE.
  void Write(InterceptorBatchMethods* m) {
    const bool message = m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE);
    const bool close = m->QueryInterceptionHookPoint(H::PRE_SEND_CLOSE);
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (finished_) {
        // The call is over (a write started from a callback): fails at
        // once.
        lock.unlock();
        if (message) m->FailHijackedSendMessage();
        m->Proceed();
        return;
      }
      if (writer_busy_ || !writes_.empty()) {
        if (QueueWrite(m)) return;
        lock.unlock();
        if (message) m->FailHijackedSendMessage();
        m->Proceed();
        return;
      }
      writer_busy_ = true;
    }
    // Ours alone now: if the window has room, send here and now.
    if (!call_->WriteWouldNotWait()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        handed_to_writer_ = true;  // writer_busy_ passes to the writer thread
        if (QueueWrite(m)) return;
        handed_to_writer_ = false;
        writer_busy_ = false;
      }
      if (message) m->FailHijackedSendMessage();
      m->Proceed();
      return;
    }
    RunWrite(m, message, close);
    {
      std::lock_guard<std::mutex> lock(mu_);
      writer_busy_ = false;
      wake_.notify_all();
    }
    m->Proceed();
  }

  // A batch's receive phase: a read, initial metadata, or the finish.
  void Receive(InterceptorBatchMethods* m) {
    std::unique_lock<std::mutex> lock(mu_);
    if (finished_ || no_reader_) {
      // The call is over (a read started from a callback of the last
      // one), or nobody could wait for it: answered at once.
      const bool finish = m->QueryInterceptionHookPoint(H::PRE_RECV_STATUS);
      const grpc::Status status =
          finish && call_ != nullptr ? call_->status() : grpc::Status();
      lock.unlock();
      if (finish) {
        AnswerFinish(m, status);
      } else {
        AnswerRead(m, /*have_message=*/false);
      }
      m->Proceed();
      return;
    }
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_STATUS)) {
      finish_ = m;
    } else if (m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE) &&
               reads_.empty() && !reading_) {
      // A read with nothing before it: if its message is there or comes
      // within the spin budget, it is answered here, without a hand-off to
      // the reader thread and back (a ping-pong's reply comes that fast).
      reading_ = true;
      lock.unlock();
      const StreamCall::Try r = call_->TryNextMessage(&received_);
      if (r != StreamCall::Try::kNotYet) {
        AnswerRead(m, r == StreamCall::Try::kMessage);
      }
      lock.lock();
      reading_ = false;
      if (r != StreamCall::Try::kNotYet) {
        wake_.notify_all();
        lock.unlock();
        m->Proceed();
        return;
      }
      reads_.push_back(m);
    } else {
      reads_.push_back(m);
    }
    wake_.notify_all();
  }

 private:
  static grpc::Status NoThread() {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "no thread for the shared-memory stream");
  }

  // With mu_ held: starts `loop` on a thread of its own (which holds a
  // reference to this). False if the system has no thread to give (its
  // task limit): the caller fails the call, not the process.
  bool StartThread(void (SharedStream::*loop)(), bool* running) {
    *running = true;
    try {
      std::thread([self = shared_from_this(), loop] {
        ((*self).*loop)();
      }).detach();
      return true;
    } catch (const std::system_error&) {
      *running = false;
      return false;
    }
  }

  // With mu_ held: queues write batch `m` for the writer thread, starting
  // it if needed. False (and the call ended) if it could not be started.
  bool QueueWrite(InterceptorBatchMethods* m) {
    if (!writer_running_ &&
        !StartThread(&SharedStream::WriterLoop, &writer_running_)) {
      call_->Cancel(NoThread());
      return false;
    }
    writes_.push_back(m);
    wake_.notify_all();
    return true;
  }

  // Sends what a write batch carries (on the thread that owns the writing
  // side); a message that could not be sent fails the batch's send.
  void RunWrite(InterceptorBatchMethods* m, bool message, bool close) {
    if (message) {
      OutMessage out;
      out.Capture(m, codec_);
      const size_t size = out.Size();
      if (!call_->Write(
              size, [&](uint8_t* to) { return out.Write(to); }, close)) {
        m->FailHijackedSendMessage();
      }
    } else if (close) {
      call_->WritesDone();
    }
  }

  // The writer thread: the writes that had to wait for the window, in
  // order.
  void WriterLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (writes_.empty()) {
        if (handed_to_writer_) {
          handed_to_writer_ = false;
          writer_busy_ = false;
          wake_.notify_all();
        }
        if (stop_ ||
            !wake_.wait_for(lock, kWriterLinger,
                            [&] { return stop_ || !writes_.empty(); }) ||
            writes_.empty()) {
          writer_running_ = false;
          return;
        }
      }
      if (writer_busy_ && !handed_to_writer_) {
        // The application's thread is sending; the queue waits for it.
        wake_.wait(lock);
        continue;
      }
      writer_busy_ = true;
      handed_to_writer_ = true;
      InterceptorBatchMethods* m = writes_.front();
      writes_.pop_front();
      lock.unlock();
      RunWrite(m, m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE),
               m->QueryInterceptionHookPoint(H::PRE_SEND_CLOSE));
      m->Proceed();
      lock.lock();
    }
  }

  // Fills the receive ops of a read (or initial-metadata) batch: the
  // message in `received_` if `have_message`, otherwise the end of the
  // stream.
  void AnswerRead(InterceptorBatchMethods* m, bool have_message) {
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_INITIAL_METADATA)) {
      DeliverInitialMetadata(m);
    }
    if (!m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE)) return;
    if (!have_message) {
      m->FailHijackedRecvMessage();
      return;
    }
    const absl::Span<const uint8_t> bytes = received_.bytes();
    void* target = m->GetRecvMessage();
    const bool parsed =
        target != nullptr &&
        codec_->parse_response(target, bytes.data(), bytes.size());
    received_.Release();
    if (!parsed) {
      call_->Cancel(grpc::Status(grpc::StatusCode::INTERNAL,
                                 "Failed to parse response message"));
      m->FailHijackedRecvMessage();
    }
  }

  void DeliverInitialMetadata(InterceptorBatchMethods* m) {
    auto* map = m->GetRecvInitialMetadata();
    std::lock_guard<std::mutex> lock(mu_);
    if (map == nullptr || initial_delivered_) return;
    initial_delivered_ = true;
    for (const auto& [k, v] : initial_) {
      map->emplace(grpc::string_ref(k), grpc::string_ref(v));
    }
  }

  // The finish batch, once the call ended: status, trailing metadata, and
  // client streaming's response.
  void AnswerFinish(InterceptorBatchMethods* m, grpc::Status status) {
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_INITIAL_METADATA)) {
      DeliverInitialMetadata(m);
    }
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

  // The reader thread: answers reads in order, and the finish once the call
  // ended and no read waits; then exits.
  void ReaderLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (stop_) break;
      if (reading_) {
        // A read is being tried on the application's thread.
        wake_.wait(lock);
        continue;
      }
      if (!reads_.empty()) {
        InterceptorBatchMethods* m = reads_.front();
        reading_ = true;
        lock.unlock();
        bool have_message = false;
        if (m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE)) {
          have_message = call_->NextMessage(&received_);
        } else {
          call_->WaitForInitialMetadata();
        }
        AnswerRead(m, have_message);
        lock.lock();
        reads_.pop_front();
        reading_ = false;
        lock.unlock();
        m->Proceed();
        lock.lock();
        continue;
      }
      if (finish_ != nullptr) {
        if (!call_->Done()) {
          // Wait for the end without taking a message the application may
          // still read (at most one is taken off the ring to see past it).
          reading_ = true;
          lock.unlock();
          const bool message = call_->WaitForMessageOrEnd();
          lock.lock();
          reading_ = false;
          if (message && !call_->Done()) {
            wake_.wait_for(lock, kPollSlice, [&] {
              return stop_ || !reads_.empty() || call_->Done();
            });
            if (reads_.empty() && !stop_) {
              lock.unlock();
              call_->Poll();
              lock.lock();
            }
          }
          continue;
        }
        // Over: once the writing side is idle (a write in progress fails
        // fast now), give the stream back and answer the finish.
        if (writer_busy_ || !writes_.empty()) {
          wake_.wait_for(lock, kPollSlice);
          continue;
        }
        InterceptorBatchMethods* m = finish_;
        finish_ = nullptr;
        finished_ = true;
        lock.unlock();
        const grpc::Status status = call_->Finish();
        AnswerFinish(m, status);
        std::unique_ptr<StreamCall> call;
        lock.lock();
        call.swap(call_);
        lock.unlock();
        call.reset();
        m->Proceed();
        lock.lock();
        break;
      }
      wake_.wait(lock);
    }
    reader_running_ = false;
  }

  const MethodCodec* const codec_;
  const StreamKind kind_;
  std::multimap<std::string, std::string> metadata_;  // set before Start
  OutMessage request_;                                // server streaming's
  std::atomic<bool> cancel_{false};
  // Until the finish is answered (then dropped, so that a ClientContext
  // kept after its call does not keep the connection's fds and mappings):
  // reset by the reader thread alone, under mu_, once finished_ is set and
  // nobody else uses it.
  std::unique_ptr<StreamCall> call_;

  // Whoever is on the reading side's (reading_).
  ReceivedMessage received_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool reader_running_ = false;
  bool writer_running_ = false;
  // Someone owns the writing side of call_: the application's thread
  // sending inline, or the writer thread (handed_to_writer_).
  bool writer_busy_ = false;
  bool handed_to_writer_ = false;
  std::deque<InterceptorBatchMethods*> writes_;  // waiting for the writer
  std::deque<InterceptorBatchMethods*> reads_;   // waiting for the reader
  InterceptorBatchMethods* finish_ = nullptr;    // held until the end
  bool finished_ = false;                        // finish_ was answered
  bool no_reader_ = false;  // the reader thread could not be started
  // Someone is on the reading side of call_ (and uses received_): the
  // reader thread, or a thread trying a read at once (Receive).
  bool reading_ = false;
  bool initial_delivered_ = false;
  std::vector<std::pair<std::string, std::string>> initial_;
  std::vector<std::pair<std::string, std::string>> trailing_;
  std::string response_;  // client streaming's, until the finish
};

class StreamInterceptor final : public grpc::experimental::Interceptor {
 public:
  StreamInterceptor(ClientRpcInfo* info, std::shared_ptr<ClientConnection> conn,
                    uint32_t method, const MethodCodec* codec, StreamKind kind)
      : method_(method),
        stream_(std::make_shared<SharedStream>(
            std::move(conn), kind, info->client_context()->deadline(), codec)) {
  }

  ~StreamInterceptor() override { stream_->Stop(); }

  void Intercept(InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(H::PRE_SEND_CANCEL)) {
      // Must not block, and needs no Proceed.
      stream_->CancelFromApplication();
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
        stream_->Stop();
        m->Proceed();
        return;
      }
      hijacked_ = true;
      stream_->Start(m, method_);
      m->Hijack();  // calls us right back with the batch's receive ops
      return;
    }
    if (m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE) ||
        m->QueryInterceptionHookPoint(H::PRE_SEND_CLOSE)) {
      stream_->Write(m);
      return;
    }
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_INITIAL_METADATA) ||
        m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE) ||
        m->QueryInterceptionHookPoint(H::PRE_RECV_STATUS)) {
      stream_->Receive(m);
      return;
    }
    m->Proceed();
  }

 private:
  const uint32_t method_;
  const std::shared_ptr<SharedStream> stream_;
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
