// Connect: the client end of the handshake.
//
//   absl::StatusOr<std::shared_ptr<Connection>> c =
//       Connect("/run/user/1000/shmrpc/greeter.sock", ConnectOptions{});
//
// Blocks until the handshake finishes or the timeout passes. The
// connection's liveness is watched on options.monitor (default: the process's
// shared EventLoop).
#ifndef SHMRPC_TRANSPORT_CONNECTOR_H_
#define SHMRPC_TRANSPORT_CONNECTOR_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "shmrpc/transport/connection.h"
#include "shmrpc/transport/event_loop.h"
#include "shmrpc/transport/handshake.h"

namespace shmrpc::transport {

// Plain value.
struct ConnectOptions {
  ClientHandshakeOptions handshake;
  ConnectionOptions connection;
  // For connect() plus the whole handshake.
  std::chrono::milliseconds timeout{2000};
  // Watches the connection's socket; nullptr means EventLoop::Default().
  EventLoop* monitor = nullptr;
};

// Connects to the Listener at `path` and runs the handshake. Errors:
// kUnavailable if nobody listens there; the server's refusal (see
// ClientHandshake); kDeadlineExceeded on timeout. Thread-safe.
absl::StatusOr<std::shared_ptr<Connection>> Connect(
    const std::string& path, const ConnectOptions& options = {});

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_CONNECTOR_H_
