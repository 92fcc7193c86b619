// Listener: the server end of the handshake. Binds a Unix SOCK_SEQPACKET
// socket, accepts clients on an EventLoop, runs each handshake (with a
// timeout, so a silent or slow client cannot hold the server), and hands every
// established Connection to a callback.
//
//   EventLoop loop;
//   ListenerOptions options;
//   options.path = "/run/user/1000/shmrpc/greeter.sock";
//   auto listener = Listener::Start(options, &loop,
//       [](std::shared_ptr<Connection> c) { /* serve it */ });
//
// A socket file left behind by a crashed server is taken over: the listener
// holds an flock on "<path>.lock" for as long as it runs, so a live server is
// never displaced (kAlreadyExists), and a stale socket file is replaced.
//
// Admission is fair and bounded. Handshakes in progress are limited in all
// (max_pending_handshakes) and per peer process (SO_PEERCRED pid,
// max_pending_handshakes_per_peer: a further one from that process is refused
// at once). When the table is full, a newcomer is not refused: the oldest
// pending handshake of the peer holding the most is, with kResourceExhausted
// (the victim is the handshake that is largest by: how many its uid holds,
// how many its pid holds, its age). A crowd
// of silent connections therefore keeps out nobody but itself.
//
// Out of file descriptors (accept4 fails with EMFILE or ENFILE), the listener
// gives up a spare fd it keeps for the purpose to accept and refuse
// (kResourceExhausted) the clients waiting in the backlog, so that they learn
// at once and can fall back, and stops watching the listening socket for a
// back-off delay (accept_backoff_min, doubling up to accept_backoff_max) so
// the level-triggered loop does not spin. A successful accept resets the
// delay.
#ifndef SHMRPC_TRANSPORT_LISTENER_H_
#define SHMRPC_TRANSPORT_LISTENER_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "shmrpc/transport/connection.h"
#include "shmrpc/transport/event_loop.h"
#include "shmrpc/transport/handshake.h"

namespace shmrpc::transport {

// Plain value.
struct ListenerOptions {
  // Where to listen; at most 107 bytes.
  std::string path;
  // What the server offers and accepts (versions, features, allow-list, ...).
  ServerHandshakeOptions handshake;
  // Applied to every accepted connection.
  ConnectionOptions connection;
  // A client that has not sent its ClientHello by then is refused and
  // disconnected.
  std::chrono::milliseconds handshake_timeout{1000};
  // Handshakes in progress at once. When full, a newcomer evicts the oldest
  // pending handshake of the peer holding the most (see above).
  int max_pending_handshakes = 64;
  // Handshakes in progress at once from one process (SO_PEERCRED pid);
  // further ones from it are refused at once (kResourceExhausted).
  int max_pending_handshakes_per_peer = 16;
  // Out of fds: how long accepting pauses, doubling from min to max.
  std::chrono::milliseconds accept_backoff_min{50};
  std::chrono::milliseconds accept_backoff_max{1000};
  // File mode of the socket (connecting needs write permission).
  mode_t socket_mode = 0600;
};

// Counters. Plain value.
struct ListenerStats {
  uint64_t accepted = 0;   // connections established
  uint64_t refused = 0;    // handshakes refused (any reason but timeout),
                           // including the three kinds below
  uint64_t timed_out = 0;  // handshakes that timed out
  uint64_t refused_peer_limit = 0;  // the peer had too many in progress
  uint64_t evicted = 0;             // dropped to make room for a newcomer
  uint64_t refused_no_fds = 0;      // accepted with the spare fd and refused
  uint64_t accept_backoffs = 0;     // times accepting paused for lack of fds
};

class Listener {
 public:
  // Called on the loop thread with each established connection.
  using OnConnection = std::function<void(std::shared_ptr<Connection>)>;

  // Starts listening at options.path on `loop` (which must outlive the
  // listener). kAlreadyExists if another live listener holds the path.
  static absl::StatusOr<std::unique_ptr<Listener>> Start(
      const ListenerOptions& options, EventLoop* loop,
      OnConnection on_connection);

  // Stops accepting, refuses handshakes in progress (kShuttingDown), removes
  // the socket file. Once it returns, on_connection is not running and will
  // not be called again. Established connections are not affected. May be
  // called from any thread, including from on_connection itself.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  const std::string& path() const;
  ListenerStats stats() const;

 private:
  struct State;
  explicit Listener(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_LISTENER_H_
