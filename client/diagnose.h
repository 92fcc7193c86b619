// DiagnoseTarget: which path a channel to a target would take, and exactly
// why, found out now by doing what a channel does on its first call: derive
// the endpoint, connect, run the handshake, read the server's method table.
// For the question users ask when a channel silently falls back to gRPC
// (`shmrpc why TARGET`, docs/troubleshooting.md):
//
//   shmrpc::PathDiagnosis d = shmrpc::DiagnoseTarget("localhost:50051");
//   if (d.path != shmrpc::ChannelPath::kSharedMemory) {
//     std::fprintf(stderr, "gRPC: %s\n", d.message.c_str());
//   }
//
// Unlike DescribeChannelPath, which reports what a live channel did, this
// makes its own short-lived connection and tells the reasons apart, looking
// further than a channel does (another endpoint directory, a stale socket).
#ifndef SHMRPC_CLIENT_DIAGNOSE_H_
#define SHMRPC_CLIENT_DIAGNOSE_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "shmrpc/client/options.h"

namespace shmrpc {

// Why a channel's calls take the path they do.
enum class PathReason {
  // Shared memory: the server answered the handshake and (if a method was
  // named) serves the method.
  kSharedMemory,
  // Shared memory is turned off (ShmChannelOptions::mode, SHMRPC_MODE=off).
  kDisabled,
  // The target is not a gRPC target shmrpc understands (a list of
  // addresses, an unknown scheme, a bad port).
  kBadTarget,
  // The target names another host.
  kNotOnThisHost,
  // The endpoint directory exists but may not be used (not a directory of
  // this user's, or open to others).
  kUnsafeEndpointDirectory,
  // No socket at the endpoint path, here or in another directory: no shmrpc
  // server listens for this target (not running, or serving gRPC only).
  kNoEndpoint,
  // No socket at the endpoint path, but a server listens for the same
  // target in another endpoint directory: the server and this process
  // derive the directory from different environments (SHMRPC_DIR,
  // XDG_RUNTIME_DIR).
  kEndpointDirDiffers,
  // A socket at the endpoint path, but nobody listens on it (its server
  // died without removing it).
  kStaleEndpoint,
  // The handshake was refused: by the server (connection limit, this user
  // not on its allow-list, shutting down, versions, ...), or by this
  // client (the server's user not on the client's allow-list).
  kHandshakeRefused,
  // Connecting failed otherwise (a timeout, a malformed reply, no
  // permission to the socket, ...).
  kConnectFailed,
  // Connected, but the server does not serve the method named: its calls go
  // through gRPC.
  kMethodNotServed,
};

// A short name for `reason`: "shared-memory", "disabled", "bad-target",
// "not-on-this-host", "unsafe-endpoint-directory", "no-endpoint",
// "endpoint-dir-differs", "stale-endpoint", "handshake-refused",
// "connect-failed", "method-not-served".
const char* PathReasonName(PathReason reason);

// Plain value.
struct PathDiagnosis {
  // kSharedMemory, or kGrpc: a channel in ShmMode::kAuto falls back to gRPC
  // (in kRequired its calls fail with UNAVAILABLE instead).
  ChannelPath path = ChannelPath::kGrpc;
  PathReason reason = PathReason::kNoEndpoint;
  // One line saying what was found and, when not shared memory, why and
  // what to do.
  std::string message;
  // The socket path a channel would use (empty when there is none: bad
  // target, another host, disabled).
  std::string endpoint;
  // kEndpointDirDiffers: where a server was found listening instead.
  std::string found_endpoint;
  // When the handshake succeeded: the server's process and user, as the
  // kernel reports them, and the methods it serves over shared memory.
  pid_t server_pid = 0;
  uid_t server_uid = 0;
  std::vector<std::string> methods;
  // The error behind the reason (OK for kSharedMemory).
  absl::Status status;
};

// What DiagnoseTarget looks at besides the target. Plain value.
struct DiagnoseOptions {
  // "/package.Service/Method": also check that the server serves it over
  // shared memory. Empty: any method.
  std::string method;
  // Further endpoint directories to look in when the endpoint is missing,
  // besides those a process of this user could derive: $SHMRPC_DIR,
  // $XDG_RUNTIME_DIR/shmrpc, /run/user/<uid>/shmrpc, /tmp/shmrpc-<uid>.
  std::vector<std::string> other_directories;
};

// Diagnoses the path a channel to `target` made with `options` (mode,
// endpoint_path, connect_timeout, handshake) would take now. Connects to
// the server if it finds one (one connection, closed before returning) and
// to sockets found in other directories (connect only, no handshake); may
// resolve the target's host name. Blocks for at most about
// options.connect_timeout plus name resolution. Thread-safe.
PathDiagnosis DiagnoseTarget(const std::string& target,
                             const ShmChannelOptions& options = {},
                             const DiagnoseOptions& diagnose = {});

}  // namespace shmrpc

#endif  // SHMRPC_CLIENT_DIAGNOSE_H_
