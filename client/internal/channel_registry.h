// Which grpc::Channels were made with shmrpc's credentials, and their
// shared-memory state, so that a generated stub given such a channel finds
// it. Thread-safe.
#ifndef SHMRPC_CLIENT_INTERNAL_CHANNEL_REGISTRY_H_
#define SHMRPC_CLIENT_INTERNAL_CHANNEL_REGISTRY_H_

#include <grpcpp/impl/codegen/channel_interface.h>

#include <memory>

#include "shmrpc/client/internal/shm_channel.h"

namespace shmrpc::internal {

// Records that `channel` carries `state`. Entries of destroyed channels are
// dropped as new ones are added.
void RegisterChannel(const std::shared_ptr<grpc::ChannelInterface>& channel,
                     const std::shared_ptr<ChannelState>& state);

// The state of `channel`, or nullptr if it was not made by shmrpc.
std::shared_ptr<ChannelState> FindChannel(
    const grpc::ChannelInterface* channel);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CHANNEL_REGISTRY_H_
