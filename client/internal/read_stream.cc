#include "shmrpc/client/internal/read_stream.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
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

// How long one sleep for the next frame lasts before the reader looks at
// its deadline and at TryCancel() again.
constexpr auto kReadSlice = std::chrono::milliseconds(10);
// If the server has not taken the call's request this long after it was
// sent (its polling thread busy with a long call), and every kKickAgain
// after, wake an idle server thread to take over (see server/server.h).
constexpr auto kKickAfter = std::chrono::milliseconds(1);
constexpr auto kKickAgain = std::chrono::milliseconds(10);

// The request side of the call, as SendCallFrame wants it.
class RequestIo final : public UnaryIo {
 public:
  RequestIo(grpc::ClientContext* context,
            const google::protobuf::MessageLite& request)
      : context_(context), request_(request) {}

  size_t RequestSize() override { return size_ = request_.ByteSizeLong(); }
  bool WriteRequest(uint8_t* out) override {
    return message::SerializeToPeer(request_, size_, out);
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
  const google::protobuf::MessageLite& request_;
  size_t size_ = 0;
};

class FailedStream final : public ShmReadStream {
 public:
  explicit FailedStream(grpc::Status status) : status_(std::move(status)) {}
  void WaitForInitialMetadata() override {}
  bool NextMessageSize(uint32_t* size) override {
    *size = 0;
    return false;
  }
  bool Read(google::protobuf::MessageLite*) override { return false; }
  grpc::Status Finish() override { return status_; }

 private:
  grpc::Status status_;
};

class ContextReadStream final : public ShmReadStream {
 public:
  ContextReadStream(std::shared_ptr<ClientConnection> conn,
                    grpc::ClientContext* context)
      : conn_(std::move(conn)),
        t_(conn_->transport()),
        context_(context),
        deadline_(SteadyDeadlineOf(context->deadline())) {}

  ~ContextReadStream() override {
    // Given up before its end: the server stops streaming to it.
    if (open_) End(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled"));
  }

  void Start(uint32_t method, const google::protobuf::MessageLite& request) {
    RequestIo io(context_, request);
    absl::StatusOr<uint32_t> stream = OpenCallStream(t_, deadline_, io);
    if (!stream.ok()) {
      done_ = true;
      status_ = SendFailureStatus(stream.status());
      return;
    }
    stream_ = *stream;
    generation_ = conn_->NextGeneration(stream_);
    if (absl::Status s = SendCallFrame(
            t_, stream_, generation_, method, context_->deadline(), io,
            conn_->limits(), deadline_, &request_position_);
        !s.ok()) {
      t_.CloseStream(stream_);
      done_ = true;
      status_ = SendFailureStatus(s);
      return;
    }
    open_ = true;
    next_kick_ = Clock::now() + kKickAfter;
  }

  void WaitForInitialMetadata() override {
    while (!initial_received_ && !done_ && pending_.empty()) {
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
    if (done_) return false;
    if (CancelRequested(*context_)) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled"));
      return false;
    }
    while (pending_.empty()) {
      InboundMessage m;
      if (!Next(&m)) return false;
      Handle(std::move(m));
      if (done_) return false;
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

  grpc::Status Finish() override {
    pending_.Release();
    pending_message_ = {};
    while (!done_) {
      InboundMessage m;
      if (!Next(&m)) break;
      Handle(std::move(m));
      pending_.Release();
      pending_message_ = {};
    }
    return status_;
  }

 private:
  // Ends the call with a status of our own (not the server's): the server
  // is told to stop, and the stream is given back.
  void End(grpc::Status status) {
    if (done_) return;
    done_ = true;
    status_ = std::move(status);
    pending_.Release();
    pending_message_ = {};
    if (open_) {
      open_ = false;
      t_.AbandonStream(stream_, generation_);
      SendCallCancel(t_, stream_, generation_);
      t_.CloseStream(stream_);
    }
  }

  // The call's next frame into *m; false if the call ended instead
  // (deadline, TryCancel, the connection lost).
  bool Next(InboundMessage* m) {
    if (done_) return false;
    bool first = true;
    for (;;) {
      // Spin (per the connection's policy) only on the first look.
      const transport::WaitPolicy policy =
          first ? conn_->wait()
                : transport::WaitPolicy{std::chrono::nanoseconds(0)};
      const auto now = first ? Clock::time_point{} : Clock::now();
      if (!first) {
        if (now >= deadline_) {
          End(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                           "Deadline Exceeded"));
          return false;
        }
        if (CancelRequested(*context_)) {
          End(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled"));
          return false;
        }
        Kick(now);
      }
      const transport::Deadline until =
          first ? std::min(deadline_, Clock::now() + kReadSlice)
                : std::min({deadline_, now + kReadSlice, next_kick_});
      first = false;
      absl::StatusOr<InboundMessage> r =
          t_.ReceiveStream(stream_, until, policy);
      if (r.ok()) {
        // A late frame of an earlier call on this stream.
        if (r->descriptor().generation != generation_) continue;
        *m = std::move(*r);
        return true;
      }
      if (!absl::IsDeadlineExceeded(r.status())) {
        // The connection closed (the server died or broke the protocol).
        open_ = false;
        t_.CloseStream(stream_);
        done_ = true;
        status_ = ToGrpcStatus(r.status());
        return false;
      }
    }
  }

  // The takeover kick while the server has not taken the request.
  void Kick(Clock::time_point now) {
    if (now < next_kick_) return;
    if (t_.RequestTaken(request_position_)) {
      next_kick_ = Clock::time_point::max();
      return;
    }
    t_.KickServer();
    next_kick_ = now + kKickAgain;
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
          (frame.flags & rpc::kHasStatus)) {
        End(grpc::Status(grpc::StatusCode::INTERNAL,
                         "malformed frame: a message frame without a message"));
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
    }
    done_ = true;
    status_ = std::move(status);
    open_ = false;
    t_.CloseStream(stream_);
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
  grpc::ClientContext* const context_;
  const transport::Deadline deadline_;
  uint32_t stream_ = 0;
  uint32_t generation_ = 0;
  uint64_t request_position_ = 0;
  Clock::time_point next_kick_ = Clock::time_point::max();
  bool open_ = false;  // the stream is ours and the call not over
  bool done_ = false;  // status_ is the call's outcome
  bool initial_received_ = false;
  grpc::Status status_;
  // A message received and not yet read, and its bytes within it.
  InboundMessage pending_;
  absl::Span<const uint8_t> pending_message_;
};

}  // namespace

std::unique_ptr<ShmReadStream> StartReadStream(
    std::shared_ptr<ClientConnection> conn, uint32_t method,
    grpc::ClientContext* context,
    const google::protobuf::MessageLite& request) {
  auto stream = std::make_unique<ContextReadStream>(std::move(conn), context);
  stream->Start(method, request);
  return stream;
}

std::unique_ptr<ShmReadStream> FailedReadStream(grpc::Status status) {
  return std::make_unique<FailedStream>(std::move(status));
}

}  // namespace shmrpc::internal
