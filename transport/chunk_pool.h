// ChunkPool: the allocator for one side's data segment (layout in
// data_layout.h).
//
// The segment is cut into size classes of fixed-size chunks. A chunk is named
// by its byte offset. All allocator state (free lists and the state of every
// chunk) lives in this process's private memory, so the peer, which maps the
// segment read-only, can neither see nor corrupt it.
//
// Life of a chunk:
//
//            TryAllocate()              MarkLent()            Return()
//   kFree ----------------> kHeld ------------------> kLent ---------> kFree
//     ^                       |  (we write the payload)  (the peer reads it
//     |        Free()         |                           and sends its
//     +-----------------------+                           offset back)
//
// Every lend has a generation: MarkLent() bumps the chunk's 32-bit lend
// counter and returns it, the sender puts it in the chunk's descriptor
// (Descriptor::lend), and the receiver echoes it in its return.
//
// Return() is how a chunk comes back from the peer (through a return ring). It
// is validated: the offset must name a chunk of this segment (inside a class,
// aligned to the start of a chunk) that is currently lent, under the lend
// generation the return names. Anything else (a bogus offset, a chunk we never
// lent, a second return of the same lend, even one that arrives after the
// chunk was lent again) is refused, counted, and leaves the pool untouched.
// (A stale return could only be taken for a later lend after 2^32 more lends
// of the same chunk.)
//
// Thread safety: every method is thread-safe. TryAllocate, Free, MarkLent and
// Return are lock-free (one CAS on a per-class free list (index_stack.h), plus
// one CAS on the chunk's state word).
#ifndef SHMRPC_TRANSPORT_CHUNK_POOL_H_
#define SHMRPC_TRANSPORT_CHUNK_POOL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "shmrpc/transport/data_layout.h"
#include "shmrpc/transport/index_stack.h"

namespace shmrpc::transport {

// One size class: `count` chunks of `chunk_size` bytes.
struct SizeClass {
  uint32_t chunk_size;  // multiple of kChunkAlignment
  uint32_t count;       // > 0
};

// The size classes of a data segment, smallest first. Plain value.
struct PoolConfig {
  std::vector<SizeClass> classes;

  // 512 x 256 B, 128 x 4 KiB, 32 x 64 KiB, 8 x 1 MiB, 2 x 8 MiB, 1 x 32 MiB:
  // about 59 MiB of address space per side and connection. Pages are only
  // backed by memory once touched.
  static PoolConfig Default();
};

// Where each class lives in the segment. Plain value; computed by Plan().
struct PoolGeometry {
  std::vector<DataClassEntry> classes;  // with page-aligned offsets
  uint64_t segment_size = 0;
  uint32_t total_chunks = 0;

  // Validates `config` (1..kMaxSizeClasses classes, sizes multiples of
  // kChunkAlignment and strictly increasing, counts > 0, at most 2^16 chunks
  // and 64 GiB in all) and lays the segment out.
  static absl::StatusOr<PoolGeometry> Plan(const PoolConfig& config);

  // Index of the size class whose chunk at `offset` starts exactly there,
  // with the chunk's index within the class; nullopt if `offset` is not the
  // start of any chunk.
  struct Located {
    uint32_t cls;
    uint32_t index;
  };
  std::optional<Located> Locate(uint64_t offset) const;
};

// A chunk held by this side. Plain value; `data` points into this process's
// writable mapping of the segment.
struct Chunk {
  uint64_t offset = 0;
  uint32_t capacity = 0;
  uint8_t* data = nullptr;
};

enum class ReturnResult {
  kAccepted,
  kRefusedBadOffset,  // not the start of a chunk of this segment
  kRefusedNotLent,    // a chunk that is free or held (e.g. a duplicate)
  kRefusedStaleLend,  // lent, but under another lend generation (a
                      // duplicate of an earlier lend's return)
};

// Counters for tests and monitoring. Plain value.
struct PoolStats {
  uint32_t free = 0;  // chunks in kFree
  uint32_t held = 0;  // chunks in kHeld
  uint32_t lent = 0;  // chunks in kLent
  uint64_t refused_returns = 0;
  uint64_t exhausted = 0;  // TryAllocate calls that found nothing
  // Bytes of the chunks that are held or lent, and of all chunks.
  uint64_t bytes_in_use = 0;
  uint64_t bytes_total = 0;
};

class ChunkPool {
 public:
  // Manages the segment mapped read-write at `base` (geometry.segment_size
  // bytes, owned by the caller and outliving the pool). Writes the DataHeader
  // at offset 0. All chunks start free.
  ChunkPool(uint8_t* base, PoolGeometry geometry);
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  // A held chunk of capacity >= `bytes`, or nullopt if none is free. Looks
  // only in the smallest class that fits, unless `allow_larger`, in which case
  // it takes the smallest free chunk of any class that fits.
  std::optional<Chunk> TryAllocate(size_t bytes, bool allow_larger = true);

  // Gives back a held chunk that was never lent. Returns false (and changes
  // nothing) if `offset` is not a held chunk.
  bool Free(uint64_t offset);

  // Marks a held chunk as lent to the peer, just before its descriptor is
  // published, and returns the lend's generation (for Descriptor::lend).
  // nullopt if `offset` is not a held chunk.
  std::optional<uint32_t> MarkLent(uint64_t offset);

  // Undoes MarkLent for a chunk whose descriptor could not be published after
  // all (kLent -> kHeld). Returns false if `offset` is not a lent chunk.
  bool CancelLend(uint64_t offset);

  // Takes back a chunk that the peer returned, naming lend generation
  // `lend`. Never trusts `offset` or `lend`.
  ReturnResult Return(uint64_t offset, uint32_t lend);

  // Takes back every lent chunk (the peer is gone). Returns how many.
  uint32_t ReclaimLent();

  // Largest allocation this pool can ever satisfy.
  uint32_t max_chunk_size() const;

  const PoolGeometry& geometry() const { return geometry_; }
  uint8_t* base() const { return base_; }

  // Scans every chunk's state: O(total chunks). For tests and monitoring.
  PoolStats stats() const;

 private:
  // Each chunk's state word: {lend generation:32 | zero:24 | State:8}. The
  // generation counts the chunk's lends; it changes only in MarkLent.
  enum State : uint8_t { kFree = 0, kHeld = 1, kLent = 2 };
  static constexpr uint64_t Word(uint32_t lend, State state) {
    return (uint64_t{lend} << 32) | state;
  }
  static constexpr State StateOf(uint64_t word) {
    return static_cast<State>(word & 0xff);
  }
  static constexpr uint32_t LendOf(uint64_t word) {
    return static_cast<uint32_t>(word >> 32);
  }
  // Moves chunk `g` from `from` to `to` (same lend generation). False if it
  // is not in `from`.
  bool Transition(uint32_t g, State from, State to);

  // Global chunk number of (class, index).
  uint32_t Global(uint32_t cls, uint32_t index) const {
    return first_[cls] + index;
  }
  std::optional<uint32_t> GlobalOf(uint64_t offset) const;
  uint64_t OffsetOf(uint32_t cls, uint32_t index) const {
    return geometry_.classes[cls].offset +
           uint64_t{index} * geometry_.classes[cls].chunk_size;
  }

  uint8_t* base_;
  PoolGeometry geometry_;
  std::vector<uint32_t> first_;  // global number of each class's chunk 0
  // Per class: the free chunks (global indices), chained through links_.
  std::unique_ptr<IndexStack[]> free_;
  // Per chunk: free-list link and state word.
  std::unique_ptr<std::atomic<uint32_t>[]> links_;
  std::unique_ptr<std::atomic<uint64_t>[]> state_;
  std::atomic<uint64_t> refused_returns_{0};
  std::atomic<uint64_t> exhausted_{0};
};

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_CHUNK_POOL_H_
