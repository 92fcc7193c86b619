// shmrpc::ServerContext: what a method handler sees of its call, with the
// API of grpc::ServerContext. The same handler serves calls that arrive over
// shared memory and calls that arrive over gRPC (HTTP/2); for the latter the
// context forwards to the grpc::ServerContext of the call.
//
// Why not grpc::ServerContext itself: gRPC gives no public way to build one
// with a deadline, client metadata or cancellation state for a call that did
// not come through gRPC's core, so a shared-memory call could not be
// represented faithfully. Handlers keep their bodies; only the parameter type
// in their signature changes (see docs/migrating.md).
#ifndef SHMRPC_SERVER_SERVER_CONTEXT_H_
#define SHMRPC_SERVER_SERVER_CONTEXT_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpc/compression.h>
#include <grpc/support/time.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/string_ref.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "shmrpc/rpc/frame.h"

namespace shmrpc {

namespace internal {

// The state of one shared-memory call, owned by the server while the handler
// runs. Not thread-safe except for the cancellation flags.
struct ShmCallState {
  // Absolute deadline; time_point::max() if none.
  std::chrono::system_clock::time_point deadline =
      std::chrono::system_clock::time_point::max();
  // Client metadata as decoded from the request frame (views into it).
  const rpc::DecodedMetadata* client_metadata = nullptr;
  // Built from client_metadata on first use.
  std::optional<std::multimap<grpc::string_ref, grpc::string_ref>>
      client_metadata_map;
  std::multimap<std::string, std::string> initial_metadata;
  std::multimap<std::string, std::string> trailing_metadata;
  // The server's record of this one call (owned by the server, valid while
  // the handler runs): the server sets kCancelledBit in it when the client
  // cancels this call (its kCancel names the call's stream and generation)
  // or a shutdown deadline passes. Null: never cancelled that way.
  static constexpr uint64_t kCancelledBit = uint64_t{1} << 63;
  const std::atomic<uint64_t>* cancel_word = nullptr;
  // Streaming calls: also cancelled once this returns true (the client
  // abandoned the stream, see transport::Connection::AbandonStream, or its
  // connection was lost).
  // Thread-safe. Empty for unary calls.
  std::function<bool()> abandoned;
  // Set by ServerContext::TryCancel.
  std::atomic<bool> server_cancelled{false};
  // "shmrpc:pid=N,uid=U", owned by the server's connection.
  const std::string* peer = nullptr;
};

}  // namespace internal

// Thread-compatible, like grpc::ServerContext: IsCancelled and TryCancel may
// be called from any thread; the rest from the handler's thread.
class ServerContext {
 public:
  // A context for a call that arrived over gRPC: every method forwards to
  // `grpc_context` (not owned). Used by generated code.
  explicit ServerContext(grpc::ServerContext* grpc_context)
      : grpc_(grpc_context) {}
  // A context for a shared-memory call (used by the shmrpc server).
  explicit ServerContext(internal::ShmCallState* call) : shm_(call) {}

  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // The call's deadline (time_point::max() if the client set none).
  std::chrono::system_clock::time_point deadline() const;
  gpr_timespec raw_deadline() const;

  // Metadata sent to the client before the response (initial) and with the
  // status (trailing). Keys follow gRPC's rules; "-bin" keys carry binary
  // values.
  void AddInitialMetadata(const std::string& key, const std::string& value);
  void AddTrailingMetadata(const std::string& key, const std::string& value);

  // The metadata the client sent.
  const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata()
      const;

  // True if the client cancelled the call, its deadline passed, or
  // TryCancel() was called. Thread-safe.
  bool IsCancelled() const;

  // Cancels the call from the server: the client receives CANCELLED
  // whatever the handler returns (which should then be Status::CANCELLED).
  // Thread-safe.
  void TryCancel() const;

  // "shmrpc:pid=N,uid=U" for shared-memory calls; gRPC's peer string
  // otherwise.
  std::string peer() const;

  // gRPC's auth context for calls that came over gRPC; nullptr for
  // shared-memory calls, whose peer is identified by the kernel instead (see
  // peer(); only processes on the server's allow-list can connect).
  std::shared_ptr<const grpc::AuthContext> auth_context() const;

  // Compression applies to gRPC calls only; shared-memory calls are never
  // compressed (the setters are accepted and ignored).
  grpc_compression_level compression_level() const;
  void set_compression_level(grpc_compression_level level);
  bool compression_level_set() const;
  grpc_compression_algorithm compression_algorithm() const;
  void set_compression_algorithm(grpc_compression_algorithm algorithm);

  // ---- shmrpc additions --------------------------------------------------

  // True if the call arrived over shared memory.
  bool is_shared_memory() const { return shm_ != nullptr; }

  // The gRPC context of a call that arrived over gRPC; nullptr otherwise.
  grpc::ServerContext* grpc_context() const { return grpc_; }

 private:
  grpc::ServerContext* grpc_ = nullptr;
  internal::ShmCallState* shm_ = nullptr;
};

}  // namespace shmrpc

#endif  // SHMRPC_SERVER_SERVER_CONTEXT_H_
