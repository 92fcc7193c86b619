// Uses @shmrpc//transport from another workspace: listens, connects to
// itself, and sends one message each way over shared memory. Exits 0 on
// success.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "shmrpc/transport/connector.h"
#include "shmrpc/transport/listener.h"

namespace {

using namespace shmrpc::transport;

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Text(const InboundMessage& m) {
  return std::string(reinterpret_cast<const char*>(m.payload().data()),
                     m.payload().size());
}

int Run() {
  const std::string path = "/tmp/shmrpc-hello-" + std::to_string(::getpid());
  const Deadline deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  EventLoop loop;
  std::mutex mu;
  std::condition_variable accepted;
  std::shared_ptr<Connection> server;
  ListenerOptions options;
  options.path = path;
  auto listener = Listener::Start(options, &loop, [&](auto c) {
    std::lock_guard<std::mutex> lock(mu);
    server = std::move(c);
    accepted.notify_all();
  });
  if (!listener.ok()) return 1;
  ConnectOptions connect;
  connect.monitor = &loop;
  auto client = Connect(path, connect);
  if (!client.ok()) return 2;
  {
    std::unique_lock<std::mutex> lock(mu);
    accepted.wait(lock, [&] { return server != nullptr; });
  }
  auto stream = (*client)->OpenStream();
  if (!stream.ok()) return 3;
  MessageHeader h;
  h.stream = *stream;
  if (!(*client)
           ->Send(h, OutgoingPayload::Inline(Bytes("ping")), deadline)
           .ok()) {
    return 4;
  }
  auto request = server->ReceiveRequest(deadline);
  if (!request.ok() || Text(*request) != "ping") return 5;
  if (!server->Send(h, OutgoingPayload::Inline(Bytes("pong")), deadline).ok()) {
    return 6;
  }
  auto reply = (*client)->ReceiveStream(*stream, deadline);
  if (!reply.ok() || Text(*reply) != "pong") return 7;
  std::printf("%s -> %s over shared memory\n", Text(*request).c_str(),
              Text(*reply).c_str());
  return 0;
}

}  // namespace

int main() { return Run(); }
