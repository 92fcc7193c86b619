#include "shmrpc/transport/connection.h"

#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shmrpc/transport/descriptor_check.h"

namespace shmrpc::transport {
namespace {

constexpr uint8_t kInlineKind = static_cast<uint8_t>(PayloadKind::kInline);
constexpr uint8_t kChunkKind = static_cast<uint8_t>(PayloadKind::kChunk);
constexpr uint32_t kAnyStream = UINT32_MAX;

ControlHeader* HeaderOf(const Segment& control) {
  return reinterpret_cast<ControlHeader*>(control.data());
}

}  // namespace

// ---- InboundMessage -------------------------------------------------------

InboundMessage::InboundMessage(InboundMessage&& other) noexcept
    : connection_(std::move(other.connection_)),
      message_(other.message_),
      data_(std::exchange(other.data_, nullptr)),
      held_(std::exchange(other.held_, false)) {
  if (message_.desc.payload == kInlineKind) data_ = message_.inline_data;
}

InboundMessage& InboundMessage::operator=(InboundMessage&& other) noexcept {
  if (this != &other) {
    Release();
    connection_ = std::move(other.connection_);
    message_ = other.message_;
    data_ = std::exchange(other.data_, nullptr);
    held_ = std::exchange(other.held_, false);
    if (message_.desc.payload == kInlineKind) data_ = message_.inline_data;
  }
  return *this;
}

void InboundMessage::Release() {
  if (!held_) return;
  held_ = false;
  if (connection_ != nullptr) {
    connection_->ReturnToPeer(message_.desc);
    connection_.reset();
  }
  data_ = nullptr;
  message_.desc = Descriptor{};
}

// ---- Connection: setup and teardown --------------------------------------

absl::StatusOr<std::shared_ptr<Connection>> Connection::Create(
    Established established, EventLoop* monitor,
    const ConnectionOptions& options) {
  std::shared_ptr<Connection> connection(
      new Connection(std::move(established), monitor, options));
  if (absl::Status s = connection->StartWatching(); !s.ok()) return s;
  return connection;
}

Connection::Connection(Established e, EventLoop* monitor,
                       const ConnectionOptions& options)
    : role_(e.role),
      version_(e.version),
      features_(e.features),
      layout_(e.layout),
      peer_(e.peer),
      options_(options),
      monitor_(monitor),
      control_(std::move(e.control)),
      own_data_(std::move(e.own_data)),
      peer_data_(std::move(e.peer_data)),
      socket_(std::move(e.socket)),
      pool_(own_data_.data(), std::move(e.own_pool)) {
  const uint32_t n = layout_.params.stream_count;
  if (role_ == Role::kClient) {
    requests_out_.Attach(Ring(RingId::kRequests));
    returns_out_.Attach(Ring(RingId::kServerReturns));
    returns_in_.Attach(Ring(RingId::kClientReturns));
    notify_in_.Attach(Ring(RingId::kNotify));
    streams_in_ = std::make_unique<StreamState[]>(n);
    stream_links_ = std::make_unique<std::atomic<uint32_t>[]>(n);
    free_streams_.Attach(stream_links_.get());
    for (uint32_t i = 0; i < n; ++i) {
      streams_in_[i].consumer.Attach(StreamRing(i));
      free_streams_.Push(n - 1 - i);  // stream 0 is handed out first
    }
  } else {
    requests_in_.Attach(Ring(RingId::kRequests));
    returns_out_.Attach(Ring(RingId::kClientReturns));
    returns_in_.Attach(Ring(RingId::kServerReturns));
    notify_out_.Attach(Ring(RingId::kNotify));
    streams_out_ = std::make_unique<RingProducer[]>(n);
    for (uint32_t i = 0; i < n; ++i) streams_out_[i].Attach(StreamRing(i));
  }
}

Connection::~Connection() {
  // After Remove returns, the socket callback cannot run, so closing the fd
  // (a member) cannot race with it.
  monitor_->Remove(socket_.get());
}

absl::Status Connection::StartWatching() {
  std::weak_ptr<Connection> weak = weak_from_this();
  return monitor_->Add(socket_.get(), EPOLLIN | EPOLLRDHUP,
                       [weak](uint32_t events) {
                         if (std::shared_ptr<Connection> c = weak.lock()) {
                           c->OnSocketEvent(events);
                         }
                       });
}

void Connection::OnSocketEvent(uint32_t events) {
  const std::string who = absl::StrCat("pid ", peer_.pid);
  if ((events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) == 0) {
    char byte;
    ssize_t n = ::recv(socket_.get(), &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) {
      Close(absl::DataLossError(
          absl::StrCat("shared-memory peer (", who,
                       ") sent unexpected bytes on the connection socket")));
      return;
    }
  }
  Close(absl::UnavailableError(absl::StrCat(
      "shared-memory peer (", who, ") closed the connection or exited")));
}

absl::Status Connection::status() const {
  if (ok()) return absl::OkStatus();
  return ClosedStatus();
}

absl::Status Connection::ClosedStatus() const {
  std::lock_guard<std::mutex> lock(close_mu_);
  if (close_status_.ok()) {
    return absl::UnavailableError("shared-memory connection is closing");
  }
  return close_status_;
}

void Connection::Close(absl::Status reason) {
  if (reason.ok()) reason = absl::UnavailableError("connection closed");
  {
    std::lock_guard<std::mutex> lock(close_mu_);
    if (closed_.load(std::memory_order_relaxed)) return;
    close_status_ = reason;
    closed_.store(true, std::memory_order_release);
  }
  // Tell the peer (its socket hangs up) and stop watching ours.
  ::shutdown(socket_.get(), SHUT_RDWR);
  monitor_->Remove(socket_.get());
  HeaderOf(control_)
      ->closing[role_ == Role::kClient ? kClientSide : kServerSide]
      .store(1, std::memory_order_release);
  // Nothing more will be sent, so every chunk the peer still holds is ours
  // again (the peer can keep reading it; it can never write it). Done before
  // waking waiters so that they observe it.
  reclaimed_on_close_.store(pool_.ReclaimLent(), std::memory_order_relaxed);
  WakeEverything();
  std::function<void(const absl::Status&)> callback;
  {
    std::lock_guard<std::mutex> lock(close_mu_);
    callback = std::move(on_close_);
  }
  if (callback) callback(reason);
}

void Connection::OnClose(std::function<void(const absl::Status&)> callback) {
  absl::Status reason;
  {
    std::lock_guard<std::mutex> lock(close_mu_);
    if (!closed_.load(std::memory_order_relaxed)) {
      on_close_ = std::move(callback);
      return;
    }
    reason = close_status_;
  }
  callback(reason);
}

void Connection::WakeEverything() {
  for (RingId id : {RingId::kRequests, RingId::kClientReturns,
                    RingId::kServerReturns, RingId::kNotify}) {
    RingView v = Ring(id);
    Doorbell(&v.control->data_bell).WakeAll();
    Doorbell(&v.control->space_bell).WakeAll();
  }
  for (uint32_t i = 0; i < layout_.params.stream_count; ++i) {
    RingView v = StreamRing(i);
    Doorbell(&v.control->data_bell).WakeAll();
    Doorbell(&v.control->space_bell).WakeAll();
  }
}

void Connection::SetClosing() {
  HeaderOf(control_)
      ->closing[role_ == Role::kClient ? kClientSide : kServerSide]
      .store(1, std::memory_order_release);
}

bool Connection::peer_closing() const {
  return HeaderOf(control_)
             ->closing[role_ == Role::kClient ? kServerSide : kClientSide]
             .load(std::memory_order_acquire) != 0;
}

RingView Connection::Ring(RingId id) const {
  return RingView::At(control_.data(), layout_.RingOffset(id),
                      layout_.RingCapacity(id));
}

RingView Connection::StreamRing(uint32_t stream) const {
  return RingView::At(control_.data(), layout_.StreamOffset(stream),
                      layout_.params.stream_capacity);
}

// ---- sending ---------------------------------------------------------------

absl::StatusOr<Chunk> Connection::AllocateChunk(size_t bytes,
                                                Deadline deadline) {
  if (!ok()) return ClosedStatus();
  if (bytes > pool_.max_chunk_size()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a payload of ", bytes,
                     " bytes exceeds the largest shared-memory chunk (",
                     pool_.max_chunk_size(), " bytes)"));
  }
  // Returned chunks go back on top of their free list, so draining first
  // keeps reusing the same (cache-hot, already mapped) chunks.
  DrainReturns();
  if (auto c = pool_.TryAllocate(bytes, /*allow_larger=*/false)) return *c;
  if (auto c = pool_.TryAllocate(bytes, /*allow_larger=*/true)) return *c;
  std::optional<Chunk> chunk;
  returns_in_.data_bell().Wait(
      [&] {
        DrainReturns();
        chunk = pool_.TryAllocate(bytes, /*allow_larger=*/true);
        return chunk.has_value() || !ok();
      },
      options_.wait, deadline);
  if (chunk) return *chunk;
  if (!ok()) return ClosedStatus();
  PoolStats s = pool_.stats();
  return absl::ResourceExhaustedError(absl::StrCat(
      "no free shared-memory chunk of ", bytes, " bytes before the deadline (",
      s.lent, " lent to the peer, ", s.held, " held here)"));
}

void Connection::DiscardChunk(const Chunk& chunk) { pool_.Free(chunk.offset); }

absl::Status Connection::Send(const MessageHeader& header,
                              const OutgoingPayload& payload, Deadline deadline,
                              uint64_t* position, bool* woke_server) {
  if (!ok()) return ClosedStatus();
  Descriptor d{};
  d.stream = header.stream;
  d.generation = header.generation;
  d.kind = header.kind;
  d.flags = header.flags;
  d.aux = header.aux;
  d.payload = static_cast<uint8_t>(payload.kind);
  const void* inline_bytes = nullptr;
  switch (payload.kind) {
    case PayloadKind::kNone:
      break;
    case PayloadKind::kInline:
      if (!inline_payloads()) {
        return absl::InvalidArgumentError(
            "inline payloads were not negotiated on this connection");
      }
      if (payload.inline_bytes.size() > kInlineCapacity) {
        return absl::InvalidArgumentError(
            absl::StrCat("inline payload of ", payload.inline_bytes.size(),
                         " bytes exceeds ", kInlineCapacity));
      }
      d.length = static_cast<uint32_t>(payload.inline_bytes.size());
      inline_bytes = payload.inline_bytes.data();
      break;
    case PayloadKind::kChunk:
      if (payload.length > payload.chunk.capacity) {
        return absl::InvalidArgumentError(absl::StrCat(
            "payload length ", payload.length, " exceeds the chunk's capacity ",
            payload.chunk.capacity));
      }
      d.set_chunk_offset(payload.chunk.offset);
      d.length = payload.length;
      d.segment = 0;
      break;
  }
  RingProducer* ring = &requests_out_;
  if (role_ == Role::kServer) {
    if (header.stream >= layout_.params.stream_count) {
      return absl::InvalidArgumentError(
          absl::StrCat("stream ", header.stream, " out of range [0, ",
                       layout_.params.stream_count, ")"));
    }
    ring = &streams_out_[header.stream];
  }
  const bool lent = payload.kind == PayloadKind::kChunk;
  if (lent) {
    std::optional<uint32_t> lend = pool_.MarkLent(payload.chunk.offset);
    if (!lend) {
      return absl::InvalidArgumentError(
          "chunk is not held by this connection (already sent or "
          "discarded?)");
    }
    d.lend = *lend;  // the peer echoes it when it returns the chunk
  }
  PushResult r = ring->Push(
      d, inline_bytes, options_.wait, deadline, [this] { return !ok(); },
      position, role_ == Role::kClient ? woke_server : nullptr);
  if (r != PushResult::kOk) {
    if (lent) pool_.CancelLend(payload.chunk.offset);
    if (r == PushResult::kCorrupt) {
      absl::Status s = absl::DataLossError(
          "shared-memory peer corrupted a ring index (head beyond tail)");
      Close(s);
      return s;
    }
    if (!ok()) return ClosedStatus();
    return absl::DeadlineExceededError(
        "shared-memory ring stayed full until the deadline");
  }
  if (role_ == Role::kServer && (features_ & kFeatureNotifyRing) != 0) {
    RingControl* ctl = StreamRing(header.stream).control;
    // Pairs with the fences in SetStreamNotify and ReceiveNotification:
    // either the client sees our entry when it next looks at the stream, or
    // we see its notify mode and cleared pending flag.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ctl->notify_mode.load(std::memory_order_relaxed) == kNotifyRing &&
        ctl->notify_pending.exchange(1, std::memory_order_seq_cst) == 0) {
      Descriptor note{};
      note.stream = header.stream;
      // A full ring only means the client has not read its notifications
      // yet; it also looks at its streams directly, so dropping one is safe.
      (void)notify_out_.TryPush(note, nullptr);
    }
  }
  return absl::OkStatus();
}

bool Connection::RequestTaken(uint64_t position) const {
  return Ring(RingId::kRequests).control->head.load(std::memory_order_acquire) >
         position;
}

bool Connection::StreamTaken(uint32_t stream, uint64_t position) {
  if (role_ != Role::kServer || stream >= layout_.params.stream_count) {
    return false;
  }
  bool corrupt = false;
  if (streams_out_[stream].Taken(position, &corrupt)) return true;
  if (corrupt) {
    Close(absl::DataLossError(
        "shared-memory peer corrupted a ring index (head beyond tail)"));
  }
  return false;
}

absl::Status Connection::WaitStreamTaken(uint32_t stream, uint64_t position,
                                         uint32_t generation,
                                         Deadline deadline) {
  if (role_ != Role::kServer || stream >= layout_.params.stream_count) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream ", stream, " out of range"));
  }
  bool abandoned = false;
  const WaitStatus w = streams_out_[stream].space_bell().Wait(
      [&] {
        if (!ok()) return true;
        if (StreamAbandoned(stream, generation)) {
          abandoned = true;
          return true;
        }
        return StreamTaken(stream, position);
      },
      options_.wait, deadline);
  if (!ok()) return ClosedStatus();
  if (abandoned) return absl::CancelledError("the client abandoned the call");
  if (w == WaitStatus::kTimedOut) {
    return absl::DeadlineExceededError(
        "the client did not read the stream until the deadline");
  }
  return absl::OkStatus();
}

bool Connection::StreamAbandoned(uint32_t stream, uint32_t generation) const {
  if (stream >= layout_.params.stream_count || generation == 0) return false;
  return StreamRing(stream).control->abandoned.load(
             std::memory_order_acquire) == generation;
}

void Connection::GrantStreamCredit(uint32_t stream, uint32_t generation,
                                   uint32_t credit) {
  if (role_ != Role::kServer || stream >= layout_.params.stream_count) return;
  RingControl* ctl = StreamRing(stream).control;
  ctl->credit.store((uint64_t{generation} << 32) | credit,
                    std::memory_order_release);
  Doorbell(&ctl->data_bell).Notify();
}

uint32_t Connection::StreamCredit(uint32_t stream, uint32_t generation) const {
  if (stream >= layout_.params.stream_count) return 0;
  const uint64_t word =
      StreamRing(stream).control->credit.load(std::memory_order_acquire);
  if ((word >> 32) != generation) return 0;
  return static_cast<uint32_t>(word);
}

absl::Status Connection::WaitStreamCredit(uint32_t stream, uint32_t generation,
                                          uint32_t seen, Deadline deadline) {
  if (role_ != Role::kClient || stream >= layout_.params.stream_count) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream ", stream, " out of range"));
  }
  std::atomic<bool>* interrupted = &streams_in_[stream].interrupted;
  auto enough = [&] { return StreamCredit(stream, generation) != seen; };
  const WaitStatus w = stream_bell(stream).Wait(
      [&] {
        return !ok() || interrupted->load(std::memory_order_acquire) ||
               enough();
      },
      options_.wait, deadline);
  if (!ok()) return ClosedStatus();
  if (enough()) return absl::OkStatus();
  if (interrupted->load(std::memory_order_acquire)) {
    return absl::CancelledError("stream wait interrupted");
  }
  (void)w;
  return absl::DeadlineExceededError("no new credit before the deadline");
}

void Connection::AbandonStream(uint32_t stream, uint32_t generation) {
  if (role_ != Role::kClient || stream >= layout_.params.stream_count) return;
  RingControl* ctl = StreamRing(stream).control;
  ctl->abandoned.store(generation, std::memory_order_release);
  Doorbell(&ctl->space_bell).Notify();
}

void Connection::KickServer() {
  Doorbell(&Ring(RingId::kRequests).control->data_bell).Kick(1);
}

Doorbell Connection::stream_bell(uint32_t stream) const {
  return Doorbell(&StreamRing(stream).control->data_bell);
}

void Connection::ReturnToPeer(const Descriptor& desc) {
  if (!ok()) return;
  Descriptor r{};
  r.payload = kChunkKind;
  r.segment = 0;
  r.offset_units = desc.offset_units;
  r.lend = desc.lend;
  r.length = desc.length;
  PushResult p = returns_out_.TryPush(r, nullptr);
  if (p == PushResult::kFull) {
    // The ring holds as many entries as the peer has chunks, so an honest
    // peer can never make it overflow.
    Close(absl::DataLossError(
        "shared-memory peer's return ring overflowed: it lent the same chunk "
        "twice or more chunks than it declared"));
  } else if (p == PushResult::kCorrupt) {
    Close(absl::DataLossError(
        "shared-memory peer corrupted its return ring index"));
  }
}

uint32_t Connection::DrainReturns() {
  if (returns_busy_.test_and_set(std::memory_order_acquire)) return 0;
  uint32_t accepted = 0;
  RingMessage m;
  for (;;) {
    PopResult r = returns_in_.TryPop(&m);
    if (r == PopResult::kEmpty) break;
    if (r == PopResult::kOk && ValidateReturn(m.desc) == nullptr) {
      // The pool validates the offset and the lend generation, and refuses
      // (and counts) duplicates.
      if (pool_.Return(m.desc.chunk_offset(), m.desc.lend) ==
          ReturnResult::kAccepted) {
        ++accepted;
      }
    } else {
      refused_returns_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  returns_busy_.clear(std::memory_order_release);
  return accepted;
}

// ---- receiving -------------------------------------------------------------

absl::Status Connection::Accept(const RingMessage& message,
                                InboundMessage* out) {
  // `message` is already a private copy of the entry: check it, then use it.
  const Descriptor& d = message.desc;
  DescriptorRules rules;
  rules.peer_segment_size = peer_data_.size();
  rules.stream_count = layout_.params.stream_count;
  rules.inline_payloads = inline_payloads();
  rules.check_stream = role_ == Role::kServer;
  const char* problem = ValidateDescriptor(d, rules);
  if (problem != nullptr) {
    absl::Status s = absl::DataLossError(
        absl::StrCat("shared-memory peer (pid ", peer_.pid, ") sent ", problem,
                     ": stream ", d.stream, " payload ", d.payload, " offset ",
                     d.chunk_offset(), " length ", d.length));
    Close(s);
    return s;
  }
  out->Release();
  if (d.payload == kChunkKind) out->connection_ = shared_from_this();
  out->held_ = true;
  out->message_ = message;
  out->data_ = d.payload == kChunkKind    ? peer_data_.data() + d.chunk_offset()
               : d.payload == kInlineKind ? out->message_.inline_data
                                          : nullptr;
  return absl::OkStatus();
}

template <typename Try>
absl::StatusOr<InboundMessage> Connection::Receive(
    RingConsumer& consumer, std::atomic<bool>* interrupted, Deadline deadline,
    const WaitPolicy& policy, Try&& pop) {
  RingMessage m;
  PopResult r = PopResult::kEmpty;
  consumer.data_bell().Wait(
      [&] {
        r = pop(&m);
        if (r != PopResult::kEmpty) return true;
        return !ok() || (interrupted != nullptr &&
                         interrupted->load(std::memory_order_acquire));
      },
      policy, deadline);
  if (r == PopResult::kOk) {
    InboundMessage out;
    if (absl::Status s = Accept(m, &out); !s.ok()) return s;
    return out;
  }
  if (r == PopResult::kCorrupt) {
    absl::Status s = absl::DataLossError(
        "shared-memory peer published a malformed ring entry");
    Close(s);
    return s;
  }
  if (!ok()) return ClosedStatus();
  if (interrupted != nullptr && interrupted->load(std::memory_order_acquire)) {
    return absl::CancelledError("stream receive interrupted");
  }
  return absl::DeadlineExceededError("no message before the deadline");
}

absl::StatusOr<InboundMessage> Connection::ReceiveRequest(Deadline deadline) {
  if (role_ != Role::kServer) {
    return absl::FailedPreconditionError("ReceiveRequest is for servers");
  }
  std::lock_guard<std::mutex> lock(request_mu_);
  return Receive(requests_in_, nullptr, deadline, options_.wait,
                 [this](RingMessage* m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                   return requests_in_.TryPop(m);
                 });
}

bool Connection::TryReceiveRequest(InboundMessage* out) {
  if (role_ != Role::kServer) return false;
  std::unique_lock<std::mutex> lock(request_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  RingMessage m;
  PopResult r = requests_in_.TryPop(&m);
  if (r == PopResult::kEmpty) return false;
  if (r == PopResult::kCorrupt) {
    Close(absl::DataLossError(
        "shared-memory peer published a malformed ring entry"));
    return false;
  }
  return Accept(m, out).ok();
}

Doorbell Connection::request_bell() const {
  return Doorbell(&Ring(RingId::kRequests).control->data_bell);
}

bool Connection::HasRequest() const {
  return role_ == Role::kServer && requests_in_.HasData();
}

absl::StatusOr<uint32_t> Connection::OpenStream(bool notify) {
  if (role_ != Role::kClient) {
    return absl::FailedPreconditionError("only clients open streams");
  }
  if (!ok()) return ClosedStatus();
  if (notify && (features_ & kFeatureNotifyRing) == 0) {
    return absl::FailedPreconditionError(
        "stream notifications were not negotiated on this connection");
  }
  const std::optional<uint32_t> popped = free_streams_.Pop();
  if (!popped) {
    return absl::ResourceExhaustedError(
        absl::StrCat("all ", layout_.params.stream_count,
                     " shared-memory streams are in use"));
  }
  const uint32_t stream = *popped;
  StreamState& st = streams_in_[stream];
  st.interrupted.store(false, std::memory_order_relaxed);
  // The server reads this line on every message it sends: write it only
  // when something changes.
  RingControl* ctl = StreamRing(stream).control;
  const uint32_t mode = notify ? kNotifyRing : kNotifyNone;
  if (ctl->notify_mode.load(std::memory_order_relaxed) != mode) {
    ctl->notify_mode.store(mode, std::memory_order_relaxed);
  }
  if (ctl->notify_pending.load(std::memory_order_relaxed) != 0) {
    ctl->notify_pending.store(0, std::memory_order_relaxed);
  }
  // Drop leftovers of the stream's previous use (their chunks go back).
  InboundMessage stale;
  while (TryReceiveStream(stream, &stale)) stale.Release();
  return stream;
}

void Connection::SetStreamNotify(uint32_t stream, bool notify) {
  if (role_ != Role::kClient || stream >= layout_.params.stream_count) return;
  RingControl* ctl = StreamRing(stream).control;
  ctl->notify_pending.store(0, std::memory_order_relaxed);
  ctl->notify_mode.store(notify ? kNotifyRing : kNotifyNone,
                         std::memory_order_seq_cst);
  // Pairs with the server's fence in Send: after this, either a message the
  // server publishes is followed by a notification, or our next look at the
  // stream sees it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void Connection::CloseStream(uint32_t stream) {
  if (role_ != Role::kClient || stream >= layout_.params.stream_count) return;
  RingControl* ctl = StreamRing(stream).control;
  if (ctl->notify_mode.load(std::memory_order_relaxed) != kNotifyNone) {
    ctl->notify_mode.store(kNotifyNone, std::memory_order_relaxed);
  }
  free_streams_.Push(stream);
}

absl::StatusOr<InboundMessage> Connection::ReceiveStream(uint32_t stream,
                                                         Deadline deadline) {
  return ReceiveStream(stream, deadline, options_.wait);
}

absl::StatusOr<InboundMessage> Connection::ReceiveStream(
    uint32_t stream, Deadline deadline, const WaitPolicy& policy) {
  if (role_ != Role::kClient || stream >= layout_.params.stream_count) {
    return absl::InvalidArgumentError(
        absl::StrCat("no stream ", stream, " to receive on"));
  }
  StreamState& st = streams_in_[stream];
  absl::StatusOr<InboundMessage> m =
      Receive(st.consumer, &st.interrupted, deadline, policy,
              [&](RingMessage* out) { return st.consumer.TryPop(out); });
  if (m.ok() && m->descriptor().stream != stream) {
    absl::Status s = absl::DataLossError(
        absl::StrCat("shared-memory peer put a message for stream ",
                     m->descriptor().stream, " on stream ", stream));
    Close(s);
    return s;
  }
  return m;
}

bool Connection::TryReceiveStream(uint32_t stream, InboundMessage* out) {
  if (role_ != Role::kClient || stream >= layout_.params.stream_count) {
    return false;
  }
  RingMessage m;
  PopResult r = streams_in_[stream].consumer.TryPop(&m);
  if (r == PopResult::kEmpty) return false;
  if (r == PopResult::kCorrupt || m.desc.stream != stream) {
    Close(absl::DataLossError(
        "shared-memory peer published a malformed stream entry"));
    return false;
  }
  return Accept(m, out).ok();
}

void Connection::InterruptStream(uint32_t stream) {
  if (role_ != Role::kClient || stream >= layout_.params.stream_count) return;
  streams_in_[stream].interrupted.store(true, std::memory_order_release);
  Doorbell(&StreamRing(stream).control->data_bell).WakeAll();
}

absl::StatusOr<uint32_t> Connection::ReceiveNotification(Deadline deadline) {
  if (role_ != Role::kClient) {
    return absl::FailedPreconditionError("only clients receive notifications");
  }
  std::lock_guard<std::mutex> lock(notify_mu_);
  RingMessage m;
  PopResult r = PopResult::kEmpty;
  notify_in_.data_bell().Wait(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        r = notify_in_.TryPop(&m);
        return r != PopResult::kEmpty || !ok();
      },
      options_.wait, deadline);
  if (r == PopResult::kEmpty) {
    if (!ok()) return ClosedStatus();
    return absl::DeadlineExceededError("no notification before the deadline");
  }
  const uint32_t stream = m.desc.stream;
  if (r == PopResult::kCorrupt || stream >= layout_.params.stream_count) {
    absl::Status s =
        absl::DataLossError("shared-memory peer sent a bad notification");
    Close(s);
    return s;
  }
  // Re-arm before the caller drains (see Send).
  StreamRing(stream).control->notify_pending.store(0,
                                                   std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return stream;
}

ConnectionStats Connection::stats() const {
  ConnectionStats s;
  s.pool = pool_.stats();
  s.refused_returns =
      s.pool.refused_returns + refused_returns_.load(std::memory_order_relaxed);
  s.reclaimed_on_close = reclaimed_on_close_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace shmrpc::transport
