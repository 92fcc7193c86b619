#include "shmrpc/client/internal/server_peer.h"

#include <grpc/slice.h>
#include <grpc/support/time.h>

#include <atomic>

#include "shmrpc/rpc/endpoint.h"

namespace shmrpc::internal {

ServerPeer::ServerPeer(const transport::PeerCredentials& peer)
    : name_(rpc::PeerName(peer.pid, peer.uid)) {
  grpc_init();
  // Every call on a lame channel fails at once without going anywhere; these
  // are never started. Each holds its own reference to the channel.
  grpc_channel* channel = grpc_lame_client_channel_create(
      name_.c_str(), GRPC_STATUS_UNAVAILABLE,
      "shmrpc: names a shared-memory server; never carries a call");
  const grpc_slice method = grpc_slice_from_static_string("/shmrpc.Peer/Name");
  for (grpc_call*& call : calls_) {
    call = grpc_channel_create_call(
        channel, /*parent_call=*/nullptr, GRPC_PROPAGATE_DEFAULTS,
        /*completion_queue=*/nullptr, method,
        /*host=*/nullptr, gpr_inf_future(GPR_CLOCK_REALTIME),
        /*reserved=*/nullptr);
  }
  grpc_channel_destroy(channel);
}

ServerPeer::~ServerPeer() {
  for (grpc_call* call : calls_) {
    if (call != nullptr) grpc_call_unref(call);
  }
  grpc_shutdown();
}

grpc_call* ServerPeer::NewCallReference() const {
  // Each thread keeps to one shard, so that threads calling at once on one
  // connection mostly write different objects' reference counts.
  static std::atomic<unsigned> next_shard{0};
  thread_local const unsigned shard =
      next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
  grpc_call* call = calls_[shard];
  if (call != nullptr) grpc_call_ref(call);
  return call;
}

}  // namespace shmrpc::internal
