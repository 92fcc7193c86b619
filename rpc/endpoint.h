// Where a server's shared-memory endpoint lives, derived from ordinary gRPC
// addresses so that clients need no extra configuration.
//
// A server that listens for gRPC on "[::]:50051" also listens for
// shared-memory clients on "<dir>/port-50051.sock"; one that listens on
// "unix:/run/app.sock" uses "<dir>/unix-<hash of the path>.sock". A client
// whose target names this host ("localhost:50051", "127.0.0.1:50051",
// "[::1]:50051", "dns:///myhost:50051" if myhost resolves to an address of
// this machine, "unix:/run/app.sock", ...) derives the same path.
//
// <dir> is private to the user: $SHMRPC_DIR if set, else
// $XDG_RUNTIME_DIR/shmrpc, else /tmp/shmrpc-<uid>. It is created with mode
// 0700 and must be a real directory owned by the user that no one else can
// enter; otherwise no endpoint is used.
#ifndef SHMRPC_RPC_ENDPOINT_H_
#define SHMRPC_RPC_ENDPOINT_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace shmrpc::rpc {

// A gRPC target or listening address, reduced to what names an endpoint.
// Plain value.
struct Address {
  enum class Kind { kHostPort, kUnix, kUnixAbstract };
  Kind kind = Kind::kHostPort;
  std::string host;  // kHostPort: name or literal address, without brackets
  int port = 0;      // kHostPort
  std::string path;  // kUnix: absolute path; kUnixAbstract: the name
};

// Parses a client target in gRPC's syntax: "host:port", "[v6]:port",
// "dns:[//authority/]host[:port]", "ipv4:addr:port", "ipv6:[addr]:port",
// "unix:path", "unix:///abs/path", "unix-abstract:name". The port defaults to
// 443 as in gRPC. Lists of addresses and other schemes are kInvalidArgument.
absl::StatusOr<Address> ParseTarget(absl::string_view target);

// Parses a server listening address as given to
// grpc::ServerBuilder::AddListeningPort: "host:port", "[v6]:port",
// "unix:path", "unix:///abs/path", "unix-abstract:name".
absl::StatusOr<Address> ParseListeningAddress(absl::string_view address);

// True if `host` (a name or a literal address) is this machine: loopback,
// the unspecified address, an address of one of this machine's interfaces,
// "localhost", or a name that resolves to such an address. May block on
// name resolution.
bool IsLocalHost(const std::string& host);

// The user's endpoint directory (see above). With `create`, makes it if it
// does not exist. kPermissionDenied if it exists but is not a directory owned
// by this user with no access for others.
absl::StatusOr<std::string> EndpointDirectory(bool create);

// The path EndpointDirectory uses, from the environment alone: whether or
// not it exists, and unchecked.
std::string EndpointDirectoryPath();

// The endpoint path for `address` inside `directory`.
std::string EndpointPath(const std::string& directory, const Address& address);

// Client side: the endpoint of the server that `target` names, or kNotFound
// if the target is not on this host. May block on name resolution.
absl::StatusOr<std::string> ClientEndpoint(absl::string_view target);

// Server side: the endpoint for listening address `address` (creates the
// directory).
absl::StatusOr<std::string> ServerEndpoint(absl::string_view address);

// How the process at the other end of an endpoint's connection is named in
// gRPC's peer() on either side (ServerContext::peer() names the client,
// ClientContext::peer() the server): "shmrpc:pid=N,uid=U", from the
// credentials the kernel recorded for the socket.
std::string PeerName(pid_t pid, uid_t uid);

}  // namespace shmrpc::rpc

#endif  // SHMRPC_RPC_ENDPOINT_H_
