// Helpers for the server's cross-process tests: a probe_server process,
// reports of what its handlers saw, and counters read from /proc.
#ifndef SHMRPC_TESTS_RPC_PROBE_TESTING_H_
#define SHMRPC_TESTS_RPC_PROBE_TESTING_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "shmrpc/transport/connection.h"
#include "shmrpc/transport/handshake.h"
#include "tests/rpc/probe.shmrpc.h"
#include "tests/util/subprocess.h"

namespace shmrpc::testing {

// The one value of `key` in server metadata `md`, or "<none>".
inline std::string MetadataValue(
    const std::multimap<grpc::string_ref, grpc::string_ref>& md,
    const std::string& key) {
  auto it = md.find(key);
  return it == md.end() ? "<none>"
                        : std::string(it->second.data(), it->second.size());
}

// The path of the probe_server binary (set by each test's main from argv).
extern std::string g_probe_server;

// A probe_server process (see probe_server.cc), started with `flags` in the
// current SHMRPC_DIR. Not thread-safe.
class ProbeServer {
 public:
  explicit ProbeServer(std::vector<std::string> flags = {});

  // 0 if the server did not start.
  int port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  // "127.0.0.1:PORT", the address it listens on ("localhost" would also try
  // ::1:PORT, where another process may listen: a plain gRPC channel once
  // reached a server without this service under a loaded CI run).
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  Subprocess& process() { return *process_; }

 private:
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

// Asks the server (through `stub`) for the report on `tag` until the handler
// has finished or `timeout` passes; returns the last report (nullopt if the
// report could not be had at all).
std::optional<Report> WaitForReport(ShmProbe::Stub& stub,
                                    const std::string& tag,
                                    std::chrono::milliseconds timeout);

// One Call of `text` on `channel` through the generated stub, with a 10 s
// deadline; DATA_LOSS if the answer is not `text`.
grpc::Status EchoProbe(const std::shared_ptr<grpc::Channel>& channel,
                       const std::string& text);

// A "Name:   value kB" (or plain number) field of /proc/<pid>/status, e.g.
// "VmRSS" in KiB or "Threads"; -1 if absent.
int64_t ProcStatusField(pid_t pid, const std::string& name);

// Open file descriptors of `pid` (entries of /proc/<pid>/fd); -1 on error.
int CountFds(pid_t pid);

// A client that speaks the call protocol by hand over a transport
// connection, as a hostile client would: it chooses its own data segment,
// frame flags and lengths. Thread-safe as the Connection is (one stream per
// call).
class RawClient {
 public:
  // Connects to the shared-memory endpoint of `target` with `handshake`
  // options and reads the method table.
  static absl::StatusOr<std::unique_ptr<RawClient>> Connect(
      const std::string& target,
      const transport::ClientHandshakeOptions& handshake = {});
  // The same for the endpoint at socket `path`.
  static absl::StatusOr<std::unique_ptr<RawClient>> ConnectToPath(
      const std::string& path,
      const transport::ClientHandshakeOptions& handshake = {});

  transport::Connection& connection() { return *connection_; }
  // The id of method `name` ("/shmrpc.testing.Probe/Call"); 0 if unknown.
  uint32_t MethodId(const std::string& name) const;

  // What came back for a call. Plain value.
  struct Answer {
    int code = -1;  // grpc::StatusCode, -1 if no response came
    std::string message;
    std::string response;  // the response message's bytes
  };

  // Sends a kCall for `method` on a fresh stream with `flags`, whose payload
  // is `length` bytes of a chunk that `write` fills (it may write less, or
  // nothing), and waits up to `timeout` for the response.
  absl::StatusOr<Answer> Call(uint32_t method, uint16_t flags, size_t length,
                              const std::function<void(uint8_t*)>& write,
                              std::chrono::milliseconds timeout);

  // Sends a kCall for `method` with a serialized request message (inline or
  // in a chunk) and no deadline, and waits up to `timeout`.
  absl::StatusOr<Answer> CallWithMessage(uint32_t method,
                                         const std::string& message,
                                         std::chrono::milliseconds timeout);

  // Sends a kCall for `method` with `message` (in a chunk) and, unless it is
  // time_point::max(), `deadline`, on a fresh stream, and returns without
  // waiting: the stream stays open and its answer is never read, as by a
  // client that stops reading.
  absl::Status Start(uint32_t method, const std::string& message,
                     std::chrono::system_clock::time_point deadline);

 private:
  explicit RawClient(std::shared_ptr<transport::Connection> connection)
      : connection_(std::move(connection)) {}
  absl::StatusOr<Answer> Exchange(uint32_t stream, uint32_t generation,
                                  const transport::MessageHeader& header,
                                  const transport::OutgoingPayload& payload,
                                  std::chrono::milliseconds timeout);

  std::shared_ptr<transport::Connection> connection_;
  std::vector<std::string> methods_;
  std::atomic<uint32_t> generation_{1};
};

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_RPC_PROBE_TESTING_H_
