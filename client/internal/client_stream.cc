#include "shmrpc/client/internal/client_stream.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shmrpc/client/internal/call_parts.h"
#include "shmrpc/client/internal/client_context_access.h"
#include "shmrpc/message/peer_serialize.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/rpc/limits.h"

namespace shmrpc::internal {
namespace {

using Clock = std::chrono::steady_clock;
using transport::InboundMessage;

// How long one sleep (for the next frame, or for credit) lasts before the
// waiter looks at its deadline and at TryCancel() again.
constexpr auto kWaitSlice = std::chrono::milliseconds(10);
// If the server has not taken the call's kCall this long after it was sent
// (its polling thread busy with a long call), and every kKickAgain after,
// wake an idle server thread to take over (see server/server.h).
constexpr auto kKickAfter = std::chrono::milliseconds(1);
constexpr auto kKickAgain = std::chrono::milliseconds(10);
// A Read that finds its message there looks at TryCancel() once in this
// many (every wait looks too).
constexpr uint32_t kCancelLookEvery = 16;

grpc::Status Cancelled() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
}
grpc::Status DeadlineExceeded() {
  return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
}

// The request side of the call (the kCall frame and waits that look at
// TryCancel), as SendCallFrame and SendStreamFrame want it.
class RequestIo final : public UnaryIo {
 public:
  RequestIo(grpc::ClientContext* context,
            const google::protobuf::MessageLite* request)
      : context_(context), request_(request) {}

  size_t RequestSize() override {
    return size_ = request_ == nullptr ? 0 : request_->ByteSizeLong();
  }
  bool WriteRequest(uint8_t* out) override {
    return request_ == nullptr ||
           message::SerializeToPeer(*request_, size_, out);
  }
  bool ParseResponse(absl::Span<const uint8_t>) override { return false; }
  const std::multimap<std::string, std::string>* Metadata() override {
    return &SentMetadata(*context_);
  }
  bool CancelRequested() override {
    return internal::CancelRequested(*context_);
  }
  void SetInitialMetadata(const rpc::DecodedMetadata&) override {}
  void SetTrailingMetadata(const rpc::DecodedMetadata&) override {}

 private:
  grpc::ClientContext* const context_;
  const google::protobuf::MessageLite* const request_;
  size_t size_ = 0;
};

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

// Threads: the reading side (Read, WaitForInitialMetadata: the only
// consumer of the stream's ring until Finish) and the writing side (Write,
// WritesDone) may be two threads; the call's outcome and the kick are
// shared under mu_.
class ContextStream final : public ShmClientStream {
 public:
  ContextStream(std::shared_ptr<ClientConnection> conn, StreamKind kind,
                grpc::ClientContext* context,
                const google::protobuf::MessageLite* request,
                google::protobuf::MessageLite* response)
      : conn_(std::move(conn)),
        t_(conn_->transport()),
        kind_(kind),
        context_(context),
        response_(response),
        deadline_(SteadyDeadlineOf(context->deadline())),
        window_(t_.params().stream_capacity),
        io_(context, request) {}

  ~ContextStream() override {
    // Given up before its end: the server stops working on it.
    End(Cancelled());
    if (holding_stream_) t_.CloseStream(stream_);
  }

  void Start(uint32_t method) {
    absl::StatusOr<uint32_t> stream = OpenCallStream(t_, deadline_, io_);
    if (!stream.ok()) {
      EndWithServerStatus(SendFailureStatus(stream.status()));
      return;
    }
    stream_ = *stream;
    holding_stream_ = true;
    generation_ = conn_->NextGeneration(stream_);
    if (absl::Status s = SendCallFrame(
            t_, stream_, generation_, method, context_->deadline(), io_,
            conn_->limits(), deadline_, &request_position_,
            /*with_request=*/kind_ == StreamKind::kServer);
        !s.ok()) {
      EndWithServerStatus(SendFailureStatus(s));
      return;
    }
    started_ = true;
    next_kick_ = Clock::now() + kKickAfter;
  }

  // ---- reading side -------------------------------------------------------

  void WaitForInitialMetadata() override {
    while (!initial_received_ && pending_.empty() && !Done()) {
      InboundMessage m;
      if (!Next(&m)) return;
      // A message that came with the metadata waits for the next Read.
      if (Handle(std::move(m))) return;
    }
  }

  bool NextMessageSize(uint32_t* size) override {
    const int64_t limit = conn_->limits().max_receive_message_size;
    *size = limit < 0 || limit > UINT32_MAX ? UINT32_MAX
                                            : static_cast<uint32_t>(limit);
    return true;
  }

  bool Read(google::protobuf::MessageLite* message) override {
    if (kind_ == StreamKind::kClient || Done()) return false;
    // TryCancel is looked at in every wait, and otherwise every
    // kCancelLookEvery reads (it takes the context's lock).
    if (++reads_ % kCancelLookEvery == 0 && CancelRequested(*context_)) {
      End(Cancelled());
      return false;
    }
    while (pending_.empty()) {
      InboundMessage m;
      if (!Next(&m)) return false;
      Handle(std::move(m));
      if (pending_.empty() && Done()) return false;
    }
    const absl::Span<const uint8_t> bytes = pending_message_;
    // protobuf takes an int (and aborts on a negative one).
    const bool parsed =
        bytes.size() <= static_cast<size_t>(INT_MAX) &&
        message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    pending_.Release();
    pending_message_ = {};
    if (!parsed) {
      End(grpc::Status(grpc::StatusCode::INTERNAL,
                       "Failed to parse response message"));
      return false;
    }
    return true;
  }

  // ---- writing side -------------------------------------------------------

  bool Write(const google::protobuf::MessageLite& message,
             grpc::WriteOptions options) override {
    if (kind_ == StreamKind::kServer || writes_done_ || Done()) return false;
    if (CancelRequested(*context_)) {
      End(Cancelled());
      return false;
    }
    const size_t size = message.ByteSizeLong();
    if (absl::Status st = rpc::CheckSentMessageSize(
            size, conn_->limits().max_send_message_size);
        !st.ok()) {
      End(ToGrpcStatus(st));
      return false;
    }
    if (!WaitForCredit()) return false;
    const bool last = options.is_last_message();
    const uint16_t flags = rpc::kHasMessage | (last ? rpc::kHalfClose : 0);
    if (absl::Status st = SendStreamFrame(t_, stream_, generation_, flags,
                                          &message, size, deadline_, io_);
        !st.ok()) {
      End(absl::IsCancelled(st) ? Cancelled() : SendFailureStatus(st));
      return false;
    }
    ++sent_;
    if (last) writes_done_ = true;
    return true;
  }

  bool WritesDone() override {
    if (kind_ == StreamKind::kServer || writes_done_ || Done()) return false;
    writes_done_ = true;
    if (absl::Status st =
            SendStreamFrame(t_, stream_, generation_, rpc::kHalfClose, nullptr,
                            0, deadline_, io_);
        !st.ok()) {
      End(absl::IsCancelled(st) ? Cancelled() : SendFailureStatus(st));
      return false;
    }
    return true;
  }

  // ---- the end ------------------------------------------------------------

  grpc::Status Finish() override {
    pending_.Release();
    pending_message_ = {};
    while (!Done()) {
      InboundMessage m;
      if (!Next(&m)) break;
      Handle(std::move(m));
      pending_.Release();
      pending_message_ = {};
    }
    if (holding_stream_) {
      holding_stream_ = false;
      t_.CloseStream(stream_);
    }
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  bool Done() const { return done_.load(std::memory_order_acquire); }

  // Ends the call with a status of our own (not the server's), unless it
  // ended already: the server is told to stop, and a side waiting on the
  // stream is woken. The stream itself is given back by Finish or the
  // destructor, once neither side uses it.
  void End(grpc::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_.load(std::memory_order_relaxed)) return;
      status_ = std::move(status);
      done_.store(true, std::memory_order_release);
    }
    if (!started_) return;
    t_.AbandonStream(stream_, generation_);
    SendCallCancel(t_, stream_, generation_);
    t_.InterruptStream(stream_);
  }

  // The server's status ended the call (unless it ended already).
  void EndWithServerStatus(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_.load(std::memory_order_relaxed)) return;
    status_ = std::move(status);
    done_.store(true, std::memory_order_release);
  }

  // Called with the clock now: true (and ends the call) if its deadline
  // passed or the application cancelled it.
  bool Expired(Clock::time_point now) {
    if (now >= deadline_) {
      End(DeadlineExceeded());
      return true;
    }
    if (CancelRequested(*context_)) {
      End(Cancelled());
      return true;
    }
    return false;
  }

  // The takeover kick while the server has not taken the kCall; returns
  // when the next one is due.
  Clock::time_point Kick(Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    if (now >= next_kick_) {
      if (t_.RequestTaken(request_position_)) {
        next_kick_ = Clock::time_point::max();
      } else {
        t_.KickServer();
        next_kick_ = now + kKickAgain;
      }
    }
    return next_kick_;
  }

  // Waits until the server has consumed enough of our messages that one
  // more fits in the window. False if the call ended meanwhile, or the
  // server ended it (its status comes with Finish).
  bool WaitForCredit() {
    for (;;) {
      const uint32_t credit = t_.StreamCredit(stream_, generation_);
      if ((credit & rpc::kCreditClosed) != 0) return false;
      // Never more than we sent, whatever the word says.
      const uint32_t consumed = std::min(credit & rpc::kCreditCountMask, sent_);
      if (sent_ - consumed < window_) return true;
      const auto now = Clock::now();
      if (Done() || Expired(now)) return false;
      const transport::Deadline until =
          std::min({deadline_, now + kWaitSlice, Kick(now)});
      const absl::Status st =
          t_.WaitStreamCredit(stream_, generation_, credit, until);
      if (!st.ok() && !absl::IsDeadlineExceeded(st)) {
        if (!absl::IsCancelled(st)) End(ToGrpcStatus(st));
        return false;
      }
    }
  }

  // The call's next frame into *m; false if the call ended instead
  // (deadline, TryCancel, the connection lost, the other side ended it).
  bool Next(InboundMessage* m) {
    if (!started_ || Done()) return false;
    // Already there (a stream in full flow): no clock, no wait.
    while (t_.TryReceiveStream(stream_, m)) {
      if (m->descriptor().generation == generation_) return true;
      m->Release();  // a late frame of an earlier call on this stream
    }
    bool first = true;
    for (;;) {
      if (Done()) return false;
      // Spin (per the connection's policy) only on the first look.
      const transport::WaitPolicy policy =
          first ? conn_->wait()
                : transport::WaitPolicy{std::chrono::nanoseconds(0)};
      const auto now = Clock::now();
      transport::Deadline until = std::min(deadline_, now + kWaitSlice);
      if (!first) {
        if (Expired(now)) return false;
        until = std::min(until, Kick(now));
      }
      first = false;
      absl::StatusOr<InboundMessage> r =
          t_.ReceiveStream(stream_, until, policy);
      if (r.ok()) {
        // A late frame of an earlier call on this stream.
        if (r->descriptor().generation != generation_) continue;
        *m = std::move(*r);
        return true;
      }
      if (absl::IsDeadlineExceeded(r.status())) continue;
      if (absl::IsCancelled(r.status())) return false;  // End() woke us
      // The connection closed (the server died or broke the protocol).
      EndWithServerStatus(ToGrpcStatus(r.status()));
      return false;
    }
  }

  // Takes in one frame of the call (pending_ must be empty). Returns true if
  // it was a message (now pending_), false otherwise; ends the call on a
  // status or a bad frame.
  bool Handle(InboundMessage m) {
    // Held where it stays (an inline payload lives inside the message), so
    // that the views decoded from it stay valid while it is pending.
    pending_ = std::move(m);
    pending_message_ = {};
    const bool message = HandlePending();
    if (!message) pending_.Release();
    return message;
  }

  bool HandlePending() {
    const transport::Descriptor d = pending_.descriptor();
    const rpc::MessageLimits& limits = conn_->limits();
    rpc::DecodedFrame frame;
    if (absl::Status st = rpc::DecodeFrame(d.flags, pending_.payload(), &frame);
        !st.ok()) {
      End(grpc::Status(grpc::StatusCode::INTERNAL,
                       absl::StrCat("malformed frame: ", st.message())));
      return false;
    }
    if (d.kind == static_cast<uint16_t>(rpc::FrameKind::kMessage)) {
      if (!(frame.flags & (rpc::kHasMessage | rpc::kHasMetadata)) ||
          (frame.flags & rpc::kHasStatus) ||
          ((frame.flags & rpc::kHasMessage) && kind_ == StreamKind::kClient)) {
        End(grpc::Status(grpc::StatusCode::INTERNAL,
                         "malformed frame: an unexpected message frame"));
        return false;
      }
      if (!TakeInitialMetadata(frame)) return false;
      if (!(frame.flags & rpc::kHasMessage)) return false;
      if (absl::Status st = rpc::CheckReceivedMessageSize(
              frame.message.size(), limits.max_receive_message_size);
          !st.ok()) {
        End(ToGrpcStatus(st));
        return false;
      }
      pending_message_ = frame.message;
      return true;
    }
    if (d.kind != static_cast<uint16_t>(rpc::FrameKind::kResponse) ||
        !(frame.flags & rpc::kHasStatus)) {
      End(grpc::Status(grpc::StatusCode::INTERNAL,
                       absl::StrCat("unexpected frame kind ", d.kind)));
      return false;
    }
    // The end: the server's status and trailing metadata.
    const uint32_t code = d.aux;
    if (!TakeInitialMetadata(frame)) return false;
    if (absl::Status st = rpc::CheckReceivedMetadataSize(
            rpc::MetadataSize(frame.trailing) +
                StatusTrailerBytes(code, frame.status_message,
                                   frame.status_details),
            limits.max_metadata_size, "trailing metadata");
        !st.ok()) {
      End(ToGrpcStatus(st));
      return false;
    }
    SetServerTrailingMetadata(*context_, frame.trailing);
    grpc::Status status;
    if (code > static_cast<uint32_t>(grpc::StatusCode::UNAUTHENTICATED)) {
      status = grpc::Status(grpc::StatusCode::UNKNOWN,
                            absl::StrCat("unknown status code ", code));
    } else if (code != 0) {
      status = grpc::Status(static_cast<grpc::StatusCode>(code),
                            std::string(frame.status_message),
                            std::string(frame.status_details));
    } else if (kind_ == StreamKind::kClient) {
      // Client streaming: the response comes with the status.
      if (absl::Status st = rpc::CheckReceivedMessageSize(
              frame.message.size(), limits.max_receive_message_size);
          !st.ok()) {
        status = ToGrpcStatus(st);
      } else if (!(frame.flags & rpc::kHasMessage) || response_ == nullptr ||
                 frame.message.size() > static_cast<size_t>(INT_MAX) ||
                 !response_->ParseFromArray(
                     frame.message.data(),
                     static_cast<int>(frame.message.size()))) {
        status = grpc::Status(grpc::StatusCode::INTERNAL,
                              "Failed to parse response message");
      }
    }
    EndWithServerStatus(std::move(status));
    return false;
  }

  // Delivers the initial metadata the first time a frame of the call comes
  // (its metadata section, or none). False if it was over the limit (the
  // call then ended).
  bool TakeInitialMetadata(const rpc::DecodedFrame& frame) {
    if (initial_received_) return true;
    if (absl::Status st = rpc::CheckReceivedMetadataSize(
            rpc::MetadataSize(frame.metadata),
            conn_->limits().max_metadata_size, "initial metadata");
        !st.ok()) {
      End(ToGrpcStatus(st));
      return false;
    }
    initial_received_ = true;
    SetServerInitialMetadata(*context_, frame.metadata);
    return true;
  }

  const std::shared_ptr<ClientConnection> conn_;
  transport::Connection& t_;
  const StreamKind kind_;
  grpc::ClientContext* const context_;
  google::protobuf::MessageLite* const response_;
  const transport::Deadline deadline_;
  const uint32_t window_;  // our messages the server may have unconsumed
  RequestIo io_;
  uint32_t stream_ = 0;
  uint32_t generation_ = 0;
  uint64_t request_position_ = 0;
  bool started_ = false;         // the kCall went out
  bool holding_stream_ = false;  // stream_ is ours until Finish/destructor

  std::mutex mu_;
  std::atomic<bool> done_{false};  // status_ is the call's outcome
  grpc::Status status_;            // guarded by mu_; final once done_
  Clock::time_point next_kick_ = Clock::time_point::max();

  // Reading side.
  uint32_t reads_ = 0;  // Read calls (wrapping)
  bool initial_received_ = false;
  InboundMessage pending_;  // a message received and not yet read
  absl::Span<const uint8_t> pending_message_;

  // Writing side.
  uint32_t sent_ = 0;  // messages sent (wrapping)
  bool writes_done_ = false;
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
