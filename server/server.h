// shmrpc::Server: serves generated services to clients on this host over
// shared memory, next to a grpc::Server that serves the same service objects
// to everyone else over HTTP/2.
//
//   GreeterImpl service;  // derives from helloworld::ShmGreeter::Service
//
//   grpc::ServerBuilder builder;
//   builder.AddListeningPort("[::]:50051", grpc::InsecureServerCredentials());
//   builder.RegisterService(&service);
//   std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
//
//   shmrpc::ServerBuilder shm_builder;
//   shm_builder.AddListeningAddress("[::]:50051")  // the same address
//       .RegisterService(&service);
//   std::unique_ptr<shmrpc::Server> shm_server = shm_builder.BuildAndStart();
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

#include "shmrpc/rpc/limits.h"
#include "shmrpc/server/service.h"
#include "shmrpc/server/stats.h"
#include "shmrpc/transport/doorbell.h"
#include "shmrpc/transport/handshake.h"

namespace shmrpc {

// Plain value.
struct ServerOptions {
  // How an idle serving thread waits: it spins this long for the next
  // request before sleeping.
  transport::WaitPolicy wait;
  // Client connections served at once (at least 1). Further clients are
  // refused at the handshake with "shmrpc server is at its connection limit
  // (N)": they fall back to gRPC (or fail with UNAVAILABLE in
  // ShmMode::kRequired).
  int max_connections = 256;
  // Threads that may serve one client connection at once (at least 1).
  int max_threads_per_connection = 16;
  // Client-streaming and bidirectional calls served at once on one
  // connection (at least 0). Their handlers wait for the client's messages,
  // which another thread must take off the connection's request ring, so
  // each has a thread of its own beyond max_threads_per_connection while it
  // runs. The next one ends at once with RESOURCE_EXHAUSTED "too many
  // streaming calls reading from the client on this connection (at most
  // N)".
  int max_streams_per_connection = 64;
  // gRPC's size limits (rpc/limits.h), as grpc::ServerBuilder applies them;
  // also set by ServerBuilder::SetMaxReceiveMessageSize and friends. A
  // negative value means unlimited, except that protobuf cannot parse or
  // serialize a message of 2 GiB or more, so INT_MAX bounds both directions.
  //   A request message larger than this is refused with RESOURCE_EXHAUSTED
  //   "Received message larger than max (N vs. L)", before it is parsed.
  int max_receive_message_size =
      static_cast<int>(rpc::kDefaultMaxReceiveMessageSize);
  //   A response message larger than this is replaced by RESOURCE_EXHAUSTED
  //   "Sent message larger than max (N vs. L)".
  int max_send_message_size = static_cast<int>(rpc::kDefaultMaxSendMessageSize);
  //   Client metadata larger than this (as gRPC counts it: key and value
  //   bytes plus 32 per entry) is refused with RESOURCE_EXHAUSTED "received
  //   initial metadata size exceeds limit (N vs. L)" without running the
  //   handler.
  int max_metadata_size = static_cast<int>(rpc::kDefaultMaxMetadataSize);
  // Flow control of server-streaming calls: the bytes of messages a call
  // keeps sent but not yet read by the client, at most (a single larger
  // message still goes, alone). Together with the stream ring's capacity
  // (messages), it bounds what a client that stops reading holds of the
  // connection's shared memory; a Write beyond it waits for the reader.
  int64_t stream_window_bytes = int64_t{4} << 20;
  // The handshake: who may connect (default: this uid only), versions,
  // features, sizes of the server's data segments. An `admit` hook set here
  // is asked first; the server's own admission (max_connections, threads)
  // after it.
  transport::ServerHandshakeOptions handshake;
  // A client that does not complete its handshake in time is dropped.
  std::chrono::milliseconds handshake_timeout{1000};
  // Handshakes in progress at once, in all and per client process (by its
  // kernel-reported pid). When all are taken, a newcomer is still admitted:
  // the oldest handshake of the process holding the most is refused instead,
  // so silent connections cannot keep other clients out
  // (transport/listener.h).
  int max_pending_handshakes = 64;
  int max_pending_handshakes_per_peer = 16;
  // Where the server records its calls' statistics (server/stats.h): null,
  // a registry of its own. Pass one that a grpc::Server also records into
  // (NewGrpcStatsInterceptorFactory, server/grpc_stats.h) to see a service's
  // calls on both transports in Server::statistics() and `shmrpc stats`.
  std::shared_ptr<StatsRegistry> stats_registry;
};

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

class Server {
 public:
  // Shuts down (without a deadline) if that has not happened yet.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Graceful shutdown: stops accepting connections, answers new calls with
  // UNAVAILABLE, lets calls in flight finish, then closes every connection.
  // With a deadline, calls still running when it passes are cancelled
  // (their IsCancelled() turns true) and their handlers are awaited.
  // Thread-safe; later calls wait for the first to finish.
  void Shutdown();
  void Shutdown(std::chrono::system_clock::time_point deadline);

  // Blocks until Shutdown() has finished.
  void Wait();

  // The socket paths this server listens on.
  const std::vector<std::string>& endpoints() const;

  ServerStats stats() const;

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
  std::unique_ptr<Impl> impl_;
};

// Not thread-safe; build a server from one thread.
class ServerBuilder {
 public:
  ServerBuilder();
  ~ServerBuilder();

  // Serves local clients of `address`, an address as given to
  // grpc::ServerBuilder::AddListeningPort ("[::]:50051", "localhost:50051",
  // "unix:/run/app.sock", ...). For a TCP address the port must be the real
  // one (not 0).
  ServerBuilder& AddListeningAddress(const std::string& address);

  // Listens on an explicit socket path instead (clients must be told it).
  ServerBuilder& AddEndpointPath(const std::string& path);

  // Serves every method of `service` (not owned; must outlive the server).
  // The same object can also be registered with grpc::ServerBuilder.
  ServerBuilder& RegisterService(internal::ShmService* service);

  // Replaces every option (call it before the setters below, which change
  // one option each).
  ServerBuilder& SetOptions(const ServerOptions& options);

  // gRPC's message size limits, as grpc::ServerBuilder's methods of the same
  // names (see ServerOptions; negative: unlimited). SetMaxMessageSize is
  // gRPC's deprecated name for SetMaxReceiveMessageSize.
  ServerBuilder& SetMaxReceiveMessageSize(int max_receive_message_size);
  ServerBuilder& SetMaxSendMessageSize(int max_send_message_size);
  ServerBuilder& SetMaxMessageSize(int max_message_size);

  // As grpc::ServerBuilder::AddChannelArgument, for the arguments that apply
  // over shared memory: GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
  // GRPC_ARG_MAX_SEND_MESSAGE_LENGTH and GRPC_ARG_MAX_METADATA_SIZE. Others
  // concern HTTP/2 and are ignored here.
  ServerBuilder& AddChannelArgument(const std::string& arg, int value);

  // Starts listening. Returns nullptr on failure (a duplicate method, an
  // endpoint another live server holds, a bad address) and, if `error` is
  // not null, says why.
  std::unique_ptr<Server> BuildAndStart(std::string* error = nullptr);

 private:
  std::vector<std::string> addresses_;
  std::vector<std::string> paths_;
  std::vector<internal::ShmService*> services_;
  ServerOptions options_;
};

}  // namespace shmrpc

#endif  // SHMRPC_SERVER_SERVER_H_
