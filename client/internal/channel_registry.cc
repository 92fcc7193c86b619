#include "shmrpc/client/internal/channel_registry.h"

#include <mutex>
#include <unordered_map>

namespace shmrpc::internal {
namespace {

struct Entry {
  std::weak_ptr<grpc::ChannelInterface> channel;
  std::weak_ptr<ChannelState> state;
};

std::mutex& Mu() {
  static auto* mu = new std::mutex;
  return *mu;
}

std::unordered_map<const grpc::ChannelInterface*, Entry>& Map() {
  static auto* map =
      new std::unordered_map<const grpc::ChannelInterface*, Entry>;
  return *map;
}

}  // namespace

void RegisterChannel(const std::shared_ptr<grpc::ChannelInterface>& channel,
                     const std::shared_ptr<ChannelState>& state) {
  std::lock_guard<std::mutex> lock(Mu());
  auto& map = Map();
  for (auto it = map.begin(); it != map.end();) {
    it = it->second.channel.expired() ? map.erase(it) : std::next(it);
  }
  map[channel.get()] = Entry{channel, state};
}

std::shared_ptr<ChannelState> FindChannel(
    const grpc::ChannelInterface* channel) {
  std::lock_guard<std::mutex> lock(Mu());
  auto it = Map().find(channel);
  if (it == Map().end()) return nullptr;
  // The pointer may belong to a newer channel at the same address.
  std::shared_ptr<grpc::ChannelInterface> live = it->second.channel.lock();
  if (live.get() != channel) return nullptr;
  return it->second.state.lock();
}

}  // namespace shmrpc::internal
