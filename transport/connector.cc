#include "shmrpc/transport/connector.h"

#include <utility>

namespace shmrpc::transport {

absl::StatusOr<std::shared_ptr<Connection>> Connect(
    const std::string& path, const ConnectOptions& options) {
  const Deadline deadline = std::chrono::steady_clock::now() + options.timeout;
  absl::StatusOr<UniqueFd> socket = ConnectSeqpacket(path);
  if (!socket.ok()) return socket.status();
  absl::StatusOr<Established> established =
      ClientHandshake(std::move(*socket), options.handshake, deadline);
  if (!established.ok()) return established.status();
  EventLoop* monitor =
      options.monitor != nullptr ? options.monitor : &EventLoop::Default();
  return Connection::Create(std::move(*established), monitor,
                            options.connection);
}

}  // namespace shmrpc::transport
