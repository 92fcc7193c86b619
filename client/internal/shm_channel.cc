#include "shmrpc/client/internal/shm_channel.h"

#include <grpc/support/log.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <system_error>
#include <thread>
#include <tuple>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "shmrpc/client/internal/call_parts.h"
#include "shmrpc/message/peer_serialize.h"
#include "shmrpc/rpc/endpoint.h"
#include "shmrpc/rpc/metadata_check.h"
#include "shmrpc/transport/connector.h"

namespace shmrpc {

ShmMode EffectiveMode(ShmMode configured) {
  const char* env = std::getenv(kShmModeEnvVar);
  if (env == nullptr) return configured;
  const std::string v = env;
  if (v == "auto") return ShmMode::kAuto;
  if (v == "off" || v == "disabled" || v == "grpc") return ShmMode::kDisabled;
  if (v == "require" || v == "required" || v == "shm")
    return ShmMode::kRequired;
  return configured;
}

namespace internal {
namespace {

using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;
using transport::InboundMessage;

// A waiting caller whose request the server has not taken after this long
// wakes an idle server thread (see server/server.h, "Threads").
constexpr auto kKickAfter = std::chrono::microseconds(30);
// The same when sending the request woke the server's polling thread, which
// is then on its way to take it: waking another thread as well would only
// cost both processes a wake-up (a sleeping thread on this VM takes 20-100 us
// to run again). The kick still comes should the woken thread have been
// taken by another call meanwhile.
constexpr auto kKickAfterWake = std::chrono::milliseconds(1);

// A caller that may not spin yields its CPU (while that pays, see
// ClientConnection::yield(bool)) for this long at most before it sleeps; what
// ends the phase sooner is the CPU it wastes (yields that found nobody else
// to run), bounded by the connection's payoff (transport::YieldFor).
constexpr auto kYieldBudget = std::chrono::milliseconds(1);

// When to kick a request that is not taken, from when it was sent.
Clock::duration KickDelay(bool woke_server) {
  return woke_server ? Clock::duration(kKickAfterWake)
                     : Clock::duration(kKickAfter);
}
// And again this often while the server still has not taken it (a kick is
// a wake-up; one lost, e.g. to a thread that went back to sleep, must not
// leave the request waiting for the busy thread).
constexpr auto kKickAgain = std::chrono::milliseconds(10);
// While a caller sleeps, it looks for cancellation this often: every
// millisecond for the first 100 ms, then every 10 ms.
constexpr auto kPollFirst = std::chrono::milliseconds(1);
constexpr auto kPollLater = std::chrono::milliseconds(10);
constexpr auto kPollFirstFor = std::chrono::milliseconds(100);
// An idle completion thread exits after this long.
constexpr auto kCompletionLinger = std::chrono::seconds(1);
// A call waiting for a free chunk or ring space looks for cancellation this
// often.
constexpr auto kWaitSlice = std::chrono::milliseconds(10);
// A call waiting for a free stream looks again after this long, doubling up
// to kStreamPollMax.
constexpr auto kStreamPollMin = std::chrono::microseconds(50);
constexpr auto kStreamPollMax = std::chrono::milliseconds(1);

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

transport::Deadline SteadyDeadline(SysClock::time_point deadline) {
  if (deadline == SysClock::time_point::max()) return transport::kNoDeadline;
  const auto left = deadline - SysClock::now();
  if (left <= SysClock::duration::zero()) return Clock::now();
  if (left > std::chrono::hours(24 * 365)) return transport::kNoDeadline;
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(left);
}

grpc::Status DeadlineStatus() {
  return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
}

grpc::Status CancelledStatus() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
}

// The status of a call that ended while sending: DEADLINE_EXCEEDED with
// gRPC's wording, anything else as it is.
grpc::Status SendFailure(const absl::Status& s) {
  return absl::IsDeadlineExceeded(s) ? DeadlineStatus() : ToGrpc(s);
}

// The takeover kick of the request at `position`, due at `*next`: if the
// server has not taken it by then, wakes an idle server thread and plans
// the next kick kKickAgain later; once taken, no more.
void MaybeKick(transport::Connection& t, uint64_t position,
               Clock::time_point now, Clock::time_point* next) {
  if (now < *next) return;
  if (t.RequestTaken(position)) {
    *next = Clock::time_point::max();
    return;
  }
  t.KickServer();
  *next = now + kKickAgain;
}

// The yield phase of a caller that may not spin (adaptive_spin.h,
// Mode::kYield): while yielding pays on `conn`, gives the CPU away between
// looks at `take` for up to `budget`, kicking the request at `position` when
// due and stopping at `deadline`. `*sent` (when the wait started; set here
// if still unset) and `*next_kick` are the caller's. True if `take` got the
// answer.
template <typename Take>
bool YieldForAnswer(ClientConnection& conn, Clock::duration budget,
                    size_t bytes, uint64_t position, bool woke_server,
                    transport::Deadline deadline, Take&& take,
                    Clock::time_point* sent, Clock::time_point* next_kick) {
  const auto payoff = conn.wait().PayoffFor(bytes);
  transport::AdaptiveSpin::Ticket ticket =
      conn.yield(woke_server).Begin(budget, conn.wait().adaptive);
  if (ticket.budget().count() == 0) return false;
  if (*sent == Clock::time_point{}) {
    *sent = Clock::now();
    *next_kick = *sent + KickDelay(woke_server);
  }
  std::chrono::nanoseconds wasted{0};
  const bool got = transport::YieldFor(
      ticket.budget(), payoff, take,
      [&](Clock::time_point now) {
        MaybeKick(conn.transport(), position, now, next_kick);
        return now < deadline;
      },
      &wasted);
  conn.yield(woke_server).End(&ticket, got, wasted, payoff);
  return got;
}

// Tells the server to stop working on a call we gave up on (best effort).
// The server thread that would read it may be the one running that very
// call, so wake a standby thread too.
void SendCancel(transport::Connection& t, uint32_t stream,
                uint32_t generation) {
  transport::MessageHeader h;
  h.stream = stream;
  h.generation = generation;
  h.kind = static_cast<uint16_t>(rpc::FrameKind::kCancel);
  if (t.Send(h, transport::OutgoingPayload::None(),
             Clock::now() + std::chrono::milliseconds(100))
          .ok()) {
    t.KickServer();
  }
}

// Opens a stream, waiting (until `deadline`, or until the call is
// cancelled) while all are in use.
absl::StatusOr<uint32_t> OpenStream(transport::Connection& t, bool notify,
                                    transport::Deadline deadline, UnaryIo& io) {
  std::chrono::microseconds pause = kStreamPollMin;
  for (;;) {
    absl::StatusOr<uint32_t> s = t.OpenStream(notify);
    if (s.ok() || !absl::IsResourceExhausted(s.status())) return s;
    const auto now = Clock::now();
    if (now >= deadline) {
      return absl::DeadlineExceededError("Deadline Exceeded");
    }
    if (io.CancelRequested()) return absl::CancelledError("Cancelled");
    std::this_thread::sleep_for(
        std::min<Clock::duration>(pause, deadline - now));
    pause = std::min<std::chrono::microseconds>(pause * 2, kStreamPollMax);
  }
}

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// Runs `attempt(until)`, which waits for a resource until `until` and
// reports a timeout with a status that `timed_out` recognises: first without
// waiting, then in slices of kWaitSlice until it succeeds, fails otherwise,
// the call's `deadline` passes (kDeadlineExceeded) or the call is cancelled
// (kCancelled).
template <typename Attempt, typename TimedOut>
auto WaitSliced(Attempt&& attempt, TimedOut&& timed_out,
                transport::Deadline deadline, UnaryIo& io)
    -> decltype(attempt(deadline)) {
  // A deadline in the past: the fast path only, without reading the clock.
  auto r = attempt(transport::Deadline{});
  for (;;) {
    if (r.ok() || !timed_out(StatusOf(r))) return r;
    const auto now = Clock::now();
    if (now >= deadline)
      return absl::DeadlineExceededError("Deadline Exceeded");
    if (io.CancelRequested()) return absl::CancelledError("Cancelled");
    r = attempt(std::min(deadline, now + kWaitSlice));
  }
}

// A chunk of `bytes` for the call's request (see WaitSliced).
absl::StatusOr<transport::Chunk> AllocateChunk(transport::Connection& t,
                                               size_t bytes,
                                               transport::Deadline deadline,
                                               UnaryIo& io) {
  if (bytes > t.max_chunk_size()) {
    // Never fits: the transport says so at once.
    return t.AllocateChunk(bytes, deadline);
  }
  return WaitSliced(
      [&](transport::Deadline until) { return t.AllocateChunk(bytes, until); },
      [](const absl::Status& s) { return absl::IsResourceExhausted(s); },
      deadline, io);
}

// Sends the call's request (see WaitSliced). On failure a chunk payload is
// still the caller's.
absl::Status Send(transport::Connection& t, const transport::MessageHeader& h,
                  const transport::OutgoingPayload& payload,
                  transport::Deadline deadline, uint64_t* position, UnaryIo& io,
                  bool* woke_server = nullptr) {
  return WaitSliced(
      [&](transport::Deadline until) {
        return t.Send(h, payload, until, position, woke_server);
      },
      [](const absl::Status& s) { return absl::IsDeadlineExceeded(s); },
      deadline, io);
}

absl::Status RequestChangedError() {
  return absl::InternalError(
      "the request message changed while it was being serialized");
}

// Encodes the kCall frame for `io` and sends it on `stream`. Sets
// `*position` to the request's position in the requests ring, `*bytes` to
// the frame's size and `*woke_server` to whether sending it woke the
// server's polling thread. A request over `limits`' send limit is not sent
// (RESOURCE_EXHAUSTED, gRPC's wording).
absl::Status SendCall(transport::Connection& t, uint32_t stream,
                      uint32_t generation, uint32_t method,
                      SysClock::time_point deadline, UnaryIo& io,
                      const rpc::MessageLimits& limits,
                      transport::Deadline send_deadline, uint64_t* position,
                      size_t* bytes, bool* woke_server,
                      bool with_request = true) {
  *woke_server = false;
  const size_t message_size = with_request ? io.RequestSize() : 0;
  if (absl::Status s =
          rpc::CheckSentMessageSize(message_size, limits.max_send_message_size);
      !s.ok()) {
    return s;
  }
  // Without the request (client and bidirectional streaming), the messages
  // follow as kMessage frames.
  uint16_t flags = with_request ? rpc::kHasMessage | rpc::kHalfClose : 0;
  absl::InlinedVector<rpc::MetadataEntry, 4> entries;
  if (const auto* md = io.Metadata(); md != nullptr && !md->empty()) {
    for (const auto& [k, v] : *md) entries.emplace_back(k, v);
    flags |= rpc::kHasMetadata;
    // What gRPC's core would refuse is not sent (rpc/metadata_check.h).
    if (absl::Status s = rpc::CheckMetadata(entries); !s.ok()) {
      return s;
    }
  }
  rpc::FrameExtras extras;
  extras.metadata = entries;
  if (deadline != SysClock::time_point::max()) {
    flags |= rpc::kHasDeadline;
    extras.deadline_unix_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            deadline.time_since_epoch())
            .count();
  }
  const size_t total = message_size + rpc::ExtrasSize(flags, extras);
  *bytes = total;
  transport::MessageHeader h;
  h.stream = stream;
  h.generation = generation;
  h.kind = static_cast<uint16_t>(rpc::FrameKind::kCall);
  h.flags = flags;
  h.aux = method;
  if (transport::Chunk built;
      with_request && io.TakeRequestChunk(t, total - message_size, &built)) {
    // Built in place: the rest of the frame goes behind it, in the same
    // chunk.
    rpc::EncodeExtras(flags, extras, built.data + message_size);
    absl::Status s = Send(t, h,
                          transport::OutgoingPayload::InChunk(
                              built, static_cast<uint32_t>(total)),
                          send_deadline, position, io, woke_server);
    if (!s.ok()) t.DiscardChunk(built);
    return s;
  }
  if (t.inline_payloads() && total <= transport::kInlineCapacity) {
    uint8_t buffer[transport::kInlineCapacity];
    if (with_request && !io.WriteRequest(buffer)) return RequestChangedError();
    rpc::EncodeExtras(flags, extras, buffer + message_size);
    return Send(t, h, transport::OutgoingPayload::Inline({buffer, total}),
                send_deadline, position, io, woke_server);
  }
  absl::StatusOr<transport::Chunk> chunk =
      AllocateChunk(t, total, send_deadline, io);
  if (!chunk.ok()) return chunk.status();
  if (with_request && !io.WriteRequest(chunk->data)) {
    t.DiscardChunk(*chunk);
    return RequestChangedError();
  }
  rpc::EncodeExtras(flags, extras, chunk->data + message_size);
  absl::Status s = Send(
      t, h,
      transport::OutgoingPayload::InChunk(*chunk, static_cast<uint32_t>(total)),
      send_deadline, position, io, woke_server);
  if (!s.ok()) t.DiscardChunk(*chunk);
  return s;
}

// What gRPC would account for the status in a response's trailers: the
// grpc-status, grpc-message and grpc-status-details-bin entries (raw
// lengths), as rpc::MetadataSize counts an entry.
size_t StatusTrailerSize(uint32_t code, absl::string_view message,
                         absl::string_view details) {
  constexpr size_t kEntry = 32;  // HPACK's per-entry overhead
  size_t digits = 1;
  for (uint32_t c = code; c >= 10; c /= 10) ++digits;
  size_t n = sizeof("grpc-status") - 1 + digits + kEntry;
  if (!message.empty())
    n += sizeof("grpc-message") - 1 + message.size() + kEntry;
  if (!details.empty()) {
    n += sizeof("grpc-status-details-bin") - 1 + details.size() + kEntry;
  }
  return n;
}

// Turns the server's response frame into the call's outcome. Sizes are
// checked against `limits` before anything is copied or parsed.
grpc::Status Complete(InboundMessage& m, UnaryIo& io,
                      const ClientConnection& conn) {
  const rpc::MessageLimits& limits = conn.limits();
  const transport::Descriptor d = m.descriptor();
  if (d.kind != static_cast<uint16_t>(rpc::FrameKind::kResponse)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat("unexpected frame kind ", d.kind));
  }
  rpc::DecodedFrame frame;
  if (absl::Status st = rpc::DecodeFrame(d.flags, m.payload(), &frame);
      !st.ok()) {
    return grpc::Status(
        grpc::StatusCode::INTERNAL,
        absl::StrCat("malformed response frame: ", st.message()));
  }
  const rpc::DecodedFrame* const f = &frame;
  if (!(f->flags & rpc::kHasStatus)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "response has no status");
  }
  const uint32_t code = d.aux;
  // gRPC's limits, before anything is copied or parsed. gRPC carries the
  // status in the trailers, so it counts with the trailing metadata.
  if (absl::Status s = rpc::CheckReceivedMetadataSize(
          rpc::MetadataSize(f->metadata), limits.max_metadata_size,
          "initial metadata");
      !s.ok()) {
    return ToGrpc(s);
  }
  if (absl::Status s = rpc::CheckReceivedMetadataSize(
          rpc::MetadataSize(f->trailing) +
              StatusTrailerSize(code, f->status_message, f->status_details),
          limits.max_metadata_size, "trailing metadata");
      !s.ok()) {
    return ToGrpc(s);
  }
  if (absl::Status s = rpc::CheckReceivedMessageSize(
          f->message.size(), limits.max_receive_message_size);
      !s.ok()) {
    return ToGrpc(s);
  }
  io.SetPeer(conn.server_peer());
  io.SetInitialMetadata(f->metadata);
  io.SetTrailingMetadata(f->trailing);
  if (code > static_cast<uint32_t>(grpc::StatusCode::UNAUTHENTICATED)) {
    return grpc::Status(grpc::StatusCode::UNKNOWN,
                        absl::StrCat("unknown status code ", code));
  }
  if (code != 0) {
    return grpc::Status(static_cast<grpc::StatusCode>(code),
                        std::string(f->status_message),
                        std::string(f->status_details));
  }
  if ((f->flags & rpc::kHasMessage) &&
      io.AdoptResponse(&m, OffsetIn(m.payload(), f->message),
                       f->message.size())) {
    return grpc::Status::OK;
  }
  if (!(f->flags & rpc::kHasMessage) || !io.ParseResponse(f->message)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "Failed to parse response message");
  }
  // As gRPC's client: an OK status carries no message or details, whatever
  // the server's handler put in it.
  return grpc::Status::OK;
}

}  // namespace

// ---- call parts (call_parts.h) ------------------------------------------

grpc::Status ToGrpcStatus(const absl::Status& s) { return ToGrpc(s); }

grpc::Status SendFailureStatus(const absl::Status& s) { return SendFailure(s); }

transport::Deadline SteadyDeadlineOf(SysClock::time_point deadline) {
  return SteadyDeadline(deadline);
}

absl::StatusOr<uint32_t> OpenCallStream(transport::Connection& t,
                                        transport::Deadline deadline,
                                        UnaryIo& io) {
  return OpenStream(t, /*notify=*/false, deadline, io);
}

absl::Status SendCallFrame(transport::Connection& t, uint32_t stream,
                           uint32_t generation, uint32_t method,
                           SysClock::time_point deadline, UnaryIo& io,
                           const rpc::MessageLimits& limits,
                           transport::Deadline send_deadline,
                           uint64_t* position, bool with_request) {
  size_t bytes = 0;
  bool woke_server = false;
  return SendCall(t, stream, generation, method, deadline, io, limits,
                  send_deadline, position, &bytes, &woke_server, with_request);
}

absl::Status SendStreamFrame(transport::Connection& t, uint32_t stream,
                             uint32_t generation, uint16_t flags, size_t size,
                             absl::FunctionRef<bool(uint8_t* out)> write,
                             transport::Deadline deadline, UnaryIo& io,
                             const transport::Chunk* built) {
  transport::MessageHeader h;
  h.stream = stream;
  h.generation = generation;
  h.kind = static_cast<uint16_t>(rpc::FrameKind::kMessage);
  h.flags = flags;
  const bool has_message = (flags & rpc::kHasMessage) != 0;
  if (built != nullptr) {
    absl::Status s = Send(t, h,
                          transport::OutgoingPayload::InChunk(
                              *built, static_cast<uint32_t>(size)),
                          deadline, nullptr, io);
    if (!s.ok()) t.DiscardChunk(*built);
    return s;
  }
  if (!has_message ||
      (t.inline_payloads() && size <= transport::kInlineCapacity)) {
    uint8_t buffer[transport::kInlineCapacity];
    if (has_message && !write(buffer)) return RequestChangedError();
    const transport::OutgoingPayload payload =
        !has_message ? transport::OutgoingPayload::None()
                     : transport::OutgoingPayload::Inline({buffer, size});
    return Send(t, h, payload, deadline, nullptr, io);
  }
  absl::StatusOr<transport::Chunk> chunk = AllocateChunk(t, size, deadline, io);
  if (!chunk.ok()) return chunk.status();
  if (!write(chunk->data)) {
    t.DiscardChunk(*chunk);
    return RequestChangedError();
  }
  absl::Status s = Send(
      t, h,
      transport::OutgoingPayload::InChunk(*chunk, static_cast<uint32_t>(size)),
      deadline, nullptr, io);
  if (!s.ok()) t.DiscardChunk(*chunk);
  return s;
}

void SendCallCancel(transport::Connection& t, uint32_t stream,
                    uint32_t generation) {
  SendCancel(t, stream, generation);
}

size_t StatusTrailerBytes(uint32_t code, absl::string_view message,
                          absl::string_view details) {
  return StatusTrailerSize(code, message, details);
}

// ---- ChannelState
// ------------------------------------------------------------

ChannelState::ChannelState(std::string target, ShmChannelOptions options,
                           rpc::MessageLimits limits)
    : target_(std::move(target)),
      options_(std::move(options)),
      limits_(limits),
      mode_(EffectiveMode(options_.mode)),
      backoff_(options_.initial_backoff) {
  if (mode_ == ShmMode::kDisabled) {
    path_.store(ChannelPath::kGrpc);
    why_not_ = "shared memory is disabled";
  }
}

ChannelState::~ChannelState() {
  // Calls still running keep the connection; its completion thread need not
  // linger for new ones.
  if (connection_ != nullptr) connection_->Retire();
}

void ChannelState::Log(const std::string& message) {
  // Once per change of what the channel does.
  if (message == last_logged_) return;
  last_logged_ = message;
  gpr_log(GPR_INFO, "shmrpc: channel to %s %s", target_.c_str(),
          message.c_str());
}

std::string ChannelState::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  switch (path_.load()) {
    case ChannelPath::kSharedMemory:
      return absl::StrCat("shared memory via ", endpoint_);
    case ChannelPath::kGrpc:
      return absl::StrCat("gRPC (", why_not_, ")");
    case ChannelPath::kNotConnected:
      break;
  }
  return "not connected yet";
}

absl::StatusOr<std::shared_ptr<ClientConnection>> ChannelState::Get(
    SysClock::time_point deadline) {
  if (mode_ == ShmMode::kDisabled) return nullptr;
  std::unique_lock<std::mutex> lock(mu_);
  if (connection_ != nullptr && connection_->usable()) return connection_;
  const transport::Deadline steady_deadline = SteadyDeadline(deadline);
  auto deadline_exceeded = [] {
    return absl::DeadlineExceededError("Deadline Exceeded");
  };
  auto unavailable =
      [&]() -> absl::StatusOr<std::shared_ptr<ClientConnection>> {
    if (mode_ == ShmMode::kRequired) {
      return absl::UnavailableError(absl::StrCat(
          "shared memory is required but unavailable: ", why_not_));
    }
    return nullptr;
  };
  bool saw_attempt = false;  // an attempt ended while we were here
  for (;;) {
    if (connection_ != nullptr && connection_->usable()) return connection_;
    if (connection_ != nullptr) {
      // Lost (the server went away or is shutting down): try again at once.
      why_not_ =
          absl::StrCat("lost the shared-memory connection: ",
                       connection_->transport().status().ok()
                           ? "server is shutting down"
                           : connection_->transport().status().message());
      connection_->Retire();
      connection_.reset();
      path_.store(ChannelPath::kGrpc);
      next_attempt_ = Clock::time_point{};
      Log(absl::StrCat("uses gRPC: ", why_not_));
    }
    if (connecting_) {
      // An attempt is under way (briefly: a local handshake); its outcome
      // is ours too, unless our deadline comes first.
      if (steady_deadline == transport::kNoDeadline) {
        connected_.wait(lock, [&] { return !connecting_; });
      } else if (!connected_.wait_until(lock, steady_deadline,
                                        [&] { return !connecting_; })) {
        return deadline_exceeded();
      }
      saw_attempt = true;
      continue;
    }
    // The attempt we waited for failed: gRPC for now.
    if (saw_attempt) return unavailable();
    const auto now = Clock::now();
    if (now < next_attempt_) return unavailable();
    if (now >= steady_deadline) return deadline_exceeded();
    connecting_ = true;
    if (steady_deadline != transport::kNoDeadline) {
      // On its own thread, so that it goes on (for later calls) if our
      // deadline comes first, as gRPC keeps connecting after a call gives
      // up.
      try {
        std::thread([self = shared_from_this()] { self->Attempt(); }).detach();
        continue;
      } catch (const std::system_error&) {
        // No thread to be had: attempt here (bounded by connect_timeout).
      }
    }
    lock.unlock();
    Attempt();
    lock.lock();
    saw_attempt = true;
  }
}

void ChannelState::Attempt() {
  std::unique_lock<std::mutex> lock(mu_);
  const bool resolved = resolved_;
  lock.unlock();
  // Find the endpoint once (may involve name resolution), then connect.
  std::string endpoint;
  std::string failure;
  if (!resolved) {
    if (!options_.endpoint_path.empty()) {
      endpoint = options_.endpoint_path;
    } else {
      absl::StatusOr<std::string> e = rpc::ClientEndpoint(target_);
      if (e.ok()) {
        endpoint = *e;
      } else {
        failure = std::string(e.status().message());
      }
    }
  }
  lock.lock();
  if (!resolved) {
    resolved_ = true;
    endpoint_ = endpoint;
    if (endpoint_.empty()) why_not_ = failure;
  }
  endpoint = endpoint_;
  const uint64_t epoch = ++epoch_;
  const std::string not_found = why_not_;
  lock.unlock();

  absl::StatusOr<std::shared_ptr<ClientConnection>> opened =
      endpoint.empty()
          ? absl::StatusOr<std::shared_ptr<ClientConnection>>(
                absl::NotFoundError(not_found))
          : ClientConnection::Open(endpoint, options_, limits_, epoch,
                                   Clock::now() + options_.connect_timeout);

  lock.lock();
  connecting_ = false;
  connected_.notify_all();
  if (opened.ok()) {
    connection_ = std::move(*opened);
    backoff_ = options_.initial_backoff;
    path_.store(ChannelPath::kSharedMemory);
    Log(absl::StrCat("uses shared memory (", endpoint_, ", server pid ",
                     connection_->transport().peer().pid, ")"));
    return;
  }
  why_not_ = std::string(opened.status().message());
  path_.store(ChannelPath::kGrpc);
  // Back off, randomized as gRPC does.
  thread_local std::minstd_rand rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(-options_.backoff_jitter,
                                                options_.backoff_jitter);
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
      backoff_ * (1.0 + jitter(rng)));
  next_attempt_ = Clock::now() + wait;
  backoff_ = std::min(options_.max_backoff,
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          backoff_ * options_.backoff_multiplier));
  Log(absl::StrCat("uses gRPC: ", why_not_));
}

// ---- ClientConnection
// --------------------------------------------------------

ClientConnection::ClientConnection(
    std::shared_ptr<transport::Connection> transport,
    absl::flat_hash_map<std::string, uint32_t> methods, uint64_t epoch,
    transport::WaitPolicy wait, rpc::MessageLimits limits)
    : transport_(std::move(transport)),
      server_peer_(transport_->peer()),
      methods_(std::move(methods)),
      epoch_(epoch),
      wait_(wait),
      limits_(limits),
      generations_(
          std::make_unique<uint32_t[]>(transport_->params().stream_count)),
      pending_(transport_->params().stream_count) {}

ClientConnection::~ClientConnection() = default;

absl::StatusOr<std::shared_ptr<ClientConnection>> ClientConnection::Open(
    const std::string& path, const ShmChannelOptions& options,
    const rpc::MessageLimits& limits, uint64_t epoch,
    transport::Deadline deadline) {
  transport::ConnectOptions co;
  co.handshake = options.handshake;
  co.connection.wait = options.wait;
  // Connect takes a timeout: what is left until `deadline`, rounded up.
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) {
    return absl::DeadlineExceededError(
        "no time left to connect over shared memory");
  }
  co.timeout =
      std::max(std::chrono::milliseconds(1),
               std::chrono::ceil<std::chrono::milliseconds>(
                   std::min<Clock::duration>(left, options.connect_timeout)));
  absl::StatusOr<std::shared_ptr<transport::Connection>> t =
      transport::Connect(path, co);
  if (!t.ok()) return t.status();
  transport::Connection& c = **t;
  // Ask for the method table (method id 0).
  absl::StatusOr<uint32_t> stream = c.OpenStream();
  if (!stream.ok()) return stream.status();
  constexpr uint32_t kGeneration = 1;
  transport::MessageHeader h;
  h.stream = *stream;
  h.generation = kGeneration;
  h.kind = static_cast<uint16_t>(rpc::FrameKind::kCall);
  h.flags = rpc::kHalfClose;
  h.aux = rpc::kListMethodsId;
  if (absl::Status s = c.Send(h, transport::OutgoingPayload::None(), deadline);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<InboundMessage> reply = c.ReceiveStream(*stream, deadline);
  if (!reply.ok()) {
    if (absl::IsDeadlineExceeded(reply.status())) {
      return absl::DeadlineExceededError(
          "the server did not send its method table in time");
    }
    return reply.status();
  }
  // The descriptor was validated and copied by the transport; judge it
  // before looking at the payload.
  const transport::Descriptor d = reply->descriptor();
  if (d.kind != static_cast<uint16_t>(rpc::FrameKind::kResponse)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server answered the method-table request with a frame of kind ",
        d.kind, " instead of a response"));
  }
  if (d.generation != kGeneration) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server answered the method-table request with generation ",
        d.generation, " instead of ", kGeneration));
  }
  if (d.length > kMaxMethodTableBytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server's method table is ", d.length, " bytes, more than the ",
        kMaxMethodTableBytes, " a client accepts"));
  }
  absl::StatusOr<rpc::DecodedFrame> f =
      rpc::DecodeFrame(d.flags, reply->payload());
  if (!f.ok()) return f.status();
  if (!(f->flags & rpc::kHasStatus) || d.aux != 0) {
    return absl::UnavailableError(absl::StrCat(
        "server refused to list its methods: ", f->status_message));
  }
  absl::StatusOr<std::vector<std::string>> names =
      rpc::DecodeMethodTable(f->message);
  if (!names.ok()) return names.status();
  reply->Release();
  c.CloseStream(*stream);
  absl::flat_hash_map<std::string, uint32_t> methods;
  for (size_t i = 0; i < names->size(); ++i) {
    methods.emplace((*names)[i], static_cast<uint32_t>(i + 1));
  }
  auto conn = std::shared_ptr<ClientConnection>(new ClientConnection(
      std::move(*t), std::move(methods), epoch, options.wait, limits));
  conn->generations_[*stream] = kGeneration;
  return conn;
}

uint32_t ClientConnection::MethodId(absl::string_view name) const {
  auto it = methods_.find(name);
  return it == methods_.end() ? 0 : it->second;
}

std::vector<std::string> ClientConnection::MethodNames() const {
  std::vector<std::string> names;
  names.reserve(methods_.size());
  for (const auto& [name, id] : methods_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

void ClientConnection::Retire() {
  std::lock_guard<std::mutex> lock(mu_);
  retired_ = true;
  wake_.notify_all();
}

void ClientConnection::Defer(uint32_t stream, uint32_t generation,
                             uint64_t position, SysClock::time_point deadline,
                             AsyncUnaryIo* io, Clock::time_point sent,
                             Clock::time_point next_kick) {
  InboundMessage m;
  Pending p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Pending& slot = pending_[stream];
    slot.generation = generation;
    slot.position = position;
    slot.deadline = deadline;
    slot.sent = sent;
    slot.next_kick = next_kick;
    slot.io = io;
    // From now on the server notifies us of news on the stream; whatever
    // came before, we look for right here.
    transport_->SetStreamNotify(stream, true);
    if (!TakeAnswer(stream, &m)) {
      // An idle completion thread sleeps on wake_ (it cannot be woken from
      // a wait for notifications, which is why those are short).
      if (pending_count_++ == 0) wake_.notify_one();
      if (!thread_running_) {
        thread_running_ = true;
        std::thread([self = shared_from_this()] {
          self->CompletionLoop();
        }).detach();
      }
      return;
    }
    p = std::move(slot);
    slot = Pending{};
  }
  Finish(stream, std::move(p), grpc::Status::OK, &m);
}

bool ClientConnection::TakeAnswer(uint32_t stream, InboundMessage* m) {
  const uint32_t generation = pending_[stream].generation;
  while (transport_->TryReceiveStream(stream, m)) {
    if (m->descriptor().generation == generation) return true;
    m->Release();  // a late answer to an earlier call on this stream
  }
  return false;
}

void ClientConnection::Finish(uint32_t stream, Pending p,
                              const grpc::Status& status, InboundMessage* m) {
  grpc::Status result = status;
  if (m != nullptr) {
    result = Complete(*m, *p.io, *this);
    m->Release();
  } else if (status.error_code() == grpc::StatusCode::CANCELLED ||
             status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    SendCancel(*transport_, stream, p.generation);
  }
  transport_->SetStreamNotify(stream, false);
  transport_->CloseStream(stream);
  p.io->Done(result);
}

void ClientConnection::CompletionLoop() {
  for (;;) {
    transport::Deadline wake;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (pending_count_ == 0) {
        // Idle: Defer wakes us for the next call; exit after the linger, or
        // at once if the channel has moved on to another connection.
        if (!retired_) {
          wake_.wait_for(lock, kCompletionLinger,
                         [&] { return pending_count_ > 0 || retired_; });
        }
        if (pending_count_ == 0) {
          thread_running_ = false;
          return;
        }
      }
      // Notifications wake us for answers; nothing can wake us from that
      // wait for anything else, so it is short: until the next deadline or
      // kick is due, and at most a tick, which catches cancellations and
      // dropped notifications (every 1 ms while some call is younger than
      // 100 ms, else every 10 ms).
      const auto now = Clock::now();
      wake = now + kPollLater;
      for (const Pending& p : pending_) {
        if (p.io == nullptr) continue;
        wake = std::min(wake, SteadyDeadline(p.deadline));
        wake = std::min(wake, p.next_kick);
        if (now - p.sent < kPollFirstFor)
          wake = std::min(wake, now + kPollFirst);
      }
    }
    // Pops one notification, if any (which re-arms its stream); which stream
    // it names does not matter: every deferred stream is looked at below.
    (void)transport_->ReceiveNotification(wake);

    const bool closed = !transport_->ok();
    std::vector<std::tuple<uint32_t, Pending, grpc::Status>> ended;
    std::vector<std::tuple<uint32_t, Pending, InboundMessage>> answered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto now = Clock::now();
      for (uint32_t s = 0; s < pending_.size(); ++s) {
        Pending& p = pending_[s];
        if (p.io == nullptr) continue;
        InboundMessage m;
        if (TakeAnswer(s, &m)) {
          answered.emplace_back(s, std::move(p), std::move(m));
        } else if (closed) {
          ended.emplace_back(s, std::move(p), ToGrpc(transport_->status()));
        } else if (SysClock::now() >= p.deadline) {
          ended.emplace_back(s, std::move(p), DeadlineStatus());
        } else if (p.io->CancelRequested()) {
          ended.emplace_back(s, std::move(p), CancelledStatus());
        } else {
          MaybeKick(*transport_, p.position, now, &p.next_kick);
          continue;
        }
        p = Pending{};
        --pending_count_;
      }
    }
    for (auto& [s, p, m] : answered)
      Finish(s, std::move(p), grpc::Status::OK, &m);
    for (auto& [s, p, status] : ended) Finish(s, std::move(p), status, nullptr);
    if (closed) {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_count_ == 0) {
        thread_running_ = false;
        return;
      }
    }
  }
}

// ---- calls
// -------------------------------------------------------------------

grpc::Status RunUnary(ClientConnection& conn, uint32_t method,
                      SysClock::time_point deadline, UnaryIo& io) {
  transport::Connection& t = conn.transport();
  const transport::Deadline steady_deadline = SteadyDeadline(deadline);
  absl::StatusOr<uint32_t> stream =
      OpenStream(t, /*notify=*/false, steady_deadline, io);
  if (!stream.ok()) return SendFailure(stream.status());
  const uint32_t generation = conn.NextGeneration(*stream);
  uint64_t position = 0;
  size_t request_bytes = 0;
  bool woke_server = false;
  if (absl::Status s =
          SendCall(t, *stream, generation, method, deadline, io, conn.limits(),
                   steady_deadline, &position, &request_bytes, &woke_server);
      !s.ok()) {
    t.CloseStream(*stream);
    return SendFailure(s);
  }

  InboundMessage m;
  // Takes the next message for this call, dropping late answers to earlier
  // calls on the same stream.
  auto take = [&] {
    while (t.TryReceiveStream(*stream, &m)) {
      if (m.descriptor().generation == generation) return true;
      m.Release();
    }
    return false;
  };
  // The clock is first read after the first 128 spins (a fast answer never
  // reads it); the spin budget and the kick are timed from then.
  Clock::time_point sent{};
  // After kKickAfter (and every kKickAgain after that): if the server has
  // not taken the request, wake an idle server thread to take over from a
  // busy one. Planned once `sent` is known.
  Clock::time_point next_kick = Clock::time_point::max();
  bool got = take();
  // Spin for the answer while spinning pays off on this connection
  // (adaptive_spin.h).
  if (!got) {
    transport::AdaptiveSpin::Ticket ticket =
        conn.spin(woke_server)
            .Begin(conn.wait().SpinFor(request_bytes), conn.wait().adaptive);
    if (ticket.budget().count() > 0) {
      transport::SpinClock clock(ticket.budget());
      for (;;) {
        transport::CpuRelax();
        if ((got = take())) break;
        const bool more = clock.Tick([&](Clock::time_point now) {
          if (sent == Clock::time_point{}) {
            sent = now;
            next_kick = sent + KickDelay(woke_server);
          }
          MaybeKick(t, position, now, &next_kick);
          return now < steady_deadline;
        });
        if (!more) break;
      }
      conn.spin(woke_server)
          .End(&ticket, got, clock, conn.wait().PayoffFor(request_bytes));
    } else {
      // Not spinning: give the CPU to whoever has work for a while, if that
      // has paid here lately.
      got =
          YieldForAnswer(conn, kYieldBudget, request_bytes, position,
                         woke_server, steady_deadline, take, &sent, &next_kick);
    }
  }
  if (!got && sent == Clock::time_point{}) {
    sent = Clock::now();
    next_kick = sent + KickDelay(woke_server);
  }
  // Sleep, waking up now and then to look for cancellation.
  while (!got) {
    if (!t.ok()) {
      got = take();
      if (got) break;
      t.CloseStream(*stream);
      return ToGrpc(t.status());
    }
    const auto now = Clock::now();
    if (now >= steady_deadline) {
      SendCancel(t, *stream, generation);
      t.CloseStream(*stream);
      return DeadlineStatus();
    }
    if (io.CancelRequested()) {
      SendCancel(t, *stream, generation);
      t.CloseStream(*stream);
      return CancelledStatus();
    }
    MaybeKick(t, position, now, &next_kick);
    const auto poll = now - sent < kPollFirstFor ? kPollFirst : kPollLater;
    transport::Deadline tick = std::min(steady_deadline, now + poll);
    tick = std::min(tick, next_kick);
    absl::StatusOr<InboundMessage> r = t.ReceiveStream(
        *stream, tick, transport::WaitPolicy{std::chrono::nanoseconds(0)});
    if (r.ok()) {
      if (r->descriptor().generation == generation) {
        m = std::move(*r);
        got = true;
      }
    } else if (!absl::IsDeadlineExceeded(r.status())) {
      got = take();
      if (!got) {
        t.CloseStream(*stream);
        return ToGrpc(r.status());
      }
    }
  }
  grpc::Status status = Complete(m, io, conn);
  m.Release();
  t.CloseStream(*stream);
  return status;
}

// Sends the call for an asynchronous caller; on failure ends it at once.
// Returns the stream, generation, position and frame size, or nullopt if it
// ended.
struct SentCall {
  uint32_t stream;
  uint32_t generation;
  uint64_t position;
  bool woke_server;
  size_t bytes;
};

std::optional<SentCall> SendAsync(ClientConnection& conn, uint32_t method,
                                  SysClock::time_point deadline,
                                  AsyncUnaryIo* io) {
  transport::Connection& t = conn.transport();
  const transport::Deadline steady_deadline = SteadyDeadline(deadline);
  absl::StatusOr<uint32_t> stream =
      OpenStream(t, /*notify=*/false, steady_deadline, *io);
  if (!stream.ok()) {
    io->Done(SendFailure(stream.status()));
    return std::nullopt;
  }
  SentCall sent{*stream, conn.NextGeneration(*stream), 0, false, 0};
  absl::Status s = SendCall(t, sent.stream, sent.generation, method, deadline,
                            *io, conn.limits(), steady_deadline, &sent.position,
                            &sent.bytes, &sent.woke_server);
  if (!s.ok()) {
    t.CloseStream(sent.stream);
    io->Done(SendFailure(s));
    return std::nullopt;
  }
  return sent;
}

void StartUnary(const std::shared_ptr<ClientConnection>& conn, uint32_t method,
                SysClock::time_point deadline, AsyncUnaryIo* io) {
  std::optional<SentCall> sent = SendAsync(*conn, method, deadline, io);
  if (!sent) return;
  const auto now = Clock::now();
  conn->Defer(sent->stream, sent->generation, sent->position, deadline, io, now,
              now + KickDelay(sent->woke_server));
}

void RunUnaryOrDefer(const std::shared_ptr<ClientConnection>& conn,
                     uint32_t method, SysClock::time_point deadline,
                     AsyncUnaryIo* io) {
  std::optional<SentCall> sent = SendAsync(*conn, method, deadline, io);
  if (!sent) return;
  transport::Connection& t = conn->transport();
  // Spin for the answer; nobody else reads this stream until Defer.
  InboundMessage m;
  // The clock is first read after 128 looks (a fast answer never reads it);
  // the spin budget and the kick are timed from then.
  Clock::time_point sent_at{};
  // After kKickAfter: if the server has not taken the request, wake an idle
  // server thread to take over from a busy one (as RunUnary does); the
  // completion thread goes on from there.
  Clock::time_point next_kick = Clock::time_point::max();
  auto take = [&] {
    while (t.TryReceiveStream(sent->stream, &m)) {
      if (m.descriptor().generation == sent->generation) return true;
      m.Release();
    }
    return false;
  };
  bool got = take();
  // Spin while spinning pays off on this connection (adaptive_spin.h).
  // Unlike RunUnary's, this wait keeps the latency-first history even when
  // the request woke the server: an answer missed here is handed to the
  // completion thread and back to gRPC's waiting caller, two wake-ups in
  // this process instead of the one a sleep would cost.
  if (!got) {
    transport::AdaptiveSpin& spin = conn->spin(/*woke_server=*/false);
    transport::AdaptiveSpin::Ticket ticket =
        spin.Begin(conn->wait().SpinFor(sent->bytes), conn->wait().adaptive);
    if (ticket.budget().count() > 0) {
      const transport::Deadline steady_deadline = SteadyDeadline(deadline);
      transport::SpinClock clock(ticket.budget());
      for (;;) {
        transport::CpuRelax();
        if ((got = take())) break;
        const bool more = clock.Tick([&](Clock::time_point now) {
          if (sent_at == Clock::time_point{}) {
            sent_at = now;
            next_kick = sent_at + KickDelay(sent->woke_server);
          }
          MaybeKick(t, sent->position, now, &next_kick);
          return now < steady_deadline;
        });
        if (!more) break;
      }
      spin.End(&ticket, got, clock, conn->wait().PayoffFor(sent->bytes));
    } else {
      // Not spinning: yield the CPU while that pays (as RunUnary does), but
      // for no longer than a spin would last: the caller may be starting
      // asynchronous calls, which must not wait for each other's answers.
      got =
          YieldForAnswer(*conn, conn->wait().SpinFor(sent->bytes), sent->bytes,
                         sent->position, sent->woke_server,
                         SteadyDeadline(deadline), take, &sent_at, &next_kick);
    }
  }
  if (got) {
    grpc::Status status = Complete(m, *io, *conn);
    m.Release();
    t.CloseStream(sent->stream);
    io->Done(status);
    return;
  }
  if (sent_at == Clock::time_point{}) {
    sent_at = Clock::now();
    next_kick = sent_at + KickDelay(sent->woke_server);
  }
  conn->Defer(sent->stream, sent->generation, sent->position, deadline, io,
              sent_at, next_kick);
}

}  // namespace internal
}  // namespace shmrpc
