#include "shmrpc/transport/ring.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/transport/control_layout.h"
#include "shmrpc/transport/segment.h"
#include "tests/util/poll.h"

namespace shmrpc::transport {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

using shmrpc::testing::In;
using shmrpc::testing::PollUntil;

WaitPolicy NoSpin() {
  WaitPolicy p;
  p.spin = std::chrono::nanoseconds(0);
  return p;
}

constexpr auto kNeverStop = [] { return false; };

// A control segment whose requests ring has `capacity` entries, plus a
// producer and a consumer attached to it (as the two sides would be).
class Ring {
 public:
  explicit Ring(uint32_t capacity) {
    ControlParams params{capacity, 2, 2, 2, 1, 2};
    absl::StatusOr<ControlLayout> layout = ControlLayout::Compute(params);
    EXPECT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
    absl::StatusOr<Segment> seg =
        Segment::Create("ring-test", layout_.size, SealMode::kShared);
    EXPECT_TRUE(seg.ok()) << seg.status();
    segment_ = std::move(*seg);
    view_ = RingView::At(segment_.data(), layout_.RingOffset(RingId::kRequests),
                         layout_.RingCapacity(RingId::kRequests));
    producer_.Attach(view_);
    consumer_.Attach(view_);
  }

  RingProducer& producer() { return producer_; }
  RingConsumer& consumer() { return consumer_; }
  const RingView& view() const { return view_; }
  RingControl& control() { return *view_.control; }
  RingEntry& entry(uint64_t position) {
    return view_.entries[position & (view_.capacity - 1)];
  }

 private:
  ControlLayout layout_{};
  Segment segment_;
  RingView view_;
  RingProducer producer_;
  RingConsumer consumer_;
};

Descriptor ChunkDesc(uint64_t n) {
  Descriptor d{};
  d.offset_units = static_cast<uint32_t>(0x40 + n);
  d.lend = static_cast<uint32_t>(n * 5 + 3);
  d.length = static_cast<uint32_t>(n * 3 + 1);
  d.stream = static_cast<uint32_t>(n % 7);
  d.generation = static_cast<uint32_t>(n * 11);
  d.aux = static_cast<uint32_t>(~n);
  d.kind = static_cast<uint16_t>(n & 0xffff);
  d.flags = static_cast<uint16_t>((n >> 3) & 0xffff);
  d.payload = static_cast<uint8_t>(PayloadKind::kChunk);
  d.segment = 0;
  return d;
}

Descriptor InlineDesc(uint32_t length, uint32_t tag) {
  Descriptor d{};
  d.length = length;
  d.aux = tag;
  d.payload = static_cast<uint8_t>(PayloadKind::kInline);
  return d;
}

void ExpectSameDescriptor(const Descriptor& a, const Descriptor& b) {
  EXPECT_EQ(a.offset_units, b.offset_units);
  EXPECT_EQ(a.lend, b.lend);
  EXPECT_EQ(a.length, b.length);
  EXPECT_EQ(a.stream, b.stream);
  EXPECT_EQ(a.generation, b.generation);
  EXPECT_EQ(a.aux, b.aux);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.payload, b.payload);
  EXPECT_EQ(a.segment, b.segment);
  EXPECT_EQ(a.reserved, b.reserved);
}

// The view lands where the layout says and entries are 128-byte aligned.
TEST(RingTest, ViewMatchesLayout) {
  Ring ring(8);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(ring.view().entries) -
                reinterpret_cast<uint8_t*>(ring.view().control),
            static_cast<ptrdiff_t>(kRingControlSize));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ring.view().entries) % 128, 0u);
  EXPECT_EQ(ring.view().capacity, 8u);
}

// Descriptors of every payload kind and inline payloads of 0, 1 and
// kInlineCapacity bytes come out exactly as they went in.
TEST(RingTest, SingleThreadRoundTripPreservesEverything) {
  Ring ring(8);
  RingMessage out;
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);

  Descriptor none{};
  none.stream = 1;
  none.kind = 9;
  none.aux = 0xdeadbeef;
  none.payload = static_cast<uint8_t>(PayloadKind::kNone);
  ASSERT_EQ(ring.producer().TryPush(none, nullptr), PushResult::kOk);

  const Descriptor chunk = ChunkDesc(12345);
  ASSERT_EQ(ring.producer().TryPush(chunk, nullptr), PushResult::kOk);

  const Descriptor empty_inline = InlineDesc(0, 1);
  ASSERT_EQ(ring.producer().TryPush(empty_inline, nullptr), PushResult::kOk);

  uint8_t one = 0x5a;
  ASSERT_EQ(ring.producer().TryPush(InlineDesc(1, 2), &one), PushResult::kOk);

  uint8_t full[kInlineCapacity];
  for (uint32_t i = 0; i < kInlineCapacity; ++i) full[i] = uint8_t(i * 7 + 3);
  ASSERT_EQ(ring.producer().TryPush(InlineDesc(kInlineCapacity, 3), full),
            PushResult::kOk);

  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, none);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, chunk);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, empty_inline);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, InlineDesc(1, 2));
  EXPECT_EQ(out.inline_data[0], 0x5a);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, InlineDesc(kInlineCapacity, 3));
  EXPECT_EQ(std::memcmp(out.inline_data, full, kInlineCapacity), 0);

  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
  EXPECT_EQ(ring.consumer().position(), 5u);
  EXPECT_EQ(ring.control().head.load(), 5u);
}

// The ring holds exactly `capacity` messages; one pop makes room for exactly
// one more.
TEST(RingTest, FullExactlyAtCapacity) {
  for (uint32_t cap : {2u, 4u, 64u, 256u}) {
    Ring ring(cap);
    for (uint32_t i = 0; i < cap; ++i) {
      ASSERT_TRUE(ring.producer().HasSpace()) << cap << " " << i;
      ASSERT_EQ(ring.producer().TryPush(ChunkDesc(i), nullptr), PushResult::kOk)
          << cap << " " << i;
    }
    EXPECT_FALSE(ring.producer().HasSpace());
    EXPECT_EQ(ring.producer().TryPush(ChunkDesc(cap), nullptr),
              PushResult::kFull);
    EXPECT_EQ(ring.producer().TryPush(ChunkDesc(cap), nullptr),
              PushResult::kFull);

    RingMessage out;
    ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
    ExpectSameDescriptor(out.desc, ChunkDesc(0));
    EXPECT_TRUE(ring.producer().HasSpace());
    EXPECT_EQ(ring.producer().TryPush(ChunkDesc(cap), nullptr),
              PushResult::kOk);
    EXPECT_EQ(ring.producer().TryPush(ChunkDesc(cap + 1), nullptr),
              PushResult::kFull);
    // Everything comes out in order, none lost by the failed pushes.
    for (uint32_t i = 1; i <= cap; ++i) {
      ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
      ExpectSameDescriptor(out.desc, ChunkDesc(i));
    }
    EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
  }
}

// Many laps around a small ring with varying fill levels keep FIFO order and
// payloads intact.
TEST(RingTest, WraparoundOverManyLaps) {
  Ring ring(4);
  RingMessage out;
  uint64_t pushed = 0, popped = 0;
  for (int round = 0; round < 3000; ++round) {
    const int burst = 1 + round % 4;  // 1..4 == capacity
    for (int i = 0; i < burst; ++i) {
      uint8_t bytes[kInlineCapacity];
      const uint32_t len =
          static_cast<uint32_t>(pushed % (kInlineCapacity + 1));
      for (uint32_t b = 0; b < len; ++b) bytes[b] = uint8_t(pushed + b);
      ASSERT_EQ(ring.producer().TryPush(
                    InlineDesc(len, static_cast<uint32_t>(pushed)), bytes),
                PushResult::kOk)
          << pushed;
      ++pushed;
    }
    for (int i = 0; i < burst; ++i) {
      ASSERT_TRUE(ring.consumer().HasData());
      ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk) << popped;
      const uint32_t len =
          static_cast<uint32_t>(popped % (kInlineCapacity + 1));
      ASSERT_EQ(out.desc.aux, static_cast<uint32_t>(popped));
      ASSERT_EQ(out.desc.length, len);
      for (uint32_t b = 0; b < len; ++b) {
        ASSERT_EQ(out.inline_data[b], uint8_t(popped + b)) << popped;
      }
      ++popped;
    }
    ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
  }
  EXPECT_GT(pushed, 1000u * 4);  // >1000 laps of a 4-entry ring
  EXPECT_EQ(ring.consumer().position(), pushed);
  EXPECT_EQ(ring.control().head.load(), pushed);
  // The entry seq records the latest lap's position.
  EXPECT_EQ(ring.entry(pushed - 1).seq.load(), pushed);
}

// HasData reflects exactly whether the next entry is published.
TEST(RingTest, HasData) {
  Ring ring(2);
  RingMessage out;
  EXPECT_FALSE(ring.consumer().HasData());
  for (int lap = 0; lap < 5; ++lap) {
    ASSERT_EQ(ring.producer().TryPush(ChunkDesc(lap), nullptr),
              PushResult::kOk);
    EXPECT_TRUE(ring.consumer().HasData());
    ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
    EXPECT_FALSE(ring.consumer().HasData());
  }
}

// An inline length beyond kInlineCapacity is reported as kCorrupt; the entry
// is consumed, head advances, and the next message is fine.
TEST(RingTest, ConsumerRejectsOversizedInlineLengthAndAdvances) {
  Ring ring(4);
  uint8_t bytes[kInlineCapacity] = {1, 2, 3};
  ASSERT_EQ(ring.producer().TryPush(InlineDesc(3, 0), bytes), PushResult::kOk);
  // A hostile producer rewrites the length after publishing.
  ring.entry(0).desc.length = kInlineCapacity + 1;
  ASSERT_EQ(ring.producer().TryPush(InlineDesc(3, 1), bytes), PushResult::kOk);
  ASSERT_EQ(ring.producer().TryPush(InlineDesc(3, 2), bytes), PushResult::kOk);
  ring.entry(2).desc.length = 0xffffffffu;

  RingMessage out;
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kCorrupt);
  EXPECT_EQ(ring.consumer().position(), 1u);
  EXPECT_EQ(ring.control().head.load(), 1u);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  EXPECT_EQ(out.desc.aux, 1u);
  EXPECT_EQ(std::memcmp(out.inline_data, bytes, 3), 0);
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kCorrupt);
  EXPECT_EQ(ring.control().head.load(), 3u);
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);

  // Exactly kInlineCapacity is fine; a chunk descriptor's length is not an
  // inline length and is not limited.
  ASSERT_EQ(ring.producer().TryPush(InlineDesc(kInlineCapacity, 3), bytes),
            PushResult::kOk);
  Descriptor big = ChunkDesc(1);
  big.length = 1u << 30;
  ASSERT_EQ(ring.producer().TryPush(big, nullptr), PushResult::kOk);
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  EXPECT_EQ(out.desc.length, 1u << 30);
}

// A producer given an inline length beyond kInlineCapacity never copies past
// its entry: the neighbouring entry stays untouched, the message is published
// with its length as is, and the consumer rejects it as kCorrupt.
TEST(RingTest, ProducerNeverCopiesPastEntry) {
  Ring ring(4);
  uint8_t source[3 * kEntrySize];
  std::memset(source, 0xee, sizeof(source));
  uint8_t before[kEntrySize];
  std::memcpy(before, &ring.entry(1), kEntrySize);
  ASSERT_EQ(ring.producer().TryPush(InlineDesc(2 * kEntrySize, 7), source),
            PushResult::kOk);
  EXPECT_EQ(std::memcmp(&ring.entry(1), before, kEntrySize), 0)
      << "the push wrote into the next entry";
  EXPECT_EQ(ring.entry(1).seq.load(), 0u);
  for (uint32_t b = 0; b < kInlineCapacity; ++b) {
    ASSERT_EQ(ring.entry(0).inline_data[b], 0xee) << b;
  }
  RingMessage out;
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kCorrupt);
  EXPECT_EQ(out.desc.length, 2 * kEntrySize);
  EXPECT_EQ(out.desc.aux, 7u);
  // The ring carries on normally.
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(1), nullptr), PushResult::kOk);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, ChunkDesc(1));
}

// An entry whose seq is anything but position + 1 is treated as empty and
// leaves the consumer where it is.
TEST(RingTest, MismatchedSeqIsEmpty) {
  Ring ring(4);
  RingMessage out;
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(7), nullptr), PushResult::kOk);
  for (uint64_t bogus : {uint64_t{0}, uint64_t{2}, uint64_t{5},
                         uint64_t{1} + 2 * 4, ~uint64_t{0}}) {
    ring.entry(0).seq.store(bogus);
    EXPECT_FALSE(ring.consumer().HasData()) << bogus;
    EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty) << bogus;
    EXPECT_EQ(ring.consumer().position(), 0u);
    EXPECT_EQ(ring.control().head.load(), 0u);
  }
  ring.entry(0).seq.store(1);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, ChunkDesc(7));

  // After one lap, a stale entry from the previous lap is not data.
  for (int i = 1; i < 4; ++i) {
    ASSERT_EQ(ring.producer().TryPush(ChunkDesc(i), nullptr), PushResult::kOk);
    ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  }
  EXPECT_EQ(ring.consumer().position(), 4u);
  EXPECT_EQ(ring.entry(4).seq.load(), 1u);  // lap 0's value
  EXPECT_FALSE(ring.consumer().HasData());
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
}

// A shared head beyond anything claimed is detected by the producer.
TEST(RingTest, ProducerDetectsHeadBeyondClaims) {
  Ring ring(4);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(ring.producer().TryPush(ChunkDesc(i), nullptr), PushResult::kOk);
  }
  ring.control().head.store(5);  // only 4 were ever claimed
  EXPECT_EQ(ring.producer().TryPush(ChunkDesc(4), nullptr),
            PushResult::kCorrupt);
  EXPECT_FALSE(ring.producer().HasSpace());
  EXPECT_EQ(ring.producer().Push(ChunkDesc(4), nullptr, NoSpin(),
                                 In(milliseconds(5000)), kNeverStop),
            PushResult::kCorrupt);
  ring.control().head.store(~uint64_t{0});
  EXPECT_EQ(ring.producer().TryPush(ChunkDesc(4), nullptr),
            PushResult::kCorrupt);
  // A head equal to the claims is legitimate (everything consumed).
  ring.control().head.store(4);
  EXPECT_EQ(ring.producer().TryPush(ChunkDesc(4), nullptr), PushResult::kOk);
}

// A head that lags (or goes backwards) only makes the ring look full.
TEST(RingTest, LaggingHeadLooksFull) {
  Ring ring(2);
  RingMessage out;
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(0), nullptr), PushResult::kOk);
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(1), nullptr), PushResult::kOk);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ring.control().head.store(0);  // hostile consumer moves head back
  // The producer's cache already saw nothing beyond 0, so it is full.
  EXPECT_EQ(ring.producer().TryPush(ChunkDesc(2), nullptr), PushResult::kFull);
  ring.control().head.store(1);
  EXPECT_EQ(ring.producer().TryPush(ChunkDesc(2), nullptr), PushResult::kOk);
}

// A blocked Push completes once the consumer makes room.
TEST(RingTest, BlockingPushWaitsForSpace) {
  Ring ring(4);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(ring.producer().TryPush(ChunkDesc(i), nullptr), PushResult::kOk);
  }
  std::atomic<int> result{-1};
  std::thread producer([&] {
    result.store(static_cast<int>(ring.producer().Push(
        ChunkDesc(4), nullptr, NoSpin(), In(milliseconds(30000)), kNeverStop)));
  });
  ASSERT_TRUE(PollUntil(
      [&] { return ring.control().space_bell.announced.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(result.load(), -1);  // still blocked
  const auto start = steady_clock::now();
  RingMessage out;
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);  // rings space bell
  producer.join();
  EXPECT_LT(steady_clock::now() - start, milliseconds(10000));
  EXPECT_EQ(result.load(), static_cast<int>(PushResult::kOk));
  for (int i = 1; i <= 4; ++i) {
    ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
    ExpectSameDescriptor(out.desc, ChunkDesc(i));
  }
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
}

// A consumer sleeping on the data bell is woken by a push.
TEST(RingTest, PushWakesSleepingConsumer) {
  Ring ring(4);
  std::atomic<int> status{-1};
  std::thread consumer([&] {
    status.store(static_cast<int>(ring.consumer().data_bell().Wait(
        [&] { return ring.consumer().HasData(); }, NoSpin(),
        In(milliseconds(30000)))));
  });
  ASSERT_TRUE(PollUntil(
      [&] { return ring.control().data_bell.announced.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(10));
  const auto start = steady_clock::now();
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(1), nullptr), PushResult::kOk);
  consumer.join();
  EXPECT_LT(steady_clock::now() - start, milliseconds(10000));
  EXPECT_EQ(status.load(), static_cast<int>(WaitStatus::kReady));
  EXPECT_EQ(ring.control().data_bell.seq.load(), 1u);
}

// Push on a full ring with a past (or short) deadline returns kFull and
// claims nothing.
TEST(RingTest, PushWithPastDeadlineOnFullRingReturnsFull) {
  Ring ring(2);
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(0), nullptr), PushResult::kOk);
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(1), nullptr), PushResult::kOk);
  const auto start = steady_clock::now();
  EXPECT_EQ(ring.producer().Push(ChunkDesc(2), nullptr, WaitPolicy{},
                                 Deadline{}, kNeverStop),
            PushResult::kFull);
  EXPECT_EQ(ring.producer().Push(ChunkDesc(2), nullptr, NoSpin(),
                                 start - milliseconds(1), kNeverStop),
            PushResult::kFull);
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));
  EXPECT_EQ(ring.producer().Push(ChunkDesc(2), nullptr, NoSpin(),
                                 In(milliseconds(20)), kNeverStop),
            PushResult::kFull);
  EXPECT_GE(steady_clock::now() - start, milliseconds(20));
  // The timed-out waiter leaves its announcement for the next pop to consume.
  EXPECT_EQ(ring.control().space_bell.announced.load(), 1u);
  // Nothing extra was claimed: after draining, the next push lands at 2.
  RingMessage out;
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(9), nullptr), PushResult::kOk);
  EXPECT_EQ(ring.entry(2).seq.load(), 3u);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, ChunkDesc(9));
}

// A blocked Push gives up (kFull) when stop() turns true and the space bell
// is rung, long before its deadline.
TEST(RingTest, PushStopsWhenStopBecomesTrue) {
  Ring ring(2);
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(0), nullptr), PushResult::kOk);
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(1), nullptr), PushResult::kOk);
  std::atomic<bool> stop{false};
  std::atomic<int> result{-1};
  std::thread producer([&] {
    result.store(static_cast<int>(ring.producer().Push(
        ChunkDesc(2), nullptr, NoSpin(), In(milliseconds(30000)),
        [&] { return stop.load(); })));
  });
  ASSERT_TRUE(PollUntil(
      [&] { return ring.control().space_bell.announced.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(result.load(), -1);
  const auto start = steady_clock::now();
  stop.store(true);
  ring.producer().space_bell().WakeAll();
  producer.join();
  EXPECT_LT(steady_clock::now() - start, milliseconds(10000));
  EXPECT_EQ(result.load(), static_cast<int>(PushResult::kFull));
  // A stop() that is already true returns without waiting.
  EXPECT_EQ(ring.producer().Push(ChunkDesc(2), nullptr, NoSpin(), kNoDeadline,
                                 [] { return true; }),
            PushResult::kFull);
  // Only the two original messages are in the ring.
  RingMessage out;
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
}

// A blocked Push notices a corrupt head set while it waits.
TEST(RingTest, BlockedPushReportsCorruptHead) {
  Ring ring(2);
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(0), nullptr), PushResult::kOk);
  ASSERT_EQ(ring.producer().TryPush(ChunkDesc(1), nullptr), PushResult::kOk);
  std::atomic<int> result{-1};
  std::thread producer([&] {
    result.store(static_cast<int>(ring.producer().Push(
        ChunkDesc(2), nullptr, NoSpin(), In(milliseconds(30000)), kNeverStop)));
  });
  ASSERT_TRUE(PollUntil(
      [&] { return ring.control().space_bell.announced.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(10));
  ring.control().head.store(100);
  ring.producer().space_bell().WakeAll();
  producer.join();
  EXPECT_EQ(result.load(), static_cast<int>(PushResult::kCorrupt));
}

// Attach() restarts both ends at position 0 over a fresh ring.
TEST(RingTest, AttachRestartsAtZero) {
  Ring a(4), b(4);
  RingMessage out;
  ASSERT_EQ(a.producer().TryPush(ChunkDesc(0), nullptr), PushResult::kOk);
  ASSERT_EQ(a.consumer().TryPop(&out), PopResult::kOk);
  a.producer().Attach(b.view());
  a.consumer().Attach(b.view());
  EXPECT_EQ(a.consumer().position(), 0u);
  ASSERT_EQ(a.producer().TryPush(ChunkDesc(5), nullptr), PushResult::kOk);
  EXPECT_EQ(b.entry(0).seq.load(), 1u);
  ASSERT_EQ(a.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, ChunkDesc(5));
}

// Threads of one producing process share the cached head. Whatever the
// consumer did before releasing an entry (storing head) must happen-before a
// producer thread's reuse of that entry, also when the producer relies on a
// cached head that a *different* thread of its process refreshed; likewise
// the previous lap's producer writes. Here the steps are sequenced with
// relaxed atomics only, which create no happens-before, so the only ordering
// is what the ring itself provides. The consumer and the first producer each
// write a plain note before handing the entry on; the reusing producer reads
// both after its push. If the ring does not carry the cached head with
// release/acquire order, TSan reports a data race on the notes (and a real
// program would race on the entry itself; GCC's inlined copies of the entry
// are invisible to TSan, hence the notes).
TEST(RingTest, EntryReuseHappensAfterConsumerRelease) {
  Ring ring(2);
  int producer_note = 0;  // written by the first producer before its push
  int consumer_note = 0;  // written by the consumer before its pop
  std::atomic<int> step{0};
  auto wait_for = [&](int s) {
    const Deadline end = In(milliseconds(20000));
    while (step.load(std::memory_order_relaxed) < s) {
      if (steady_clock::now() > end) return false;
      std::this_thread::yield();
    }
    return true;
  };
  std::atomic<int> failures{0};
  int seen_producer_note = -1, seen_consumer_note = -1;
  // Thread 1 fills the ring (entries 0 and 1).
  std::thread filler([&] {
    producer_note = 11;
    for (int i = 0; i < 2; ++i) {
      if (ring.producer().TryPush(ChunkDesc(i), nullptr) != PushResult::kOk) {
        failures.fetch_add(1);
      }
    }
    step.store(1, std::memory_order_relaxed);
  });
  // Thread 2 only refreshes the shared cached head (HasSpace reloads it
  // because the cache says "full").
  std::thread refresher([&] {
    if (!wait_for(2) || !ring.producer().HasSpace()) failures.fetch_add(1);
    step.store(3, std::memory_order_relaxed);
  });
  // Thread 3 reuses entry 0 on the strength of that cache.
  std::thread pusher([&] {
    if (!wait_for(3) ||
        ring.producer().TryPush(ChunkDesc(2), nullptr) != PushResult::kOk) {
      failures.fetch_add(1);
    }
    seen_consumer_note = consumer_note;
    seen_producer_note = producer_note;
    step.store(4, std::memory_order_relaxed);
  });
  // This thread is the consumer: it releases entry 0.
  RingMessage out;
  EXPECT_TRUE(wait_for(1));
  consumer_note = 22;
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
  ExpectSameDescriptor(out.desc, ChunkDesc(0));
  step.store(2, std::memory_order_relaxed);
  EXPECT_TRUE(wait_for(4));
  filler.join();
  refresher.join();
  pusher.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(seen_consumer_note, 22);
  EXPECT_EQ(seen_producer_note, 11);
  for (int i = 1; i <= 2; ++i) {
    ASSERT_EQ(ring.consumer().TryPop(&out), PopResult::kOk);
    ExpectSameDescriptor(out.desc, ChunkDesc(i));
  }
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
}

// HasSpace() must not report "full" for a ring that never holds more than
// one message. While one thread pushes (waiting for each message to be
// consumed before the next), other threads of the producing process call
// HasSpace(). If a push and a cache refresh land between HasSpace's load of
// the claim counter and its load of the cached head, the cached head is ahead
// of the claim it loaded and `pos - head` wraps around. This is a race
// window, so the test runs for a bounded time (stopping at the first wrong
// answer); in unoptimized and sanitizer builds it hits the window within a
// fraction of a second.
TEST(RingTest, HasSpaceNeverFalseWhileRingNearlyEmpty) {
  Ring ring(2);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> wrong{0}, checks{0};
  auto checker = [&] {
    while (!done.load(std::memory_order_relaxed)) {
      if (!ring.producer().HasSpace()) {
        wrong.fetch_add(1);
        done.store(true);
      }
      checks.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread consumer([&] {
    RingMessage out;
    while (!done.load(std::memory_order_relaxed)) {
      if (ring.consumer().TryPop(&out) == PopResult::kEmpty) {
        std::this_thread::yield();
      }
    }
  });
  std::thread checker1(checker), checker2(checker);
  uint64_t pushes = 0;
  bool push_failed = false;
  const Deadline end = In(milliseconds(1000));
  while (!done.load() && steady_clock::now() < end) {
    if (ring.producer().TryPush(ChunkDesc(pushes), nullptr) !=
        PushResult::kOk) {
      push_failed = true;
      break;
    }
    ++pushes;
    // At most one message in flight: wait until it has been consumed.
    while (ring.control().head.load(std::memory_order_acquire) != pushes &&
           !done.load() && steady_clock::now() < end) {
      std::this_thread::yield();
    }
  }
  done.store(true);
  consumer.join();
  checker1.join();
  checker2.join();
  EXPECT_FALSE(push_failed) << "after " << pushes << " pushes";
  EXPECT_GT(pushes, 0u);
  EXPECT_GT(checks.load(), 0u);
  EXPECT_EQ(wrong.load(), 0u)
      << "HasSpace() said full with at most one of 2 "
         "entries in use; "
      << pushes << " pushes, " << checks.load() << " checks";
}

// 4 producer threads x 20000 messages through a 64-entry ring into one
// consumer: per-producer FIFO order, nothing lost, nothing duplicated, and
// inline payloads intact.
TEST(RingTest, MultiProducerStress) {
  constexpr uint32_t kProducers = 4;
  constexpr uint32_t kPerProducer = 20000;
  Ring ring(64);
  WaitPolicy policy;
  policy.spin = std::chrono::microseconds(20);
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> not_ok{0};

  std::vector<std::thread> producers;
  for (uint32_t id = 0; id < kProducers; ++id) {
    producers.emplace_back([&, id] {
      for (uint32_t n = 0; n < kPerProducer && !failed.load(); ++n) {
        Descriptor d{};
        d.stream = id;
        d.aux = n;
        uint8_t bytes[kInlineCapacity];
        if (n % 3 == 0) {
          d.payload = static_cast<uint8_t>(PayloadKind::kInline);
          d.length = 8 + n % (kInlineCapacity - 7);
          std::memcpy(bytes, &id, 4);
          std::memcpy(bytes + 4, &n, 4);
          for (uint32_t b = 8; b < d.length; ++b) bytes[b] = uint8_t(n ^ b);
        } else {
          d.payload = static_cast<uint8_t>(PayloadKind::kChunk);
          d.offset_units = id;
          d.lend = n;
        }
        PushResult r = n % 2 == 0
                           ? ring.producer().Push(d, bytes, policy,
                                                  In(milliseconds(30000)),
                                                  [&] { return failed.load(); })
                           : PushResult::kFull;
        if (n % 2 != 0) {
          // Odd messages use TryPush in a loop.
          const Deadline end = In(milliseconds(30000));
          while ((r = ring.producer().TryPush(d, bytes)) == PushResult::kFull &&
                 steady_clock::now() < end && !failed.load()) {
            std::this_thread::yield();
          }
        }
        if (r != PushResult::kOk) {
          not_ok.fetch_add(1);
          failed.store(true);
          return;
        }
      }
    });
  }

  std::vector<uint32_t> next(kProducers, 0);
  uint64_t received = 0, errors = 0;
  RingMessage out;
  const Deadline end = In(milliseconds(60000));
  while (received < uint64_t{kProducers} * kPerProducer && !failed.load()) {
    PopResult r = ring.consumer().TryPop(&out);
    if (r == PopResult::kEmpty) {
      if (ring.consumer().data_bell().Wait(
              [&] { return ring.consumer().HasData() || failed.load(); },
              policy, end) == WaitStatus::kTimedOut) {
        ADD_FAILURE() << "consumer timed out after " << received;
        failed.store(true);
      }
      continue;
    }
    if (r != PopResult::kOk || out.desc.stream >= kProducers) {
      ++errors;
      failed.store(true);
      break;
    }
    const uint32_t id = out.desc.stream;
    const uint32_t n = out.desc.aux;
    if (n != next[id]) {
      ADD_FAILURE() << "producer " << id << ": got " << n << ", expected "
                    << next[id];
      ++errors;
      failed.store(true);
      break;
    }
    if (n % 3 == 0) {
      uint32_t got_id, got_n;
      std::memcpy(&got_id, out.inline_data, 4);
      std::memcpy(&got_n, out.inline_data + 4, 4);
      bool ok = out.desc.payload == uint8_t(PayloadKind::kInline) &&
                out.desc.length == 8 + n % (kInlineCapacity - 7) &&
                got_id == id && got_n == n;
      for (uint32_t b = 8; ok && b < out.desc.length; ++b) {
        ok = out.inline_data[b] == uint8_t(n ^ b);
      }
      if (!ok) ++errors;
    } else if (out.desc.payload != uint8_t(PayloadKind::kChunk) ||
               out.desc.offset_units != id || out.desc.lend != n) {
      ++errors;
    }
    ++next[id];
    ++received;
  }
  failed.store(true);  // release any producer still waiting
  ring.producer().space_bell().WakeAll();
  for (std::thread& t : producers) t.join();

  EXPECT_EQ(errors, 0u);
  EXPECT_EQ(not_ok.load(), 0u);
  EXPECT_EQ(received, uint64_t{kProducers} * kPerProducer);
  for (uint32_t id = 0; id < kProducers; ++id) {
    EXPECT_EQ(next[id], kPerProducer) << "producer " << id;
  }
  EXPECT_EQ(ring.consumer().TryPop(&out), PopResult::kEmpty);
  EXPECT_EQ(ring.control().head.load(), uint64_t{kProducers} * kPerProducer);
}

}  // namespace
}  // namespace shmrpc::transport
