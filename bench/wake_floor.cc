#include "bench/wake_floor.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "bench/latency_service.h"
#include "shmrpc/transport/futex.h"

namespace shmrpc::bench {
namespace {

constexpr uint32_t kIdle = 0;
constexpr uint32_t kRequest = 1;
constexpr uint32_t kResponse = 2;

struct alignas(64) Slot {
  std::atomic<uint32_t> state{kIdle};
  uint32_t bytes = 0;
  uint64_t seed = 0;
  alignas(64) char request[kWakeFloorMaxBytes];
  alignas(64) char response[kWakeFloorMaxBytes];
};
static_assert(sizeof(Slot) % 64 == 0);

}  // namespace

// The header; `slots` Slots follow it.
struct WakeFloor {
  alignas(64) std::atomic<uint32_t> bell{0};
  alignas(64) std::atomic<uint32_t> sleeping{0};
  int slots = 0;
};
static_assert(sizeof(WakeFloor) % alignof(Slot) == 0);

namespace {
Slot* Slots(WakeFloor* floor) {
  return reinterpret_cast<Slot*>(reinterpret_cast<char*>(floor) +
                                 sizeof(WakeFloor));
}
}  // namespace

WakeFloor* CreateWakeFloor(int slots) {
  const size_t size = sizeof(WakeFloor) + sizeof(Slot) * slots;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "wake floor: mmap failed\n");
    std::abort();
  }
  auto* floor = new (p) WakeFloor;
  for (int i = 0; i < slots; ++i) new (&Slots(floor)[i]) Slot;
  floor->slots = slots;
  return floor;
}

void RunWakeFloorServer(WakeFloor* floor) {
  for (;;) {
    const uint32_t bell = floor->bell.load(std::memory_order_acquire);
    bool any = false;
    for (int i = 0; i < floor->slots; ++i) {
      Slot& s = Slots(floor)[i];
      if (s.state.load(std::memory_order_acquire) != kRequest) continue;
      any = true;
      // Read once and clamped: never past the slot, whatever is written
      // there (a benchmark, but the rule is the project's).
      const uint32_t bytes =
          std::min<uint32_t>(s.bytes, kWakeFloorMaxBytes) & ~uint32_t{7};
      const uint64_t seed = s.seed;
      // Read and check the request, write the response: as the RPC server
      // does with the payload (a mismatch is reported to the caller through
      // a response of the wrong pattern).
      const uint64_t bad = CheckPayload(s.request, bytes, seed);
      WritePayload(s.response, bytes, ResponseSeed(seed, true) ^ bad);
      s.state.store(kResponse, std::memory_order_seq_cst);
      transport::FutexWake(&s.state, 1);
    }
    if (any) continue;
    // Announce, then look again before sleeping (the caller rings after
    // publishing its request, and wakes only an announced sleeper).
    floor->sleeping.store(1, std::memory_order_seq_cst);
    if (floor->bell.load(std::memory_order_seq_cst) == bell) {
      transport::FutexWait(&floor->bell, bell, transport::kNoDeadline);
    }
    floor->sleeping.store(0, std::memory_order_relaxed);
  }
}

absl::Status WakeFloorCall(WakeFloor* floor, int slot, uint32_t bytes,
                           uint64_t seed) {
  if (slot < 0 || slot >= floor->slots || bytes > kWakeFloorMaxBytes ||
      bytes % 8 != 0) {
    return absl::InvalidArgumentError("wake floor: bad slot or size");
  }
  Slot& s = Slots(floor)[slot];
  WritePayload(s.request, bytes, seed);
  s.bytes = bytes;
  s.seed = seed;
  s.state.store(kRequest, std::memory_order_release);
  floor->bell.fetch_add(1, std::memory_order_seq_cst);
  if (floor->sleeping.load(std::memory_order_seq_cst) != 0) {
    transport::FutexWake(&floor->bell, 1);
  }
  while (s.state.load(std::memory_order_acquire) != kResponse) {
    transport::FutexWait(&s.state, kRequest, transport::kNoDeadline);
  }
  const uint64_t bad =
      CheckPayload(s.response, bytes, ResponseSeed(seed, true));
  s.state.store(kIdle, std::memory_order_relaxed);
  if (bad != 0) {
    return absl::DataLossError("wake floor: a payload did not match");
  }
  return absl::OkStatus();
}

}  // namespace shmrpc::bench
