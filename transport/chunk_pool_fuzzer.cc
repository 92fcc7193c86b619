// Fuzz target: chunk lending and returns against a real ChunkPool over a
// private buffer, with lend generations, through the descriptors a
// Connection would send and get back.
//
// Input: a sequence of operations, each an opcode byte and its arguments:
// allocate, free, lend, cancel a lend, return a lent chunk, return it again
// (a duplicate, possibly after the chunk was lent again), return a bogus
// offset and lend generation, reclaim everything lent, and send-then-return
// a lent chunk through a descriptor (checked by ValidateDescriptor and
// ValidateReturn). A model of every chunk's state predicts each outcome.
// Invariants: the pool agrees with the model on every call; free + held +
// lent == total after every operation; no chunk is ever handed out while
// held or lent; a return is accepted only for the current lend of a lent
// chunk, so duplicates and stale returns never free a chunk in use.
//
// Run under libFuzzer by tools/fuzz.sh; replayed on its corpus
// (fuzz/chunk_pool_corpus) by //transport:chunk_pool_fuzzer_test.
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "shmrpc/transport/chunk_pool.h"
#include "shmrpc/transport/descriptor_check.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace shmrpc::transport;  // NOLINT: a fuzz target's own file

// Reads the input front to back; past its end every read is zero.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  uint8_t U8() { return at_ < size_ ? data_[at_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | U8() << 8); }
  uint32_t U32() { return U16() | uint32_t{U16()} << 16; }
  uint64_t U64() { return U32() | uint64_t{U32()} << 32; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

enum class State { kFree, kHeld, kLent };

struct ChunkModel {
  State state = State::kFree;
  uint32_t lend = 0;  // the current (or last) lend generation
  uint32_t capacity = 0;
};

class Harness {
 public:
  Harness() {
    // Three small classes: a few pages in all.
    absl::StatusOr<PoolGeometry> g =
        PoolGeometry::Plan(PoolConfig{{{64, 8}, {256, 4}, {4096, 2}}});
    FUZZ_CHECK(g.ok());
    size_ = g->segment_size;
    buffer_.reset(new uint8_t[size_]);
    for (const DataClassEntry& c : g->classes) {
      for (uint32_t i = 0; i < c.count; ++i) {
        chunks_[c.offset + uint64_t{i} * c.chunk_size].capacity = c.chunk_size;
      }
    }
    total_ = g->total_chunks;
    pool_ = std::make_unique<ChunkPool>(buffer_.get(), std::move(*g));
  }

  void Step(Input& in) {
    switch (in.U8() % 9) {
      case 0:
        Allocate(in.U16(), (in.U8() & 1) != 0);
        break;
      case 1:
        Free(Pick(in.U8()));
        break;
      case 2:
        Lend(Pick(in.U8()));
        break;
      case 3:
        CancelLend(Pick(in.U8()));
        break;
      case 4: {
        const uint64_t offset = Pick(in.U8());
        Return(offset, chunks_.count(offset) ? chunks_[offset].lend : 0);
        break;
      }
      case 5:  // a return seen before, sent again
        if (!returned_.empty()) {
          const auto& [offset, lend] = returned_[in.U8() % returned_.size()];
          Return(offset, lend);
        }
        break;
      case 6: {
        const uint64_t offset = in.U64();
        Return(offset, in.U32());
        break;
      }
      case 7:
        Reclaim();
        break;
      case 8:
        SendAndReturn(Pick(in.U8()));
        break;
    }
    CheckCounts();
  }

 private:
  // One of the pool's chunk offsets, or (1 in 8) an offset near one.
  uint64_t Pick(uint8_t k) {
    auto it = chunks_.begin();
    std::advance(it, (k >> 3) % chunks_.size());
    return (k & 7) == 7 ? it->first + 64 * ((k >> 5) + 1) : it->first;
  }

  void Allocate(uint16_t bytes, bool allow_larger) {
    std::optional<Chunk> c = pool_->TryAllocate(bytes, allow_larger);
    if (!c) return;
    auto it = chunks_.find(c->offset);
    FUZZ_CHECK(it != chunks_.end());
    FUZZ_CHECK(it->second.state == State::kFree);  // never handed out twice
    FUZZ_CHECK(c->capacity == it->second.capacity && c->capacity >= bytes);
    FUZZ_CHECK(c->data == buffer_.get() + c->offset);
    FUZZ_CHECK(c->offset >= kDataHeaderSize &&
               c->offset + c->capacity <= size_);
    it->second.state = State::kHeld;
  }

  void Free(uint64_t offset) {
    auto it = chunks_.find(offset);
    const bool expected =
        it != chunks_.end() && it->second.state == State::kHeld;
    FUZZ_CHECK(pool_->Free(offset) == expected);
    if (expected) it->second.state = State::kFree;
  }

  void Lend(uint64_t offset) {
    auto it = chunks_.find(offset);
    const bool expected =
        it != chunks_.end() && it->second.state == State::kHeld;
    std::optional<uint32_t> lend = pool_->MarkLent(offset);
    FUZZ_CHECK(lend.has_value() == expected);
    if (!expected) return;
    FUZZ_CHECK(*lend == it->second.lend + 1);  // a new generation each time
    it->second.lend = *lend;
    it->second.state = State::kLent;
  }

  void CancelLend(uint64_t offset) {
    auto it = chunks_.find(offset);
    const bool expected =
        it != chunks_.end() && it->second.state == State::kLent;
    FUZZ_CHECK(pool_->CancelLend(offset) == expected);
    if (expected) it->second.state = State::kHeld;
  }

  void Return(uint64_t offset, uint32_t lend) {
    auto it = chunks_.find(offset);
    ReturnResult expected = ReturnResult::kAccepted;
    if (it == chunks_.end()) {
      expected = ReturnResult::kRefusedBadOffset;
    } else if (it->second.state != State::kLent) {
      expected = ReturnResult::kRefusedNotLent;
    } else if (it->second.lend != lend) {
      expected = ReturnResult::kRefusedStaleLend;
    }
    const uint64_t refused = pool_->stats().refused_returns;
    FUZZ_CHECK(pool_->Return(offset, lend) == expected);
    FUZZ_CHECK(pool_->stats().refused_returns ==
               refused + (expected == ReturnResult::kAccepted ? 0 : 1));
    if (expected == ReturnResult::kAccepted) {
      it->second.state = State::kFree;
      if (returned_.size() < 64) returned_.emplace_back(offset, lend);
    }
  }

  void Reclaim() {
    uint32_t lent = 0;
    for (auto& [offset, c] : chunks_) {
      if (c.state == State::kLent) {
        c.state = State::kFree;
        ++lent;
      }
    }
    FUZZ_CHECK(pool_->ReclaimLent() == lent);
  }

  // What Connection does with a lent chunk: describe it, have the peer
  // accept the descriptor and echo it back as a return.
  void SendAndReturn(uint64_t offset) {
    auto it = chunks_.find(offset);
    if (it == chunks_.end() || it->second.state != State::kHeld) return;
    Lend(offset);
    Descriptor d{};
    d.payload = static_cast<uint8_t>(PayloadKind::kChunk);
    d.set_chunk_offset(offset);
    d.lend = it->second.lend;
    d.length = it->second.capacity;
    DescriptorRules rules;
    rules.peer_segment_size = size_;
    rules.stream_count = 1;
    rules.check_stream = true;
    FUZZ_CHECK(ValidateDescriptor(d, rules) == nullptr);
    FUZZ_CHECK(d.chunk_offset() == offset);
    Descriptor back{};
    back.payload = d.payload;
    back.offset_units = d.offset_units;
    back.lend = d.lend;
    FUZZ_CHECK(ValidateReturn(back) == nullptr);
    Return(back.chunk_offset(), back.lend);
  }

  void CheckCounts() {
    uint32_t free = 0, held = 0, lent = 0;
    for (const auto& [offset, c] : chunks_) {
      free += c.state == State::kFree;
      held += c.state == State::kHeld;
      lent += c.state == State::kLent;
    }
    const PoolStats s = pool_->stats();
    FUZZ_CHECK(s.free + s.held + s.lent == total_);
    FUZZ_CHECK(s.free == free && s.held == held && s.lent == lent);
  }

  std::unique_ptr<uint8_t[]> buffer_;
  uint64_t size_ = 0;
  uint32_t total_ = 0;
  std::map<uint64_t, ChunkModel> chunks_;
  std::vector<std::pair<uint64_t, uint32_t>> returned_;  // accepted returns
  std::unique_ptr<ChunkPool> pool_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  Harness h;
  for (int steps = 0; steps < 4096 && !in.done(); ++steps) h.Step(in);
  return 0;
}
