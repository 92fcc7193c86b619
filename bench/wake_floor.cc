#include "bench/wake_floor.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
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
constexpr uint32_t kWaiting = 3;  // a request whose caller sleeps
// How long a caller whose server polls looks for its response before it
// sleeps (a polling server answers within about a microsecond while it has
// its CPU).
constexpr std::chrono::microseconds kPolledCallerSpin{2};

struct alignas(64) Slot {
  std::atomic<uint32_t> state{kIdle};
  uint32_t bytes = 0;
  uint32_t server_polls = 0;
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
  std::atomic<uint64_t> sleeps{0};
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

uint64_t WakeFloorSleeps(const WakeFloor* floor) {
  return floor->sleeps.load(std::memory_order_relaxed);
}

void RunWakeFloorServer(WakeFloor* floor, std::chrono::nanoseconds poll_for) {
  using Clock = std::chrono::steady_clock;
  // When a call made with server_polls was last answered.
  Clock::time_point last_polled{};
  for (;;) {
    const uint32_t bell = floor->bell.load(std::memory_order_acquire);
    bool any = false;
    for (int i = 0; i < floor->slots; ++i) {
      Slot& s = Slots(floor)[i];
      const uint32_t state = s.state.load(std::memory_order_acquire);
      if (state != kRequest && state != kWaiting) continue;
      any = true;
      // Read once and clamped: never past the slot, whatever is written
      // there (a benchmark, but the rule is the project's).
      const uint32_t bytes =
          std::min<uint32_t>(s.bytes, kWakeFloorMaxBytes) & ~uint32_t{7};
      const uint64_t seed = s.seed;
      if (s.server_polls != 0) last_polled = Clock::now();
      // Read and check the request, write the response: as the RPC server
      // does with the payload (a mismatch is reported to the caller through
      // a response of the wrong pattern).
      const uint64_t bad = CheckPayload(s.request, bytes, seed);
      WritePayload(s.response, bytes, ResponseSeed(seed, true) ^ bad);
      // A system call only for a caller that sleeps.
      if (s.state.exchange(kResponse, std::memory_order_seq_cst) == kWaiting) {
        transport::FutexWake(&s.state, 1);
      }
    }
    if (any) continue;
    if (last_polled != Clock::time_point{} &&
        Clock::now() - last_polled < poll_for) {
      transport::CpuRelax();
      continue;
    }
    // Announce, then look again before sleeping (the caller rings after
    // publishing its request, and wakes only an announced sleeper).
    floor->sleeping.store(1, std::memory_order_seq_cst);
    if (floor->bell.load(std::memory_order_seq_cst) == bell) {
      floor->sleeps.fetch_add(1, std::memory_order_relaxed);
      transport::FutexWait(&floor->bell, bell, transport::kNoDeadline);
    }
    floor->sleeping.store(0, std::memory_order_relaxed);
  }
}

absl::Status WakeFloorCall(WakeFloor* floor, int slot, uint32_t bytes,
                           uint64_t seed, bool server_polls) {
  if (slot < 0 || slot >= floor->slots || bytes > kWakeFloorMaxBytes ||
      bytes % 8 != 0) {
    return absl::InvalidArgumentError("wake floor: bad slot or size");
  }
  Slot& s = Slots(floor)[slot];
  WritePayload(s.request, bytes, seed);
  s.bytes = bytes;
  s.seed = seed;
  s.server_polls = server_polls ? 1 : 0;
  s.state.store(kRequest, std::memory_order_release);
  floor->bell.fetch_add(1, std::memory_order_seq_cst);
  if (floor->sleeping.load(std::memory_order_seq_cst) != 0) {
    transport::FutexWake(&floor->bell, 1);
  }
  if (server_polls) {
    const auto until = std::chrono::steady_clock::now() + kPolledCallerSpin;
    while (s.state.load(std::memory_order_acquire) != kResponse &&
           std::chrono::steady_clock::now() < until) {
      transport::CpuRelax();
    }
  }
  // Announce the sleep (the server wakes only an announced sleeper), unless
  // the response is already there.
  uint32_t expected = kRequest;
  if (s.state.compare_exchange_strong(expected, kWaiting,
                                      std::memory_order_seq_cst)) {
    while (s.state.load(std::memory_order_acquire) != kResponse) {
      transport::FutexWait(&s.state, kWaiting, transport::kNoDeadline);
    }
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
