// Streaming calls over shared memory, all three kinds: the server's side of
// the protocol in rpc/frame.h ("Streaming"). The handler runs on the serving
// thread that took the call, as a unary handler does. Every Write sends one
// kMessage frame on the call's stream, after waiting (flow control) while
// the client has more than ServerOptions::stream_window_bytes of the call's
// messages unread; every Read takes one of the client's messages from the
// call's inbox (its CallSlot), where the thread that took it off the request
// ring put it (RouteMessage), and tells the client through the stream's
// credit word; the status goes out as a kResponse.
#include <algorithm>
#include <atomic>
#include <climits>
#include <deque>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shmrpc/message/peer_serialize.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/rpc/limits.h"
#include "shmrpc/server/server_impl.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc {
namespace {

// How long one wait (for the reader, a free chunk or ring space) lasts
// before the writer looks again at whether its call is over: how late a
// Write notices a cancellation that nothing woke it for.
constexpr std::chrono::milliseconds kWriteSlice{10};
// A Write that does not wait looks at the clock (for the call's deadline)
// once in this many: a stream in full flow writes a message in well under a
// microsecond, and gRPC, too, ends a call at its deadline by a timer rather
// than at the next Write.
constexpr uint32_t kClockEvery = 64;
// Room behind a flat message's first chunk for the rest of its frame (the
// initial metadata, with a first message).
constexpr size_t kFrameSlack = 512;

// The server's side of one streaming call, handed to the handler.
class StreamCall final : public internal::ServerStreamCall {
 public:
  StreamCall(Server::Impl* server, Served* served, CallSlot& slot,
             const Descriptor& d, InboundMessage request,
             absl::Span<const uint8_t> message, internal::ShmCallState* state,
             bool reads, CallRecord* record)
      : server_(server),
        served_(served),
        conn_(*served->conn),
        slot_(slot),
        stream_(d.stream),
        generation_(d.generation),
        reads_(reads),
        window_(conn_.params().stream_capacity),
        window_ring_(conn_.params().stream_capacity),
        request_(std::move(request)),
        message_(message),
        state_(state),
        record_(record),
        context_(state) {
    // IsCancelled() also turns true the moment the client's connection is
    // lost (before the close callback marks every call's slot).
    state_->abandoned = [conn = &conn_, stream = stream_,
                         generation = generation_] {
      return !conn->ok() || conn->StreamAbandoned(stream, generation);
    };
  }

  ServerContext* context() override { return &context_; }
  absl::Span<const uint8_t> request() const override { return message_; }

  bool Read(google::protobuf::MessageLite* message) override {
    InboundMessage m;
    absl::Span<const uint8_t> bytes;
    if (!NextMessage(&m, &bytes)) return false;
    // protobuf takes an int (and aborts on a negative one); max_receive is
    // at most INT_MAX.
    if (!message->ParseFromArray(bytes.data(),
                                 static_cast<int>(bytes.size()))) {
      Fail(grpc::Status(grpc::StatusCode::INTERNAL,
                        "Error parsing request message"));
      return false;
    }
    return true;
  }

  bool ReadHeld(rpc::HeldMessage* out) override {
    InboundMessage m;
    absl::Span<const uint8_t> bytes;
    if (!NextMessage(&m, &bytes)) return false;
    const size_t offset =
        bytes.empty() ? 0
                      : static_cast<size_t>(bytes.data() - m.payload().data());
    out->Adopt(&m, offset, bytes.size());
    return true;
  }

  void FailCall(grpc::Status status) override { Fail(std::move(status)); }

  // The client's next message frame into `*frame`, its message `*message`
  // (a view into it, within the receive limit); false once there is none.
  bool NextMessage(InboundMessage* out, absl::Span<const uint8_t>* message) {
    if (!reads_) return false;
    // As gRPC's: nothing more once the call is over, even what the client
    // sent before (the clock, for the deadline, every kClockEvery reads and
    // in every wait).
    if ((++read_calls_ % kClockEvery == 0) ? Over() : OverNoClock()) {
      return false;
    }
    InboundMessage& m = *out;
    for (bool polled = false;;) {
      {
        std::unique_lock<std::mutex> lock(slot_.mu);
        // A client that broke its window fails its call at once, whatever
        // it queued before.
        if (slot_.overrun) {
          lock.unlock();
          Fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            absl::StrCat("the client sent more than its "
                                         "stream window of ",
                                         window_, " messages")));
          return false;
        }
        if (!slot_.inbox.empty()) {
          m = std::move(slot_.inbox.front());
          slot_.inbox.pop_front();
          break;
        }
        if (slot_.half_closed || Over()) return false;
        if (polled) {
          // Nothing for us after polling (or another thread polls): sleep
          // until a message is routed to us, making sure somebody polls.
          // Counted first, then the check: a thread that gives up the
          // token after our check sees the count (Served::waiting_readers).
          slot_.waiting = true;
          served_->waiting_readers.fetch_add(1, std::memory_order_seq_cst);
          if (served_->NobodyPolls()) EnsurePoller();
          slot_.ready.wait_for(lock, kWriteSlice);
          served_->waiting_readers.fetch_sub(1, std::memory_order_relaxed);
          slot_.waiting = false;
          polled = false;
          continue;
        }
      }
      // While we wait, we are the best poller there is: our own message
      // needs no hand-off when we take it off the ring ourselves.
      PollWhileWaiting();
      polled = true;
    }
    // One more consumed: the client may send one more.
    ++consumed_;
    conn_.GrantStreamCredit(stream_, generation_,
                            consumed_ & rpc::kCreditCountMask);
    const Descriptor d = m.descriptor();
    rpc::DecodedFrame frame;
    if (absl::Status st = rpc::DecodeFrame(d.flags, m.payload(), &frame);
        !st.ok()) {
      Fail(grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("malformed message frame: ", st.message())));
      return false;
    }
    if (absl::Status st = rpc::CheckReceivedMessageSize(frame.message.size(),
                                                        server_->max_receive);
        !st.ok()) {
      Fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        std::string(st.message())));
      return false;
    }
    *message = frame.message;
    record_->CountIn(frame.message.size());
    return true;
  }

  // If no other thread polls the request ring, polls it (spinning while that
  // pays, as the poller does) until a message of this call comes, routing
  // other calls' messages and taking their cancels; a new call is left to
  // another thread (Served::deferred), which this one kicks.
  void PollWhileWaiting() {
    Served& s = *served_;
    if (s.token.exchange(true, std::memory_order_acquire)) return;
    // A call deferred earlier must be taken (and its inbox opened) before
    // the ring is polled again, or its messages would find no inbox: that
    // is a serving thread's job, not ours.
    if (s.deferred_count.load(std::memory_order_acquire) > 0) {
      s.token.store(false, std::memory_order_release);
      EnsurePoller();
      return;
    }
    bool mine = false;
    bool deferred = false;
    auto drain = [&] {
      InboundMessage m;
      while (!mine && !deferred && conn_.TryReceiveRequest(&m)) {
        const Descriptor d = m.descriptor();
        switch (static_cast<rpc::FrameKind>(d.kind)) {
          case rpc::FrameKind::kMessage:
            server_->RouteMessage(s, std::move(m));
            mine = d.stream == stream_ && d.generation == generation_;
            break;
          case rpc::FrameKind::kCall: {
            std::lock_guard<std::mutex> lock(s.deferred_mu);
            s.deferred.push_back(std::move(m));
            s.deferred_count.fetch_add(1, std::memory_order_acq_rel);
            deferred = true;
            break;
          }
          default:  // kCancel, and refusals of unknown kinds
            server_->Dispatch(s, slot_, std::move(m));
            break;
        }
      }
    };
    drain();
    if (!mine && !deferred) {
      const auto& wait = server_->options.wait;
      transport::AdaptiveSpin::Ticket ticket =
          s.spin.Begin(wait.spin, wait.adaptive);
      if (ticket.budget().count() > 0) {
        transport::SpinClock clock(ticket.budget());
        for (;;) {
          transport::CpuRelax();
          if (conn_.HasRequest()) {
            drain();
            if (mine || deferred) break;
          }
          if (OverNoClock()) break;
          if (!clock.Tick([&](Clock::time_point) { return conn_.ok(); })) {
            break;
          }
        }
        s.spin.End(&ticket, mine, clock, wait.payoff);
      }
    }
    // seq_cst, against a waiting handler's count-then-check (Read): either
    // it sees the token held, or we see it counted.
    s.token.store(false, std::memory_order_seq_cst);
    // A deferred call, or requests that came after our last look: another
    // thread takes them, a new one if every thread is running a call. So
    // too when another streaming handler sleeps for a message it counted on
    // us to take off the ring (it saw the token held): with nobody polling,
    // its message would wait out its wait slice.
    if (deferred || conn_.HasRequest() ||
        (s.waiting_readers.load(std::memory_order_seq_cst) > 0 &&
         s.NobodyPolls())) {
      EnsurePoller();
    }
  }

  // Gets a thread of the connection polling that is not this one: an idle
  // one (kicked) or, if every thread runs a call, a new one.
  void EnsurePoller() {
    Served& s = *served_;
    s.want_poller.store(true, std::memory_order_release);
    if (s.busy.load(std::memory_order_acquire) >=
        s.threads.load(std::memory_order_acquire)) {
      server_->Spawn(s.shared_from_this());
    }
    conn_.request_bell().Kick(1);
  }

  bool NextMessageSize(uint32_t* size) override {
    *size = static_cast<uint32_t>(
        std::min<int64_t>(server_->max_receive, UINT32_MAX));
    return true;
  }

  void SendInitialMetadata() override {
    if (initial_sent_ || Over()) return;
    SendFrame(nullptr, nullptr, 0);
  }

  bool Write(const google::protobuf::MessageLite& message,
             grpc::WriteOptions /*options*/) override {
    const size_t size = message.ByteSizeLong();
    if (!MayWrite(size) || !SendFrame(&message, nullptr, size)) return false;
    record_->CountOut(size);
    return true;
  }

  std::unique_ptr<rpc::ChunkArena> NewMessageArena(size_t size_hint) override {
    // Room for the initial metadata behind a first message.
    return rpc::ChunkArena::InChunk(&conn_, served_->conn,
                                    size_hint + kFrameSlack);
  }

  bool WriteArena(rpc::ChunkArena* message,
                  grpc::WriteOptions /*options*/) override {
    const size_t size = message->used();
    if (!MayWrite(size) || !SendFrame(nullptr, message, size)) return false;
    record_->CountOut(size);
    return true;
  }

  void Finish(const grpc::Status& status,
              const google::protobuf::MessageLite* response) override {
    FinishWith(status, response, nullptr);
  }

  void FinishArena(const grpc::Status& status,
                   rpc::ChunkArena* response) override {
    FinishWith(status, nullptr, response);
  }

  // Finish with a protobuf `response` or a flat one, `built`.
  void FinishWith(const grpc::Status& status,
                  const google::protobuf::MessageLite* response,
                  rpc::ChunkArena* built) {
    // A writer of the client's that waits for credit stops: no more of its
    // messages will be read.
    if (reads_) {
      conn_.GrantStreamCredit(
          stream_, generation_,
          (consumed_ & rpc::kCreditCountMask) | rpc::kCreditClosed);
    }
    // The client is gone or gave up: nobody waits for a status.
    if (!conn_.ok() || ClientCancelled()) return;
    const std::multimap<std::string, std::string>* initial =
        initial_sent_ ? nullptr : &state_->initial_metadata;
    grpc::Status final_status = status;
    if (failed_.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(failure_mu_);
      final_status = failure_;
    } else if (state_->server_cancelled.load(std::memory_order_acquire)) {
      final_status = grpc::Status(grpc::StatusCode::CANCELLED,
                                  "Cancelled on the server side");
    } else if (PastDeadline()) {
      final_status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                  "Deadline Exceeded");
    } else if (status.ok()) {
      // As gRPC: an OK status carries no message or details.
      final_status = grpc::Status::OK;
    }
    if (final_status.ok() && built != nullptr) {
      if (transport::Chunk chunk; built->TakeChunk(conn_, 0, &chunk)) {
        bytes_ += server_->RespondInPlace(
            *served_, stream_, generation_, chunk, built->used(), initial,
            &state_->trailing_metadata, state_->deadline, record_);
        return;
      }
      const absl::Span<const uint8_t> bytes = built->written();
      bytes_ += server_->Respond(
          *served_, stream_, generation_, final_status, nullptr,
          absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                            bytes.size()),
          initial, &state_->trailing_metadata, state_->deadline, record_);
      return;
    }
    bytes_ +=
        server_->Respond(*served_, stream_, generation_, final_status,
                         final_status.ok() ? response : nullptr, {}, initial,
                         &state_->trailing_metadata, state_->deadline, record_);
  }

  size_t bytes() const { return bytes_; }

 private:
  bool ClientCancelled() const {
    return (slot_.word.load(std::memory_order_acquire) & kCancelledBit) != 0 ||
           conn_.StreamAbandoned(stream_, generation_);
  }
  bool PastDeadline() const {
    return state_->deadline != SysClock::time_point::max() &&
           SysClock::now() >= state_->deadline;
  }
  // True once nothing more may be sent: the call failed, either side
  // cancelled it, its deadline passed, or the connection closed.
  bool Over() const { return OverNoClock() || PastDeadline(); }
  // Over() but for the deadline.
  bool OverNoClock() const {
    return failed_.load(std::memory_order_acquire) || !conn_.ok() ||
           ClientCancelled() ||
           state_->server_cancelled.load(std::memory_order_acquire);
  }
  // The call failed on our side (a bidirectional handler's Read and Write
  // may run on two threads).
  void Fail(grpc::Status status) {
    std::lock_guard<std::mutex> lock(failure_mu_);
    if (!failed_.load(std::memory_order_relaxed)) {
      failure_ = std::move(status);
      failed_.store(true, std::memory_order_release);
    }
  }

  // Whether a message of `size` bytes may be sent now: the call is not
  // over, the message is within the send limit (else the call fails with
  // RESOURCE_EXHAUSTED), and the window has room for it (waiting for the
  // reader). The clock is read for the deadline every kClockEvery writes
  // (and in every wait); the other ends are plain loads.
  bool MayWrite(size_t size) {
    if ((++writes_ % kClockEvery == 0) ? Over() : OverNoClock()) return false;
    if (absl::Status st = rpc::CheckSentMessageSize(size, server_->max_send);
        !st.ok()) {
      Fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        std::string(st.message())));
      return false;
    }
    return WaitForWindow(size);
  }

  // The end of the next wait slice: kWriteSlice from now, or the deadline.
  transport::Deadline SliceEnd() const {
    const auto now = Clock::now();
    auto end = now + kWriteSlice;
    if (state_->deadline != SysClock::time_point::max()) {
      const auto left = state_->deadline - SysClock::now();
      if (left < kWriteSlice) {
        end = now + std::chrono::duration_cast<Clock::duration>(
                        std::max(left, SysClock::duration::zero()));
      }
    }
    return end;
  }

  // True once `bytes` more fit in the window (or nothing is unread: a
  // message larger than the window goes alone). Looks at what the client
  // took (the ring's head, a line the client writes) only when the messages
  // counted as unread would not leave room. Waits for the reader, in slices,
  // while the call is not over.
  bool WaitForWindow(size_t bytes) {
    const uint64_t window = static_cast<uint64_t>(
        std::max<int64_t>(server_->options.stream_window_bytes, 0));
    if (unread_.empty() || unread_bytes_ + bytes <= window) return true;
    for (;;) {
      while (!unread_.empty() &&
             conn_.StreamTaken(stream_, unread_.front().position)) {
        unread_bytes_ -= unread_.front().bytes;
        unread_.pop_front();
      }
      if (unread_.empty() || unread_bytes_ + bytes <= window) return true;
      if (Over()) return false;
      const absl::Status st = conn_.WaitStreamTaken(
          stream_, unread_.front().position, generation_, SliceEnd());
      if (!st.ok() && !absl::IsDeadlineExceeded(st)) return false;
    }
  }

  // Runs `attempt(until)` (a wait for a chunk or for ring space that
  // reports a timeout as `timed_out` recognises) in slices until it
  // succeeds, fails otherwise, or the call is over.
  template <typename Attempt, typename TimedOut>
  auto Sliced(Attempt&& attempt, TimedOut&& timed_out)
      -> decltype(attempt(transport::Deadline{})) {
    auto r = attempt(transport::Deadline{});
    while (!r.ok() && timed_out(r) && !Over()) r = attempt(SliceEnd());
    return r;
  }

  // Sends one kMessage frame: `message` or `built` (a sealed flat message,
  // sent as its chunk when it is one of ours with room for the rest of the
  // frame), of `size` bytes (both null: none), and, the first time, the
  // initial metadata.
  bool SendFrame(const google::protobuf::MessageLite* message,
                 rpc::ChunkArena* built, size_t size) {
    uint16_t flags = 0;
    MetadataEntries initial;
    const bool has_message = message != nullptr || built != nullptr;
    if (has_message) flags |= rpc::kHasMessage;
    if (!initial_sent_) {
      initial = Entries(state_->initial_metadata);
      // Alone (SendInitialMetadata), the frame says so even when empty.
      if (!initial.empty() || !has_message) flags |= rpc::kHasMetadata;
    }
    rpc::FrameExtras extras;
    extras.metadata = initial;
    const size_t total = size + rpc::ExtrasSize(flags, extras);
    transport::MessageHeader h;
    h.stream = stream_;
    h.generation = generation_;
    h.kind = static_cast<uint16_t>(rpc::FrameKind::kMessage);
    h.flags = flags;
    auto write = [&](uint8_t* out) {
      if (built != nullptr) {
        transport::CopyToPeer(out, built->written().data(), size);
      } else if (message != nullptr &&
                 !message::SerializeToPeer(*message, size, out)) {
        Fail(grpc::Status(grpc::StatusCode::INTERNAL,
                          "the message changed while it was being "
                          "serialized"));
        return false;
      }
      rpc::EncodeExtras(flags, extras, out + size);
      return true;
    };
    uint64_t position = 0;
    auto send = [&](const transport::OutgoingPayload& payload) {
      return Sliced(
          [&](transport::Deadline until) {
            return conn_.Send(h, payload, until, &position);
          },
          [](const absl::Status& s) { return absl::IsDeadlineExceeded(s); });
    };
    if (transport::Chunk in_place;
        built != nullptr && built->TakeChunk(conn_, total - size, &in_place)) {
      // Built in place: the rest of the frame goes behind it.
      rpc::EncodeExtras(flags, extras, in_place.data + size);
      if (!send(transport::OutgoingPayload::InChunk(
                    in_place, static_cast<uint32_t>(total)))
               .ok()) {
        conn_.DiscardChunk(in_place);
        return false;
      }
    } else if (conn_.inline_payloads() && total <= transport::kInlineCapacity) {
      uint8_t buffer[transport::kInlineCapacity];
      if (!write(buffer)) return false;
      if (!send(transport::OutgoingPayload::Inline({buffer, total})).ok()) {
        return false;
      }
    } else {
      if (total > conn_.max_chunk_size()) {
        Fail(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("message of ", total,
                         " bytes exceeds the largest shared-memory chunk (",
                         conn_.max_chunk_size(), " bytes)")));
        return false;
      }
      absl::StatusOr<transport::Chunk> chunk = Sliced(
          [&](transport::Deadline until) {
            return conn_.AllocateChunk(total, until);
          },
          [](const absl::StatusOr<transport::Chunk>& c) {
            return absl::IsResourceExhausted(c.status());
          });
      if (!chunk.ok()) return false;
      if (!write(chunk->data)) {
        conn_.DiscardChunk(*chunk);
        return false;
      }
      if (!send(transport::OutgoingPayload::InChunk(
                    *chunk, static_cast<uint32_t>(total)))
               .ok()) {
        conn_.DiscardChunk(*chunk);
        return false;
      }
    }
    initial_sent_ = true;
    unread_.push_back(Unread{position, total});
    unread_bytes_ += total;
    // The ring holds at most its capacity of our messages (all on this
    // stream are this call's, at consecutive positions): older ones have
    // been taken, without looking.
    while (unread_.front().position + window_ring_ <= position) {
      unread_bytes_ -= unread_.front().bytes;
      unread_.pop_front();
    }
    bytes_ += total;
    return true;
  }

  // A message sent and not yet read by the client.
  struct Unread {
    uint64_t position;  // in the stream's ring
    size_t bytes;
  };

  Server::Impl* const server_;
  Served* const served_;
  Connection& conn_;
  CallSlot& slot_;
  const uint32_t stream_;
  const uint32_t generation_;
  const bool reads_;       // client and bidirectional streaming
  const uint32_t window_;  // the client's messages we may hold unread
  // Entries of the stream's ring: at most this many of our messages are
  // unread by the client.
  const uint64_t window_ring_;
  uint32_t consumed_ = 0;    // the client's messages read (wrapping)
  uint32_t writes_ = 0;      // Write calls (wrapping)
  uint32_t read_calls_ = 0;  // Read calls (wrapping)
  InboundMessage request_;
  const absl::Span<const uint8_t> message_;
  internal::ShmCallState* const state_;
  // The call's statistics: messages in (the reading thread's fields) and
  // out (the writing thread's), and the status (Finish).
  CallRecord* const record_;
  ServerContext context_;
  bool initial_sent_ = false;
  std::atomic<bool> failed_{false};
  std::mutex failure_mu_;
  grpc::Status failure_;  // guarded by failure_mu_; set once, with failed_
  std::deque<Unread> unread_;
  uint64_t unread_bytes_ = 0;
  size_t bytes_ = 0;
};

}  // namespace

size_t ServeStream(Server::Impl* impl, Served& s, CallSlot& slot,
                   const transport::Descriptor& d,
                   transport::InboundMessage request,
                   absl::Span<const uint8_t> message,
                   internal::ShmCallState* state,
                   internal::ShmMethodHandler* handler, CallRecord* record) {
  const bool reads = impl->ReadsFromClient(d.aux);
  // Messages are counted one by one; server streaming's request is the
  // first in.
  record->streaming = true;
  record->bytes_in = 0;
  if (!reads) record->CountIn(message.size());
  if (reads) {
    // Each such call has a thread of its own beyond the connection's base
    // threads, one of which takes the client's messages off the request
    // ring (see Served::readers).
    if (s.readers.fetch_add(1, std::memory_order_acq_rel) >= s.max_readers) {
      s.readers.fetch_sub(1, std::memory_order_acq_rel);
      request.Release();
      impl->Respond(
          s, d.stream, d.generation,
          grpc::Status(
              grpc::StatusCode::RESOURCE_EXHAUSTED,
              absl::StrCat("too many streaming calls reading from the client "
                           "on this connection (at most ",
                           s.max_readers,
                           ": ServerOptions::max_streams_per_connection)")),
          nullptr, {}, nullptr, nullptr, state->deadline, record);
      return 0;
    }
  }
  // This thread was the poller until it took the call: get another one
  // polling (unary handlers leave that to the client's takeover kick; a
  // stream's handler runs long by nature).
  // (A handler that reads polls itself while it waits for the client.)
  if (!reads) {
    s.want_poller.store(true, std::memory_order_release);
    s.conn->request_bell().Kick(1);
  } else if (s.busy.load(std::memory_order_acquire) >=
             s.threads.load(std::memory_order_acquire)) {
    // The cap grew by one with this call: a thread for the others now.
    impl->Spawn(s.shared_from_this());
  }
  {
    StreamCall call(impl, &s, slot, d, std::move(request),
                    reads ? absl::Span<const uint8_t>() : message, state, reads,
                    record);
    handler->RunStream(&call);
  }
  if (reads) s.readers.fetch_sub(1, std::memory_order_acq_rel);
  // The poller's next spin scales with this (Acquire): the request's size,
  // not the stream's, which says nothing about how soon a next call comes.
  return d.length;
}

bool Server::Impl::TakeDeferred(Served& s, InboundMessage* m) {
  if (s.deferred_count.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard<std::mutex> lock(s.deferred_mu);
  if (s.deferred.empty()) return false;
  *m = std::move(s.deferred.front());
  s.deferred.pop_front();
  s.deferred_count.fetch_sub(1, std::memory_order_acq_rel);
  return true;
}

bool Server::Impl::RouteMessage(Served& s, InboundMessage m) {
  const Descriptor d = m.descriptor();
  const uint64_t key = CallKey(d.stream, d.generation);
  for (int i = 0; i < s.slot_count; ++i) {
    CallSlot& slot = s.slots[i];
    if ((slot.word.load(std::memory_order_acquire) & ~kCancelledBit) != key) {
      continue;
    }
    bool waiting;
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      if (slot.inbox_key != key) return false;  // its call is over: dropped
      waiting = slot.waiting;
      if ((d.flags & rpc::kHasMessage) != 0 && !slot.half_closed) {
        // The client keeps at most the window unconsumed; more breaks the
        // protocol, and the handler's next Read fails the call.
        if (slot.inbox.size() >=
            static_cast<size_t>(s.conn->params().stream_capacity)) {
          slot.overrun = true;
        } else {
          slot.inbox.push_back(std::move(m));
        }
      }
      if ((d.flags & rpc::kHalfClose) != 0) slot.half_closed = true;
    }
    if (waiting) slot.ready.notify_all();
    return waiting;
  }
  // No call of that key runs (it ended, or never was): dropped, and its
  // chunk goes back as `m` goes.
  return false;
}

}  // namespace shmrpc
