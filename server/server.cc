#include "shmrpc/server/server.h"

#include <grpc/impl/codegen/grpc_types.h>
#include <grpc/support/log.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "shmrpc/message/peer_serialize.h"
#include "shmrpc/rpc/endpoint.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/rpc/limits.h"
#include "shmrpc/rpc/metadata_check.h"
#include "shmrpc/server/admin_service.h"
#include "shmrpc/server/server_impl.h"
#include "shmrpc/transport/adaptive_spin.h"
#include "shmrpc/transport/listener.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc {

namespace {

// The server's side of one unary call, handed to the method handler.
class UnaryCall final : public internal::ServerUnaryCall {
 public:
  UnaryCall(Server::Impl* server, Served* served, const CallSlot& slot,
            const Descriptor& d, InboundMessage request,
            absl::Span<const uint8_t> message, internal::ShmCallState* state,
            CallRecord* record)
      : server_(server),
        served_(served),
        slot_(slot),
        stream_(d.stream),
        generation_(d.generation),
        request_(std::move(request)),
        message_(message),
        state_(state),
        record_(record),
        context_(state) {}

  ServerContext* context() override { return &context_; }
  absl::Span<const uint8_t> request() const override { return message_; }

  void Finish(const grpc::Status& status,
              const google::protobuf::MessageLite* response) override {
    // Done with the request: its chunk goes back before we answer, so the
    // client finds it free (and cache-hot) for its next call.
    request_.Release();
    message_ = {};
    if ((slot_.word.load(std::memory_order_acquire) & kCancelledBit) != 0) {
      return;  // the client is no longer waiting for this call
    }
    if (state_->server_cancelled.load(std::memory_order_acquire)) {
      server_->Respond(*served_, stream_, generation_,
                       grpc::Status(grpc::StatusCode::CANCELLED,
                                    "Cancelled on the server side"),
                       nullptr, {}, &state_->initial_metadata,
                       &state_->trailing_metadata, state_->deadline, record_);
      return;
    }
    if (state_->deadline != SysClock::time_point::max() &&
        SysClock::now() >= state_->deadline) {
      server_->Respond(*served_, stream_, generation_,
                       grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                    "Deadline Exceeded"),
                       nullptr, {}, &state_->initial_metadata,
                       &state_->trailing_metadata, state_->deadline, record_);
      return;
    }
    response_bytes_ = server_->Respond(
        *served_, stream_, generation_, status,
        status.ok() ? response : nullptr, {}, &state_->initial_metadata,
        &state_->trailing_metadata, state_->deadline, record_);
  }

  absl::StatusOr<absl::Span<uint8_t>> ResponseBuffer(size_t bytes,
                                                     size_t keep) override {
    Connection& c = *served_->conn;
    if (bytes > c.max_chunk_size()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("response of ", bytes,
                       " bytes exceeds the largest shared-memory "
                       "chunk (",
                       c.max_chunk_size(), " bytes)"));
    }
    absl::StatusOr<transport::Chunk> chunk =
        c.AllocateChunk(bytes, transport::Deadline{});
    if (!chunk.ok() && absl::IsResourceExhausted(chunk.status())) {
      chunk =
          c.AllocateChunk(bytes, server_->ResponseWaitUntil(state_->deadline));
    }
    if (!chunk.ok()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no shared-memory chunk of ", bytes,
                       " bytes for the response: ", chunk.status().message()));
    }
    if (response_chunk_) {
      std::memcpy(chunk->data, response_chunk_->data,
                  std::min<size_t>(keep, response_chunk_->capacity));
      c.DiscardChunk(*response_chunk_);
    }
    response_chunk_ = *chunk;
    return absl::Span<uint8_t>(chunk->data, chunk->capacity);
  }

  void FinishInPlace(const grpc::Status& status, size_t used) override {
    std::optional<transport::Chunk> built = std::move(response_chunk_);
    response_chunk_.reset();
    if (!status.ok() || !built || used > built->capacity) {
      if (built) served_->conn->DiscardChunk(*built);
      Finish(status.ok() ? grpc::Status(grpc::StatusCode::INTERNAL,
                                        "in-place response without a buffer")
                         : status,
             nullptr);
      return;
    }
    request_.Release();
    message_ = {};
    if ((slot_.word.load(std::memory_order_acquire) & kCancelledBit) != 0 ||
        state_->server_cancelled.load(std::memory_order_acquire) ||
        (state_->deadline != SysClock::time_point::max() &&
         SysClock::now() >= state_->deadline)) {
      // As Finish: the answer is no longer the response.
      served_->conn->DiscardChunk(*built);
      Finish(status, nullptr);
      return;
    }
    response_bytes_ = server_->RespondInPlace(
        *served_, stream_, generation_, *built, used, &state_->initial_metadata,
        &state_->trailing_metadata, state_->deadline, record_);
  }

  ~UnaryCall() override {
    if (response_chunk_) served_->conn->DiscardChunk(*response_chunk_);
  }

  // Bytes of the response sent by Finish (0 before, or if none was).
  size_t response_bytes() const { return response_bytes_; }

 private:
  Server::Impl* const server_;
  Served* const served_;
  const CallSlot& slot_;
  const uint32_t stream_;
  const uint32_t generation_;
  InboundMessage request_;
  absl::Span<const uint8_t> message_;
  internal::ShmCallState* const state_;
  CallRecord* const record_;
  ServerContext context_;
  size_t response_bytes_ = 0;
  // The buffer of an in-place response (ResponseBuffer), until sent.
  std::optional<transport::Chunk> response_chunk_;
};

}  // namespace

std::vector<internal::ShmService*> Server::Impl::ServicesToServe(
    const std::vector<internal::ShmService*>& user_services,
    const std::vector<std::string>& listening_addresses) {
  std::vector<internal::ShmService*> all = user_services;
  admin = internal::NewAdminService([this](bool include_connections) {
    return Statistics(include_connections);
  });
  all.push_back(admin.get());
  addresses = listening_addresses;
  stats = options.stats_registry != nullptr ? options.stats_registry
                                            : std::make_shared<StatsRegistry>();
  recorders.clear();
  for (internal::ShmService* service : all) {
    for (const auto& method : service->shm_methods()) {
      recorders.push_back(stats->Recorder(
          method.name, kTransportShm,
          method.handler->kind() == internal::ShmMethodKind::kUnary));
    }
  }
  return all;
}

ServerStatistics Server::Impl::Statistics(bool include_connections) const {
  ServerStatistics out;
  out.pid = ::getpid();
  out.uid = ::geteuid();
  out.start_time = started;
  out.uptime_seconds =
      std::chrono::duration<double>(Clock::now() - started_steady).count();
  out.endpoints = endpoints;
  out.addresses = addresses;
  out.connections_accepted = accepted.load(std::memory_order_relaxed);
  out.connections_refused = refused.load(std::memory_order_relaxed);
  out.calls_in_flight = in_flight.load(std::memory_order_relaxed);
  out.threads = threads.load(std::memory_order_relaxed);
  out.thread_failures = thread_failures.load(std::memory_order_relaxed);
  if (stats != nullptr) out.methods = stats->Snapshot();
  for (const MethodStatistics& m : out.methods) {
    if (m.transport == kTransportShm) {
      out.calls += m.calls + static_cast<uint64_t>(m.in_flight);
    }
  }
  std::vector<std::shared_ptr<Served>> live;
  {
    std::lock_guard<std::mutex> lock(mu);
    out.connections_live = static_cast<int>(connections.size());
    if (include_connections) live = connections;
  }
  const Clock::time_point now = Clock::now();
  for (const std::shared_ptr<Served>& s : live) {
    ConnectionStatistics c;
    c.peer_pid = s->conn->peer().pid;
    c.peer_uid = s->conn->peer().uid;
    c.age_seconds = std::chrono::duration<double>(now - s->since).count();
    for (int i = 0; i < s->slot_count; ++i) {
      c.calls += s->slots[i].calls.load(std::memory_order_relaxed);
    }
    c.threads = s->threads.load(std::memory_order_relaxed);
    c.max_threads = s->ThreadCap();
    const transport::PoolStats pool = s->conn->stats().pool;
    c.pool_bytes_used = pool.bytes_in_use;
    c.pool_bytes_capacity = pool.bytes_total;
    out.connections.push_back(c);
  }
  return out;
}

absl::Status Server::Impl::Admit() {
  std::lock_guard<std::mutex> lock(mu);
  if (draining.load()) {
    return absl::UnavailableError("shmrpc server is shutting down");
  }
  if (static_cast<int>(connections.size()) >= options.max_connections) {
    refused.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        absl::StrCat("shmrpc server is at its connection limit (",
                     options.max_connections, ")"));
  }
  if (thread_failures.load(std::memory_order_relaxed) > 0 &&
      Clock::now() - last_thread_failure < kThreadFailureBackoff &&
      threads.load() >= threads_at_failure) {
    refused.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        "shmrpc server cannot start more threads now (task limit)");
  }
  return absl::OkStatus();
}

void Server::Impl::OnConnection(std::shared_ptr<Connection> conn) {
  auto served = std::make_shared<Served>(this, std::move(conn),
                                         options.max_threads_per_connection,
                                         options.max_streams_per_connection);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (draining.load()) {
      served->conn->Close(absl::UnavailableError("server is shutting down"));
      return;
    }
    // Admit() let it in; this holds the cap even if handshakes overlap.
    if (static_cast<int>(connections.size()) >= options.max_connections) {
      refused.fetch_add(1, std::memory_order_relaxed);
      served->conn->Close(absl::ResourceExhaustedError(
          absl::StrCat("shmrpc server is at its connection limit (",
                       options.max_connections, ")")));
      return;
    }
    connections.push_back(served);
  }
  // A client that dies (or whose connection is closed for any reason) can
  // no longer receive an answer: its running handlers see IsCancelled() at
  // once instead of running to their end.
  served->conn->OnClose(
      [weak = std::weak_ptr<Served>(served)](const absl::Status&) {
        if (std::shared_ptr<Served> s = weak.lock()) {
          for (int i = 0; i < s->slot_count; ++i) CancelSlot(s->slots[i], 0);
        }
      });
  // One thread to poll, one ready to take over when a call runs long.
  if (!Spawn(served)) {
    // Not even one thread: close it now; the client falls back to gRPC (or
    // fails with UNAVAILABLE if it requires shared memory).
    served->conn->Close(absl::ResourceExhaustedError(
        "shmrpc server cannot start a thread for this connection"));
    std::lock_guard<std::mutex> lock(mu);
    Forget(served.get());
    refused.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  accepted.fetch_add(1, std::memory_order_relaxed);
  Spawn(served);
}

void Server::Impl::Forget(const Served* s) {
  for (auto it = connections.begin(); it != connections.end(); ++it) {
    if (it->get() == s) {
      connections.erase(it);
      break;
    }
  }
}

bool Server::Impl::Spawn(const std::shared_ptr<Served>& s) {
  std::lock_guard<std::mutex> lock(mu);
  if (stopping.load()) return false;
  // Reap threads that have finished.
  for (auto it = workers.begin(); it != workers.end();) {
    if (it->done->load(std::memory_order_acquire)) {
      it->thread.join();
      it = workers.erase(it);
    } else {
      ++it;
    }
  }
  if (s->threads.load() >= s->ThreadCap()) return false;
  // Soon after a failure, only a connection's first thread is tried again
  // (a failed attempt costs a system call and this lock).
  if (s->threads.load() > 0 && thread_failures.load() > 0 &&
      Clock::now() - last_thread_failure < kThreadRetryAfter) {
    return false;
  }
  const int slot = static_cast<int>(
      std::find(s->slot_used.begin(), s->slot_used.end(), false) -
      s->slot_used.begin());
  // None free: a retiring thread has left the count but not its slot yet.
  if (slot >= s->slot_count) return false;
  s->slot_used[slot] = true;
  s->threads.fetch_add(1);
  threads.fetch_add(1);
  auto done = std::make_shared<std::atomic<bool>>(false);
  workers.push_back(Worker{std::thread(), done});
  try {
    workers.back().thread = std::thread([this, s, slot, done] {
      WorkerLoop(s, slot);
      threads.fetch_sub(1);
      done->store(true, std::memory_order_release);
    });
  } catch (const std::system_error& e) {
    workers.pop_back();
    s->slot_used[slot] = false;
    s->threads.fetch_sub(1);
    threads.fetch_sub(1);
    // Logged once per burst of failures.
    if (thread_failures.fetch_add(1) == 0 ||
        Clock::now() - last_thread_failure >= kThreadFailureBackoff) {
      gpr_log(GPR_ERROR,
              "shmrpc server: cannot start a serving thread (%s); refusing "
              "new clients for now",
              e.what());
    }
    last_thread_failure = Clock::now();
    threads_at_failure = threads.load();
    return false;
  }
  return true;
}

void Server::Impl::WorkerLoop(const std::shared_ptr<Served>& s, int slot) {
  CallSlot& call_slot = s->slots[slot];
  InboundMessage m;
  bool retire = false;
  size_t last_bytes = 0;
  while (Acquire(*s, call_slot, last_bytes, &m, &retire)) {
    last_bytes = Dispatch(*s, call_slot, std::move(m));
    if (call_slot.inbox_open) CloseInbox(call_slot);
    call_slot.word.store(0, std::memory_order_release);
    s->busy.fetch_sub(1, std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(mu);
  s->slot_used[slot] = false;
  // A retiring thread has already left the count (see Acquire).
  if (!retire && s->threads.fetch_sub(1) == 1) {
    // The connection is gone: forget it.
    Forget(s.get());
  }
}

// Waits for the next request of connection `s`. Returns false when the
// thread should exit (connection closed, server stopping, or - with *retire
// set, and the thread already taken off s.threads - this thread is surplus).
bool Server::Impl::Acquire(Served& s, CallSlot& slot, size_t last_bytes,
                           InboundMessage* m, bool* retire) {
  Connection& c = *s.conn;
  transport::Doorbell bell = c.request_bell();
  const auto spin = options.wait.SpinFor(last_bytes);
  int idle_looks = 0;
  // A thread coming back from a call may take over polling at once. A thread
  // that was asleep does so only if a request is waiting: otherwise it would
  // compete for the CPU with a thread still running a call.
  bool may_poll = true;
  // Takes the next request for this thread to serve. A client's stream
  // message is routed to its call's inbox right here, while this thread
  // holds the poll token, so that a call's messages reach it in ring order.
  // A message that woke a streaming handler sleeping for it ends this
  // thread's polling (handed_off): that handler polls for its own messages
  // when it next waits, which saves a wake-up per message.
  bool handed_off = false;
  auto take = [&] {
    while (!handed_off && c.TryReceiveRequest(m)) {
      if (m->descriptor().kind !=
          static_cast<uint16_t>(rpc::FrameKind::kMessage)) {
        return true;
      }
      handed_off = RouteMessage(s, std::move(*m));
    }
    return false;
  };
  for (;;) {
    if (stopping.load(std::memory_order_acquire) || !c.ok()) return false;
    // A streaming call that started asks an idle thread to poll even
    // without a request waiting: its handler holds its thread for long.
    if (!may_poll) {
      may_poll = c.HasRequest() ||
                 s.want_poller.exchange(false, std::memory_order_acq_rel);
    }
    if (may_poll && !s.token.exchange(true, std::memory_order_acquire)) {
      // The poller: spin on the request ring for a while (peeking, which is
      // one load, before taking). Calls deferred by a streaming handler
      // come first.
      handed_off = false;
      bool got = TakeDeferred(s, m) || take();
      if (!got && !handed_off) {
        // Only while spinning pays off here (adaptive_spin.h): at a low call
        // rate the next request is too far away to wait for on a CPU.
        transport::AdaptiveSpin::Ticket ticket =
            s.spin.Begin(spin, options.wait.adaptive);
        if (ticket.budget().count() > 0) {
          transport::SpinClock clock(ticket.budget());
          for (;;) {
            transport::CpuRelax();
            if (c.HasRequest() && (got = take())) break;
            if (handed_off) break;
            if (!clock.Tick([&](Clock::time_point) { return c.ok(); })) break;
          }
          s.spin.End(&ticket, got, clock, options.wait.PayoffFor(last_bytes));
        } else {
          // Not spinning: give the CPU to whoever has work for a while, if
          // that has paid here lately (Mode::kYield).
          const auto payoff = options.wait.PayoffFor(last_bytes);
          transport::AdaptiveSpin::Ticket yield =
              s.yield.Begin(kYieldBudget, options.wait.adaptive);
          if (yield.budget().count() > 0) {
            std::chrono::nanoseconds wasted{0};
            got = transport::YieldFor(
                yield.budget(), payoff,
                [&] { return c.HasRequest() && take(); },
                [&](Clock::time_point) {
                  return c.ok() && !handed_off &&
                         !stopping.load(std::memory_order_relaxed);
                },
                &wasted);
            s.yield.End(&yield, got, wasted, payoff);
          }
        }
      }
      if (got) {
        // Register a call before giving up the token: its kCancel, which
        // comes later in the ring, can then only be taken once the call is
        // in its slot.
        const Descriptor& d = m->descriptor();
        if (d.kind == static_cast<uint16_t>(rpc::FrameKind::kCall)) {
          const uint64_t key = CallKey(d.stream, d.generation);
          slot.word.store(key, std::memory_order_release);
          // Its messages, which come later in the ring, find its inbox.
          if (ReadsFromClient(d.aux)) OpenInbox(slot, key);
        }
      }
      s.token.store(false, std::memory_order_seq_cst);
      if (got) {
        // Requests queued behind this one, or a streaming handler waiting
        // for a message that nobody else would take off the ring: get
        // another thread going now (a system call only then).
        if (c.HasRequest() ||
            (s.waiting_readers.load(std::memory_order_seq_cst) > 0 &&
             s.NobodyPolls())) {
          bell.Kick(1);
        }
        // Keep a thread ready to take over should this call run long: if
        // every thread of the connection is now running a call, start one
        // (Spawn holds the cap).
        const int threads = s.threads.load(std::memory_order_relaxed);
        if (s.busy.fetch_add(1, std::memory_order_relaxed) + 1 >= threads &&
            threads < s.ThreadCap()) {
          Spawn(s.shared_from_this());
        }
        return true;
      }
      // The handler we woke polls from now on: stand by.
      if (handed_off) {
        may_poll = false;
        continue;
      }
      // Idle: sleep, announced, so that the next request wakes us (as do a
      // kick, the connection closing and a shutdown, which closes it).
      {
        s.idle_pollers.fetch_add(1, std::memory_order_seq_cst);
        const uint32_t key = bell.Announce();
        if (!c.HasRequest() && c.ok() && !stopping.load()) {
          bell.Sleep(key, transport::kNoDeadline);
        }
        s.idle_pollers.fetch_sub(1, std::memory_order_seq_cst);
      }
      may_poll = false;
      continue;
    }
    may_poll = false;
    const uint32_t key = bell.key();
    // A streaming handler waits for a message and nobody polls (the poller
    // woke without a request, or took a call): poll, which ends in an
    // announced sleep that the message wakes.
    if (s.waiting_readers.load(std::memory_order_seq_cst) > 0 &&
        s.NobodyPolls()) {
      may_poll = true;
      continue;
    }
    // Another thread polls (or runs a call inline). Sleep without announcing:
    // a waiting client kicks us if its request is not taken soon.
    if ((s.token.load(std::memory_order_relaxed) || !c.HasRequest()) &&
        !s.want_poller.load(std::memory_order_acquire)) {
      const transport::FutexWaitResult r =
          bell.SleepUncounted(key, Clock::now() + kStandbyLook);
      if (r == transport::FutexWaitResult::kTimedOut &&
          ++idle_looks >= kLooksBeforeExit) {
        // Surplus: leave, but never below two threads (one to poll, one to
        // take over). Threads leave the count one at a time.
        int n = s.threads.load();
        while (n > 2) {
          if (s.threads.compare_exchange_weak(n, n - 1)) {
            *retire = true;
            return false;
          }
        }
      }
    }
  }
}

size_t Server::Impl::Dispatch(Served& s, CallSlot& slot, InboundMessage m) {
  const Descriptor d = m.descriptor();
  switch (static_cast<rpc::FrameKind>(d.kind)) {
    case rpc::FrameKind::kCall:
      calls.fetch_add(1, std::memory_order_relaxed);
      return HandleCall(s, slot, std::move(m));
    case rpc::FrameKind::kMessage:
      RouteMessage(s, std::move(m));
      return 0;
    case rpc::FrameKind::kCancel: {
      // Exactly the call this names, if it is still running (in some
      // thread's slot; at most max_threads_per_connection to look at).
      m.Release();
      const uint64_t key = CallKey(d.stream, d.generation);
      for (int i = 0; i < s.slot_count; ++i) CancelSlot(s.slots[i], key);
      return 0;
    }
    default:
      m.Release();
      Respond(s, d.stream, d.generation,
              grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                           absl::StrCat("unsupported frame kind ", d.kind)),
              nullptr, {}, nullptr, nullptr);
      return 0;
  }
}

void Server::Impl::CallDone() {
  if (in_flight.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      draining.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
}

size_t Server::Impl::HandleCall(Served& s, CallSlot& slot, InboundMessage m) {
  const Descriptor d = m.descriptor();
  const uint32_t method = d.aux;
  // Counted before looking at `draining`, so that Shutdown() either sees
  // this call or this call sees the shutdown.
  in_flight.fetch_add(1, std::memory_order_seq_cst);
  struct Done {
    Server::Impl* impl;
    ~Done() { impl->CallDone(); }
  } done{this};
  // The call's statistics (the method table is no call of a method): sent to
  // its method's recorder when `record` goes, after the call's status went
  // out (Respond) or the call ended without one.
  MethodRecorder* const recorder = RecorderOf(method);
  if (method != rpc::kListMethodsId) {
    slot.calls.store(slot.calls.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);
  }
  CallRecord record(recorder, recorder != nullptr ? recorder->Start() : 0);
  // Answers the call with `status` and nothing else, without running a
  // handler.
  auto refuse = [&](const grpc::Status& status,
                    SysClock::time_point deadline =
                        SysClock::time_point::max()) {
    m.Release();
    Respond(s, d.stream, d.generation, status, nullptr, {}, nullptr, nullptr,
            deadline, &record);
    return size_t{0};
  };
  if (draining.load(std::memory_order_seq_cst)) {
    return refuse(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "shmrpc server is shutting down"));
  }
  // Reads the footer and the sections' headers, never the message.
  rpc::DecodedFrame frame;
  if (absl::Status st = rpc::DecodeFrame(d.flags, m.payload(), &frame);
      !st.ok()) {
    return refuse(
        grpc::Status(grpc::StatusCode::INTERNAL,
                     absl::StrCat("malformed request frame: ", st.message())));
  }
  const rpc::DecodedFrame* const f = &frame;
  record.bytes_in = f->message.size();
  SysClock::time_point deadline = SysClock::time_point::max();
  if (f->flags & rpc::kHasDeadline) {
    deadline =
        SysClock::time_point(std::chrono::duration_cast<SysClock::duration>(
            std::chrono::nanoseconds(f->deadline_unix_ns)));
  }
  // gRPC's limits, before anything is parsed or allocated for the call.
  if (absl::Status st = rpc::CheckReceivedMetadataSize(
          rpc::MetadataSize(f->metadata), max_metadata, "initial metadata");
      !st.ok()) {
    return refuse(ToGrpc(st), deadline);
  }
  if (absl::Status st =
          rpc::CheckReceivedMessageSize(f->message.size(), max_receive);
      !st.ok()) {
    return refuse(ToGrpc(st), deadline);
  }
  // Keys and values gRPC would never hand a handler (its HTTP/2 transport
  // refuses them): the call fails before it starts.
  if (absl::Status st = rpc::CheckMetadata(f->metadata); !st.ok()) {
    return refuse(ToGrpc(st), deadline);
  }
  if (method == rpc::kListMethodsId) {
    m.Release();
    Respond(s, d.stream, d.generation, grpc::Status::OK, nullptr, method_table,
            nullptr, nullptr);
    return 0;
  }
  if (method > handlers.size()) {
    return refuse(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""), deadline);
  }
  if (deadline != SysClock::time_point::max() && SysClock::now() >= deadline) {
    return refuse(
        grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"),
        deadline);
  }
  internal::ShmCallState state;
  state.deadline = deadline;
  state.client_metadata = &f->metadata;
  state.cancel_word = &slot.word;
  state.peer = &s.peer;
  internal::ShmMethodHandler* const handler = handlers[method - 1];
  if (kinds[method - 1] != internal::ShmMethodKind::kUnary) {
    return ServeStream(this, s, slot, d, std::move(m), f->message, &state,
                       handler, &record);
  }
  UnaryCall call(this, &s, slot, d, std::move(m), f->message, &state, &record);
  handler->RunUnary(&call);
  return d.length + call.response_bytes();
}

size_t Server::Impl::Respond(
    Served& s, uint32_t stream, uint32_t generation, const grpc::Status& status,
    const google::protobuf::MessageLite* message, absl::string_view raw_message,
    const std::multimap<std::string, std::string>* initial,
    const std::multimap<std::string, std::string>* trailing,
    SysClock::time_point deadline, CallRecord* record) {
  Connection& c = *s.conn;
  if (!c.ok()) return 0;
  // Answers with `error` alone instead (no message, no metadata).
  auto respond_error = [&](grpc::StatusCode code, std::string text) {
    return Respond(s, stream, generation, grpc::Status(code, std::move(text)),
                   nullptr, {}, nullptr, nullptr, deadline, record);
  };
  size_t message_size = 0;
  // The response went out: its status and message are counted (a call
  // whose answer never went out stays CANCELLED, as gRPC counts it).
  auto sent = [&](size_t total) {
    if (record != nullptr) {
      record->code = static_cast<int>(status.error_code());
      if (message != nullptr || !raw_message.empty()) {
        record->CountResponse(message_size);
      }
    }
    return total;
  };
  if (message != nullptr) {
    message_size = message->ByteSizeLong();
    if (absl::Status st = rpc::CheckSentMessageSize(message_size, max_send);
        !st.ok()) {
      return respond_error(grpc::StatusCode::RESOURCE_EXHAUSTED,
                           std::string(st.message()));
    }
  } else if (!raw_message.empty()) {
    message_size = raw_message.size();
  }
  MetadataEntries initial_entries, trailing_entries;
  if (initial != nullptr) initial_entries = Entries(*initial);
  if (trailing != nullptr) trailing_entries = Entries(*trailing);
  uint16_t flags = rpc::kHasStatus;
  if (!initial_entries.empty()) flags |= rpc::kHasMetadata;
  if (message != nullptr || !raw_message.empty()) flags |= rpc::kHasMessage;
  // grpc::Status returns these by value: keep the copies alive.
  const std::string status_message = status.error_message();
  const std::string status_details = status.error_details();
  rpc::FrameExtras extras;
  extras.metadata = initial_entries;
  extras.status_message = status_message;
  extras.status_details = status_details;
  extras.trailing = trailing_entries;
  const size_t total = message_size + rpc::ExtrasSize(flags, extras);

  transport::MessageHeader h;
  h.stream = stream;
  h.generation = generation;
  h.kind = static_cast<uint16_t>(rpc::FrameKind::kResponse);
  h.flags = flags;
  h.aux = static_cast<uint32_t>(status.error_code());
  // How long we may wait for the client (read only when we must wait).
  auto wait_until = [&] { return ResponseWaitUntil(deadline); };
  // Sending rarely has to wait (for ring space or a free chunk): try without
  // waiting first, so that the clock is read only when it must.
  auto send = [&](const transport::OutgoingPayload& payload) {
    absl::Status st = c.Send(h, payload, transport::Deadline{});
    if (absl::IsDeadlineExceeded(st)) st = c.Send(h, payload, wait_until());
    return st;
  };
  // False if the message did not come out at message_size (the handler
  // changed it after returning).
  auto write = [&](uint8_t* out) {
    if (message != nullptr) {
      if (!message::SerializeToPeer(*message, message_size, out)) return false;
    } else if (!raw_message.empty()) {
      transport::CopyToPeer(out, raw_message.data(), raw_message.size());
    }
    rpc::EncodeExtras(flags, extras, out + message_size);
    return true;
  };
  auto changed = [&] {
    return respond_error(grpc::StatusCode::INTERNAL,
                         "the response message changed while it was being "
                         "serialized");
  };
  if (c.inline_payloads() && total <= transport::kInlineCapacity) {
    uint8_t buffer[transport::kInlineCapacity];
    if (!write(buffer)) return changed();
    return send(transport::OutgoingPayload::Inline({buffer, total})).ok()
               ? sent(total)
               : 0;
  }
  if (total > c.max_chunk_size()) {
    // Too big for any chunk (a large message, or metadata or status details
    // the handler made too large): say so instead, as gRPC does for
    // oversized messages.
    return respond_error(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("response of ", total,
                     " bytes exceeds the largest shared-memory chunk (",
                     c.max_chunk_size(), " bytes)"));
  }
  absl::StatusOr<transport::Chunk> chunk =
      c.AllocateChunk(total, transport::Deadline{});
  if (!chunk.ok() && absl::IsResourceExhausted(chunk.status())) {
    chunk = c.AllocateChunk(total, wait_until());
  }
  if (!chunk.ok()) return 0;  // closed, or the client took nothing back
  if (!write(chunk->data)) {
    c.DiscardChunk(*chunk);
    return changed();
  }
  if (!send(transport::OutgoingPayload::InChunk(*chunk,
                                                static_cast<uint32_t>(total)))
           .ok()) {
    c.DiscardChunk(*chunk);
    return 0;
  }
  return sent(total);
}

transport::Deadline Server::Impl::ResponseWaitUntil(
    SysClock::time_point deadline) const {
  const auto now = Clock::now();
  if (deadline == SysClock::time_point::max()) return now + kSendTimeout;
  const auto left = deadline - SysClock::now();
  if (left <= SysClock::duration::zero()) return now;
  if (left >= kSendTimeout) return now + kSendTimeout;
  return now + std::chrono::duration_cast<Clock::duration>(left);
}

size_t Server::Impl::RespondInPlace(
    Served& s, uint32_t stream, uint32_t generation,
    const transport::Chunk& built, size_t used,
    const std::multimap<std::string, std::string>* initial,
    const std::multimap<std::string, std::string>* trailing,
    SysClock::time_point deadline, CallRecord* record) {
  Connection& c = *s.conn;
  auto fail = [&](grpc::StatusCode code, std::string text) {
    c.DiscardChunk(built);
    return Respond(s, stream, generation, grpc::Status(code, std::move(text)),
                   nullptr, {}, nullptr, nullptr, deadline, record);
  };
  if (!c.ok()) {
    c.DiscardChunk(built);
    return 0;
  }
  if (absl::Status st = rpc::CheckSentMessageSize(used, max_send); !st.ok()) {
    return fail(grpc::StatusCode::RESOURCE_EXHAUSTED,
                std::string(st.message()));
  }
  MetadataEntries initial_entries, trailing_entries;
  if (initial != nullptr) initial_entries = Entries(*initial);
  if (trailing != nullptr) trailing_entries = Entries(*trailing);
  uint16_t flags = rpc::kHasStatus | rpc::kHasMessage;
  if (!initial_entries.empty()) flags |= rpc::kHasMetadata;
  rpc::FrameExtras extras;
  extras.metadata = initial_entries;
  extras.trailing = trailing_entries;
  const size_t total = used + rpc::ExtrasSize(flags, extras);
  transport::Chunk chunk = built;
  if (total > built.capacity) {
    // The metadata does not fit behind the message: move both to a chunk
    // that holds them (the message is copied once).
    if (total > c.max_chunk_size()) {
      return fail(grpc::StatusCode::RESOURCE_EXHAUSTED,
                  absl::StrCat("response of ", total,
                               " bytes exceeds the largest shared-memory "
                               "chunk (",
                               c.max_chunk_size(), " bytes)"));
    }
    absl::StatusOr<transport::Chunk> bigger =
        c.AllocateChunk(total, ResponseWaitUntil(deadline));
    if (!bigger.ok()) {
      c.DiscardChunk(built);
      return 0;
    }
    transport::CopyToPeer(bigger->data, built.data, used);
    c.DiscardChunk(built);
    chunk = *bigger;
  }
  rpc::EncodeExtras(flags, extras, chunk.data + used);
  transport::MessageHeader h;
  h.stream = stream;
  h.generation = generation;
  h.kind = static_cast<uint16_t>(rpc::FrameKind::kResponse);
  h.flags = flags;
  h.aux = 0;
  const transport::OutgoingPayload payload =
      transport::OutgoingPayload::InChunk(chunk, static_cast<uint32_t>(total));
  absl::Status st = c.Send(h, payload, transport::Deadline{});
  if (absl::IsDeadlineExceeded(st)) {
    st = c.Send(h, payload, ResponseWaitUntil(deadline));
  }
  if (!st.ok()) {
    c.DiscardChunk(chunk);
    return 0;
  }
  if (record != nullptr) {
    record->code = 0;  // OK, sent
    record->CountResponse(used);
  }
  return total;
}

void Server::Impl::ShutdownImpl(SysClock::time_point deadline) {
  {
    std::unique_lock<std::mutex> lock(mu);
    if (shutdown_started) {
      cv.wait(lock, [&] { return shutdown_done; });
      return;
    }
    shutdown_started = true;
  }
  draining.store(true, std::memory_order_seq_cst);
  // No new connections (and no on_connection callback after this).
  listeners.clear();
  std::vector<std::shared_ptr<Served>> live;
  {
    std::lock_guard<std::mutex> lock(mu);
    live = connections;
  }
  for (auto& s : live) s->conn->SetClosing();
  {
    std::unique_lock<std::mutex> lock(mu);
    const bool finished = cv.wait_until(lock, deadline, [&] {
      return in_flight.load(std::memory_order_seq_cst) == 0;
    });
    if (!finished) {
      // Out of time: cancel what still runs, then wait for the handlers.
      for (auto& s : live) {
        for (int i = 0; i < s->slot_count; ++i) CancelSlot(s->slots[i], 0);
      }
      cv.wait(lock, [&] { return in_flight.load() == 0; });
    }
  }
  stopping.store(true, std::memory_order_seq_cst);
  for (auto& s : live) {
    s->conn->Close(absl::UnavailableError("shmrpc server shut down"));
  }
  std::list<Worker> all;
  {
    std::lock_guard<std::mutex> lock(mu);
    all.swap(workers);
  }
  for (Worker& w : all) w.thread.join();
  {
    std::lock_guard<std::mutex> lock(mu);
    connections.clear();
    shutdown_done = true;
  }
  cv.notify_all();
}

// ---- Server ----------------------------------------------------------------

void Server::Impl::Wait() {
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return shutdown_done; });
}

const std::vector<std::string>& Server::endpoints() const {
  return impl_->endpoints;
}

ServerStatistics Server::statistics(bool include_connections) const {
  return impl_->Statistics(include_connections);
}

StatsRegistry* Server::stats_registry() const { return impl_->stats.get(); }

ServerStats Server::stats() const {
  ServerStats s;
  s.connections = impl_->accepted.load();
  s.calls = impl_->calls.load();
  s.refused_connections = impl_->refused.load();
  s.thread_failures = impl_->thread_failures.load();
  s.threads = impl_->threads.load();
  s.calls_in_flight = impl_->in_flight.load();
  std::lock_guard<std::mutex> lock(impl_->mu);
  s.live_connections = static_cast<int>(impl_->connections.size());
  return s;
}

// ---- Starting -------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Server::Impl>> Server::Impl::Start(
    const Spec& spec) {
  auto fail = [](const std::string& why) {
    return absl::InvalidArgumentError(why);
  };
  auto impl = std::make_unique<Server::Impl>();
  impl->options = spec.options;
  impl->options.max_connections = std::max(1, spec.options.max_connections);
  impl->options.max_threads_per_connection =
      std::max(1, spec.options.max_threads_per_connection);
  impl->options.max_streams_per_connection =
      std::max(0, spec.options.max_streams_per_connection);
  impl->max_receive = EffectiveLimit(spec.options.max_receive_message_size);
  impl->max_send = EffectiveLimit(spec.options.max_send_message_size);
  impl->max_metadata = spec.options.max_metadata_size < 0
                           ? int64_t{-1}
                           : int64_t{spec.options.max_metadata_size};
  std::vector<std::string> names;
  std::unordered_set<std::string> seen;
  // The user's services and the server's own (Admin), with their statistics.
  for (internal::ShmService* service :
       impl->ServicesToServe(spec.services, spec.addresses)) {
    for (const auto& method : service->shm_methods()) {
      if (!seen.insert(method.name).second) {
        return fail(
            absl::StrCat("method ", method.name, " is registered twice"));
      }
      names.push_back(method.name);
      impl->handlers.push_back(method.handler.get());
      impl->kinds.push_back(method.handler->kind());
    }
  }
  impl->method_table = rpc::EncodeMethodTable(names);

  std::vector<std::string> paths = spec.paths;
  for (const std::string& address : spec.addresses) {
    absl::StatusOr<rpc::Address> parsed = rpc::ParseListeningAddress(address);
    if (!parsed.ok()) return fail(std::string(parsed.status().message()));
    if (parsed->kind == rpc::Address::Kind::kHostPort && parsed->port == 0) {
      return fail(absl::StrCat("'", address,
                               "' has port 0: pass the port gRPC selected"));
    }
    absl::StatusOr<std::string> path = rpc::ServerEndpoint(address);
    if (!path.ok()) return fail(std::string(path.status().message()));
    paths.push_back(*path);
  }
  if (paths.empty() && spec.require_endpoint) {
    return fail("no listening address or endpoint path");
  }

  Server::Impl* raw = impl.get();
  for (const std::string& path : paths) {
    transport::ListenerOptions lo;
    lo.path = path;
    lo.handshake = spec.options.handshake;
    // The user's admission first, then the server's own.
    lo.handshake.admit = [raw, user = spec.options.handshake.admit](
                             const transport::PeerCredentials& peer) {
      if (user) {
        if (absl::Status s = user(peer); !s.ok()) return s;
      }
      return raw->Admit();
    };
    lo.connection.wait = spec.options.wait;
    lo.handshake_timeout = spec.options.handshake_timeout;
    lo.max_pending_handshakes = spec.options.max_pending_handshakes;
    lo.max_pending_handshakes_per_peer =
        spec.options.max_pending_handshakes_per_peer;
    absl::StatusOr<std::unique_ptr<transport::Listener>> listener =
        transport::Listener::Start(lo, &raw->loop,
                                   [raw](std::shared_ptr<Connection> c) {
                                     raw->OnConnection(std::move(c));
                                   });
    if (!listener.ok()) {
      return absl::Status(listener.status().code(),
                          absl::StrCat("cannot listen on ", path, ": ",
                                       listener.status().message()));
    }
    raw->listeners.push_back(std::move(*listener));
    raw->endpoints.push_back(path);
  }
  return impl;
}

}  // namespace shmrpc
