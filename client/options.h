// Options for channels that may use shared memory. Plain values.
#ifndef SHMRPC_CLIENT_OPTIONS_H_
#define SHMRPC_CLIENT_OPTIONS_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <chrono>
#include <string>

#include "shmrpc/transport/doorbell.h"
#include "shmrpc/transport/handshake.h"

namespace shmrpc {

// Whether a channel uses shared memory.
enum class ShmMode {
  // Use shared memory when the server is on this host and offers it;
  // otherwise, and for methods it does not serve, use gRPC.
  kAuto,
  // Never use shared memory: every call goes through gRPC.
  kDisabled,
  // Always use shared memory: a call that cannot fails with UNAVAILABLE
  // instead of going through gRPC.
  kRequired,
};

// The environment variable that overrides ShmChannelOptions::mode for every
// channel of the process: "auto", "off" (kDisabled) or "require"
// (kRequired). Anything else is ignored.
inline constexpr char kShmModeEnvVar[] = "SHMRPC_MODE";

struct ShmChannelOptions {
  ShmMode mode = ShmMode::kAuto;

  // Connect to this socket instead of the endpoint derived from the target
  // (rpc/endpoint.h). Empty: derive it.
  std::string endpoint_path;

  // Bounds one connection attempt (connect, handshake, method table).
  std::chrono::milliseconds connect_timeout{1000};

  // Reconnection backoff after a failed attempt, as gRPC's: the first retry
  // comes after `initial_backoff`, each later one `backoff_multiplier` times
  // later, up to `max_backoff`, each randomized by +-`backoff_jitter`.
  // While backing off, calls use gRPC (or fail, in kRequired).
  std::chrono::milliseconds initial_backoff{1000};
  double backoff_multiplier = 1.6;
  double backoff_jitter = 0.2;
  std::chrono::milliseconds max_backoff{120000};

  // How a caller waits for its response: spin this long, then sleep.
  transport::WaitPolicy wait;

  // The handshake: who the server may be (default: this uid), pool sizes,
  // stream counts.
  transport::ClientHandshakeOptions handshake;
};

// How a channel's calls travel right now.
enum class ChannelPath {
  kNotConnected,  // no call yet
  kSharedMemory,
  kGrpc,  // shared memory disabled, not offered, or unreachable
};

// The mode after applying kShmModeEnvVar.
ShmMode EffectiveMode(ShmMode configured);

}  // namespace shmrpc

#endif  // SHMRPC_CLIENT_OPTIONS_H_
