// shmrpc::Server: serves services to clients on this host over shared
// memory and, built by the one-builder form, to everyone else over gRPC
// (HTTP/2) with the same service objects.
//
//   GreeterImpl service;  // derives from helloworld::ShmGreeter::Service
//
//   shmrpc::ServerBuilder builder;  // instead of grpc::ServerBuilder
//   builder.AddListeningPort("[::]:50051", grpc::InsecureServerCredentials());
//   builder.RegisterService(&service);
//   std::unique_ptr<shmrpc::Server> server = builder.BuildAndStart();
//   server->Wait();
//
// The builder takes gRPC's own calls and builds a grpc::Server and the
// shared-memory endpoints of the same addresses together
// (server/server_builder.h); the older two-builder form, a grpc::ServerBuilder
// next to a shmrpc::ServerBuilder given AddListeningAddress, still works.
//
// A client whose target names this host ("localhost:50051", ...) finds the
// shared-memory endpoint on its own (rpc/endpoint.h). Endpoints are private to
// the server's user: the socket lives in a 0700 directory, is created 0600,
// and only processes of the same uid pass the handshake's credential check
// (ServerOptions::handshake.allow).
//
// Threads. Each client connection is served by a small group of threads
// (two to start with, at most ServerOptions::max_threads_per_connection, plus
// one for each client-streaming or bidirectional call running). One
// of them polls the connection's request ring and runs each handler inline,
// so a lone caller pays no thread hand-off. If a call runs long while others
// wait, the waiting clients wake an idle thread of the group, which takes
// over polling (and the group grows), so a slow handler does not hold up the
// other calls. The server never runs more than ServerOptions::max_connections
// connections, so it has at most max_connections x
// (max_threads_per_connection + max_streams_per_connection) serving threads
// (plus one event-loop thread).
//
// Resources. Every client is untrusted: what one connection can make the
// server spend is bounded (threads by the caps above; memory by the data
// segments negotiated at the handshake and gRPC's message and metadata size
// limits, checked before anything is parsed; time: a response the client
// does not take waits until the call's deadline, 5 s at most), and only that
// connection's threads ever wait for it. When a thread cannot be created (a
// task limit), the connection that needed it is closed if it has none, and
// new clients are refused until threads can be had again; existing
// connections keep working.
#ifndef SHMRPC_SERVER_SERVER_H_
#define SHMRPC_SERVER_SERVER_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shmrpc/server/server_builder.h"  // IWYU pragma: export
#include "shmrpc/server/server_options.h"  // IWYU pragma: export
#include "shmrpc/server/service.h"
#include "shmrpc/server/stats.h"

namespace grpc {
class HealthCheckServiceInterface;
class Server;
}  // namespace grpc

namespace shmrpc {

class HealthService;  // server/health.h

// Counters. Plain value.
struct ServerStats {
  uint64_t connections = 0;  // accepted so far
  uint64_t calls = 0;        // calls dispatched so far
  // Clients refused at the handshake by the server's admission (connection
  // limit, no threads to be had), and connections closed because no thread
  // could be started for them.
  uint64_t refused_connections = 0;
  // Times a serving thread could not be created (std::thread threw).
  uint64_t thread_failures = 0;
  int live_connections = 0;
  int threads = 0;          // serving threads alive
  int calls_in_flight = 0;  // calls whose handler or response is not done
};

// A running server: the shared-memory endpoints and, when the builder was
// given AddListeningPort, the gRPC server built with them. Thread-safe.
class Server {
 public:
  // Shuts down (without a deadline) if that has not happened yet.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Graceful shutdown, in this order:
  //  1. The health service (if any, see GetHealthCheckService) turns every
  //     service NOT_SERVING and ends its Watch calls, as gRPC's does.
  //  2. The shared-memory side stops accepting connections and tells its
  //     clients it is closing: their new calls go through gRPC from then on
  //     (or fail with UNAVAILABLE in ShmMode::kRequired). Calls in flight
  //     finish, then every connection is closed.
  //  3. The gRPC server (one-builder form) shuts down as grpc::Server does.
  // With a deadline, calls still running when it passes are cancelled
  // (their IsCancelled() turns true) and their handlers are awaited; the
  // deadline bounds steps 2 and 3 together.
  // Thread-safe; later calls wait for the first to finish.
  void Shutdown();
  void Shutdown(std::chrono::system_clock::time_point deadline);

  // Blocks until Shutdown() has finished (both servers).
  void Wait();

  // The socket paths this server listens on for shared-memory clients.
  const std::vector<std::string>& endpoints() const;

  ServerStats stats() const;

  // The gRPC server that the one-builder form built, for what only gRPC
  // offers (InProcessChannel, the completion queues' services, ...);
  // nullptr in the two-builder form. Owned by this server; shut it down
  // through this server only.
  grpc::Server* grpc_server() const;

  // As grpc::Server::GetHealthCheckService: the health service when
  // grpc::EnableDefaultHealthCheckService(true) was called before
  // BuildAndStart, else nullptr. It answers grpc.health.v1.Health over
  // shared memory and, in the one-builder form, over gRPC, from one state:
  // SetServingStatus here is seen on both transports.
  grpc::HealthCheckServiceInterface* GetHealthCheckService() const;

  // Statistics (server/stats.h): totals, every method on every transport
  // its registry records (ServerOptions::stats_registry), and, with
  // `include_connections`, each open connection. The same as its Admin
  // service answers (`shmrpc stats`). Thread-safe; takes a mutex briefly
  // and looks at every chunk of every connection's data segment (about 700
  // each by default), so it suits monitoring rates, not every call.
  ServerStatistics statistics(bool include_connections = true) const;

  // The registry the server records its calls in (never null; lives as
  // long as the server, or longer if shared).
  StatsRegistry* stats_registry() const;

  struct Impl;

 private:
  friend class ServerBuilder;
  explicit Server(std::unique_ptr<Impl> impl);
  void ShutdownAll(std::chrono::system_clock::time_point deadline);

  std::unique_ptr<Impl> impl_;
  // One-builder form: the gRPC server (owns `health_` when it is set then).
  std::unique_ptr<grpc::Server> grpc_;
  // Two-builder form with health checking: the health service.
  std::unique_ptr<HealthService> owned_health_;
  HealthService* health_ = nullptr;
};

}  // namespace shmrpc

#endif  // SHMRPC_SERVER_SERVER_H_
