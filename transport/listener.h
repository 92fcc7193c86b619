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
  // Handshakes in progress at once; further clients are refused at once.
  int max_pending_handshakes = 64;
  // File mode of the socket (connecting needs write permission).
  mode_t socket_mode = 0600;
};

// Counters. Plain value.
struct ListenerStats {
  uint64_t accepted = 0;   // connections established
  uint64_t refused = 0;    // handshakes refused (any reason but timeout)
  uint64_t timed_out = 0;  // handshakes that timed out
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
