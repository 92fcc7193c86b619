// The server of a shared-memory connection as gRPC's ClientContext::peer()
// reports it.
//
// gRPC 1.51's ClientContext::peer() returns grpc_call_get_peer() of the
// context's core call object: the peer string a transport recorded, or else
// the target of the channel the core call was made on. A shared-memory call
// has no core call that reached a transport, so shmrpc gives its context a
// reference to a core call made, never started, on a lame channel (gRPC's
// public grpc_lame_client_channel_create) whose target is the server's name.
// Such a call costs about 0.6 us to make; a few are made per connection and
// shared by every call on it, each call taking a reference (an atomic
// increment, spread over several objects so that threads calling at once do
// not all write one cache line).
#ifndef SHMRPC_CLIENT_INTERNAL_SERVER_PEER_H_
#define SHMRPC_CLIENT_INTERNAL_SERVER_PEER_H_

#include <grpc/grpc.h>

#include <array>
#include <string>

#include "shmrpc/transport/unix_socket.h"

namespace shmrpc::internal {

// One connection's server, named for ClientContext::peer(). Immutable after
// construction; thread-safe. Holds a gRPC library reference (grpc_init) for
// its lifetime.
class ServerPeer {
 public:
  explicit ServerPeer(const transport::PeerCredentials& peer);
  ~ServerPeer();
  ServerPeer(const ServerPeer&) = delete;
  ServerPeer& operator=(const ServerPeer&) = delete;

  // "shmrpc:pid=N,uid=U" (rpc::PeerName).
  const std::string& name() const { return name_; }

  // A new reference to a core call object whose grpc_call_get_peer() is
  // name(). The caller owns the reference (grpc_call_unref, which
  // ClientContext's destructor does for the call it holds). The object is
  // shared with other calls: cancelling it (ClientContext::TryCancel() after
  // the call ended) changes nothing they see. Null only if gRPC could not
  // make one (then peer() stays as it was).
  grpc_call* NewCallReference() const;

 private:
  static constexpr int kShards = 8;
  const std::string name_;
  std::array<grpc_call*, kShards> calls_{};
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_SERVER_PEER_H_
