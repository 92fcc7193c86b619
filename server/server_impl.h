// The shared-memory server's internals, shared by its source files: the
// record of one served connection (Served), the server's state
// (Server::Impl) and the per-thread call slots that cancellation goes
// through. Private to server/: nothing outside includes it.
//
// Files: server.cc accepts connections and runs their serving threads and
// unary calls; server_stream.cc runs streaming calls (all three kinds).
#ifndef SHMRPC_SERVER_SERVER_IMPL_H_
#define SHMRPC_SERVER_SERVER_IMPL_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "shmrpc/rpc/endpoint.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/server/server.h"
#include "shmrpc/server/stats.h"
#include "shmrpc/transport/adaptive_spin.h"
#include "shmrpc/transport/connection.h"
#include "shmrpc/transport/event_loop.h"
#include "shmrpc/transport/listener.h"

namespace shmrpc {
namespace server_internal {

using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;
using transport::Connection;
using transport::Descriptor;
using transport::InboundMessage;

// A thread that waits while another one polls looks around this often: a
// request that waits although nobody was kicked (a client that does not
// kick, or a kick lost to a full machine) is taken within this long. The
// polling thread itself needs no timeout: every request, a closed connection
// and a shutdown wake it.
constexpr std::chrono::milliseconds kStandbyLook{1000};
// A poller that may not spin (the process's spinners are all taken) yields
// its CPU (while that pays) for this long at most before it sleeps; what ends
// the phase sooner is the CPU it wastes, bounded by the payoff
// (transport::YieldFor).
constexpr std::chrono::milliseconds kYieldBudget{1};
// Extra threads (beyond the first two) of a connection exit after this many
// looks in a row found nothing to do.
constexpr int kLooksBeforeExit = 10;
// How long a response may wait for a free chunk or ring space, at most (the
// call's deadline may end the wait sooner).
constexpr std::chrono::seconds kSendTimeout{5};
// After a serving thread could not be created, new clients are refused for
// this long, unless a serving thread exits meanwhile.
constexpr std::chrono::seconds kThreadFailureBackoff{1};
// After such a failure, a connection that has a thread does not try to start
// another for this long.
constexpr std::chrono::milliseconds kThreadRetryAfter{100};

using MetadataEntries = absl::InlinedVector<rpc::MetadataEntry, 4>;

inline MetadataEntries Entries(
    const std::multimap<std::string, std::string>& m) {
  MetadataEntries out;
  for (const auto& [k, v] : m) out.emplace_back(k, v);
  return out;
}

// The call one serving thread is running, as cancellation sees it. Each
// thread of a connection owns one slot. Its word is 0 while the thread runs
// no call, and CallKey(stream, generation) from the moment the thread takes
// the call's kCall off the request ring (while it still holds the poll
// token, so before any later request can be taken: a kCancel that follows
// its call always finds it) until the call is over. A kCancel sets
// kCancelledBit in the slot whose word is exactly its call's key, by
// compare-and-swap, so it can never mark a later call of that thread; a newer
// call on the same stream has another generation (and another thread) and is
// not touched.
//
// For client and bidirectional streaming, the slot is also the call's inbox:
// whichever thread takes one of the call's kMessage frames off the request
// ring puts it here (RouteMessage), and the handler's Read takes it. The
// inbox is opened with the call's key under the same poll token, so no
// message of the call can be taken before it is there.
struct CallSlot {
  std::atomic<uint64_t> word{0};

  std::mutex mu;
  std::condition_variable ready;  // a message, a half-close or the end
  uint64_t inbox_key = 0;         // guarded by mu: the call whose inbox it is
  std::deque<transport::InboundMessage> inbox;  // guarded by mu
  bool half_closed = false;                     // guarded by mu
  bool overrun = false;  // guarded by mu: the client broke its window
  bool waiting = false;  // guarded by mu: the handler sleeps on `ready`
  // Whether the inbox was opened for the current call (the owning thread's
  // own flag, so that unary calls never take the mutex).
  bool inbox_open = false;
  // Calls the slot's threads started, for the connection's statistics.
  // Written only by the thread that owns the slot (one at a time: a slot
  // changes hands under Server::Impl::mu), so a relaxed load and store, not
  // a read-modify-write; read by anyone.
  std::atomic<uint64_t> calls{0};
};

// What the statistics (server/stats.h) learn of one call, reported to its
// method's recorder on destruction, when the call is over: after its status
// went out, so that the recording (a clock read and five atomic additions,
// about 20 ns) delays no answer; a client that has its answer may look at
// the statistics a moment before its call is in them. The server's code
// that answers the call fills it in: Respond sets `code` to the status it
// sends and adds the response message, a streaming call adds its messages
// (flushing them to the recorder every kFlushEvery). Not thread-safe,
// except that a bidirectional call's reading and writing threads each touch
// only their own direction's fields.
struct CallRecord {
  // Streaming calls hand their counts to the recorder at least this often
  // (in messages), so that a long stream shows up before it ends.
  static constexpr uint32_t kFlushEvery = 64;

  CallRecord(MethodRecorder* r, uint64_t start_ticks)
      : recorder(r), start(start_ticks) {}
  CallRecord(const CallRecord&) = delete;
  CallRecord& operator=(const CallRecord&) = delete;
  ~CallRecord() {
    if (recorder == nullptr) return;
    if (!streaming) {
      recorder->FinishUnary(start, code, bytes_in, bytes_out);
      return;
    }
    FlushIn();
    FlushOut();
    recorder->FinishStream(start, code);
  }

  // The response message (`bytes`), sent.
  void CountResponse(size_t bytes) {
    if (streaming) {
      CountOut(bytes);
    } else {
      bytes_out += bytes;
    }
  }

  // Streaming: one message received or sent.
  void CountIn(size_t bytes) {
    bytes_in += bytes;
    if (++messages_in >= kFlushEvery) FlushIn();
  }
  void CountOut(size_t bytes) {
    bytes_out += bytes;
    if (++messages_out >= kFlushEvery) FlushOut();
  }
  void FlushIn() {
    if (recorder != nullptr && (messages_in != 0 || bytes_in != 0)) {
      recorder->AddReceived(messages_in, bytes_in);
    }
    messages_in = 0;
    bytes_in = 0;
  }
  void FlushOut() {
    if (recorder != nullptr && (messages_out != 0 || bytes_out != 0)) {
      recorder->AddSent(messages_out, bytes_out);
    }
    messages_out = 0;
    bytes_out = 0;
  }

  MethodRecorder* const recorder;  // null: not recorded
  const uint64_t start;            // StatsClock ticks
  bool streaming = false;
  // The status sent; CANCELLED until one is (a call whose client cancelled
  // or went away ends without one).
  int code = static_cast<int>(grpc::StatusCode::CANCELLED);
  // Serialized message bytes; unary: the request and the response.
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  // Streaming: messages not yet flushed to the recorder.
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
};

// Opens the inbox of `slot` for the call `key` (the owning thread, holding
// the poll token).
inline void OpenInbox(CallSlot& slot, uint64_t key) {
  std::lock_guard<std::mutex> lock(slot.mu);
  slot.inbox_key = key;
  slot.half_closed = false;
  slot.overrun = false;
  slot.inbox_open = true;
}

// Closes the inbox of `slot` when its call is over, releasing what the
// client sent and nobody read (the owning thread).
inline void CloseInbox(CallSlot& slot) {
  std::deque<transport::InboundMessage> dropped;
  {
    std::lock_guard<std::mutex> lock(slot.mu);
    slot.inbox_key = 0;
    dropped.swap(slot.inbox);
  }
  slot.inbox_open = false;
}

constexpr uint64_t kCancelledBit = internal::ShmCallState::kCancelledBit;
constexpr uint64_t kCallLive = uint64_t{1} << 62;
static_assert(transport::kMaxStreamCount <= (uint32_t{1} << 30),
              "a stream id must fit in bits 32..61 of a call key");

inline uint64_t CallKey(uint32_t stream, uint32_t generation) {
  return kCallLive | (uint64_t{stream} << 32) | generation;
}

// Marks the call in `slot` cancelled if its key is `key`, or whatever call
// it holds if `key` is 0, and wakes its handler if it waits in Read.
inline void CancelSlot(CallSlot& slot, uint64_t key) {
  uint64_t word = slot.word.load(std::memory_order_acquire);
  while ((word & kCallLive) != 0 && (word & kCancelledBit) == 0 &&
         (key == 0 || word == key)) {
    if (slot.word.compare_exchange_weak(word, word | kCancelledBit,
                                        std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
      // Taking the mutex orders the flag before the handler's next look.
      { std::lock_guard<std::mutex> lock(slot.mu); }
      slot.ready.notify_all();
      return;
    }
  }
}

// A size limit as enforced: negative means unlimited, which protobuf caps
// at INT_MAX.
inline int64_t EffectiveLimit(int limit) {
  return limit < 0 ? int64_t{INT_MAX} : int64_t{limit};
}

inline grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

}  // namespace server_internal

// The names above, for the server's own files (this header is private to
// them).
using namespace server_internal;  // NOLINT(build/namespaces)

// One client connection and the threads serving it.
struct Served : std::enable_shared_from_this<Served> {
  Served(Server::Impl* s, std::shared_ptr<Connection> c, int max_threads,
         int max_streams)
      : server(s),
        conn(std::move(c)),
        base_threads(max_threads),
        max_readers(max_streams),
        slot_count(max_threads + max_streams),
        slots(std::make_unique<CallSlot[]>(max_threads + max_streams)),
        slot_used(max_threads + max_streams, false),
        peer(rpc::PeerName(conn->peer().pid, conn->peer().uid)),
        since(Clock::now()) {}

  Server::Impl* const server;
  const std::shared_ptr<Connection> conn;
  // Threads the connection may have for its calls
  // (ServerOptions::max_threads_per_connection), and streams reading from
  // the client it may run at once (max_streams_per_connection), each of
  // which has a thread of its own beyond the first number.
  const int base_threads;
  const int max_readers;
  // One per thread that may serve the connection: base_threads +
  // max_readers.
  const int slot_count;
  const std::unique_ptr<CallSlot[]> slots;
  std::vector<bool> slot_used;  // guarded by Server::Impl::mu
  const std::string peer;
  // When the connection was accepted (its statistics' age).
  const Clock::time_point since;
  // Held by the thread polling the request ring.
  std::atomic<bool> token{false};
  // Set (with a kick) when a streaming call starts on a thread that was the
  // poller: the next idle thread to see it takes over polling even if no
  // request waits (a streaming call's handler holds its thread for long,
  // and its client's messages must be taken off the ring meanwhile).
  std::atomic<bool> want_poller{false};
  // Threads sleeping, announced, on the request ring's bell as its poller
  // (a client's request or message wakes them), and streaming handlers
  // sleeping until a poller routes them a message. While a handler waits,
  // somebody must poll: whoever gives up the token or wakes from a sleep
  // checks these (with seq_cst, against the handler's own check of the
  // token), so that a message is never left on the ring with every thread
  // asleep where it cannot wake them.
  std::atomic<int> idle_pollers{0};
  std::atomic<int> waiting_readers{0};

  // No thread polls nor sleeps as the poller (seq_cst loads).
  bool NobodyPolls() const {
    return !token.load(std::memory_order_seq_cst) &&
           idle_pollers.load(std::memory_order_seq_cst) == 0;
  }
  // Calls a waiting streaming handler took off the request ring while it
  // polled (it cannot run them itself): the next thread to take the poll
  // token takes these first, before the ring, so that a call is registered
  // before any of its later messages are routed.
  std::mutex deferred_mu;
  std::deque<transport::InboundMessage> deferred;  // guarded by deferred_mu
  std::atomic<int> deferred_count{0};
  // Threads serving the connection. Raised only under Server::Impl::mu (by
  // Spawn, which checks the cap there).
  std::atomic<int> threads{0};
  // Threads running a call (between taking a request and finishing it).
  std::atomic<int> busy{0};
  // Calls running whose handler reads the client's messages (client and
  // bidirectional streaming), at most max_readers. Such a handler may wait
  // for messages that another thread must take off the request ring, so
  // each raises the connection's thread cap by one (ThreadCap): the other
  // calls keep their base_threads, one of which polls.
  std::atomic<int> readers{0};

  // The threads the connection may have now.
  int ThreadCap() const {
    return std::min(slot_count,
                    base_threads + readers.load(std::memory_order_acquire));
  }
  // Whether the poller's spin for the next request pays off, and when it
  // may not spin (the process's spinners are all taken: several busy
  // connections), whether yielding its CPU until the request comes does.
  transport::AdaptiveSpin spin;
  transport::AdaptiveSpin yield{1, transport::AdaptiveSpin::Mode::kYield};
};

struct Server::Impl {
  // What to serve, and where (ServerBuilder's shared-memory half).
  struct Spec {
    std::vector<std::string> addresses;  // as given to AddListeningPort
    std::vector<std::string> paths;      // explicit socket paths
    std::vector<internal::ShmService*> services;
    ServerOptions options;
    // False when the server has other ways in (the one-builder form's gRPC
    // server), so that no endpoint at all is not an error.
    bool require_endpoint = true;
  };
  // Listens on every endpoint of `spec`. kInvalidArgument for a bad spec (a
  // method registered twice, a bad address, port 0, nothing to listen on);
  // the listener's error when an endpoint cannot be listened on.
  static absl::StatusOr<std::unique_ptr<Impl>> Start(const Spec& spec);

  ServerOptions options;
  std::vector<std::string> endpoints;
  std::vector<internal::ShmMethodHandler*> handlers;  // method id - 1
  std::vector<internal::ShmMethodKind> kinds;         // method id - 1
  std::string method_table;
  // Statistics (server/stats.h): the registry (options.stats_registry, or
  // one of the server's own), each method's recorder for transport "shm"
  // (method id - 1; set before the server listens, read-only after), the
  // addresses the server was built for, and when it started.
  std::shared_ptr<StatsRegistry> stats;
  std::vector<MethodRecorder*> recorders;
  std::vector<std::string> addresses;
  const SysClock::time_point started = SysClock::now();
  const Clock::time_point started_steady = Clock::now();
  // The server's own services (ServicesToServe).
  std::unique_ptr<internal::ShmService> admin;
  transport::EventLoop loop;
  std::vector<std::unique_ptr<transport::Listener>> listeners;
  // The limits as enforced (see EffectiveLimit).
  int64_t max_receive = 0;
  int64_t max_send = 0;
  int64_t max_metadata = 0;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool shutdown_started = false;
  bool shutdown_done = false;
  std::vector<std::shared_ptr<Served>> connections;
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::list<Worker> workers;
  // When a serving thread last could not be created, and how many there
  // were then.
  Clock::time_point last_thread_failure{};
  int threads_at_failure = 0;

  std::atomic<int> in_flight{0};
  std::atomic<bool> draining{false};  // new calls get UNAVAILABLE
  std::atomic<bool> stopping{false};  // serving threads exit
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> thread_failures{0};
  std::atomic<int> threads{0};

  // The services to serve, in the order their methods get their ids (which
  // the builder must keep): `user_services`, then the server's own
  // (shmrpc.admin.v1.Admin, server/admin_service.h). Also sets up the
  // statistics of exactly those methods, and remembers `addresses` (as
  // given to ServerBuilder::AddListeningAddress) for them. Call once, from
  // the builder, before the server listens.
  std::vector<internal::ShmService*> ServicesToServe(
      const std::vector<internal::ShmService*>& user_services,
      const std::vector<std::string>& addresses);
  // Server::statistics().
  ServerStatistics Statistics(bool include_connections) const;

  // The server's own admission of a client at the handshake (on the loop
  // thread, after the allow-list and the user's hook).
  absl::Status Admit();
  void OnConnection(std::shared_ptr<Connection> conn);
  // Starts a serving thread for `s`, unless it has s.ThreadCap() of them
  // already or the server is
  // stopping. False if none was started, also when the system cannot create
  // one (std::thread throws std::system_error under a task limit: the one
  // place where we catch an exception).
  bool Spawn(const std::shared_ptr<Served>& s);
  void WorkerLoop(const std::shared_ptr<Served>& s, int slot);
  // `last_bytes`: payload bytes of the exchange this thread just served
  // (request and response), which scale the poller's spin (the client needs
  // time to consume a large response and produce its next request).
  bool Acquire(Served& s, CallSlot& slot, size_t last_bytes, InboundMessage* m,
               bool* retire);
  // These return the payload bytes of the exchange (request and response).
  size_t Dispatch(Served& s, CallSlot& slot, InboundMessage m);
  size_t HandleCall(Served& s, CallSlot& slot, InboundMessage m);
  // The recorder of method `id` (from a descriptor); null for the method
  // table and ids the server does not serve.
  MethodRecorder* RecorderOf(uint32_t id) const {
    return id >= 1 && id <= recorders.size() ? recorders[id - 1] : nullptr;
  }
  // True if method `id` (from a descriptor) reads the client's messages.
  bool ReadsFromClient(uint32_t id) const {
    return id >= 1 && id <= kinds.size() &&
           (kinds[id - 1] == internal::ShmMethodKind::kClientStreaming ||
            kinds[id - 1] == internal::ShmMethodKind::kBidiStreaming);
  }
  // Puts a client's kMessage into the inbox of its call (any thread of the
  // connection, holding the poll token); drops it if the call is not
  // running. Returns true if the call's handler was asleep waiting for it
  // (it has been woken).
  bool RouteMessage(Served& s, InboundMessage m);
  // Takes the oldest call deferred by a waiting streaming handler (see
  // Served::deferred) into *m; false if there is none. With the poll token.
  bool TakeDeferred(Served& s, InboundMessage* m);
  // Sends the response of call (stream, generation). Waiting for a free
  // chunk or ring space ends at `deadline` (the call's; time_point::max()
  // for none) or after kSendTimeout, whichever comes first: a client that
  // does not take its responses holds one of its own connection's threads
  // that long at most. Returns the bytes sent (0 if nothing was). With a
  // `record`, sets its code to the status sent (which is another than
  // `status` when the response cannot be sent as it is) and counts the
  // message sent (streaming: as one more message).
  size_t Respond(Served& s, uint32_t stream, uint32_t generation,
                 const grpc::Status& status,
                 const google::protobuf::MessageLite* message,
                 absl::string_view raw_message,
                 const std::multimap<std::string, std::string>* initial,
                 const std::multimap<std::string, std::string>* trailing,
                 SysClock::time_point deadline = SysClock::time_point::max(),
                 CallRecord* record = nullptr);
  // Sends the response of call (stream, generation) whose message the
  // handler built in place: the first `used` bytes of `built` (a chunk of
  // this connection's, which Respond takes over: sent or given back), status
  // OK. The metadata is written behind the message, in the same chunk when
  // it fits. Waiting as Respond. Returns the bytes sent (0 if nothing was).
  size_t RespondInPlace(Served& s, uint32_t stream, uint32_t generation,
                        const transport::Chunk& built, size_t used,
                        const std::multimap<std::string, std::string>* initial,
                        const std::multimap<std::string, std::string>* trailing,
                        SysClock::time_point deadline,
                        CallRecord* record = nullptr);
  // When a response to a call with `deadline` stops waiting for the client
  // (a free chunk, ring space): the deadline or kSendTimeout from now,
  // whichever comes first.
  transport::Deadline ResponseWaitUntil(SysClock::time_point deadline) const;
  // Removes `s` from `connections`. Requires mu.
  void Forget(const Served* s);
  void CallDone();
  void ShutdownImpl(SysClock::time_point deadline);
  // Blocks until ShutdownImpl has finished.
  void Wait();
};

// Runs streaming call `d` (its kCall `request`, whose message is `message`
// for server streaming) with `handler` on this thread (server_stream.cc),
// counting its messages and status in `record`. Returns the payload bytes
// of the exchange, as HandleCall does.
size_t ServeStream(Server::Impl* impl, Served& s, CallSlot& slot,
                   const transport::Descriptor& d,
                   transport::InboundMessage request,
                   absl::Span<const uint8_t> message,
                   internal::ShmCallState* state,
                   internal::ShmMethodHandler* handler, CallRecord* record);

}  // namespace shmrpc

#endif  // SHMRPC_SERVER_SERVER_IMPL_H_
