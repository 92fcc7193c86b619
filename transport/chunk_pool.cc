#include "shmrpc/transport/chunk_pool.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "shmrpc/transport/control_layout.h"

namespace shmrpc::transport {
namespace {

constexpr uint64_t kMaxSegmentBytes = uint64_t{64} << 30;
constexpr uint32_t kMaxChunks =
    1u << 16;  // == kMaxRingCapacity: returns must fit a ring

uint64_t RoundUpToPage(uint64_t n) {
  return (n + kPageSize - 1) / kPageSize * kPageSize;
}

}  // namespace

PoolConfig PoolConfig::Default() {
  return PoolConfig{{{256, 512},
                     {4 << 10, 128},
                     {64 << 10, 32},
                     {1 << 20, 8},
                     {8 << 20, 2},
                     {32 << 20, 1}}};
}

absl::StatusOr<PoolGeometry> PoolGeometry::Plan(const PoolConfig& config) {
  if (config.classes.empty() || config.classes.size() > kMaxSizeClasses) {
    return absl::InvalidArgumentError(
        absl::StrCat("a pool needs 1 to ", kMaxSizeClasses,
                     " size classes, got ", config.classes.size()));
  }
  PoolGeometry g;
  uint64_t at = kDataHeaderSize;
  uint64_t chunks = 0;
  uint32_t previous = 0;
  for (const SizeClass& c : config.classes) {
    if (c.chunk_size == 0 || c.chunk_size % kChunkAlignment != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk size ", c.chunk_size, " is not a multiple of ",
                       kChunkAlignment));
    }
    if (c.chunk_size <= previous) {
      return absl::InvalidArgumentError(
          "size classes must be listed smallest first, without repeats");
    }
    if (c.count == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("size class ", c.chunk_size, " has no chunks"));
    }
    previous = c.chunk_size;
    chunks += c.count;
    g.classes.push_back(DataClassEntry{c.chunk_size, c.count, at});
    at = RoundUpToPage(at + uint64_t{c.chunk_size} * c.count);
    if (chunks > kMaxChunks || at > kMaxSegmentBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("pool too large: at most ", kMaxChunks, " chunks and ",
                       kMaxSegmentBytes >> 30, " GiB"));
    }
  }
  g.segment_size = at;
  g.total_chunks = static_cast<uint32_t>(chunks);
  return g;
}

std::optional<PoolGeometry::Located> PoolGeometry::Locate(
    uint64_t offset) const {
  for (uint32_t i = 0; i < classes.size(); ++i) {
    const DataClassEntry& c = classes[i];
    if (offset < c.offset) return std::nullopt;  // classes are ascending
    const uint64_t rel = offset - c.offset;
    if (rel >= uint64_t{c.chunk_size} * c.count) continue;
    if (rel % c.chunk_size != 0) return std::nullopt;
    return Located{i, static_cast<uint32_t>(rel / c.chunk_size)};
  }
  return std::nullopt;
}

ChunkPool::ChunkPool(uint8_t* base, PoolGeometry geometry)
    : base_(base), geometry_(std::move(geometry)) {
  const uint32_t n = geometry_.total_chunks;
  const size_t classes = geometry_.classes.size();
  free_ = std::make_unique<IndexStack[]>(classes);
  links_ = std::make_unique<std::atomic<uint32_t>[]>(n);
  state_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  first_.resize(classes);
  uint32_t global = 0;
  for (uint32_t c = 0; c < classes; ++c) {
    first_[c] = global;
    const uint32_t count = geometry_.classes[c].count;
    free_[c].Attach(links_.get());
    // Pushed in reverse, so that chunk 0 is allocated first.
    for (uint32_t i = count; i-- > 0;) {
      state_[global + i].store(Word(0, kFree), std::memory_order_relaxed);
      free_[c].Push(global + i);
    }
    global += count;
  }
  DataHeader header{};
  header.magic = kDataMagic;
  header.version = kProtocolVersion;
  header.class_count = static_cast<uint16_t>(classes);
  header.segment_size = geometry_.segment_size;
  std::copy(geometry_.classes.begin(), geometry_.classes.end(), header.classes);
  std::memcpy(base_, &header, sizeof(header));
}

std::optional<Chunk> ChunkPool::TryAllocate(size_t bytes, bool allow_larger) {
  for (uint32_t c = 0; c < geometry_.classes.size(); ++c) {
    const DataClassEntry& cls = geometry_.classes[c];
    if (cls.chunk_size < bytes) continue;
    if (std::optional<uint32_t> g = free_[c].Pop()) {
      // Popped, the chunk is ours alone: no other thread changes its word.
      const uint64_t w = state_[*g].load(std::memory_order_relaxed);
      state_[*g].store(Word(LendOf(w), kHeld), std::memory_order_relaxed);
      const uint64_t offset = OffsetOf(c, *g - first_[c]);
      return Chunk{offset, cls.chunk_size, base_ + offset};
    }
    if (!allow_larger) break;
  }
  exhausted_.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

std::optional<uint32_t> ChunkPool::GlobalOf(uint64_t offset) const {
  std::optional<PoolGeometry::Located> at = geometry_.Locate(offset);
  if (!at) return std::nullopt;
  return Global(at->cls, at->index);
}

bool ChunkPool::Transition(uint32_t g, State from, State to) {
  uint64_t w = state_[g].load(std::memory_order_acquire);
  if (StateOf(w) != from) return false;
  return state_[g].compare_exchange_strong(w, Word(LendOf(w), to),
                                           std::memory_order_acq_rel);
}

bool ChunkPool::Free(uint64_t offset) {
  std::optional<PoolGeometry::Located> at = geometry_.Locate(offset);
  if (!at) return false;
  const uint32_t g = Global(at->cls, at->index);
  if (!Transition(g, kHeld, kFree)) return false;
  free_[at->cls].Push(g);
  return true;
}

std::optional<uint32_t> ChunkPool::MarkLent(uint64_t offset) {
  std::optional<uint32_t> g = GlobalOf(offset);
  if (!g) return std::nullopt;
  uint64_t w = state_[*g].load(std::memory_order_acquire);
  if (StateOf(w) != kHeld) return std::nullopt;
  const uint32_t lend = LendOf(w) + 1;  // wraps after 2^32 lends
  if (!state_[*g].compare_exchange_strong(w, Word(lend, kLent),
                                          std::memory_order_acq_rel)) {
    return std::nullopt;
  }
  return lend;
}

bool ChunkPool::CancelLend(uint64_t offset) {
  std::optional<uint32_t> g = GlobalOf(offset);
  if (!g) return false;
  return Transition(*g, kLent, kHeld);
}

ReturnResult ChunkPool::Return(uint64_t offset, uint32_t lend) {
  std::optional<PoolGeometry::Located> at = geometry_.Locate(offset);
  if (!at) {
    refused_returns_.fetch_add(1, std::memory_order_relaxed);
    return ReturnResult::kRefusedBadOffset;
  }
  const uint32_t g = Global(at->cls, at->index);
  uint64_t w = state_[g].load(std::memory_order_acquire);
  ReturnResult refusal = ReturnResult::kAccepted;
  if (StateOf(w) != kLent) {
    refusal = ReturnResult::kRefusedNotLent;
  } else if (LendOf(w) != lend) {
    refusal = ReturnResult::kRefusedStaleLend;
  } else if (!state_[g].compare_exchange_strong(w, Word(lend, kFree),
                                                std::memory_order_acq_rel)) {
    // Another thread changed the chunk meanwhile (the same return drained
    // twice cannot happen: draining is serialized).
    refusal = ReturnResult::kRefusedNotLent;
  }
  if (refusal != ReturnResult::kAccepted) {
    refused_returns_.fetch_add(1, std::memory_order_relaxed);
    return refusal;
  }
  free_[at->cls].Push(g);
  return ReturnResult::kAccepted;
}

uint32_t ChunkPool::ReclaimLent() {
  uint32_t reclaimed = 0;
  for (uint32_t c = 0; c < geometry_.classes.size(); ++c) {
    for (uint32_t i = 0; i < geometry_.classes[c].count; ++i) {
      const uint32_t g = Global(c, i);
      if (Transition(g, kLent, kFree)) {
        free_[c].Push(g);
        ++reclaimed;
      }
    }
  }
  return reclaimed;
}

uint32_t ChunkPool::max_chunk_size() const {
  return geometry_.classes.back().chunk_size;
}

PoolStats ChunkPool::stats() const {
  PoolStats s;
  for (uint32_t cls = 0; cls < geometry_.classes.size(); ++cls) {
    const DataClassEntry& c = geometry_.classes[cls];
    s.bytes_total += uint64_t{c.chunk_size} * c.count;
    for (uint32_t i = 0; i < c.count; ++i) {
      switch (StateOf(state_[Global(cls, i)].load(std::memory_order_relaxed))) {
        case kFree:
          ++s.free;
          continue;
        case kHeld:
          ++s.held;
          break;
        default:
          ++s.lent;
          break;
      }
      s.bytes_in_use += c.chunk_size;
    }
  }
  s.refused_returns = refused_returns_.load(std::memory_order_relaxed);
  s.exhausted = exhausted_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace shmrpc::transport
