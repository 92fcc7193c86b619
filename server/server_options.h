// shmrpc::ServerOptions: the shared-memory server's limits and behaviour
// (server/server.h, server/server_builder.h).
#ifndef SHMRPC_SERVER_SERVER_OPTIONS_H_
#define SHMRPC_SERVER_SERVER_OPTIONS_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <chrono>
#include <cstdint>
#include <memory>

#include "shmrpc/rpc/limits.h"
#include "shmrpc/server/stats.h"
#include "shmrpc/transport/doorbell.h"
#include "shmrpc/transport/handshake.h"

namespace shmrpc {

// Plain value.
struct ServerOptions {
  // Whether the one-builder form (ServerBuilder::AddListeningPort) also
  // listens for shared-memory clients. false: it builds the gRPC server
  // only, and every client uses gRPC. The two-builder form ignores it.
  bool shared_memory = true;
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
  // a registry of its own. The one-builder form shares it with the gRPC
  // server it builds (NewGrpcStatsInterceptorFactory, server/grpc_stats.h),
  // so a service's calls on both transports show in Server::statistics()
  // and `shmrpc stats`.
  std::shared_ptr<StatsRegistry> stats_registry;
};

}  // namespace shmrpc

#endif  // SHMRPC_SERVER_SERVER_OPTIONS_H_
