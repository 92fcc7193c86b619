#include "shmrpc/transport/chunk_pool.h"

#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "shmrpc/transport/control_layout.h"
#include "shmrpc/transport/data_layout.h"
#include "shmrpc/transport/internal/posix.h"
#include "shmrpc/transport/segment.h"

namespace shmrpc::transport {
namespace {

uint64_t RoundUpToPage(uint64_t n) {
  return (n + kPageSize - 1) / kPageSize * kPageSize;
}

absl::StatusCode PlanCode(std::vector<SizeClass> classes) {
  return PoolGeometry::Plan(PoolConfig{std::move(classes)}).status().code();
}

// A pool over its own sealed data segment, as the owning side builds it.
class TestPool {
 public:
  explicit TestPool(std::vector<SizeClass> classes) {
    absl::StatusOr<PoolGeometry> g =
        PoolGeometry::Plan(PoolConfig{std::move(classes)});
    EXPECT_TRUE(g.ok()) << g.status();
    absl::StatusOr<Segment> seg = Segment::Create(
        "chunk-pool-test", g->segment_size, SealMode::kOwnerWritesOnly);
    EXPECT_TRUE(seg.ok()) << seg.status();
    segment_ = std::move(*seg);
    pool_ = std::make_unique<ChunkPool>(segment_.data(), *g);
  }

  ChunkPool& pool() { return *pool_; }
  ChunkPool* operator->() { return pool_.get(); }
  const Segment& segment() const { return segment_; }

 private:
  Segment segment_;
  std::unique_ptr<ChunkPool> pool_;
};

// Three classes: 4 x 64 B, 2 x 256 B, 2 x 4 KiB.
std::vector<SizeClass> SmallClasses() { return {{64, 4}, {256, 2}, {4096, 2}}; }

void ExpectStats(const ChunkPool& pool, uint32_t free, uint32_t held,
                 uint32_t lent, uint64_t refused) {
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.free, free);
  EXPECT_EQ(s.held, held);
  EXPECT_EQ(s.lent, lent);
  EXPECT_EQ(s.refused_returns, refused);
}

// ---- PoolGeometry::Plan ---------------------------------------------------

// Configurations outside the documented bounds are refused.
TEST(PoolGeometryTest, PlanRejectsBadConfigs) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(PlanCode({}), kInvalid);  // no classes
  std::vector<SizeClass> seventeen;
  for (uint32_t i = 1; i <= kMaxSizeClasses + 1; ++i) {
    seventeen.push_back({i * 64, 1});
  }
  EXPECT_EQ(PlanCode(seventeen), kInvalid);
  seventeen.pop_back();
  EXPECT_TRUE(PoolGeometry::Plan(PoolConfig{seventeen}).ok());  // 16 is fine

  // Sizes that are not whole cache lines.
  for (uint32_t bad : {0u, 1u, 32u, 63u, 65u, 100u, 4095u}) {
    EXPECT_EQ(PlanCode({{bad, 4}}), kInvalid) << bad;
    EXPECT_EQ(PlanCode({{64, 4}, {bad + 128, 4}}),
              bad == 0 ? absl::StatusCode::kOk : kInvalid)
        << bad;
  }
  // Not strictly increasing.
  EXPECT_EQ(PlanCode({{128, 4}, {128, 4}}), kInvalid);
  EXPECT_EQ(PlanCode({{256, 4}, {128, 4}}), kInvalid);
  EXPECT_EQ(PlanCode({{64, 4}, {256, 4}, {192, 4}}), kInvalid);
  // A class without chunks.
  EXPECT_EQ(PlanCode({{64, 0}}), kInvalid);
  EXPECT_EQ(PlanCode({{64, 4}, {128, 0}}), kInvalid);
  // Too many chunks in all (max 2^16).
  EXPECT_EQ(PlanCode({{64, 65537}}), kInvalid);
  EXPECT_EQ(PlanCode({{64, 40000}, {128, 25537}}), kInvalid);
  EXPECT_EQ(PlanCode({{64, std::numeric_limits<uint32_t>::max()}}), kInvalid);
  EXPECT_TRUE(PoolGeometry::Plan(PoolConfig{{{64, 65536}}}).ok());
  EXPECT_TRUE(PoolGeometry::Plan(PoolConfig{{{64, 40000}, {128, 25536}}}).ok());
  // Too many bytes in all (max 64 GiB).
  EXPECT_EQ(PlanCode({{1u << 31, 32}}), kInvalid);
  EXPECT_EQ(PlanCode({{0xffffffc0u, 17}}), kInvalid);
  // Products near 2^64 must not wrap around into something small.
  EXPECT_EQ(PlanCode({{0xffffffc0u, std::numeric_limits<uint32_t>::max()}}),
            kInvalid);
  EXPECT_EQ(PlanCode({{64, 1}, {0xffffffc0u, 0xffffffffu}}), kInvalid);
  EXPECT_TRUE(PoolGeometry::Plan(PoolConfig{{{1u << 31, 31}}}).ok());
}

// Classes are laid out in order, each page-aligned right after the previous
// one, starting after the header page; the size is the page-rounded end.
TEST(PoolGeometryTest, PlanLaysClassesPageAligned) {
  absl::StatusOr<PoolGeometry> g =
      PoolGeometry::Plan(PoolConfig{{{64, 3}, {192, 5}, {4096, 2}, {8192, 1}}});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->classes.size(), 4u);
  EXPECT_EQ(g->classes[0].offset, kDataHeaderSize);
  EXPECT_EQ(g->classes[1].offset, 2 * kPageSize);  // 192 B of class 0
  EXPECT_EQ(g->classes[2].offset, 3 * kPageSize);  // 960 B of class 1
  EXPECT_EQ(g->classes[3].offset, 5 * kPageSize);  // 8 KiB of class 2
  EXPECT_EQ(g->segment_size, 7 * kPageSize);
  EXPECT_EQ(g->total_chunks, 3u + 5 + 2 + 1);
  EXPECT_EQ(g->classes[1].chunk_size, 192u);
  EXPECT_EQ(g->classes[1].count, 5u);

  // The same invariants for the default configuration.
  const PoolConfig config = PoolConfig::Default();
  g = PoolGeometry::Plan(config);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->classes.size(), config.classes.size());
  uint64_t at = kDataHeaderSize;
  uint32_t chunks = 0;
  for (size_t i = 0; i < g->classes.size(); ++i) {
    const DataClassEntry& c = g->classes[i];
    EXPECT_EQ(c.offset % kPageSize, 0u) << i;
    EXPECT_EQ(c.offset, at) << i;
    EXPECT_EQ(c.chunk_size, config.classes[i].chunk_size);
    EXPECT_EQ(c.count, config.classes[i].count);
    EXPECT_EQ(c.offset % kChunkAlignment, 0u);
    at = RoundUpToPage(c.offset + uint64_t{c.chunk_size} * c.count);
    chunks += c.count;
  }
  EXPECT_EQ(g->segment_size, at);
  EXPECT_EQ(g->segment_size % kPageSize, 0u);
  EXPECT_EQ(g->total_chunks, chunks);
}

// Locate() finds every chunk start and nothing else.
TEST(PoolGeometryTest, LocateMapsExactlyChunkStarts) {
  absl::StatusOr<PoolGeometry> g =
      PoolGeometry::Plan(PoolConfig{{{64, 3}, {192, 5}, {4096, 2}, {8192, 1}}});
  ASSERT_TRUE(g.ok()) << g.status();
  std::set<uint64_t> starts;
  for (uint32_t c = 0; c < g->classes.size(); ++c) {
    for (uint32_t i = 0; i < g->classes[c].count; ++i) {
      const uint64_t off =
          g->classes[c].offset + uint64_t{i} * g->classes[c].chunk_size;
      starts.insert(off);
      std::optional<PoolGeometry::Located> at = g->Locate(off);
      ASSERT_TRUE(at.has_value()) << off;
      EXPECT_EQ(at->cls, c);
      EXPECT_EQ(at->index, i);
    }
  }
  // Every other 64-byte-aligned offset in (and just past) the segment, and a
  // few unaligned ones, is refused: the header, interiors, page padding.
  for (uint64_t off = 0; off < g->segment_size + 2 * kPageSize;
       off += kChunkAlignment) {
    if (starts.count(off) != 0) continue;
    EXPECT_FALSE(g->Locate(off).has_value()) << off;
  }
  for (uint64_t start : starts) {
    EXPECT_FALSE(g->Locate(start + 1).has_value()) << start;
    EXPECT_FALSE(g->Locate(start + 8).has_value()) << start;
  }
  EXPECT_FALSE(g->Locate(std::numeric_limits<uint64_t>::max()).has_value());
  EXPECT_FALSE(
      g->Locate(std::numeric_limits<uint64_t>::max() - 63).has_value());
}

// ---- allocation ------------------------------------------------------------

// The header written at offset 0 carries magic, version, size and the class
// table, and a read-only peer mapping sees it.
TEST(ChunkPoolTest, WritesDataHeader) {
  TestPool p({{64, 3}, {192, 5}, {4096, 2}});
  absl::StatusOr<Segment> peer =
      Segment::Adopt(UniqueFd(::fcntl(p.segment().fd(), F_DUPFD_CLOEXEC, 0)),
                     p.segment().size(), Access::kReadOnly);
  ASSERT_TRUE(peer.ok()) << peer.status();
  DataHeader h;
  std::memcpy(&h, peer->data(), sizeof(h));
  EXPECT_EQ(h.magic, kDataMagic);
  EXPECT_EQ(h.version, kProtocolVersion);
  EXPECT_EQ(h.class_count, 3);
  EXPECT_EQ(h.segment_size, p->geometry().segment_size);
  EXPECT_EQ(h.segment_size, p.segment().size());
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h.classes[i].chunk_size, p->geometry().classes[i].chunk_size);
    EXPECT_EQ(h.classes[i].count, p->geometry().classes[i].count);
    EXPECT_EQ(h.classes[i].offset, p->geometry().classes[i].offset);
  }
  for (uint32_t i = 3; i < kMaxSizeClasses; ++i) {
    EXPECT_EQ(h.classes[i].chunk_size, 0u);
    EXPECT_EQ(h.classes[i].count, 0u);
    EXPECT_EQ(h.classes[i].offset, 0u);
  }
  EXPECT_EQ(p->base(), p.segment().data());
  EXPECT_EQ(p->max_chunk_size(), 4096u);
  ExpectStats(p.pool(), 10, 0, 0, 0);
}

// Each request gets the smallest class that fits; chunks point into the
// segment at their offset; first allocations go in address order.
TEST(ChunkPoolTest, TryAllocatePicksSmallestFittingClass) {
  TestPool p(SmallClasses());
  const PoolGeometry& g = p->geometry();
  struct Case {
    size_t bytes;
    uint32_t cls;
  };
  for (Case c : {Case{0, 0}, Case{1, 0}, Case{64, 0}, Case{65, 1}, Case{256, 1},
                 Case{257, 2}, Case{4096, 2}}) {
    std::optional<Chunk> chunk =
        p->TryAllocate(c.bytes, /*allow_larger=*/false);
    ASSERT_TRUE(chunk.has_value()) << c.bytes;
    std::optional<PoolGeometry::Located> at = g.Locate(chunk->offset);
    ASSERT_TRUE(at.has_value()) << c.bytes;
    EXPECT_EQ(at->cls, c.cls) << c.bytes;
    EXPECT_EQ(chunk->capacity, g.classes[c.cls].chunk_size);
    EXPECT_EQ(chunk->data, p->base() + chunk->offset);
    EXPECT_TRUE(p->Free(chunk->offset));
  }
  // Address order: chunk 0, 1, 2, 3 of class 0.
  for (uint32_t i = 0; i < 4; ++i) {
    std::optional<Chunk> chunk = p->TryAllocate(10);
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(chunk->offset, g.classes[0].offset + i * 64u);
  }
  ExpectStats(p.pool(), 4, 4, 0, 0);
}

// stats() counts the bytes of held and lent chunks, by their class's size,
// and of all chunks.
TEST(ChunkPoolTest, StatsCountBytesInUse) {
  TestPool p(SmallClasses());
  const uint64_t total = 4 * 64 + 2 * 256 + 2 * 4096;
  EXPECT_EQ(p->stats().bytes_total, total);
  EXPECT_EQ(p->stats().bytes_in_use, 0u);
  std::optional<Chunk> small = p->TryAllocate(10);
  std::optional<Chunk> large = p->TryAllocate(1000);
  ASSERT_TRUE(small.has_value() && large.has_value());
  EXPECT_EQ(p->stats().bytes_in_use, 64u + 4096u);
  ASSERT_TRUE(p->MarkLent(large->offset).has_value());  // lent: still in use
  EXPECT_EQ(p->stats().bytes_in_use, 64u + 4096u);
  EXPECT_TRUE(p->Free(small->offset));
  EXPECT_EQ(p->stats().bytes_in_use, 4096u);
  EXPECT_EQ(p->ReclaimLent(), 1u);
  EXPECT_EQ(p->stats().bytes_in_use, 0u);
  EXPECT_EQ(p->stats().bytes_total, total);
}

// Larger classes are used only with allow_larger, smallest first; requests
// beyond the largest class or with everything taken return nullopt.
TEST(ChunkPoolTest, FallbackToLargerClassesOnlyWhenAllowed) {
  TestPool p(SmallClasses());
  const PoolGeometry& g = p->geometry();
  auto cls_of = [&](const Chunk& c) { return g.Locate(c.offset)->cls; };
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(p->TryAllocate(64, false));
  EXPECT_EQ(p->stats().exhausted, 0u);
  EXPECT_FALSE(p->TryAllocate(10, false).has_value());
  EXPECT_EQ(p->stats().exhausted, 1u);

  std::optional<Chunk> c = p->TryAllocate(10, true);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(cls_of(*c), 1u);
  c = p->TryAllocate(10);  // allow_larger defaults to true
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(cls_of(*c), 1u);
  // Class 1 is now empty too: skip to class 2.
  EXPECT_FALSE(p->TryAllocate(100, false).has_value());
  c = p->TryAllocate(10, true);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(cls_of(*c), 2u);
  EXPECT_EQ(c->capacity, 4096u);
  c = p->TryAllocate(4096, false);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(cls_of(*c), 2u);
  // Everything is held.
  EXPECT_FALSE(p->TryAllocate(1, true).has_value());
  EXPECT_FALSE(p->TryAllocate(1, false).has_value());
  ExpectStats(p.pool(), 0, 8, 0, 0);
  EXPECT_EQ(p->stats().exhausted, 4u);
}

// Requests larger than the largest class fail even with an empty pool.
TEST(ChunkPoolTest, TooBigReturnsNullopt) {
  TestPool p(SmallClasses());
  EXPECT_FALSE(p->TryAllocate(4097, true).has_value());
  EXPECT_FALSE(p->TryAllocate(std::numeric_limits<size_t>::max()).has_value());
  EXPECT_FALSE(p->TryAllocate(uint64_t{1} << 32).has_value());
  EXPECT_EQ(p->stats().exhausted, 3u);
  ExpectStats(p.pool(), 8, 0, 0, 0);
}

// A freed (or returned) chunk is the next one handed out.
TEST(ChunkPoolTest, LifoReuse) {
  TestPool p(SmallClasses());
  std::optional<Chunk> a = p->TryAllocate(64);
  std::optional<Chunk> b = p->TryAllocate(64);
  std::optional<Chunk> c = p->TryAllocate(64);
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(p->Free(b->offset));
  std::optional<Chunk> again = p->TryAllocate(64);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->offset, b->offset);

  EXPECT_TRUE(p->Free(a->offset));
  EXPECT_TRUE(p->Free(c->offset));
  again = p->TryAllocate(64);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->offset, c->offset);  // last in, first out
  again = p->TryAllocate(64);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->offset, a->offset);

  // Through the lend/return path too.
  std::optional<uint32_t> lend = p->MarkLent(a->offset);
  ASSERT_TRUE(lend);
  EXPECT_EQ(p->Return(a->offset, *lend), ReturnResult::kAccepted);
  again = p->TryAllocate(64);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->offset, a->offset);
}

// ---- state machine ---------------------------------------------------------

// Every legal transition works and every illegal one is refused without
// changing any state.
TEST(ChunkPoolTest, StateMachine) {
  TestPool p(SmallClasses());
  const uint64_t first = p->geometry().classes[1].offset;  // a 256 B chunk

  // Free chunk: only allocation may touch it.
  EXPECT_FALSE(p->Free(first));
  EXPECT_FALSE(p->MarkLent(first));
  EXPECT_FALSE(p->CancelLend(first));
  EXPECT_EQ(p->Return(first, 0), ReturnResult::kRefusedNotLent);
  ExpectStats(p.pool(), 8, 0, 0, 1);

  std::optional<Chunk> c = p->TryAllocate(200, false);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->offset, first);
  ExpectStats(p.pool(), 7, 1, 0, 1);

  // Held: may be freed or lent, not cancelled or returned.
  EXPECT_FALSE(p->CancelLend(first));
  EXPECT_EQ(p->Return(first, 0), ReturnResult::kRefusedNotLent);
  EXPECT_EQ(p->Return(first, 1), ReturnResult::kRefusedNotLent);
  ExpectStats(p.pool(), 7, 1, 0, 3);
  EXPECT_EQ(p->MarkLent(first), 1u);  // the chunk's first lend
  ExpectStats(p.pool(), 7, 0, 1, 3);

  // Lent: may be cancelled or returned, not freed or lent again.
  EXPECT_FALSE(p->MarkLent(first));
  EXPECT_FALSE(p->Free(first));
  ExpectStats(p.pool(), 7, 0, 1, 3);
  EXPECT_TRUE(p->CancelLend(first));
  ExpectStats(p.pool(), 7, 1, 0, 3);
  EXPECT_FALSE(p->CancelLend(first));
  EXPECT_TRUE(p->Free(first));
  ExpectStats(p.pool(), 8, 0, 0, 3);
  EXPECT_FALSE(p->Free(first));  // double free

  // Lend and return; a second return is refused.
  c = p->TryAllocate(200, false);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->offset, first);
  std::optional<uint32_t> lend = p->MarkLent(first);
  EXPECT_EQ(lend, 2u);  // a new generation for every lend
  EXPECT_EQ(p->Return(first, 1), ReturnResult::kRefusedStaleLend);
  ExpectStats(p.pool(), 7, 0, 1, 4);
  EXPECT_EQ(p->Return(first, *lend), ReturnResult::kAccepted);
  ExpectStats(p.pool(), 8, 0, 0, 4);
  EXPECT_EQ(p->Return(first, *lend), ReturnResult::kRefusedNotLent);
  ExpectStats(p.pool(), 8, 0, 0, 5);
  // The chunk went back to the free list exactly once.
  std::optional<Chunk> x = p->TryAllocate(200, false);
  std::optional<Chunk> y = p->TryAllocate(200, false);
  std::optional<Chunk> z = p->TryAllocate(200, false);
  ASSERT_TRUE(x && y);
  EXPECT_NE(x->offset, y->offset);
  EXPECT_FALSE(z.has_value());
}

// A return that names an earlier lend of a chunk that was returned and lent
// again (a duplicate that arrives late) is refused: the chunk stays lent and
// the pool is untouched. Every lend of a chunk gets a new generation.
TEST(ChunkPoolTest, DuplicateReturnAfterRelendIsRefused) {
  TestPool p(SmallClasses());
  std::optional<Chunk> c = p->TryAllocate(200, false);
  ASSERT_TRUE(c);
  const std::optional<uint32_t> first = p->MarkLent(c->offset);
  ASSERT_TRUE(first);
  ASSERT_EQ(p->Return(c->offset, *first), ReturnResult::kAccepted);

  // The same chunk (LIFO) is allocated and lent again.
  std::optional<Chunk> again = p->TryAllocate(200, false);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->offset, c->offset);
  const std::optional<uint32_t> second = p->MarkLent(again->offset);
  ASSERT_TRUE(second);
  EXPECT_NE(*second, *first);
  const PoolStats before = p->stats();

  // The duplicate of the first return arrives now.
  EXPECT_EQ(p->Return(c->offset, *first), ReturnResult::kRefusedStaleLend);
  const PoolStats after = p->stats();
  EXPECT_EQ(after.lent, before.lent);
  EXPECT_EQ(after.free, before.free);
  EXPECT_EQ(after.refused_returns, before.refused_returns + 1);
  // It was not freed: allocation does not hand it out a second time.
  std::set<uint64_t> handed;
  while (std::optional<Chunk> x = p->TryAllocate(200, false)) {
    handed.insert(x->offset);
  }
  EXPECT_EQ(handed.count(c->offset), 0u);
  // The genuine return of the second lend still works, exactly once.
  EXPECT_EQ(p->Return(c->offset, *second), ReturnResult::kAccepted);
  EXPECT_EQ(p->Return(c->offset, *second), ReturnResult::kRefusedNotLent);
}

// Lend generations survive cancelled lends and reclaims: each MarkLent
// returns a value no earlier MarkLent of that chunk returned (until 2^32).
TEST(ChunkPoolTest, LendGenerationsNeverRepeat) {
  TestPool p(SmallClasses());
  std::set<std::pair<uint64_t, uint32_t>> seen;
  for (int i = 0; i < 300; ++i) {
    std::optional<Chunk> c = p->TryAllocate(4000, false);  // the 4 KiB class
    ASSERT_TRUE(c);
    std::optional<uint32_t> lend = p->MarkLent(c->offset);
    ASSERT_TRUE(lend);
    EXPECT_TRUE(seen.insert({c->offset, *lend}).second) << *lend;
    switch (i % 3) {
      case 0:
        ASSERT_EQ(p->Return(c->offset, *lend), ReturnResult::kAccepted);
        break;
      case 1:
        ASSERT_TRUE(p->CancelLend(c->offset));
        ASSERT_TRUE(p->Free(c->offset));
        break;
      case 2:
        ASSERT_EQ(p->ReclaimLent(), 1u);
        break;
    }
  }
}

// Offsets that are not chunk starts are refused by Return (counted as
// kRefusedBadOffset) and by every other transition, whatever the state of the
// chunk they point into.
TEST(ChunkPoolTest, BadOffsetsAreRefused) {
  TestPool p(SmallClasses());
  const PoolGeometry& g = p->geometry();
  // Lend every chunk, so that a wrongly accepted offset would change state.
  std::vector<std::pair<uint64_t, uint32_t>> lent;
  while (std::optional<Chunk> c = p->TryAllocate(1)) {
    std::optional<uint32_t> lend = p->MarkLent(c->offset);
    ASSERT_TRUE(lend);
    lent.emplace_back(c->offset, *lend);
  }
  ASSERT_EQ(lent.size(), 8u);
  ExpectStats(p.pool(), 0, 0, 8, 0);

  const uint64_t c1 = g.classes[1].offset;
  const uint64_t c2 = g.classes[2].offset;
  const std::vector<uint64_t> bad = {
      0,                         // the header
      64,                        // inside the header page
      kDataHeaderSize - 64,      //
      g.classes[0].offset + 1,   // misaligned
      g.classes[0].offset + 32,  //
      c1 + 64,                   // interior of a 256 B chunk
      c1 + 128,                  //
      c1 + 2 * 256,              // past class 1, in its page padding
      c1 + kPageSize - 64,       //
      c2 + 64,                   // interior of a 4 KiB chunk
      c2 + 2048,                 //
      g.segment_size,            // end of the segment
      g.segment_size + c1,       //
      uint64_t{1} << 40,         //
      std::numeric_limits<uint64_t>::max(),
      std::numeric_limits<uint64_t>::max() - 63,
  };
  uint64_t refused = 0;
  for (uint64_t off : bad) {
    EXPECT_EQ(p->Return(off, 1), ReturnResult::kRefusedBadOffset) << off;
    ++refused;
    EXPECT_FALSE(p->Free(off)) << off;
    EXPECT_FALSE(p->MarkLent(off)) << off;
    EXPECT_FALSE(p->CancelLend(off)) << off;
    ExpectStats(p.pool(), 0, 0, 8, refused);
  }
  // The real offsets still work.
  for (auto [off, lend] : lent) {
    EXPECT_EQ(p->Return(off, lend), ReturnResult::kAccepted) << off;
  }
  ExpectStats(p.pool(), 8, 0, 0, refused);
}

// ReclaimLent takes back exactly the lent chunks, which become allocatable.
TEST(ChunkPoolTest, ReclaimLent) {
  TestPool p(SmallClasses());
  std::vector<uint64_t> held, lent;
  for (int i = 0; i < 5; ++i) {
    std::optional<Chunk> c = p->TryAllocate(i == 4 ? 4096 : 64, false);
    ASSERT_TRUE(c);
    if (i % 2 == 0) {
      ASSERT_TRUE(p->MarkLent(c->offset));
      lent.push_back(c->offset);
    } else {
      held.push_back(c->offset);
    }
  }
  ExpectStats(p.pool(), 3, 2, 3, 0);
  EXPECT_EQ(p->ReclaimLent(), 3u);
  ExpectStats(p.pool(), 6, 2, 0, 0);
  EXPECT_EQ(p->ReclaimLent(), 0u);
  // A late return from the dead peer is refused.
  for (uint64_t off : lent) {
    EXPECT_EQ(p->Return(off, 1), ReturnResult::kRefusedNotLent);
  }
  ExpectStats(p.pool(), 6, 2, 0, lent.size());
  // Held chunks are untouched; reclaimed ones are allocatable again.
  for (uint64_t off : held) EXPECT_TRUE(p->Free(off));
  std::set<uint64_t> all;
  while (std::optional<Chunk> c = p->TryAllocate(1)) {
    EXPECT_TRUE(all.insert(c->offset).second) << "handed out twice";
  }
  EXPECT_EQ(all.size(), 8u);
  for (uint64_t off : lent) EXPECT_EQ(all.count(off), 1u);
}

// Chunks never overlap each other or the header, and the owner can write a
// whole chunk without touching its neighbours.
TEST(ChunkPoolTest, ChunksAreDisjoint) {
  TestPool p(SmallClasses());
  std::vector<Chunk> chunks;
  while (std::optional<Chunk> c = p->TryAllocate(1)) chunks.push_back(*c);
  ASSERT_EQ(chunks.size(), 8u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].offset % kChunkAlignment, 0u);
    EXPECT_GE(chunks[i].offset, kDataHeaderSize);
    EXPECT_LE(chunks[i].offset + chunks[i].capacity, p.segment().size());
    std::memset(chunks[i].data, static_cast<int>(i + 1), chunks[i].capacity);
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    for (uint32_t b = 0; b < chunks[i].capacity; ++b) {
      ASSERT_EQ(chunks[i].data[b], i + 1) << "chunk " << i << " byte " << b;
    }
  }
  DataHeader h;
  std::memcpy(&h, p->base(), sizeof(h));
  EXPECT_EQ(h.magic, kDataMagic);
}

// 4 threads x 20000 cycles of allocate / write / verify / lend / return (or
// free, or cancel-and-free) on a small pool: no chunk is ever handed to two
// holders at once, and everything ends free.
TEST(ChunkPoolTest, MultiThreadedStress) {
  constexpr int kThreads = 4;
  constexpr int kCycles = 20000;
  TestPool p({{64, 6}, {128, 4}});
  const uint64_t slots = p->geometry().segment_size / kChunkAlignment;
  std::unique_ptr<std::atomic<int>[]> owner(new std::atomic<int>[slots]);
  for (uint64_t i = 0; i < slots; ++i) owner[i].store(-1);

  std::atomic<uint64_t> double_handouts{0}, corrupted{0}, bad_transitions{0},
      starved{0};
  std::atomic<uint64_t> bogus_returns{0};

  auto worker = [&](int tid) {
    std::mt19937 rng(static_cast<uint32_t>(tid) * 7919u + 1);
    for (int cycle = 0; cycle < kCycles; ++cycle) {
      const size_t want = 1 + rng() % 128;
      std::optional<Chunk> c;
      const auto give_up =
          std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!(c = p->TryAllocate(want, /*allow_larger=*/true))) {
        if (std::chrono::steady_clock::now() > give_up) {
          starved.fetch_add(1);
          return;
        }
        std::this_thread::yield();
      }
      const uint64_t slot = c->offset / kChunkAlignment;
      int expected = -1;
      if (!owner[slot].compare_exchange_strong(expected, tid)) {
        double_handouts.fetch_add(1);
      }
      // Stamp the chunk with our id and a per-cycle pattern.
      const uint8_t fill = static_cast<uint8_t>(tid * 64 + cycle);
      std::memset(c->data, fill, c->capacity);
      std::memcpy(c->data, &tid, sizeof(tid));
      auto intact = [&] {
        int who;
        std::memcpy(&who, c->data, sizeof(who));
        if (who != tid) return false;
        for (uint32_t b = sizeof(int); b < c->capacity; ++b) {
          if (c->data[b] != fill) return false;
        }
        return true;
      };
      if (!intact()) corrupted.fetch_add(1);
      switch (cycle % 4) {
        case 0:  // lend and get it back
        case 1: {
          const std::optional<uint32_t> lend = p->MarkLent(c->offset);
          if (!lend) bad_transitions.fetch_add(1);
          const uint32_t gen = lend.value_or(0);
          if (!intact()) corrupted.fetch_add(1);
          if (cycle % 8 == 1) {
            // A bogus return from the "peer" must be refused.
            if (p->Return(c->offset + kChunkAlignment / 2, gen) !=
                ReturnResult::kRefusedBadOffset) {
              bad_transitions.fetch_add(1);
            }
            bogus_returns.fetch_add(1);
          } else if (cycle % 8 == 5) {
            // So must the return of an earlier lend.
            if (p->Return(c->offset, gen - 1) !=
                ReturnResult::kRefusedStaleLend) {
              bad_transitions.fetch_add(1);
            }
            bogus_returns.fetch_add(1);
          }
          owner[slot].store(-1);
          if (p->Return(c->offset, gen) != ReturnResult::kAccepted) {
            bad_transitions.fetch_add(1);
          }
          break;
        }
        case 2:  // free directly
          if (!intact()) corrupted.fetch_add(1);
          owner[slot].store(-1);
          if (!p->Free(c->offset)) bad_transitions.fetch_add(1);
          break;
        case 3:  // lend, cancel, free
          if (!p->MarkLent(c->offset)) bad_transitions.fetch_add(1);
          if (!p->CancelLend(c->offset)) bad_transitions.fetch_add(1);
          if (!intact()) corrupted.fetch_add(1);
          owner[slot].store(-1);
          if (!p->Free(c->offset)) bad_transitions.fetch_add(1);
          break;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(double_handouts.load(), 0u);
  EXPECT_EQ(corrupted.load(), 0u);
  EXPECT_EQ(bad_transitions.load(), 0u);
  EXPECT_EQ(starved.load(), 0u);
  const PoolStats s = p->stats();
  EXPECT_EQ(s.free, p->geometry().total_chunks);
  EXPECT_EQ(s.held, 0u);
  EXPECT_EQ(s.lent, 0u);
  EXPECT_EQ(s.refused_returns, bogus_returns.load());
  EXPECT_GT(bogus_returns.load(), 0u);
  // Every chunk can be allocated exactly once afterwards.
  std::set<uint64_t> all;
  while (std::optional<Chunk> c = p->TryAllocate(1)) {
    EXPECT_TRUE(all.insert(c->offset).second);
  }
  EXPECT_EQ(all.size(), p->geometry().total_chunks);
}

}  // namespace
}  // namespace shmrpc::transport
