#include "bench/stream_floor.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "bench/latency_service.h"
#include "shmrpc/transport/futex.h"

namespace shmrpc::bench {

struct StreamFloor {
  alignas(64) std::atomic<uint64_t> consumed{0};
  alignas(64) uint32_t max_bytes = 0;
};
static_assert(sizeof(StreamFloor) == 128);

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kStall{60};
// Spins between two looks at the clock.
constexpr uint32_t kLookEvery = 1u << 14;

size_t SlotSize(uint32_t bytes) {
  return (sizeof(uint64_t) + bytes + 63) / 64 * 64;
}

std::atomic<uint64_t>& SeqOf(StreamFloor* floor, uint32_t bytes,
                             uint64_t slot) {
  char* base = reinterpret_cast<char*>(floor) + sizeof(StreamFloor);
  return *reinterpret_cast<std::atomic<uint64_t>*>(base +
                                                   slot * SlotSize(bytes));
}

char* PayloadOf(StreamFloor* floor, uint32_t bytes, uint64_t slot) {
  return reinterpret_cast<char*>(&SeqOf(floor, bytes, slot)) + sizeof(uint64_t);
}

bool Fits(const StreamFloor* floor, uint32_t bytes) {
  return bytes % 8 == 0 && bytes <= floor->max_bytes;
}

// Spins until `ready()`; false after kStall without it.
template <typename Ready>
bool SpinUntil(Ready&& ready) {
  uint32_t spins = 0;
  Clock::time_point give_up{};
  while (!ready()) {
    transport::CpuRelax();
    if (++spins % kLookEvery != 0) continue;
    const Clock::time_point now = Clock::now();
    if (give_up == Clock::time_point{}) {
      give_up = now + kStall;
    } else if (now > give_up) {
      return false;
    }
  }
  return true;
}

}  // namespace

uint32_t StreamFloorSlots(uint32_t bytes) {
  const uint64_t fit = kStreamFloorWindowBytes / std::max<uint32_t>(bytes, 1);
  return static_cast<uint32_t>(
      std::clamp<uint64_t>(fit, 1, kStreamFloorWindowMessages));
}

StreamFloor* CreateStreamFloor(uint32_t max_bytes) {
  max_bytes = max_bytes / 8 * 8;
  // Enough for the ring of any size up to max_bytes (only what a stream
  // touches is ever backed by memory).
  const size_t slots_size = kStreamFloorWindowMessages * SlotSize(max_bytes);
  const size_t size = sizeof(StreamFloor) + slots_size;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "stream floor: mmap of %zu bytes failed\n", size);
    std::abort();
  }
  auto* floor = new (p) StreamFloor;
  floor->max_bytes = max_bytes;
  return floor;
}

void ResetStreamFloor(StreamFloor* floor, uint32_t bytes) {
  floor->consumed.store(0, std::memory_order_relaxed);
  if (Fits(floor, bytes)) {
    for (uint64_t i = 0; i < StreamFloorSlots(bytes); ++i) {
      SeqOf(floor, bytes, i).store(0, std::memory_order_relaxed);
    }
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

absl::Status ProduceStreamFloor(StreamFloor* floor, uint64_t count,
                                uint32_t bytes, uint64_t seed) {
  if (!Fits(floor, bytes)) {
    return absl::InvalidArgumentError("stream floor: bad message size");
  }
  const uint32_t slots = StreamFloorSlots(bytes);
  uint64_t consumed = 0;  // the last value seen
  for (uint64_t i = 0; i < count; ++i) {
    if (i - consumed >= slots && !SpinUntil([&] {
          consumed = floor->consumed.load(std::memory_order_acquire);
          return i - consumed < slots;
        })) {
      return absl::DeadlineExceededError("stream floor: consumer stalled");
    }
    const uint64_t slot = i % slots;
    WritePayload(PayloadOf(floor, bytes, slot), bytes,
                 DownloadSeed(seed, i, true));
    SeqOf(floor, bytes, slot).store(i + 1, std::memory_order_release);
  }
  return absl::OkStatus();
}

absl::Status ConsumeStreamFloor(StreamFloor* floor, uint64_t count,
                                uint32_t bytes, uint64_t seed) {
  if (!Fits(floor, bytes)) {
    return absl::InvalidArgumentError("stream floor: bad message size");
  }
  const uint32_t slots = StreamFloorSlots(bytes);
  uint64_t bad = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t slot = i % slots;
    std::atomic<uint64_t>& seq = SeqOf(floor, bytes, slot);
    if (!SpinUntil(
            [&] { return seq.load(std::memory_order_acquire) == i + 1; })) {
      return absl::DeadlineExceededError("stream floor: producer stalled");
    }
    bad |= CheckPayload(PayloadOf(floor, bytes, slot), bytes,
                        DownloadSeed(seed, i, true));
    floor->consumed.store(i + 1, std::memory_order_release);
  }
  if (bad != 0) {
    return absl::DataLossError("stream floor: a message did not match");
  }
  return absl::OkStatus();
}

}  // namespace shmrpc::bench
