// Tests of flat messages (message/flat.h): builders write what views read,
// every setter and accessor of every field kind, arena growth and failure,
// schema evolution, and views over hostile buffers (bad headers, offsets,
// lengths and counts out of range, cycles, a spent traversal budget, random
// corruption) that must read as defaults, never out of bounds.
#include "shmrpc/message/flat.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace shmrpc::flat {
namespace {

using internal::MessageRef;
using internal::RepeatedRef;

// ---- Schemas -------------------------------------------------------------

// test.Child: 1 varint, 2 bytes, 3 a nested Child, 4 repeated uint64.
constexpr uint8_t kChildKinds[] = {kVarint, kBytes, kMessage, kRepUInt64};
const MessageSchema kChild = {"test.Child", TypeId("test.Child"), 4,
                              kChildKinds};

// test.All: one field of every kind, a gap (8, and 21..69), and a field
// (70) whose presence bit is in the second presence word.
enum AllField : uint32_t {
  kFVarint = 1,
  kFFixed32 = 2,
  kFFixed64 = 3,
  kFFloat = 4,
  kFDouble = 5,
  kFBytes = 6,
  kFMessage = 7,
  kFGap = 8,
  kFRepBool = 9,
  kFRepInt32 = 10,
  kFRepUInt32 = 11,
  kFRepInt64 = 12,
  kFRepUInt64 = 13,
  kFRepFixed32 = 14,
  kFRepFixed64 = 15,
  kFRepFloat = 16,
  kFRepDouble = 17,
  kFRepBytes = 18,
  kFRepMessage = 19,
  kFVarint2 = 20,
  kFHigh = 70,
};
constexpr uint32_t kAllCount = 70;

constexpr std::array<uint8_t, kAllCount> MakeAllKinds() {
  std::array<uint8_t, kAllCount> k{};
  k[kFVarint - 1] = kVarint;
  k[kFFixed32 - 1] = kFixed32;
  k[kFFixed64 - 1] = kFixed64;
  k[kFFloat - 1] = kFloat;
  k[kFDouble - 1] = kDouble;
  k[kFBytes - 1] = kBytes;
  k[kFMessage - 1] = kMessage;
  k[kFRepBool - 1] = kRepBool;
  k[kFRepInt32 - 1] = kRepInt32;
  k[kFRepUInt32 - 1] = kRepUInt32;
  k[kFRepInt64 - 1] = kRepInt64;
  k[kFRepUInt64 - 1] = kRepUInt64;
  k[kFRepFixed32 - 1] = kRepFixed32;
  k[kFRepFixed64 - 1] = kRepFixed64;
  k[kFRepFloat - 1] = kRepFloat;
  k[kFRepDouble - 1] = kRepDouble;
  k[kFRepBytes - 1] = kRepBytes;
  k[kFRepMessage - 1] = kRepMessage;
  k[kFVarint2 - 1] = kVarint;
  k[kFHigh - 1] = kVarint;
  return k;
}
constexpr std::array<uint8_t, kAllCount> kAllKinds = MakeAllKinds();
const MessageSchema kAll = {"test.All", TypeId("test.All"), kAllCount,
                            kAllKinds.data()};

// test.Evolve, version A (fields 1..3) and version B (1..5, field 2 changed
// from bytes to a varint).
constexpr uint8_t kEvolveAKinds[] = {kVarint, kBytes, kFixed32};
const MessageSchema kEvolveA = {"test.Evolve", TypeId("test.Evolve"), 3,
                                kEvolveAKinds};
constexpr uint8_t kEvolveBKinds[] = {kVarint, kVarint, kFixed32, kDouble,
                                     kVarint};
const MessageSchema kEvolveB = {"test.Evolve", TypeId("test.Evolve"), 5,
                                kEvolveBKinds};

// Views, as generated code has them.
struct AllView {
  static constexpr uint64_t kTypeId = TypeId("test.All");
  explicit AllView(MessageRef r) : ref(r) {}
  MessageRef ref;
};
struct ChildView {
  static constexpr uint64_t kTypeId = TypeId("test.Child");
  explicit ChildView(MessageRef r) : ref(r) {}
  MessageRef ref;
};
struct EvolveView {
  static constexpr uint64_t kTypeId = TypeId("test.Evolve");
  explicit EvolveView(MessageRef r) : ref(r) {}
  MessageRef ref;
};

// ---- Helpers -------------------------------------------------------------

// A copy of a buffer in 8-aligned memory of its own (exactly its size when
// that is a multiple of 8, as a finished arena's is), to corrupt.
class Buffer {
 public:
  explicit Buffer(absl::Span<const uint8_t> bytes)
      : size_(bytes.size()), words_(new uint64_t[(bytes.size() + 7) / 8 + 1]) {
    if (!bytes.empty()) std::memcpy(words_.get(), bytes.data(), bytes.size());
  }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(words_.get()); }
  const uint8_t* data() const {
    return reinterpret_cast<const uint8_t*>(words_.get());
  }
  size_t size() const { return size_; }
  absl::Span<const uint8_t> span() const { return {data(), size_}; }

  template <typename T>
  void Put(uint64_t offset, T value) {
    ASSERT_LE(offset + sizeof(T), size_);
    std::memcpy(data() + offset, &value, sizeof(T));
  }
  template <typename T>
  T Get(uint64_t offset) const {
    T value{};
    EXPECT_LE(offset + sizeof(T), size_);
    if (offset + sizeof(T) <= size_) {
      std::memcpy(&value, data() + offset, sizeof(T));
    }
    return value;
  }
  uint32_t root() const { return Get<uint32_t>(8); }
  // Where field `number` of the message at `message` has its slot.
  uint64_t SlotOf(uint32_t message, uint32_t number) const {
    return message + SlotsOffset(Get<uint32_t>(message)) + 8 * (number - 1);
  }
  uint64_t Slot(uint32_t message, uint32_t number) const {
    return Get<uint64_t>(SlotOf(message, number));
  }
  void SetSlot(uint32_t message, uint32_t number, uint64_t value) {
    Put<uint64_t>(SlotOf(message, number), value);
  }

 private:
  size_t size_;
  std::unique_ptr<uint64_t[]> words_;
};

uint64_t Pair(uint64_t low, uint64_t high) { return low | (high << 32); }

bool Inside(const void* p, size_t bytes, absl::Span<const uint8_t> buffer) {
  if (bytes == 0) return true;
  const auto b = reinterpret_cast<uintptr_t>(p);
  const auto begin = reinterpret_cast<uintptr_t>(buffer.data());
  return b >= begin && bytes <= buffer.size() &&
         b - begin <= buffer.size() - bytes;
}
bool Inside(absl::string_view v, absl::Span<const uint8_t> buffer) {
  return Inside(v.data(), v.size(), buffer);
}
template <typename T>
bool Inside(absl::Span<const T> s, absl::Span<const uint8_t> buffer) {
  return Inside(s.data(), s.size() * sizeof(T), buffer);
}

uint32_t FloatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
uint64_t DoubleBits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}
float FloatOf(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
double DoubleOf(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

template <typename T>
void Add(MessageBuilder& b, uint32_t number, T value) {
  b.AddScalar(number, &value);
}

const std::string kBinary("a\0b\0\xff\x00z", 7);
constexpr uint32_t kNaNBits = 0x7fc01234u;  // a quiet NaN with a payload
constexpr uint64_t kDoubleNaNBits = 0xfff8000000abcdefull;

// Fills every field of a test.All; the values RoundTrip checks.
MessageBuilder BuildAll(Arena* arena) {
  MessageBuilder b = MessageBuilder::New(arena, kAll);
  b.SetVarint(kFVarint, -5, true);
  b.SetFixed32(kFFixed32, 0xdeadbeef, true);
  b.SetFixed64(kFFixed64, 0x0123456789abcdefull, false);
  b.SetFloat(kFFloat, FloatOf(kNaNBits), true);
  b.SetDouble(kFDouble, -0.0, true);
  b.SetBytes(kFBytes, "replaced", true);
  b.SetBytes(kFBytes, kBinary, true);

  MessageBuilder child = b.MutableMessage(kFMessage, kChild);
  MessageBuilder again = b.MutableMessage(kFMessage, kChild);
  EXPECT_FALSE(child.detached());
  EXPECT_EQ(child.offset(), again.offset());
  again.SetVarint(1, 123, false);
  child.SetBytes(2, "", true);  // empty, but present
  MessageBuilder grandchild = child.MutableMessage(3, kChild);
  absl::Span<uint8_t> hello = grandchild.ResizeBytes(2, 5, false);
  EXPECT_EQ(hello.size(), 5u);
  std::memcpy(hello.data(), "hello", 5);
  Add<uint64_t>(grandchild, 4, 77);

  for (uint8_t v : {1, 0, 1}) Add<uint8_t>(b, kFRepBool, v);
  // More than the first capacity (4): the array moves.
  for (int32_t v : {-1, INT32_MIN, INT32_MAX, 0, 5, 6, 7, 8, 9, 10}) {
    Add<int32_t>(b, kFRepInt32, v);
  }
  Add<uint32_t>(b, kFRepUInt32, 0xffffffffu);
  Add<uint32_t>(b, kFRepUInt32, 3);
  Add<int64_t>(b, kFRepInt64, INT64_MIN);
  Add<int64_t>(b, kFRepInt64, -2);
  Add<uint64_t>(b, kFRepUInt64, UINT64_MAX);
  Add<uint32_t>(b, kFRepFixed32, 0x80000001u);
  Add<float>(b, kFRepFloat, 1.5f);
  Add<float>(b, kFRepFloat, FloatOf(kNaNBits));
  Add<double>(b, kFRepDouble, -0.0);
  Add<double>(b, kFRepDouble, DoubleOf(kDoubleNaNBits));

  // Resize: grow keeps the prefix and zeroes the rest, shrink keeps the
  // prefix, then appending past the new capacity moves the array again.
  for (uint64_t v : {11, 12, 13}) Add<uint64_t>(b, kFRepFixed64, v);
  absl::Span<uint8_t> grown = b.ResizeRepeated(kFRepFixed64, 6);
  EXPECT_EQ(grown.size(), 6 * 8u);
  EXPECT_EQ(b.RepeatedSize(kFRepFixed64), 6);
  uint64_t got[6];
  std::memcpy(got, grown.data(), sizeof(got));
  EXPECT_EQ(got[0], 11u);
  EXPECT_EQ(got[2], 13u);
  EXPECT_EQ(got[3], 0u);
  EXPECT_EQ(got[5], 0u);
  const uint64_t sixteen = 16;
  std::memcpy(grown.data() + 5 * 8, &sixteen, 8);
  absl::Span<uint8_t> shrunk = b.ResizeRepeated(kFRepFixed64, 2);
  EXPECT_EQ(shrunk.size(), 2 * 8u);
  EXPECT_EQ(b.RepeatedSize(kFRepFixed64), 2);
  Add<uint64_t>(b, kFRepFixed64, 99);  // capacity 2: moves

  b.AddBytes(kFRepBytes, "x");
  b.AddBytes(kFRepBytes, "");
  absl::Span<uint8_t> abc = b.AddBytes(kFRepBytes, 3);
  EXPECT_EQ(abc.size(), 3u);
  std::memcpy(abc.data(), "abc", 3);
  b.AddBytes(kFRepBytes, kBinary);
  EXPECT_TRUE(b.AddBytes(kFRepBytes, uint64_t{0}).empty());

  for (int i = 0; i < 6; ++i) {
    MessageBuilder m = b.AddMessage(kFRepMessage, kChild);
    EXPECT_FALSE(m.detached());
    m.SetVarint(1, 1000 + i, true);
  }
  MessageBuilder third = b.MessageAt(kFRepMessage, 2, kChild);
  EXPECT_FALSE(third.detached());
  EXPECT_EQ(third.Read().Varint(1), 1002);
  third.SetBytes(2, "third", true);
  EXPECT_TRUE(b.MessageAt(kFRepMessage, 6, kChild).detached());
  EXPECT_TRUE(b.MessageAt(kFRepMessage, -1, kChild).detached());
  EXPECT_TRUE(b.MessageAt(kFRepInt32, 0, kChild).detached());

  b.SetVarint(kFVarint2, 55, true);
  EXPECT_TRUE(b.Has(kFVarint2));
  b.Clear(kFVarint2);
  EXPECT_FALSE(b.Has(kFVarint2));
  b.SetPresence(kFVarint2, true);  // present, value 0
  b.SetVarint(kFHigh, INT64_MIN, true);

  // Fields the schema does not have: nothing happens.
  b.SetVarint(kFGap, 9, true);
  b.SetVarint(0, 9, true);
  b.SetVarint(kAllCount + 1, 9, true);
  Add<uint32_t>(b, kFVarint, 1);  // not a repeated field
  EXPECT_TRUE(b.AddMessage(kFRepBytes, kChild).detached());
  EXPECT_FALSE(b.Has(kFGap));
  return b;
}

// ---- Round trip ----------------------------------------------------------

TEST(FlatTest, RoundTripEveryKind) {
  HeapArena arena;
  MessageBuilder b = BuildAll(&arena);
  ASSERT_TRUE(arena.Finish(b).ok());
  ASSERT_EQ(arena.used() % 8, 0u);
  const absl::Span<const uint8_t> buf = arena.written();
  Reader reader(buf);
  absl::StatusOr<AllView> view = reader.Root<AllView>();
  ASSERT_TRUE(view.ok()) << view.status();
  const MessageRef m = view->ref;
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.field_count(), kAllCount);

  // Kinds as written, and kNone outside the schema.
  for (uint32_t f = 1; f <= kAllCount; ++f) {
    EXPECT_EQ(m.KindOf(f), kAllKinds[f - 1]) << f;
  }
  EXPECT_EQ(m.KindOf(0), kNone);
  EXPECT_EQ(m.KindOf(kAllCount + 1), kNone);
  EXPECT_EQ(m.KindOf(UINT32_MAX), kNone);

  // Presence.
  EXPECT_TRUE(m.Has(kFVarint));
  EXPECT_TRUE(m.Has(kFFixed32));
  EXPECT_FALSE(m.Has(kFFixed64));  // set without presence
  EXPECT_TRUE(m.Has(kFFloat));
  EXPECT_TRUE(m.Has(kFMessage));
  EXPECT_FALSE(m.Has(kFGap));
  EXPECT_FALSE(m.Has(kFRepBool));
  EXPECT_TRUE(m.Has(kFVarint2));
  EXPECT_TRUE(m.Has(kFHigh));
  EXPECT_FALSE(m.Has(0));
  EXPECT_FALSE(m.Has(kAllCount + 1));

  // Scalars.
  EXPECT_EQ(m.Varint(kFVarint), -5);
  EXPECT_EQ(m.Fixed32(kFFixed32), 0xdeadbeefu);
  EXPECT_EQ(m.Fixed64(kFFixed64), 0x0123456789abcdefull);
  EXPECT_EQ(FloatBits(m.Float(kFFloat)), kNaNBits);
  EXPECT_EQ(DoubleBits(m.Double(kFDouble)), DoubleBits(-0.0));
  EXPECT_TRUE(std::signbit(m.Double(kFDouble)));
  EXPECT_EQ(m.Varint(kFVarint2), 0);
  EXPECT_EQ(m.Varint(kFHigh), INT64_MIN);

  // Each scalar read as any other kind: the default.
  EXPECT_EQ(m.Varint(kFFixed32), 0);
  EXPECT_EQ(m.Fixed32(kFVarint), 0u);
  EXPECT_EQ(m.Fixed32(kFFloat), 0u);
  EXPECT_EQ(m.Fixed64(kFDouble), 0u);
  EXPECT_EQ(m.Float(kFFixed32), 0.0f);
  EXPECT_EQ(m.Double(kFFixed64), 0.0);
  EXPECT_TRUE(m.Bytes(kFVarint).empty());
  EXPECT_TRUE(m.Message(kFBytes).empty());
  EXPECT_EQ(m.Repeated(kFBytes).size(), 0);
  EXPECT_EQ(m.Repeated(kFMessage).size(), 0);
  EXPECT_EQ(m.Varint(kFGap), 0);
  EXPECT_EQ(m.Varint(kAllCount + 1), 0);

  // Bytes, in place.
  const absl::string_view bytes = m.Bytes(kFBytes);
  EXPECT_EQ(bytes, kBinary);
  EXPECT_TRUE(Inside(bytes, buf));

  // The child, its empty-but-present bytes, and the grandchild.
  const MessageRef child = m.Message(kFMessage);
  ASSERT_FALSE(child.empty());
  EXPECT_EQ(child.field_count(), 4u);
  EXPECT_EQ(child.Varint(1), 123);
  EXPECT_FALSE(child.Has(1));
  EXPECT_TRUE(child.Has(2));
  EXPECT_TRUE(child.Bytes(2).empty());
  EXPECT_TRUE(child.Has(3));
  const MessageRef grandchild = child.Message(3);
  EXPECT_EQ(grandchild.Bytes(2), "hello");
  EXPECT_FALSE(grandchild.Has(2));
  EXPECT_EQ(grandchild.Repeated(4).VarintAt(0), 77);
  EXPECT_TRUE(grandchild.Message(3).empty());

  // Repeated varint kinds, read across kinds.
  const RepeatedRef bools = m.Repeated(kFRepBool);
  EXPECT_EQ(bools.kind(), kRepBool);
  ASSERT_EQ(bools.size(), 3);
  EXPECT_EQ(bools.VarintAt(0), 1);
  EXPECT_EQ(bools.VarintAt(1), 0);
  EXPECT_EQ(bools.VarintAt(2), 1);
  EXPECT_EQ(bools.VarintAt(3), 0);
  EXPECT_EQ(bools.Span<uint8_t>(kRepBool).size(), 3u);
  EXPECT_TRUE(Inside(bools.Span<uint8_t>(kRepBool), buf));

  const RepeatedRef i32 = m.Repeated(kFRepInt32);
  ASSERT_EQ(i32.size(), 10);
  EXPECT_EQ(i32.VarintAt(0), -1);
  EXPECT_EQ(i32.VarintAt(1), INT32_MIN);
  EXPECT_EQ(i32.VarintAt(2), INT32_MAX);
  EXPECT_EQ(i32.VarintAt(9), 10);
  EXPECT_EQ(i32.VarintAt(10), 0);
  EXPECT_EQ(i32.VarintAt(-1), 0);
  EXPECT_EQ(i32.VarintAt(INT_MAX), 0);
  EXPECT_EQ(i32.Fixed32At(0), 0u);  // not a fixed32 array
  const absl::Span<const int32_t> i32s = i32.Span<int32_t>(kRepInt32);
  ASSERT_EQ(i32s.size(), 10u);
  EXPECT_TRUE(Inside(i32s, buf));
  EXPECT_EQ(i32s[0], -1);
  EXPECT_EQ(i32s[9], 10);
  EXPECT_TRUE(i32.Span<uint32_t>(kRepUInt32).empty());  // another kind
  EXPECT_TRUE(i32.Span<int64_t>(kRepInt32).empty());    // another size

  const RepeatedRef u32 = m.Repeated(kFRepUInt32);
  ASSERT_EQ(u32.size(), 2);
  EXPECT_EQ(u32.VarintAt(0), 4294967295);
  EXPECT_EQ(u32.VarintAt(1), 3);
  EXPECT_EQ(u32.Span<uint32_t>(kRepUInt32)[0], 0xffffffffu);
  EXPECT_TRUE(u32.Span<uint32_t>(kRepFixed32).empty());

  const RepeatedRef i64 = m.Repeated(kFRepInt64);
  ASSERT_EQ(i64.size(), 2);
  EXPECT_EQ(i64.VarintAt(0), INT64_MIN);
  EXPECT_EQ(i64.VarintAt(1), -2);
  EXPECT_EQ(i64.Span<int64_t>(kRepInt64)[1], -2);
  EXPECT_EQ(i64.Fixed64At(0), 0u);

  const RepeatedRef u64 = m.Repeated(kFRepUInt64);
  ASSERT_EQ(u64.size(), 1);
  EXPECT_EQ(u64.VarintAt(0), -1);
  EXPECT_EQ(u64.Span<uint64_t>(kRepUInt64)[0], UINT64_MAX);
  EXPECT_TRUE(u64.Span<uint64_t>(kRepFixed64).empty());

  // Repeated fixed and floating kinds: not varints.
  const RepeatedRef f32 = m.Repeated(kFRepFixed32);
  ASSERT_EQ(f32.size(), 1);
  EXPECT_EQ(f32.Fixed32At(0), 0x80000001u);
  EXPECT_EQ(f32.VarintAt(0), 0);
  EXPECT_EQ(f32.Fixed32At(1), 0u);
  EXPECT_EQ(f32.Span<uint32_t>(kRepFixed32)[0], 0x80000001u);

  const RepeatedRef f64 = m.Repeated(kFRepFixed64);
  ASSERT_EQ(f64.size(), 3);
  EXPECT_EQ(f64.Fixed64At(0), 11u);
  EXPECT_EQ(f64.Fixed64At(1), 12u);
  EXPECT_EQ(f64.Fixed64At(2), 99u);
  EXPECT_EQ(f64.Fixed64At(3), 0u);
  EXPECT_EQ(f64.VarintAt(0), 0);
  EXPECT_EQ(f64.DoubleAt(0), 0.0);

  const RepeatedRef floats = m.Repeated(kFRepFloat);
  ASSERT_EQ(floats.size(), 2);
  EXPECT_EQ(floats.FloatAt(0), 1.5f);
  EXPECT_EQ(FloatBits(floats.FloatAt(1)), kNaNBits);
  EXPECT_EQ(floats.Fixed32At(0), 0u);
  EXPECT_EQ(floats.Span<float>(kRepFloat)[0], 1.5f);

  const RepeatedRef doubles = m.Repeated(kFRepDouble);
  ASSERT_EQ(doubles.size(), 2);
  EXPECT_EQ(DoubleBits(doubles.DoubleAt(0)), DoubleBits(-0.0));
  EXPECT_EQ(DoubleBits(doubles.DoubleAt(1)), kDoubleNaNBits);
  EXPECT_EQ(doubles.FloatAt(0), 0.0f);
  EXPECT_TRUE(doubles.Span<float>(kRepDouble).empty());

  const RepeatedRef strings = m.Repeated(kFRepBytes);
  ASSERT_EQ(strings.size(), 5);
  EXPECT_EQ(strings.BytesAt(0), "x");
  EXPECT_TRUE(strings.BytesAt(1).empty());
  EXPECT_EQ(strings.BytesAt(2), "abc");
  EXPECT_EQ(strings.BytesAt(3), kBinary);
  EXPECT_TRUE(strings.BytesAt(4).empty());
  EXPECT_TRUE(strings.BytesAt(5).empty());
  EXPECT_TRUE(Inside(strings.BytesAt(3), buf));
  EXPECT_EQ(strings.VarintAt(0), 0);
  EXPECT_TRUE(strings.MessageAt(0).empty());

  const RepeatedRef children = m.Repeated(kFRepMessage);
  ASSERT_EQ(children.size(), 6);
  for (int i = 0; i < 6; ++i) {
    const MessageRef c = children.MessageAt(i);
    ASSERT_FALSE(c.empty()) << i;
    EXPECT_EQ(c.Varint(1), 1000 + i);
    EXPECT_TRUE(c.Has(1));
  }
  EXPECT_EQ(children.MessageAt(2).Bytes(2), "third");
  EXPECT_TRUE(children.MessageAt(6).empty());
  EXPECT_TRUE(children.MessageAt(-1).empty());
  EXPECT_TRUE(children.BytesAt(0).empty());

  // A default RepeatedRef is empty of every kind.
  const RepeatedRef none;
  EXPECT_EQ(none.size(), 0);
  EXPECT_EQ(none.VarintAt(0), 0);
  EXPECT_TRUE(none.Span<uint8_t>(kRepBool).empty());

  // The builder reads back the same.
  const MessageRef own = b.Read();
  EXPECT_EQ(own.Varint(kFVarint), -5);
  EXPECT_EQ(own.Bytes(kFBytes), kBinary);
  EXPECT_EQ(own.Repeated(kFRepMessage).size(), 6);
}

TEST(FlatTest, RootOfAnotherTypeIsRefused) {
  HeapArena arena;
  MessageBuilder b = BuildAll(&arena);
  ASSERT_TRUE(arena.Finish(b).ok());
  Reader reader(arena.written());
  absl::StatusOr<ChildView> child = reader.Root<ChildView>();
  EXPECT_TRUE(absl::IsInvalidArgument(child.status())) << child.status();
}

TEST(FlatTest, FinishNeedsABuilderOfThisArena) {
  HeapArena arena;
  HeapArena other;
  MessageBuilder mine = MessageBuilder::New(&arena, kChild);
  MessageBuilder theirs = MessageBuilder::New(&other, kChild);
  EXPECT_TRUE(absl::IsInvalidArgument(arena.Finish(theirs)));
  EXPECT_TRUE(absl::IsInvalidArgument(arena.Finish(MessageBuilder())));
  EXPECT_TRUE(arena.Finish(mine).ok());
  // A detached builder does nothing and reads as empty.
  MessageBuilder detached;
  detached.SetVarint(1, 1, true);
  EXPECT_FALSE(detached.Has(1));
  EXPECT_TRUE(detached.Read().empty());
  EXPECT_TRUE(detached.MutableMessage(3, kChild).detached());
}

TEST(FlatTest, ResizeRepeatedToZeroEmptiesTheField) {
  HeapArena arena;
  MessageBuilder b = MessageBuilder::New(&arena, kAll);
  Add<int32_t>(b, kFRepInt32, 1);
  EXPECT_TRUE(b.ResizeRepeated(kFRepInt32, 0).empty());
  EXPECT_EQ(b.RepeatedSize(kFRepInt32), 0);
  Add<int32_t>(b, kFRepInt32, 2);
  EXPECT_EQ(b.Read().Repeated(kFRepInt32).VarintAt(0), 2);
  EXPECT_TRUE(b.ResizeRepeated(kFVarint, 3).empty());  // not repeated
  EXPECT_TRUE(arena.status().ok());
}

// ---- Growth --------------------------------------------------------------

TEST(FlatTest, HeapArenaGrowsKeepingContentAndOffsets) {
  HeapArena arena(32);
  MessageBuilder b = MessageBuilder::New(&arena, kAll);
  ASSERT_FALSE(b.detached());
  std::vector<std::string> strings;
  std::vector<uint32_t> offsets;
  for (int i = 0; i < 300; ++i) {
    strings.push_back(std::string(static_cast<size_t>(i % 37), 'a' + i % 26) +
                      std::to_string(i));
    b.AddBytes(kFRepBytes, strings.back());
    MessageBuilder c = b.AddMessage(kFRepMessage, kChild);
    ASSERT_FALSE(c.detached());
    offsets.push_back(c.offset());
    c.SetVarint(1, i, true);
    Add<int64_t>(b, kFRepInt64, -i);
  }
  b.SetVarint(kFVarint, 42, true);
  ASSERT_TRUE(arena.Finish(b).ok());
  EXPECT_GT(arena.buffer().size(), 32u);

  Reader reader(arena.written());
  absl::StatusOr<AllView> v = reader.Root<AllView>();
  ASSERT_TRUE(v.ok()) << v.status();
  const MessageRef m = v->ref;
  EXPECT_EQ(m.Varint(kFVarint), 42);
  const RepeatedRef s = m.Repeated(kFRepBytes);
  const RepeatedRef c = m.Repeated(kFRepMessage);
  const RepeatedRef n = m.Repeated(kFRepInt64);
  ASSERT_EQ(s.size(), 300);
  ASSERT_EQ(c.size(), 300);
  ASSERT_EQ(n.size(), 300);
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(s.BytesAt(i), strings[i]);
    EXPECT_EQ(c.MessageAt(i).Varint(1), i);
    EXPECT_EQ(n.VarintAt(i), -i);
    EXPECT_EQ(b.MessageAt(kFRepMessage, i, kChild).offset(), offsets[i]);
  }
}

TEST(FlatTest, FixedBufferFailsAndLaterSettersDoNothing) {
  alignas(8) uint8_t storage[128] = {};
  Arena arena(absl::MakeSpan(storage));
  ASSERT_TRUE(arena.status().ok());
  MessageBuilder b = MessageBuilder::New(&arena, kEvolveA);
  ASSERT_FALSE(b.detached());
  b.SetVarint(1, 7, true);
  b.SetBytes(2, "fits", true);
  const uint32_t used = arena.used();

  // Does not fit: the setter does nothing and the arena fails.
  b.SetBytes(2, std::string(200, 'x'), true);
  EXPECT_TRUE(absl::IsResourceExhausted(arena.status())) << arena.status();
  EXPECT_EQ(arena.used(), used);
  EXPECT_EQ(b.Read().Bytes(2), "fits");

  // Every later setter does nothing, even those that need no room.
  std::vector<uint8_t> before(storage, storage + used);
  b.SetVarint(1, 99, true);
  b.SetFixed32(3, 5, true);
  b.Clear(1);
  b.SetPresence(2, false);
  b.SetBytes(2, "", true);
  EXPECT_TRUE(b.ResizeBytes(2, 4, true).empty());
  EXPECT_TRUE(b.ResizeBytes(2, 0, true).empty());
  EXPECT_TRUE(MessageBuilder::New(&arena, kEvolveA).detached());
  EXPECT_EQ(std::vector<uint8_t>(storage, storage + used), before);
  EXPECT_EQ(b.Read().Varint(1), 7);
  EXPECT_TRUE(b.Has(1));
  EXPECT_EQ(b.Read().Bytes(2), "fits");
  EXPECT_EQ(b.Read().Fixed32(3), 0u);

  const absl::Status finished = arena.Finish(b);
  EXPECT_TRUE(absl::IsResourceExhausted(finished)) << finished;
}

TEST(FlatTest, FixedBufferFailsOnRepeatedFieldsToo) {
  alignas(8) uint8_t storage[1024] = {};
  Arena arena(absl::MakeSpan(storage));
  MessageBuilder b = MessageBuilder::New(&arena, kAll);
  ASSERT_FALSE(b.detached());
  for (int32_t i = 0; i < 3; ++i) Add<int32_t>(b, kFRepInt32, i);  // cap 4
  MessageBuilder c = b.AddMessage(kFRepMessage, kChild);
  ASSERT_FALSE(c.detached());
  EXPECT_TRUE(b.ResizeRepeated(kFRepUInt64, 1000).empty());
  EXPECT_TRUE(absl::IsResourceExhausted(arena.status()));
  const uint32_t used = arena.used();
  std::vector<uint8_t> before(storage, storage + used);
  Add<int32_t>(b, kFRepInt32, 3);  // would fit its capacity
  b.AddBytes(kFRepBytes, "");
  EXPECT_TRUE(b.AddBytes(kFRepBytes, 3).empty());
  EXPECT_TRUE(b.AddMessage(kFRepMessage, kChild).detached());
  EXPECT_TRUE(b.ResizeRepeated(kFRepInt32, 1).empty());
  EXPECT_TRUE(b.ResizeRepeated(kFRepInt32, 0).empty());
  c.SetVarint(1, 5, true);
  EXPECT_EQ(std::vector<uint8_t>(storage, storage + used), before);
  EXPECT_EQ(b.RepeatedSize(kFRepInt32), 3);
  EXPECT_EQ(arena.used(), used);
  EXPECT_TRUE(absl::IsResourceExhausted(arena.Finish(b)));
}

TEST(FlatTest, GrowHookErrorFailsTheArena) {
  alignas(8) uint8_t storage[128] = {};
  int calls = 0;
  Arena arena(
      absl::MakeSpan(storage),
      [&calls](absl::Span<uint8_t> old, uint32_t used,
               uint64_t min_size) -> absl::StatusOr<absl::Span<uint8_t>> {
        ++calls;
        EXPECT_EQ(old.size(), 128u);
        EXPECT_GT(min_size, 128u);
        EXPECT_LE(used, 128u);
        return absl::UnavailableError("segment full");
      });
  MessageBuilder b = MessageBuilder::New(&arena, kEvolveA);
  ASSERT_FALSE(b.detached());
  b.SetBytes(2, std::string(100, 'y'), true);
  EXPECT_EQ(calls, 1);
  b.SetBytes(2, std::string(100, 'y'), true);
  EXPECT_EQ(calls, 1);  // failed for good: not asked again
  const absl::Status s = arena.Finish(b);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find("segment full"), absl::string_view::npos) << s;
}

TEST(FlatTest, GrowHookMovesTheBuffer) {
  std::vector<std::unique_ptr<uint64_t[]>> blocks;
  blocks.emplace_back(new uint64_t[8]);  // 64 bytes
  Arena arena(
      absl::Span<uint8_t>(reinterpret_cast<uint8_t*>(blocks[0].get()), 64),
      [&blocks](absl::Span<uint8_t> old, uint32_t used,
                uint64_t min_size) -> absl::StatusOr<absl::Span<uint8_t>> {
        EXPECT_EQ(reinterpret_cast<uint8_t*>(blocks.back().get()), old.data());
        blocks.emplace_back(new uint64_t[(min_size + 7) / 8]);
        auto* p = reinterpret_cast<uint8_t*>(blocks.back().get());
        std::memcpy(p, old.data(), used);
        std::memset(old.data(), 0xee, old.size());  // the old one is gone
        return absl::Span<uint8_t>(p, min_size);
      });
  MessageBuilder b = MessageBuilder::New(&arena, kEvolveA);
  b.SetVarint(1, -77, true);
  b.SetBytes(2, std::string(1000, 'z'), true);
  b.SetFixed32(3, 3, false);
  ASSERT_TRUE(arena.Finish(b).ok());
  EXPECT_GT(blocks.size(), 1u);
  Reader reader(arena.written());
  absl::StatusOr<EvolveView> v = reader.Root<EvolveView>();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->ref.Varint(1), -77);
  EXPECT_EQ(v->ref.Bytes(2), std::string(1000, 'z'));
  EXPECT_EQ(v->ref.Fixed32(3), 3u);
}

TEST(FlatTest, ArenaRefusesASmallOrMisalignedBuffer) {
  alignas(8) uint8_t storage[64] = {};
  Arena small(absl::Span<uint8_t>(storage, 16));
  EXPECT_FALSE(small.status().ok());
  EXPECT_TRUE(MessageBuilder::New(&small, kChild).detached());
  Arena misaligned(absl::Span<uint8_t>(storage + 1, 48));
  EXPECT_FALSE(misaligned.status().ok());
  EXPECT_TRUE(MessageBuilder::New(&misaligned, kChild).detached());
  EXPECT_FALSE(misaligned.Finish(MessageBuilder()).ok());
}

// Sizes at the 4 GiB edge fail the arena rather than wrap: an allocation of
// 2^32 - 1 bytes must never come back as a span over a few bytes.
TEST(FlatTest, AllocationsNearFourGiBFail) {
  {
    HeapArena arena;
    MessageBuilder b = MessageBuilder::New(&arena, kAll);
    EXPECT_TRUE(b.ResizeBytes(kFBytes, 0xffffffffu, true).empty());
    EXPECT_TRUE(absl::IsResourceExhausted(arena.status())) << arena.status();
    EXPECT_FALSE(b.Has(kFBytes));
  }
  {
    HeapArena arena;
    MessageBuilder b = MessageBuilder::New(&arena, kAll);
    EXPECT_TRUE(b.AddBytes(kFRepBytes, uint64_t{0xfffffffcu}).empty());
    EXPECT_TRUE(absl::IsResourceExhausted(arena.status())) << arena.status();
  }
  {
    // 8 (capacity) + count bytes is 2^32 - 1.
    HeapArena arena;
    MessageBuilder b = MessageBuilder::New(&arena, kAll);
    EXPECT_TRUE(b.ResizeRepeated(kFRepBool, 0xfffffff7u).empty());
    EXPECT_EQ(b.RepeatedSize(kFRepBool), 0);
    EXPECT_TRUE(absl::IsResourceExhausted(arena.status())) << arena.status();
  }
  {
    HeapArena arena;
    ASSERT_FALSE(MessageBuilder::New(&arena, kAll).detached());
    EXPECT_EQ(arena.Allocate(uint64_t{1} << 40), 0u);
    EXPECT_TRUE(absl::IsResourceExhausted(arena.status()));
  }
  {
    // More elements than a buffer can hold: the arena fails (it does not
    // just return an empty span and let Finish succeed without them).
    HeapArena arena;
    MessageBuilder b = MessageBuilder::New(&arena, kAll);
    EXPECT_TRUE(b.ResizeRepeated(kFRepUInt64, uint64_t{1} << 40).empty());
    EXPECT_TRUE(absl::IsResourceExhausted(arena.status())) << arena.status();
    EXPECT_TRUE(absl::IsResourceExhausted(arena.Finish(b)));
  }
  {
    HeapArena arena;
    MessageBuilder b = MessageBuilder::New(&arena, kAll);
    EXPECT_TRUE(b.ResizeBytes(kFBytes, uint64_t{1} << 63, true).empty());
    EXPECT_TRUE(absl::IsResourceExhausted(arena.status()));
  }
}

// ---- Schema evolution ----------------------------------------------------

TEST(FlatTest, ReadingFieldsTheWriterDoesNotHave) {
  HeapArena arena;
  MessageBuilder a = MessageBuilder::New(&arena, kEvolveA);
  a.SetVarint(1, 11, true);
  a.SetBytes(2, "twelve", true);
  a.SetFixed32(3, 13, true);
  ASSERT_TRUE(arena.Finish(a).ok());
  Reader reader(arena.written());
  absl::StatusOr<EvolveView> v = reader.Root<EvolveView>();
  ASSERT_TRUE(v.ok()) << v.status();
  const MessageRef m = v->ref;
  EXPECT_EQ(m.field_count(), 3u);
  // Reader's schema is B: field 2 is a varint now, 4 and 5 are new.
  EXPECT_EQ(m.Varint(1), 11);
  EXPECT_EQ(m.KindOf(2), kBytes);
  EXPECT_EQ(m.Varint(2), 0);  // written as bytes: never misread
  EXPECT_EQ(m.Fixed64(2), 0u);
  EXPECT_EQ(m.Fixed32(3), 13u);
  EXPECT_EQ(m.Double(4), 0.0);
  EXPECT_EQ(m.Varint(5), 0);
  EXPECT_EQ(m.KindOf(5), kNone);
  EXPECT_FALSE(m.Has(4));
  EXPECT_FALSE(m.Has(5));
  EXPECT_EQ(m.Repeated(5).size(), 0);
  EXPECT_TRUE(m.Message(5).empty());
}

TEST(FlatTest, ReadingWithAnOlderSchema) {
  HeapArena arena;
  MessageBuilder b = MessageBuilder::New(&arena, kEvolveB);
  b.SetVarint(1, 21, true);
  b.SetVarint(2, 0x0000000500000040, true);  // looks like offset 64, len 5
  b.SetFixed32(3, 23, false);
  b.SetDouble(4, 2.5, true);
  b.SetVarint(5, 25, true);
  ASSERT_TRUE(arena.Finish(b).ok());
  Reader reader(arena.written());
  absl::StatusOr<EvolveView> v = reader.Root<EvolveView>();
  ASSERT_TRUE(v.ok()) << v.status();
  const MessageRef m = v->ref;
  EXPECT_EQ(m.field_count(), 5u);
  // Reader's schema is A (1..3, field 2 bytes).
  EXPECT_EQ(m.Varint(1), 21);
  EXPECT_TRUE(m.Bytes(2).empty());  // written as a varint
  EXPECT_EQ(m.Fixed32(3), 23u);
  EXPECT_FALSE(m.Has(3));
  EXPECT_TRUE(m.Has(1));
}

// ---- Root refusals -------------------------------------------------------

class RootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HeapArena arena;
    MessageBuilder b = MessageBuilder::New(&arena, kEvolveA);
    b.SetVarint(1, 1, true);
    ASSERT_TRUE(arena.Finish(b).ok());
    buffer_ = std::make_unique<Buffer>(arena.written());
    ASSERT_TRUE(Read().ok());
  }
  absl::Status Read() const { return Read(buffer_->span()); }
  static absl::Status Read(absl::Span<const uint8_t> bytes) {
    Reader reader(bytes);
    return reader.Root<EvolveView>().status();
  }
  std::unique_ptr<Buffer> buffer_;
};

TEST_F(RootTest, WrongMagic) {
  buffer_->Put<uint32_t>(0, kFlatMagic ^ 1);
  EXPECT_TRUE(absl::IsInvalidArgument(Read())) << Read();
}

TEST_F(RootTest, WrongVersion) {
  buffer_->Put<uint16_t>(4, kFlatVersion + 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(Read())) << Read();
}

TEST_F(RootTest, WrongType) {
  buffer_->Put<uint64_t>(16, TypeId("test.Other"));
  EXPECT_TRUE(absl::IsInvalidArgument(Read())) << Read();
}

TEST_F(RootTest, RootOffsetOutOfRangeOrMisaligned) {
  for (uint32_t root :
       {0u, 8u, 16u, 28u, static_cast<uint32_t>(buffer_->size()),
        static_cast<uint32_t>(buffer_->size() - 4), 0xfffffff8u}) {
    buffer_->Put<uint32_t>(8, root);
    EXPECT_TRUE(absl::IsInvalidArgument(Read())) << root << ": " << Read();
  }
}

TEST_F(RootTest, ShortBuffer) {
  for (size_t n : {size_t{0}, size_t{8}, size_t{23}}) {
    EXPECT_TRUE(absl::IsInvalidArgument(Read(buffer_->span().first(n)))) << n;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(Read({})));
  // Long enough for the header, too short for the root message: refused.
  EXPECT_TRUE(absl::IsInvalidArgument(Read(buffer_->span().first(24))));
}

TEST_F(RootTest, UnalignedBuffer) {
  std::unique_ptr<uint64_t[]> words(new uint64_t[buffer_->size() / 8 + 1]);
  auto* p = reinterpret_cast<uint8_t*>(words.get()) + 4;
  std::memcpy(p, buffer_->data(), buffer_->size());
  EXPECT_TRUE(absl::IsInvalidArgument(Read({p, buffer_->size()})));
}

// ---- Hostile buffers -----------------------------------------------------

// A test.All with a bytes field, one array of each repeated kind and two
// children, copied into a Buffer to corrupt.
std::unique_ptr<Buffer> BuildHostileBase() {
  HeapArena arena;
  MessageBuilder b = MessageBuilder::New(&arena, kAll);
  b.SetBytes(kFBytes, "0123456789", true);
  b.MutableMessage(kFMessage, kChild).SetVarint(1, 7, true);
  for (int i = 0; i < 4; ++i) {
    Add<uint8_t>(b, kFRepBool, 1);
    Add<int32_t>(b, kFRepInt32, -i);
    Add<uint32_t>(b, kFRepUInt32, i);
    Add<int64_t>(b, kFRepInt64, -i);
    Add<uint64_t>(b, kFRepUInt64, i);
    Add<uint32_t>(b, kFRepFixed32, i);
    Add<uint64_t>(b, kFRepFixed64, i);
    Add<float>(b, kFRepFloat, i);
    Add<double>(b, kFRepDouble, i);
    b.AddBytes(kFRepBytes, "bytes");
    b.AddMessage(kFRepMessage, kChild).SetVarint(1, i, true);
  }
  EXPECT_TRUE(arena.Finish(b).ok());
  return std::make_unique<Buffer>(arena.written());
}

MessageRef RootOf(const Reader& reader) {
  absl::StatusOr<AllView> v = reader.Root<AllView>();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? v->ref : MessageRef();
}

// Every array of the base is full to its capacity and followed by the next
// block (whose capacity word is not 0): an index one past the end must read
// the default, not the neighbour.
TEST(FlatHostileTest, IndexesOutOfRangeReadDefaults) {
  std::unique_ptr<Buffer> buf = BuildHostileBase();
  Reader reader(buf->span());
  const MessageRef m = RootOf(reader);
  for (uint32_t f = kFRepBool; f <= kFRepMessage; ++f) {
    const RepeatedRef r = m.Repeated(f);
    ASSERT_EQ(r.size(), 4) << f;
    EXPECT_EQ(r.kind(), kAllKinds[f - 1]);
    for (int i : {-1, 4, 5, INT_MAX, INT_MIN}) {
      EXPECT_EQ(r.VarintAt(i), 0) << f << "[" << i << "]";
      EXPECT_EQ(r.Fixed32At(i), 0u) << f << "[" << i << "]";
      EXPECT_EQ(r.Fixed64At(i), 0u) << f << "[" << i << "]";
      EXPECT_EQ(r.FloatAt(i), 0.0f) << f << "[" << i << "]";
      EXPECT_EQ(r.DoubleAt(i), 0.0) << f << "[" << i << "]";
      EXPECT_TRUE(r.BytesAt(i).empty()) << f << "[" << i << "]";
      EXPECT_TRUE(r.MessageAt(i).empty()) << f << "[" << i << "]";
    }
  }
  EXPECT_EQ(m.Repeated(kFRepInt32).VarintAt(3), -3);
  EXPECT_EQ(m.Repeated(kFRepFixed32).Fixed32At(3), 3u);
  EXPECT_EQ(m.Repeated(kFRepDouble).DoubleAt(3), 3.0);
  EXPECT_EQ(m.Repeated(kFRepBytes).BytesAt(3), "bytes");
  EXPECT_EQ(m.Repeated(kFRepMessage).MessageAt(3).Varint(1), 3);
}

TEST(FlatHostileTest, BytesOutOfBounds) {
  std::unique_ptr<Buffer> buf = BuildHostileBase();
  const uint32_t root = buf->root();
  const uint64_t size = buf->size();
  struct Case {
    uint64_t offset, length;
  };
  for (const Case c :
       std::vector<Case>{{size - 2, 10},       // runs past the end
                         {size, 1},            // starts at the end
                         {0xfffffff0u, 0x20},  // offset + length wraps 32 bits
                         {0x10, 0xfffffff8u},  // a huge length
                         {0xffffffffu, 0xffffffffu}}) {
    buf->SetSlot(root, kFBytes, Pair(c.offset, c.length));
    Reader reader(buf->span());
    const MessageRef m = RootOf(reader);
    EXPECT_TRUE(m.Bytes(kFBytes).empty()) << c.offset << "+" << c.length;
  }
  // Exactly at the end is fine.
  buf->SetSlot(root, kFBytes, Pair(size - 3, 3));
  Reader reader(buf->span());
  const absl::string_view last = RootOf(reader).Bytes(kFBytes);
  EXPECT_EQ(last.size(), 3u);
  EXPECT_TRUE(Inside(last, buf->span()));
}

TEST(FlatHostileTest, RepeatedBytesOutOfBounds) {
  std::unique_ptr<Buffer> buf = BuildHostileBase();
  const uint32_t root = buf->root();
  const uint32_t array = static_cast<uint32_t>(buf->Slot(root, kFRepBytes));
  buf->Put<uint64_t>(array, Pair(0xfffffff0u, 0x20));
  buf->Put<uint64_t>(array + 8, Pair(buf->size() - 1, 2));
  buf->Put<uint64_t>(array + 16, Pair(buf->size() - 2, 2));
  Reader reader(buf->span());
  const RepeatedRef r = RootOf(reader).Repeated(kFRepBytes);
  ASSERT_EQ(r.size(), 4);
  EXPECT_TRUE(r.BytesAt(0).empty());
  EXPECT_TRUE(r.BytesAt(1).empty());
  EXPECT_EQ(r.BytesAt(2).size(), 2u);
  EXPECT_TRUE(Inside(r.BytesAt(2), buf->span()));
  EXPECT_EQ(r.BytesAt(3), "bytes");
}

TEST(FlatHostileTest, ArraysOutOfBoundsOrMisaligned) {
  for (uint32_t f = kFRepBool; f <= kFRepMessage; ++f) {
    std::unique_ptr<Buffer> buf = BuildHostileBase();
    const uint32_t root = buf->root();
    const uint64_t slot = buf->Slot(root, f);
    const uint64_t offset = slot & 0xffffffffu;
    const uint32_t element = ElementSize(kAllKinds[f - 1]);
    const uint64_t size = buf->size();
    std::vector<uint64_t> bad = {
        Pair(offset, 0xffffffffu),                    // a huge count
        Pair(offset, (size - offset) / element + 1),  // one past the end
        Pair(size, 1),                                // at the end
        Pair(0xfffffff8u, 2),                         // offset far out
        Pair(8, 1),                                   // in the buffer header
        Pair(0, 1),
    };
    // offset + count * element wraps 32 bits (to a small end).
    if (element > 1)
      bad.push_back(Pair(offset, (uint64_t{1} << 32) / element + 1));
    if (element > 1) bad.push_back(Pair(offset + 1, 1));  // misaligned
    if (element > 4) bad.push_back(Pair(offset + 4, 1));
    for (uint64_t s : bad) {
      buf->SetSlot(root, f, s);
      Reader reader(buf->span());
      const RepeatedRef r = RootOf(reader).Repeated(f);
      EXPECT_EQ(r.size(), 0) << "field " << f << " slot " << std::hex << s;
      EXPECT_EQ(r.VarintAt(0), 0);
      EXPECT_TRUE(r.BytesAt(0).empty());
      EXPECT_TRUE(r.MessageAt(0).empty());
    }
    // The largest count that fits reads in place.
    buf->SetSlot(root, f, Pair(offset, (size - offset) / element));
    Reader reader(buf->span());
    const RepeatedRef r = RootOf(reader).Repeated(f);
    EXPECT_EQ(r.size(), static_cast<int>((size - offset) / element));
  }
  // A bool array may start at any byte.
  std::unique_ptr<Buffer> buf = BuildHostileBase();
  const uint32_t root = buf->root();
  const uint64_t slot = buf->Slot(root, kFRepBool);
  buf->SetSlot(root, kFRepBool, Pair((slot & 0xffffffffu) + 1, 3));
  Reader reader(buf->span());
  EXPECT_EQ(RootOf(reader).Repeated(kFRepBool).size(), 3);
}

TEST(FlatHostileTest, ChildOffsetsOutOfBounds) {
  std::unique_ptr<Buffer> buf = BuildHostileBase();
  const uint32_t root = buf->root();
  const uint32_t children =
      static_cast<uint32_t>(buf->Slot(root, kFRepMessage));
  const uint32_t size = static_cast<uint32_t>(buf->size());
  const uint32_t bad[] = {0, 8, 16, 20, size, size - 8, 0xfffffff8u, root + 4};
  for (uint32_t child : bad) {
    buf->SetSlot(root, kFMessage, child);
    buf->Put<uint32_t>(children, child);
    Reader reader(buf->span());
    const MessageRef m = RootOf(reader);
    EXPECT_TRUE(m.Message(kFMessage).empty()) << child;
    EXPECT_TRUE(m.Repeated(kFRepMessage).MessageAt(0).empty()) << child;
    EXPECT_EQ(m.Repeated(kFRepMessage).MessageAt(1).Varint(1), 1);
  }
}

TEST(FlatHostileTest, BadFieldCountsReadAsEmpty) {
  std::unique_ptr<Buffer> buf = BuildHostileBase();
  const uint32_t root = buf->root();
  const uint32_t child = static_cast<uint32_t>(buf->Slot(root, kFMessage));
  for (uint32_t count : {0u, kMaxFieldNumber + 1, 0xffffffffu,
                         // header past the end of the buffer
                         static_cast<uint32_t>(buf->size() / 8)}) {
    buf->Put<uint32_t>(child, count);
    Reader reader(buf->span());
    const MessageRef c = RootOf(reader).Message(kFMessage);
    EXPECT_TRUE(c.empty()) << count;
    EXPECT_EQ(c.field_count(), 0u);
    EXPECT_EQ(c.Varint(1), 0);
    EXPECT_EQ(c.KindOf(1), kNone);
    EXPECT_FALSE(c.Has(1));
  }
  // The root itself: accepted, but empty.
  for (uint32_t count : {0u, kMaxFieldNumber + 1, kMaxFieldNumber}) {
    buf->Put<uint32_t>(root, count);
    Reader reader(buf->span());
    absl::StatusOr<AllView> v = reader.Root<AllView>();
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(v->ref.empty()) << count;
    EXPECT_EQ(v->ref.Bytes(kFBytes), "");
  }
}

TEST(FlatHostileTest, KindsTheReaderDoesNotExpect) {
  std::unique_ptr<Buffer> buf = BuildHostileBase();
  const uint32_t root = buf->root();
  // Field 6 (bytes) relabelled as every other kind, and as garbage.
  for (int kind = 0; kind < 256; ++kind) {
    buf->Put<uint8_t>(root + KindsOffset() + kFBytes - 1,
                      static_cast<uint8_t>(kind));
    Reader reader(buf->span());
    const MessageRef m = RootOf(reader);
    EXPECT_EQ(m.KindOf(kFBytes), kind);
    if (kind != kBytes) {
      EXPECT_TRUE(m.Bytes(kFBytes).empty()) << kind;
    }
    const RepeatedRef r = m.Repeated(kFBytes);
    if (ElementSize(static_cast<uint8_t>(kind)) == 0) {
      EXPECT_EQ(r.size(), 0) << kind;
    }
    for (int i = -1; i <= r.size(); ++i) {
      EXPECT_TRUE(Inside(r.BytesAt(i), buf->span()));
      r.VarintAt(i);
      r.Fixed64At(i);
      r.MessageAt(i);
    }
  }
}

TEST(FlatHostileTest, ACycleEndsAtMaxDepth) {
  std::unique_ptr<Buffer> buf = BuildHostileBase();
  const uint32_t root = buf->root();
  buf->SetSlot(root, kFMessage, root);  // the root is its own child
  {
    Reader reader(buf->span());
    MessageRef m = RootOf(reader);
    int levels = 0;
    for (int i = 0; i < 1000; ++i) {
      m = m.Message(kFMessage);
      if (m.empty()) break;
      ++levels;
      EXPECT_EQ(m.Bytes(kFBytes), "0123456789");
    }
    EXPECT_EQ(levels, 64);  // ReadLimits().max_depth
    EXPECT_TRUE(m.empty());
    EXPECT_FALSE(reader.budget_exhausted());
  }
  {
    ReadLimits limits;
    limits.max_depth = 3;
    Reader reader(buf->span(), limits);
    MessageRef m = RootOf(reader);
    int levels = 0;
    for (int i = 0; i < 1000 && !(m = m.Message(kFMessage)).empty(); ++i) {
      ++levels;
    }
    EXPECT_EQ(levels, 3);
  }
  // The same through a repeated message field pointing back at the root.
  const uint32_t children =
      static_cast<uint32_t>(buf->Slot(root, kFRepMessage));
  buf->Put<uint32_t>(children, root);
  Reader reader(buf->span());
  MessageRef m = RootOf(reader);
  int levels = 0;
  for (int i = 0; i < 1000; ++i) {
    m = m.Repeated(kFRepMessage).MessageAt(0);
    if (m.empty()) break;
    ++levels;
  }
  EXPECT_EQ(levels, 64);
}

// A sender that points many references at one big array cannot make a
// reader walk more than its budget.
TEST(FlatHostileTest, TraversalBudget) {
  HeapArena arena;
  MessageBuilder b = MessageBuilder::New(&arena, kAll);
  MessageBuilder first = b.AddMessage(kFRepMessage, kChild);
  absl::Span<uint8_t> big = first.ResizeRepeated(4, 1000);  // 8000 bytes
  ASSERT_EQ(big.size(), 8000u);
  big[0] = 1;
  for (int i = 1; i < 50; ++i) b.AddMessage(kFRepMessage, kChild);
  ASSERT_TRUE(arena.Finish(b).ok());
  Buffer buf(arena.written());
  // Every element is the first child (with the 8000-byte array).
  const uint32_t root = buf.root();
  const uint32_t children = static_cast<uint32_t>(buf.Slot(root, kFRepMessage));
  const uint32_t target = buf.Get<uint32_t>(children);
  for (int i = 0; i < 50; ++i) buf.Put<uint32_t>(children + 4 * i, target);

  // Following a reference to a message is charged (its header); reading
  // an array in place is not (the reader's own loop is its cost).
  auto walk = [&buf](const Reader& reader, int* reached) {
    *reached = 0;
    const RepeatedRef r = RootOf(reader).Repeated(kFRepMessage);
    EXPECT_EQ(r.size(), 50);
    for (int i = 0; i < r.size(); ++i) {
      const MessageRef child = r.MessageAt(i);
      const RepeatedRef a = child.Repeated(4);
      if (child.empty()) {
        EXPECT_EQ(a.size(), 0);
        EXPECT_EQ(a.VarintAt(0), 0);
        continue;
      }
      ++*reached;
      EXPECT_EQ(a.size(), 1000);
      EXPECT_TRUE(Inside(a.Span<uint64_t>(kRepUInt64), buf.span()));
      EXPECT_EQ(a.VarintAt(0), 1);
    }
  };
  int reached = 0;
  {
    Reader reader(buf.span());  // default: at least 64 MiB
    walk(reader, &reached);
    EXPECT_EQ(reached, 50);
    EXPECT_FALSE(reader.budget_exhausted());
  }
  {
    // The root and ten children's headers, exactly.
    ReadLimits limits;
    limits.traversal_bytes = MessageSize(kAll.field_count) +
                             10 * uint64_t{MessageSize(kChild.field_count)};
    Reader reader(buf.span(), limits);
    walk(reader, &reached);
    EXPECT_EQ(reached, 10);
    EXPECT_TRUE(reader.budget_exhausted());
    // Spent for good: even the root reads as empty now, and charges for
    // copying fail.
    EXPECT_TRUE(RootOf(reader).empty());
  }
  {
    // A budget of "everything" (all ones) is no budget at all, not a spent
    // one.
    ReadLimits limits;
    limits.traversal_bytes = UINT64_MAX;
    Reader reader(buf.span(), limits);
    walk(reader, &reached);
    EXPECT_EQ(reached, 50);
    EXPECT_FALSE(reader.budget_exhausted());
  }
}

// ---- Random corruption ---------------------------------------------------

struct WalkStats {
  uint64_t messages = 0;
  uint64_t values = 0;
};

template <typename T>
void CheckSpan(const RepeatedRef& r, uint8_t kind,
               absl::Span<const uint8_t> buf, WalkStats* stats) {
  const absl::Span<const T> s = r.Span<T>(kind);
  ASSERT_TRUE(Inside(s, buf));
  if (r.kind() == kind) {
    ASSERT_EQ(s.size(), static_cast<size_t>(r.size()));
  } else {
    ASSERT_TRUE(s.empty());
  }
  uint64_t sum = 0;
  for (const T& v : s) {  // touches every element (ASan)
    uint8_t first;
    std::memcpy(&first, &v, 1);
    sum += first;
  }
  stats->values += sum != 0;
}

void Walk(const MessageRef& m, absl::Span<const uint8_t> buf, int depth,
          WalkStats* stats) {
  ASSERT_LE(depth, 1000);
  ++stats->messages;
  if (!m.empty()) {
    ASSERT_LE(m.field_count(), kMaxFieldNumber);
  }
  for (uint32_t n = 0; n <= m.field_count() + 2; ++n) {
    m.KindOf(n);
    m.Has(n);
    stats->values += m.Varint(n) != 0;
    stats->values += m.Fixed32(n) != 0;
    stats->values += m.Fixed64(n) != 0;
    stats->values += m.Float(n) != 0;
    stats->values += m.Double(n) != 0;
    ASSERT_TRUE(Inside(m.Bytes(n), buf));
    const MessageRef child = m.Message(n);
    if (!child.empty()) Walk(child, buf, depth + 1, stats);
    const RepeatedRef r = m.Repeated(n);
    ASSERT_GE(r.size(), 0);
    if (r.size() > 0) {
      ASSERT_TRUE(IsRepeated(r.kind()));
      ASSERT_LE(
          uint64_t{static_cast<uint32_t>(r.size())} * ElementSize(r.kind()),
          buf.size());
    }
    CheckSpan<uint8_t>(r, kRepBool, buf, stats);
    CheckSpan<int32_t>(r, kRepInt32, buf, stats);
    CheckSpan<uint32_t>(r, kRepUInt32, buf, stats);
    CheckSpan<int64_t>(r, kRepInt64, buf, stats);
    CheckSpan<uint64_t>(r, kRepUInt64, buf, stats);
    CheckSpan<uint32_t>(r, kRepFixed32, buf, stats);
    CheckSpan<uint64_t>(r, kRepFixed64, buf, stats);
    CheckSpan<float>(r, kRepFloat, buf, stats);
    CheckSpan<double>(r, kRepDouble, buf, stats);
    CheckSpan<uint64_t>(r, kRepBytes, buf, stats);
    CheckSpan<uint32_t>(r, kRepMessage, buf, stats);
    std::vector<int> indexes = {-1, INT_MIN, INT_MAX, r.size(), r.size() + 1};
    for (int i = 0; i < std::min(r.size(), 40); ++i) indexes.push_back(i);
    for (int i : indexes) {
      stats->values += r.VarintAt(i) != 0;
      stats->values += r.Fixed32At(i) != 0;
      stats->values += r.Fixed64At(i) != 0;
      stats->values += r.FloatAt(i) != 0;
      stats->values += r.DoubleAt(i) != 0;
      ASSERT_TRUE(Inside(r.BytesAt(i), buf));
      const MessageRef e = r.MessageAt(i);
      if (!e.empty()) Walk(e, buf, depth + 1, stats);
    }
  }
}

TEST(FlatFuzzTest, RandomCorruptionNeverReadsOutOfBounds) {
  std::mt19937 rng(20240611);
  WalkStats stats;
  int roots = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    HeapArena arena(64);
    MessageBuilder b = MessageBuilder::New(&arena, kAll);
    auto u = [&rng](uint32_t n) {
      return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng);
    };
    b.SetVarint(kFVarint, static_cast<int64_t>(rng()) - (1u << 31), u(2));
    b.SetFixed32(kFFixed32, rng(), true);
    b.SetFixed64(kFFixed64, rng(), u(2));
    b.SetFloat(kFFloat, static_cast<float>(rng()), true);
    b.SetDouble(kFDouble, static_cast<double>(rng()), true);
    b.SetBytes(kFBytes, std::string(u(20), 'b'), true);
    MessageBuilder child = b.MutableMessage(kFMessage, kChild);
    child.SetBytes(2, std::string(u(12), 'c'), true);
    if (u(2)) child.MutableMessage(3, kChild).SetVarint(1, 3, true);
    for (int i = 0, n = u(6); i < n; ++i) {
      Add<uint8_t>(b, kFRepBool, u(2));
      Add<int32_t>(b, kFRepInt32, rng());
      Add<uint32_t>(b, kFRepUInt32, rng());
      Add<int64_t>(b, kFRepInt64, rng());
      Add<uint64_t>(b, kFRepUInt64, rng());
      Add<uint32_t>(b, kFRepFixed32, rng());
      Add<uint64_t>(b, kFRepFixed64, rng());
      Add<float>(b, kFRepFloat, rng());
      Add<double>(b, kFRepDouble, rng());
      b.AddBytes(kFRepBytes, std::string(u(9), 'r'));
      MessageBuilder e = b.AddMessage(kFRepMessage, kChild);
      e.SetVarint(1, i, true);
      if (u(2)) Add<uint64_t>(e, 4, rng());
    }
    b.SetVarint(kFHigh, rng(), true);
    ASSERT_TRUE(arena.Finish(b).ok());
    Buffer buf(arena.written());

    // Corrupt: random bytes anywhere, or whole slots set to offsets of
    // other parts of the buffer (so that references alias and cycle).
    for (int flips = 1 + u(8); flips > 0; --flips) {
      const uint32_t at = u(static_cast<uint32_t>(buf.size()));
      switch (u(4)) {
        case 0:
        case 1:
          buf.data()[at] = static_cast<uint8_t>(rng());
          break;
        case 2:
          buf.data()[at] ^= static_cast<uint8_t>(1u << u(8));
          break;
        default:
          if (at + 4 <= buf.size()) {
            const uint32_t to = u(static_cast<uint32_t>(buf.size())) & ~3u;
            std::memcpy(buf.data() + at, &to, 4);
          }
      }
    }

    ReadLimits limits;
    limits.traversal_bytes = 256 << 10;
    Reader reader(buf.span(), limits);
    absl::StatusOr<AllView> v = reader.Root<AllView>();
    MessageRef m;
    if (v.ok()) {
      ++roots;
      m = v->ref;
    } else {
      // The header is corrupt: walk from where the root was anyway.
      m = MessageRef::At(reader.source(), buf.root(), 0);
    }
    ASSERT_NO_FATAL_FAILURE(Walk(m, buf.span(), 0, &stats))
        << "iteration " << iteration;
  }
  EXPECT_GT(roots, 1000);  // most corruptions leave the header alone
  EXPECT_GT(stats.messages, 2000u);
  EXPECT_GT(stats.values, 2000u);
}

}  // namespace
}  // namespace shmrpc::flat
