#include "shmrpc/transport/listener.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace shmrpc::transport {

namespace {

// Accepts handled per wake-up of the listening socket, so that a flood of
// connects cannot hold the loop from other fds (it is level-triggered: the
// rest come next time round).
constexpr int kMaxAcceptsPerWakeup = 64;

bool OutOfResources(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

UniqueFd OpenSpare() {
  return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

}  // namespace

struct Listener::State : std::enable_shared_from_this<Listener::State> {
  struct Pending {
    UniqueFd socket;
    PeerCredentials peer;
    EventLoop::TimerId timer = 0;
    uint64_t order = 0;  // admission order: smaller is older
  };
  using PendingMap = std::map<int, Pending>;

  ListenerOptions options;
  EventLoop* loop = nullptr;
  OnConnection on_connection;
  UniqueFd lock_file;
  UniqueFd listen_socket;
  // An fd kept in reserve: out of fds, closing it lets us accept one client
  // to refuse it (then it is opened again). Used on the loop thread only.
  UniqueFd spare;

  std::mutex mu;
  bool stopped = false;
  // Whether listen_socket is on the loop (false while backing off).
  bool watching = false;
  std::chrono::milliseconds backoff{0};  // the next pause
  EventLoop::TimerId resume_timer = 0;
  // Held while on_connection runs; the destructor takes it after setting
  // `stopped`, so no callback runs once it returns. Recursive so that a
  // callback may destroy the listener.
  std::recursive_mutex callback_mu;
  PendingMap pending;
  std::map<pid_t, int> pending_by_pid;
  std::map<uid_t, int> pending_by_uid;
  uint64_t next_order = 0;
  ListenerStats stats;

  void OnAcceptable();
  void Admit(UniqueFd client, const PeerCredentials& peer);
  void OnHelloReadable(int fd);
  void OnTimeout(int fd);
  // Removes `fd` from `pending` (under mu) and from the loop.
  std::optional<Pending> TakePending(int fd);
  // Removes `it` from `pending` and the per-peer counts. Needs mu.
  Pending ErasePendingLocked(PendingMap::iterator it);
  // The pending handshake to evict for a newcomer: the largest by (how
  // many its uid holds, how many its pid holds, age). Needs mu.
  PendingMap::iterator ChooseVictimLocked();
  // Out of fds: gives up the spare fd to accept one waiting client and
  // refuse it. False if there was none, or no fd could be had even so.
  bool RefuseWithSpare();
  // Stops watching the listening socket for the current back-off delay.
  void PauseAccepting();
  void ResumeAccepting();
  // Puts the listening socket on the loop. Needs mu.
  absl::Status WatchLocked();
};

std::optional<Listener::State::Pending> Listener::State::TakePending(int fd) {
  std::optional<Pending> p;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(fd);
    if (it == pending.end()) return std::nullopt;
    p = ErasePendingLocked(it);
  }
  loop->Remove(fd);
  loop->Cancel(p->timer);
  return p;
}

Listener::State::Pending Listener::State::ErasePendingLocked(
    PendingMap::iterator it) {
  Pending p = std::move(it->second);
  pending.erase(it);
  if (--pending_by_pid[p.peer.pid] <= 0) pending_by_pid.erase(p.peer.pid);
  if (--pending_by_uid[p.peer.uid] <= 0) pending_by_uid.erase(p.peer.uid);
  return p;
}

Listener::State::PendingMap::iterator Listener::State::ChooseVictimLocked() {
  // The entry that is largest by (its uid's count, its pid's count, age).
  PendingMap::iterator victim = pending.end();
  auto key = [&](const Pending& p) {
    return std::make_tuple(pending_by_uid[p.peer.uid],
                           pending_by_pid[p.peer.pid], ~p.order);
  };
  for (auto it = pending.begin(); it != pending.end(); ++it) {
    if (victim == pending.end() || key(it->second) > key(victim->second)) {
      victim = it;
    }
  }
  return victim;
}

void Listener::State::OnAcceptable() {
  for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
    UniqueFd client(::accept4(listen_socket.get(), nullptr, nullptr,
                              SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client.valid()) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;  // drained
      if (err == EINTR || err == ECONNABORTED) continue;
      // Out of fds (or kernel memory), the listening socket stays readable:
      // watching it now would spin. Refuse who is waiting, then pause.
      if (OutOfResources(err)) {
        while (i++ < kMaxAcceptsPerWakeup && RefuseWithSpare()) {
        }
      }
      PauseAccepting();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopped) return;
      backoff = options.accept_backoff_min;
    }
    absl::StatusOr<PeerCredentials> peer = GetPeerCredentials(client.get());
    if (!peer.ok()) continue;
    Admit(std::move(client), *peer);
  }
}

void Listener::State::Admit(UniqueFd client, const PeerCredentials& peer) {
  const int fd = client.get();
  std::weak_ptr<State> weak = weak_from_this();
  std::optional<Pending> evicted;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopped) return;
    auto held = pending_by_pid.find(peer.pid);
    if (held != pending_by_pid.end() &&
        held->second >= options.max_pending_handshakes_per_peer) {
      ++stats.refused;
      ++stats.refused_peer_limit;
      SendRefusal(fd, Refusal::kResourceExhausted,
                  absl::StrCat("too many handshakes in progress from pid ",
                               peer.pid, " (at most ",
                               options.max_pending_handshakes_per_peer, ")"),
                  options.handshake);
      return;
    }
    if (static_cast<int>(pending.size()) >= options.max_pending_handshakes) {
      auto victim = ChooseVictimLocked();
      if (victim == pending.end()) {  // a table of size 0
        ++stats.refused;
        SendRefusal(fd, Refusal::kResourceExhausted,
                    "too many handshakes in progress", options.handshake);
        return;
      }
      evicted = ErasePendingLocked(victim);
      ++stats.refused;
      ++stats.evicted;
    }
    Pending& p = pending[fd];
    p.socket = std::move(client);
    p.peer = peer;
    p.order = next_order++;
    ++pending_by_pid[peer.pid];
    ++pending_by_uid[peer.uid];
    p.timer = loop->RunAt(
        std::chrono::steady_clock::now() + options.handshake_timeout,
        [weak, fd] {
          if (auto s = weak.lock()) s->OnTimeout(fd);
        });
  }
  if (evicted) {
    // On the loop thread: Remove does not wait.
    loop->Remove(evicted->socket.get());
    loop->Cancel(evicted->timer);
    SendRefusal(
        evicted->socket.get(), Refusal::kResourceExhausted,
        absl::StrCat("evicted: the server has ", options.max_pending_handshakes,
                     " handshakes in progress and this peer (pid ",
                     evicted->peer.pid, ") holds the most"),
        options.handshake);
  }
  absl::Status added =
      loop->Add(fd, EPOLLIN | EPOLLRDHUP, [weak, fd](uint32_t) {
        if (auto s = weak.lock()) s->OnHelloReadable(fd);
      });
  if (!added.ok()) TakePending(fd);
}

bool Listener::State::RefuseWithSpare() {
  if (!spare.valid()) return false;
  spare.reset();
  bool refused = false;
  {
    UniqueFd client(::accept4(listen_socket.get(), nullptr, nullptr,
                              SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (client.valid()) {
      SendRefusal(client.get(), Refusal::kResourceExhausted,
                  "the server is out of file descriptors", options.handshake);
      refused = true;
    }
  }
  spare = OpenSpare();
  if (refused) {
    std::lock_guard<std::mutex> lock(mu);
    ++stats.refused;
    ++stats.refused_no_fds;
  }
  return refused && spare.valid();
}

void Listener::State::PauseAccepting() {
  std::lock_guard<std::mutex> lock(mu);
  if (stopped || !watching) return;
  // On the loop thread, from the socket's own callback: does not wait.
  loop->Remove(listen_socket.get());
  watching = false;
  ++stats.accept_backoffs;
  const std::chrono::milliseconds delay = backoff;
  backoff = std::min(backoff * 2, options.accept_backoff_max);
  std::weak_ptr<State> weak = weak_from_this();
  resume_timer = loop->RunAt(std::chrono::steady_clock::now() + delay, [weak] {
    if (auto s = weak.lock()) s->ResumeAccepting();
  });
}

void Listener::State::ResumeAccepting() {
  if (!spare.valid()) spare = OpenSpare();  // loop thread only
  std::lock_guard<std::mutex> lock(mu);
  resume_timer = 0;
  if (stopped || watching) return;
  if (!WatchLocked().ok()) {
    // epoll itself is short of memory: try again later.
    const std::chrono::milliseconds delay = backoff;
    backoff = std::min(backoff * 2, options.accept_backoff_max);
    std::weak_ptr<State> weak = weak_from_this();
    resume_timer =
        loop->RunAt(std::chrono::steady_clock::now() + delay, [weak] {
          if (auto s = weak.lock()) s->ResumeAccepting();
        });
  }
}

absl::Status Listener::State::WatchLocked() {
  std::weak_ptr<State> weak = weak_from_this();
  absl::Status s = loop->Add(listen_socket.get(), EPOLLIN, [weak](uint32_t) {
    if (auto st = weak.lock()) st->OnAcceptable();
  });
  if (s.ok()) watching = true;
  return s;
}

void Listener::State::OnTimeout(int fd) {
  std::optional<Pending> p = TakePending(fd);
  if (!p) return;
  SendRefusal(p->socket.get(), Refusal::kTimeout,
              absl::StrCat("no ClientHello within ",
                           options.handshake_timeout.count(), " ms"),
              options.handshake);
  std::lock_guard<std::mutex> lock(mu);
  ++stats.timed_out;
}

void Listener::State::OnHelloReadable(int fd) {
  std::optional<Pending> p = TakePending(fd);
  if (!p) return;
  // The socket is readable, so this does not wait.
  absl::StatusOr<Record> hello =
      RecvRecord(p->socket.get(), sizeof(ClientHello) + 1, 2,
                 std::chrono::steady_clock::now());
  if (!hello.ok()) {
    // The client hung up (or sent nothing) before its hello.
    std::lock_guard<std::mutex> lock(mu);
    ++stats.refused;
    return;
  }
  absl::StatusOr<Established> established = ServerHandshake(
      std::move(p->socket), std::move(*hello), p->peer, options.handshake);
  if (!established.ok()) {
    std::lock_guard<std::mutex> lock(mu);
    ++stats.refused;
    return;
  }
  absl::StatusOr<std::shared_ptr<Connection>> connection =
      Connection::Create(std::move(*established), loop, options.connection);
  std::lock_guard<std::recursive_mutex> in_callback(callback_mu);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!connection.ok() || stopped) {
      ++stats.refused;
      return;
    }
    ++stats.accepted;
  }
  on_connection(std::move(*connection));
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Start(
    const ListenerOptions& options, EventLoop* loop,
    OnConnection on_connection) {
  auto state = std::make_shared<State>();
  state->options = options;
  state->loop = loop;
  state->on_connection = std::move(on_connection);

  // Own the path: a live listener keeps its lock; a crashed one's is free.
  const std::string lock_path = options.path + ".lock";
  state->lock_file.reset(
      ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!state->lock_file.valid()) {
    return ErrnoToStatus(errno, absl::StrCat("open(", lock_path, ")"));
  }
  if (::flock(state->lock_file.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::AlreadyExistsError(
          absl::StrCat("another shmrpc server is listening on ", options.path));
    }
    return ErrnoToStatus(errno, "flock");
  }
  // Whatever is at the path now was left by a listener that is gone.
  if (::unlink(options.path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, absl::StrCat("unlink(", options.path, ")"));
  }
  absl::StatusOr<UniqueFd> socket =
      ListenSeqpacket(options.path, 128, options.socket_mode);
  if (!socket.ok()) return socket.status();
  state->listen_socket = std::move(*socket);

  state->spare = OpenSpare();
  state->backoff =
      std::max(options.accept_backoff_min, std::chrono::milliseconds(1));
  state->options.accept_backoff_min = state->backoff;
  state->options.accept_backoff_max =
      std::max(options.accept_backoff_max, state->backoff);
  absl::Status watched;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    watched = state->WatchLocked();
  }
  if (!watched.ok()) {
    ::unlink(options.path.c_str());
    return watched;
  }
  return std::unique_ptr<Listener>(new Listener(std::move(state)));
}

Listener::~Listener() {
  State& s = *state_;
  std::vector<int> fds;
  EventLoop::TimerId resume = 0;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopped = true;  // from now on nothing puts the socket back on the loop
    resume = s.resume_timer;
    for (auto& [fd, p] : s.pending) fds.push_back(fd);
  }
  if (resume != 0) s.loop->Cancel(resume);
  // Not under mu: Remove waits for a running OnAcceptable, which takes it.
  s.loop->Remove(s.listen_socket.get());
  for (int fd : fds) {
    if (std::optional<State::Pending> p = s.TakePending(fd)) {
      SendRefusal(p->socket.get(), Refusal::kShuttingDown,
                  "server is shutting down", s.options.handshake);
    }
  }
  // Wait out an on_connection call in progress; later ones see `stopped`.
  { std::lock_guard<std::recursive_mutex> drain(s.callback_mu); }
  ::unlink(s.options.path.c_str());
  ::unlink((s.options.path + ".lock").c_str());
}

const std::string& Listener::path() const { return state_->options.path; }

ListenerStats Listener::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

}  // namespace shmrpc::transport
