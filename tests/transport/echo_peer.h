// An echo service over the raw transport, used by the cross-process tests and
// by the transport_peer helper binary.
//
// Protocol: the client opens a stream and sends one message of kind kEcho
// whose payload is a byte pattern; the server answers on the same stream
// with the same generation, a payload that is a copy of the request, and aux
// set to the checksum it computed over every request byte. The client checks
// the answer byte for byte and the checksum.
#ifndef SHMRPC_TESTS_TRANSPORT_ECHO_PEER_H_
#define SHMRPC_TESTS_TRANSPORT_ECHO_PEER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "shmrpc/transport/connection.h"
#include "shmrpc/transport/event_loop.h"
#include "shmrpc/transport/listener.h"

namespace shmrpc::testing {

inline constexpr uint16_t kEcho = 1;

// FNV-1a over every byte.
uint32_t Checksum(absl::Span<const uint8_t> bytes);

// Fills `out` with a pattern derived from `seed`.
void FillPattern(uint8_t* out, size_t size, uint32_t seed);

// Serves echo requests on `connection` until it closes.
void ServeEcho(const std::shared_ptr<transport::Connection>& connection);

// Sends one echo request of `size` bytes (inline if it fits and `allow_inline`,
// else in a chunk) on a fresh stream and checks the answer. Thread-safe.
absl::Status EchoCall(transport::Connection& connection, size_t size,
                      uint32_t seed, transport::Deadline deadline,
                      bool allow_inline = true);

// A Listener whose every connection is served by ServeEcho on its own
// thread.
class EchoServer {
 public:
  // Starts listening at `path`; aborts the process on failure.
  explicit EchoServer(const std::string& path,
                      transport::ListenerOptions options = {});
  // Stops accepting, closes every connection, joins the threads.
  ~EchoServer();

  // Connections that are still being served. A connection is dropped (and
  // its memory and fds released) as soon as it closes, unless the caller
  // holds a reference.
  std::vector<std::shared_ptr<transport::Connection>> connections();

  transport::Listener& listener() { return *listener_; }

 private:
  transport::EventLoop loop_;
  std::unique_ptr<transport::Listener> listener_;
  std::mutex mu_;
  std::vector<std::weak_ptr<transport::Connection>> connections_;
  std::vector<std::thread> threads_;
};

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_TRANSPORT_ECHO_PEER_H_
