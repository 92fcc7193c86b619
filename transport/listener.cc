#include "shmrpc/transport/listener.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace shmrpc::transport {

struct Listener::State : std::enable_shared_from_this<Listener::State> {
  struct Pending {
    UniqueFd socket;
    PeerCredentials peer;
    EventLoop::TimerId timer = 0;
  };

  ListenerOptions options;
  EventLoop* loop = nullptr;
  OnConnection on_connection;
  UniqueFd lock_file;
  UniqueFd listen_socket;

  std::mutex mu;
  bool stopped = false;
  // Held while on_connection runs; the destructor takes it after setting
  // `stopped`, so no callback runs once it returns. Recursive so that a
  // callback may destroy the listener.
  std::recursive_mutex callback_mu;
  std::map<int, Pending> pending;
  ListenerStats stats;

  void OnAcceptable();
  void OnHelloReadable(int fd);
  void OnTimeout(int fd);
  // Removes `fd` from `pending` (under mu) and from the loop.
  std::optional<Pending> TakePending(int fd);
};

std::optional<Listener::State::Pending> Listener::State::TakePending(int fd) {
  std::optional<Pending> p;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(fd);
    if (it == pending.end()) return std::nullopt;
    p = std::move(it->second);
    pending.erase(it);
  }
  loop->Remove(fd);
  loop->Cancel(p->timer);
  return p;
}

void Listener::State::OnAcceptable() {
  for (;;) {
    UniqueFd client(::accept4(listen_socket.get(), nullptr, nullptr,
                              SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client.valid()) return;  // EAGAIN (drained) or a transient error
    absl::StatusOr<PeerCredentials> peer = GetPeerCredentials(client.get());
    if (!peer.ok()) continue;
    const int fd = client.get();
    std::weak_ptr<State> weak = weak_from_this();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopped) return;
      if (static_cast<int>(pending.size()) >= options.max_pending_handshakes) {
        ++stats.refused;
        SendRefusal(fd, Refusal::kResourceExhausted,
                    "too many handshakes in progress", options.handshake);
        continue;
      }
      Pending& p = pending[fd];
      p.socket = std::move(client);
      p.peer = *peer;
      p.timer = loop->RunAt(
          std::chrono::steady_clock::now() + options.handshake_timeout,
          [weak, fd] {
            if (auto s = weak.lock()) s->OnTimeout(fd);
          });
    }
    absl::Status added =
        loop->Add(fd, EPOLLIN | EPOLLRDHUP, [weak, fd](uint32_t) {
          if (auto s = weak.lock()) s->OnHelloReadable(fd);
        });
    if (!added.ok()) TakePending(fd);
  }
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

  std::weak_ptr<State> weak = state;
  if (absl::Status s = loop->Add(state->listen_socket.get(), EPOLLIN,
                                 [weak](uint32_t) {
                                   if (auto st = weak.lock())
                                     st->OnAcceptable();
                                 });
      !s.ok()) {
    ::unlink(options.path.c_str());
    return s;
  }
  return std::unique_ptr<Listener>(new Listener(std::move(state)));
}

Listener::~Listener() {
  State& s = *state_;
  s.loop->Remove(s.listen_socket.get());
  std::vector<int> fds;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopped = true;
    for (auto& [fd, p] : s.pending) fds.push_back(fd);
  }
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
