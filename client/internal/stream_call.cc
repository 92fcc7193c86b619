#include "shmrpc/client/internal/stream_call.h"

#include <algorithm>
#include <climits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shmrpc/client/internal/call_parts.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/rpc/limits.h"

namespace shmrpc::internal {
namespace {

using Clock = std::chrono::steady_clock;
using transport::InboundMessage;

// How long one sleep (for the next frame, or for credit) lasts before the
// waiter looks at its deadline and at the io's CancelRequested() again.
constexpr auto kWaitSlice = std::chrono::milliseconds(10);
// If the server has not taken the call's kCall this long after it was sent
// (its polling thread busy with a long call), and every kKickAgain after,
// wake an idle server thread to take over (see server/server.h).
constexpr auto kKickAfter = std::chrono::milliseconds(1);
constexpr auto kKickAgain = std::chrono::milliseconds(10);
// A read that finds its message there looks at CancelRequested() once in
// this many (every wait looks too).
constexpr uint32_t kCancelLookEvery = 16;

grpc::Status Cancelled() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
}
grpc::Status DeadlineExceeded() {
  return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
}

}  // namespace

StreamCall::StreamCall(std::shared_ptr<ClientConnection> conn, StreamKind kind,
                       std::chrono::system_clock::time_point deadline,
                       UnaryIo* io)
    : conn_(std::move(conn)),
      t_(conn_->transport()),
      kind_(kind),
      deadline_system_(deadline),
      deadline_(SteadyDeadlineOf(deadline)),
      window_(t_.params().stream_capacity),
      io_(*io) {}

StreamCall::~StreamCall() {
  Cancel(Cancelled());
  pending_.Release();
  if (holding_stream_) t_.CloseStream(stream_);
}

void StreamCall::Start(uint32_t method) {
  absl::StatusOr<uint32_t> stream = OpenCallStream(t_, deadline_, io_);
  if (!stream.ok()) {
    EndWithServerStatus(SendFailureStatus(stream.status()));
    return;
  }
  stream_ = *stream;
  holding_stream_ = true;
  generation_ = conn_->NextGeneration(stream_);
  if (absl::Status s =
          SendCallFrame(t_, stream_, generation_, method, deadline_system_, io_,
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

void StreamCall::WaitForInitialMetadata() {
  while (!initial_received_ && !pending_.held() && !Done()) {
    InboundMessage m;
    if (!Next(&m)) return;
    // A message that came with the metadata waits for the next read.
    if (Handle(std::move(m))) return;
  }
}

StreamCall::Try StreamCall::TryNextMessage(ReceivedMessage* out) {
  out->Release();
  if (kind_ == StreamKind::kClient) return Try::kEnded;
  // What is there now, without waiting.
  auto look = [&]() -> Try {
    for (;;) {
      if (pending_.held()) {
        *out = std::move(pending_);
        pending_.offset = pending_.length = 0;
        return Try::kMessage;
      }
      if (Done() || !started_) return Try::kEnded;
      InboundMessage m;
      if (!t_.TryReceiveStream(stream_, &m)) return Try::kNotYet;
      // A late frame of an earlier call on this stream is dropped.
      if (m.descriptor().generation == generation_) Handle(std::move(m));
    }
  };
  Try r = look();
  if (r != Try::kNotYet) return r;
  // The server's work before the next message grows with the messages
  // (parsing ours, writing its own): spin and judge the payoff as for the
  // larger of the last sent and the last received.
  const size_t bytes = std::max(
      last_sent_bytes_.load(std::memory_order_relaxed), last_received_bytes_);
  const transport::WaitPolicy& policy = conn_->wait();
  transport::AdaptiveSpin& spin = conn_->spin(/*woke_server=*/false);
  transport::AdaptiveSpin::Ticket ticket =
      spin.Begin(policy.SpinFor(bytes), policy.adaptive);
  if (ticket.budget().count() == 0) return r;
  transport::SpinClock clock(ticket.budget());
  for (;;) {
    transport::CpuRelax();
    if ((r = look()) != Try::kNotYet) break;
    if (!clock.Tick([&](Clock::time_point now) { return now < deadline_; })) {
      break;
    }
  }
  spin.End(&ticket, r != Try::kNotYet, clock, policy.PayoffFor(bytes));
  return r;
}

bool StreamCall::WaitForMessageOrEnd() {
  while (!pending_.held() && !Done()) {
    InboundMessage m;
    if (!Next(&m)) break;
    Handle(std::move(m));
  }
  return pending_.held();
}

uint32_t StreamCall::MaxMessageSize() const {
  const int64_t limit = conn_->limits().max_receive_message_size;
  return limit < 0 || limit > UINT32_MAX ? UINT32_MAX
                                         : static_cast<uint32_t>(limit);
}

bool StreamCall::NextMessage(ReceivedMessage* out) {
  out->Release();
  if (kind_ == StreamKind::kClient) return false;
  // The io's CancelRequested is looked at in every wait, and otherwise
  // every kCancelLookEvery reads (it may take a lock).
  if (++reads_ % kCancelLookEvery == 0 && io_.CancelRequested()) {
    Cancel(Cancelled());
  }
  if (Done() && !pending_.held()) return false;
  while (!pending_.held()) {
    InboundMessage m;
    if (!Next(&m)) return false;
    Handle(std::move(m));
    if (!pending_.held() && Done()) return false;
  }
  *out = std::move(pending_);
  pending_.offset = pending_.length = 0;
  return true;
}

// ---- writing side -------------------------------------------------------

bool StreamCall::Write(size_t size, absl::FunctionRef<bool(uint8_t*)> write,
                       bool last) {
  return WriteBuilt(
      size,
      [](const transport::Connection&, transport::Chunk*) { return false; },
      write, last);
}

bool StreamCall::WriteBuilt(
    size_t size,
    absl::FunctionRef<bool(const transport::Connection&, transport::Chunk*)>
        take,
    absl::FunctionRef<bool(uint8_t*)> write, bool last) {
  if (kind_ == StreamKind::kServer || writes_done_ || Done()) return false;
  if (io_.CancelRequested()) {
    Cancel(Cancelled());
    return false;
  }
  if (absl::Status st = rpc::CheckSentMessageSize(
          size, conn_->limits().max_send_message_size);
      !st.ok()) {
    Cancel(ToGrpcStatus(st));
    return false;
  }
  if (!WaitForCredit()) return false;
  const uint16_t flags = rpc::kHasMessage | (last ? rpc::kHalfClose : 0);
  // The frame of a message is the message alone: in place if it is in one
  // of our chunks.
  transport::Chunk built;
  const bool in_place = take(t_, &built);
  if (absl::Status st =
          SendStreamFrame(t_, stream_, generation_, flags, size, write,
                          deadline_, io_, in_place ? &built : nullptr);
      !st.ok()) {
    Cancel(absl::IsCancelled(st) ? Cancelled() : SendFailureStatus(st));
    return false;
  }
  ++sent_;
  last_sent_bytes_.store(size, std::memory_order_relaxed);
  if (last) writes_done_ = true;
  return true;
}

bool StreamCall::WriteWouldNotWait() {
  if (kind_ == StreamKind::kServer || writes_done_ || Done()) return true;
  const uint32_t credit = t_.StreamCredit(stream_, generation_);
  if ((credit & rpc::kCreditClosed) != 0) return true;
  const uint32_t consumed = std::min(credit & rpc::kCreditCountMask, sent_);
  return sent_ - consumed < window_;
}

bool StreamCall::WritesDone() {
  if (kind_ == StreamKind::kServer || writes_done_ || Done()) return false;
  writes_done_ = true;
  if (absl::Status st = SendStreamFrame(
          t_, stream_, generation_, rpc::kHalfClose, 0,
          [](uint8_t*) { return true; }, deadline_, io_);
      !st.ok()) {
    Cancel(absl::IsCancelled(st) ? Cancelled() : SendFailureStatus(st));
    return false;
  }
  return true;
}

// ---- the end ------------------------------------------------------------

grpc::Status StreamCall::Finish() {
  pending_.Release();
  while (!Done()) {
    InboundMessage m;
    if (!Next(&m)) break;
    Handle(std::move(m));
    pending_.Release();
  }
  if (holding_stream_) {
    holding_stream_ = false;
    t_.CloseStream(stream_);
  }
  return status();
}

bool StreamCall::Poll() {
  if (Done()) return true;
  if (Expired(Clock::now())) return true;
  if (!t_.ok()) {
    EndWithServerStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     "shared-memory connection lost"));
  }
  return Done();
}

grpc::Status StreamCall::status() {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void StreamCall::Cancel(grpc::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_.load(std::memory_order_relaxed)) return;
    status_ = std::move(status);
    done_.store(true, std::memory_order_release);
  }
  if (!started_) return;
  // The stream itself is given back by Finish or the destructor, once
  // neither side uses it.
  t_.AbandonStream(stream_, generation_);
  SendCallCancel(t_, stream_, generation_);
  t_.InterruptStream(stream_);
}

void StreamCall::EndWithServerStatus(grpc::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_.load(std::memory_order_relaxed)) return;
  status_ = std::move(status);
  done_.store(true, std::memory_order_release);
}

// Called with the clock now: true (and ends the call) if its deadline passed
// or the application cancelled it.
bool StreamCall::Expired(Clock::time_point now) {
  if (now >= deadline_) {
    Cancel(DeadlineExceeded());
    return true;
  }
  if (io_.CancelRequested()) {
    Cancel(Cancelled());
    return true;
  }
  return false;
}

// The takeover kick while the server has not taken the kCall; returns when
// the next one is due.
StreamCall::Clock::time_point StreamCall::Kick(Clock::time_point now) {
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

// Waits until the server has consumed enough of our messages that one more
// fits in the window. False if the call ended meanwhile, or the server ended
// it (its status comes with Finish).
bool StreamCall::WaitForCredit() {
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
      if (!absl::IsCancelled(st)) Cancel(ToGrpcStatus(st));
      return false;
    }
  }
}

// The call's next frame into *m; false if the call ended instead (deadline,
// cancellation, the connection lost, the other side ended it).
bool StreamCall::Next(InboundMessage* m) {
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
    absl::StatusOr<InboundMessage> r = t_.ReceiveStream(stream_, until, policy);
    if (r.ok()) {
      // A late frame of an earlier call on this stream.
      if (r->descriptor().generation != generation_) continue;
      *m = std::move(*r);
      return true;
    }
    if (absl::IsDeadlineExceeded(r.status())) continue;
    if (absl::IsCancelled(r.status())) return false;  // Cancel() woke us
    // The connection closed (the server died or broke the protocol).
    EndWithServerStatus(ToGrpcStatus(r.status()));
    return false;
  }
}

// Takes in one frame of the call (pending_ must be empty). Returns true if
// it was a message (now pending_), false otherwise; ends the call on a
// status or a bad frame.
bool StreamCall::Handle(InboundMessage m) {
  // Held where it stays (an inline payload lives inside the message), so
  // that the views decoded from it stay valid while it is pending.
  pending_.frame = std::move(m);
  pending_.offset = pending_.length = 0;
  const bool message = HandlePending();
  if (!message) pending_.Release();
  return message;
}

bool StreamCall::HandlePending() {
  const transport::Descriptor d = pending_.frame.descriptor();
  const rpc::MessageLimits& limits = conn_->limits();
  rpc::DecodedFrame frame;
  if (absl::Status st =
          rpc::DecodeFrame(d.flags, pending_.frame.payload(), &frame);
      !st.ok()) {
    Cancel(grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat("malformed frame: ", st.message())));
    return false;
  }
  if (d.kind == static_cast<uint16_t>(rpc::FrameKind::kMessage)) {
    if (!(frame.flags & (rpc::kHasMessage | rpc::kHasMetadata)) ||
        (frame.flags & rpc::kHasStatus) ||
        ((frame.flags & rpc::kHasMessage) && kind_ == StreamKind::kClient)) {
      Cancel(grpc::Status(grpc::StatusCode::INTERNAL,
                          "malformed frame: an unexpected message frame"));
      return false;
    }
    if (!TakeInitialMetadata(frame)) return false;
    if (!(frame.flags & rpc::kHasMessage)) return false;
    if (absl::Status st = rpc::CheckReceivedMessageSize(
            frame.message.size(), limits.max_receive_message_size);
        !st.ok()) {
      Cancel(ToGrpcStatus(st));
      return false;
    }
    pending_.offset = OffsetIn(pending_.frame.payload(), frame.message);
    pending_.length = frame.message.size();
    last_received_bytes_ = pending_.length;
    return true;
  }
  if (d.kind != static_cast<uint16_t>(rpc::FrameKind::kResponse) ||
      !(frame.flags & rpc::kHasStatus)) {
    Cancel(grpc::Status(grpc::StatusCode::INTERNAL,
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
    Cancel(ToGrpcStatus(st));
    return false;
  }
  io_.SetPeer(conn_->server_peer());
  io_.SetTrailingMetadata(frame.trailing);
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
    } else if (!(frame.flags & rpc::kHasMessage) ||
               !(io_.AdoptResponse(
                     &pending_.frame,
                     OffsetIn(pending_.frame.payload(), frame.message),
                     frame.message.size()) ||
                 io_.ParseResponse(frame.message))) {
      status = grpc::Status(grpc::StatusCode::INTERNAL,
                            "Failed to parse response message");
    }
  }
  EndWithServerStatus(std::move(status));
  return false;
}

// Delivers the initial metadata the first time a frame of the call comes
// (its metadata section, or none). False if it was over the limit (the call
// then ended).
bool StreamCall::TakeInitialMetadata(const rpc::DecodedFrame& frame) {
  if (initial_received_) return true;
  if (absl::Status st = rpc::CheckReceivedMetadataSize(
          rpc::MetadataSize(frame.metadata), conn_->limits().max_metadata_size,
          "initial metadata");
      !st.ok()) {
    Cancel(ToGrpcStatus(st));
    return false;
  }
  initial_received_ = true;
  io_.SetInitialMetadata(frame.metadata);
  return true;
}

}  // namespace shmrpc::internal
