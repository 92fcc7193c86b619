// Fuzz target: flat::Reader and the views it hands out (internal::MessageRef,
// RepeatedRef) on any bytes.
//
// Input: a buffer of flat messages (message/flat_layout.h), read in place.
// The root is read as the type its own header names (bytes 16..24, so that
// the fuzzer gets past the type check), as a fixed type, and walked from the
// header's root offset even when the header is refused. Each walk reads
// every field number 0..count+2 with every accessor, every element of every
// repeated field (and indexes out of range), and every child down to the
// depth limit; once with the default limits and once with a tiny traversal
// budget and depth. Invariants: nothing reads outside the buffer (the
// sanitizers watch), every string_view and span returned lies inside it, no
// message is read deeper than ReadLimits::max_depth, and what the reader
// handed out (message headers; arrays are not charged) costs no more than
// its budget.
//
// Run under libFuzzer by tools/fuzz.sh; replayed on its corpus
// (fuzz/flat_corpus) by //message:flat_fuzzer_test.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>

#include "shmrpc/message/flat.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// Where the bytes the walk touched go, so that the reads are not optimized
// away.
volatile uint64_t g_sink;

using shmrpc::flat::ElementSize;
using shmrpc::flat::MessageSize;
using shmrpc::flat::Reader;
using shmrpc::flat::ReadLimits;
using shmrpc::flat::internal::MessageRef;
using shmrpc::flat::internal::RepeatedRef;
namespace flat = shmrpc::flat;

struct View {
  static constexpr uint64_t kTypeId = flat::TypeId("shmrpc.fuzz.Message");
  explicit View(MessageRef r) : ref(r) {}
  MessageRef ref;
};

class Walker {
 public:
  Walker(const uint8_t* base, size_t size, const ReadLimits& limits,
         uint64_t budget)
      : base_(base), size_(size), limits_(limits), budget_(budget) {}

  // `m` was handed out by the reader at `depth` (and charged, if not empty).
  void Message(const MessageRef& m, uint32_t depth) {
    ++steps_;
    if (m.empty()) {
      FUZZ_CHECK(m.field_count() == 0);
      FUZZ_CHECK(m.KindOf(1) == flat::kNone);
      FUZZ_CHECK(!m.Has(1));
      return;
    }
    FUZZ_CHECK(depth <= limits_.max_depth);
    FUZZ_CHECK(m.field_count() <= flat::kMaxFieldNumber);
    Charge(MessageSize(m.field_count()));
    // The default budget (64 MiB) lets a small hostile buffer be walked for
    // a second or more (references to one array from a cycle); stop
    // descending after a while: the reads already done were all checked.
    if (steps_ > kMaxSteps) return;
    const uint32_t last = m.field_count() + 2;
    for (uint32_t n = 0; n <= last; ++n) {
      const uint8_t kind = m.KindOf(n);
      if (n == 0 || n > m.field_count()) FUZZ_CHECK(kind == flat::kNone);
      const bool has = m.Has(n);
      if (n == 0 || n > m.field_count()) FUZZ_CHECK(!has);
      const int64_t varint = m.Varint(n);
      if (kind != flat::kVarint) FUZZ_CHECK(varint == 0);
      const uint32_t fixed32 = m.Fixed32(n);
      if (kind != flat::kFixed32) FUZZ_CHECK(fixed32 == 0);
      const uint64_t fixed64 = m.Fixed64(n);
      if (kind != flat::kFixed64) FUZZ_CHECK(fixed64 == 0);
      const float f = m.Float(n);
      if (kind != flat::kFloat) FUZZ_CHECK(f == 0.0f);
      const double d = m.Double(n);
      if (kind != flat::kDouble) FUZZ_CHECK(d == 0.0);
      const absl::string_view bytes = m.Bytes(n);
      FUZZ_CHECK(Inside(bytes.data(), bytes.size()));
      if (kind != flat::kBytes) FUZZ_CHECK(bytes.empty());
      Touch(bytes.data(), bytes.size());
      const MessageRef child = m.Message(n);
      if (kind != flat::kMessage) FUZZ_CHECK(child.empty());
      Message(child, depth + 1);
      Repeated(m.Repeated(n), kind, depth);
    }
  }

  void CheckBudget() const { FUZZ_CHECK(charged_ <= budget_); }
  uint64_t sink() const { return sink_; }

 private:
  bool Inside(const void* p, uint64_t bytes) const {
    if (bytes == 0) return true;
    const auto b = reinterpret_cast<uintptr_t>(p);
    const auto begin = reinterpret_cast<uintptr_t>(base_);
    return b >= begin && bytes <= size_ && b - begin <= size_ - bytes;
  }

  // Reads every byte (so that the sanitizers see an out-of-bounds view).
  void Touch(const void* p, uint64_t bytes) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (uint64_t i = 0; i < bytes; ++i) sink_ += b[i];
  }

  void Charge(uint64_t bytes) {
    charged_ += bytes;
    CheckBudget();
  }

  template <typename T>
  void Span(const RepeatedRef& r, uint8_t kind) {
    const absl::Span<const T> s = r.Span<T>(kind);
    if (r.kind() == kind) {
      FUZZ_CHECK(s.size() == static_cast<uint32_t>(r.size()));
    } else {
      FUZZ_CHECK(s.empty());
    }
    FUZZ_CHECK(s.empty() ||
               reinterpret_cast<uintptr_t>(s.data()) % alignof(T) == 0);
    FUZZ_CHECK(Inside(s.data(), uint64_t{s.size()} * sizeof(T)));
    Touch(s.data(), s.size() * sizeof(T));
  }

  void Element(const RepeatedRef& r, int i, uint32_t depth) {
    ++steps_;
    const bool in = i >= 0 && i < r.size();
    const uint8_t kind = r.kind();
    const int64_t varint = r.VarintAt(i);
    if (!in || !flat::IsVarintArray(kind)) FUZZ_CHECK(varint == 0);
    if (in && kind == flat::kRepBool) FUZZ_CHECK(varint == 0 || varint == 1);
    if (in && kind == flat::kRepInt32) {
      FUZZ_CHECK(varint >= INT32_MIN && varint <= INT32_MAX);
    }
    if (in && kind == flat::kRepUInt32) {
      FUZZ_CHECK(varint >= 0 && varint <= UINT32_MAX);
    }
    const uint32_t fixed32 = r.Fixed32At(i);
    if (!in || kind != flat::kRepFixed32) FUZZ_CHECK(fixed32 == 0);
    const uint64_t fixed64 = r.Fixed64At(i);
    if (!in || kind != flat::kRepFixed64) FUZZ_CHECK(fixed64 == 0);
    const float f = r.FloatAt(i);
    if (!in || kind != flat::kRepFloat) FUZZ_CHECK(f == 0.0f);
    const double d = r.DoubleAt(i);
    if (!in || kind != flat::kRepDouble) FUZZ_CHECK(d == 0.0);
    const absl::string_view bytes = r.BytesAt(i);
    FUZZ_CHECK(Inside(bytes.data(), bytes.size()));
    if (!in || kind != flat::kRepBytes) FUZZ_CHECK(bytes.empty());
    Touch(bytes.data(), bytes.size());
    const MessageRef child = r.MessageAt(i);
    if (!in || kind != flat::kRepMessage) FUZZ_CHECK(child.empty());
    Message(child, depth + 1);
  }

  // `r` is field number n of a message at `depth`, written as `kind`.
  void Repeated(const RepeatedRef& r, uint8_t kind, uint32_t depth) {
    FUZZ_CHECK(r.size() >= 0);
    if (r.size() > 0) {
      FUZZ_CHECK(r.kind() == kind);
      FUZZ_CHECK(flat::IsRepeated(kind));
      const uint64_t bytes =
          uint64_t{static_cast<uint32_t>(r.size())} * ElementSize(r.kind());
      FUZZ_CHECK(bytes <= size_);  // arrays are not charged
    } else {
      FUZZ_CHECK(r.kind() == flat::kNone);
    }
    Span<uint8_t>(r, flat::kRepBool);
    Span<int32_t>(r, flat::kRepInt32);
    Span<uint32_t>(r, flat::kRepUInt32);
    Span<int64_t>(r, flat::kRepInt64);
    Span<uint64_t>(r, flat::kRepUInt64);
    Span<uint32_t>(r, flat::kRepFixed32);
    Span<uint64_t>(r, flat::kRepFixed64);
    Span<float>(r, flat::kRepFloat);
    Span<double>(r, flat::kRepDouble);
    Span<uint64_t>(r, flat::kRepBytes);
    Span<uint32_t>(r, flat::kRepMessage);
    for (int i = 0; i < r.size() && steps_ <= kMaxSteps; ++i) {
      Element(r, i, depth);
    }
    for (int i : {-1, INT_MIN, r.size(), INT_MAX}) Element(r, i, depth);
  }

  static constexpr uint64_t kMaxSteps = 1 << 14;

  const uint8_t* base_;
  size_t size_;
  ReadLimits limits_;
  uint64_t budget_;
  uint64_t charged_ = 0;
  uint64_t sink_ = 0;
  uint64_t steps_ = 0;
};

void ReadAll(const uint8_t* base, size_t size, const ReadLimits& limits) {
  Reader reader({base, size}, limits);
  const uint64_t budget =
      limits.traversal_bytes != 0
          ? limits.traversal_bytes
          : std::max<uint64_t>(uint64_t{64} << 20, 8 * uint64_t{size});
  Walker walker(base, size, limits, budget);
  const shmrpc::flat::internal::Source src = reader.source();

  uint64_t types[] = {0, View::kTypeId};
  if (size >= 24) std::memcpy(&types[0], base + 16, 8);
  for (uint64_t type : types) {
    absl::StatusOr<MessageRef> root = MessageRef::Root(src, type);
    if (root.ok()) {
      walker.Message(*root, 0);
    } else {
      FUZZ_CHECK(absl::IsInvalidArgument(root.status()) ||
                 absl::IsFailedPrecondition(root.status()));
    }
  }
  absl::StatusOr<View> view = reader.Root<View>();
  if (view.ok()) walker.Message(view->ref, 0);

  // The header refused or not: the message where the root would be.
  if (size >= 24) {
    uint32_t root;
    std::memcpy(&root, base + 8, 4);
    walker.Message(MessageRef::At(src, root, 0), 0);
  }
  walker.CheckBudget();
  g_sink = g_sink + walker.sink();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A heap copy of exactly the input's size (operator new[] aligns to 16):
  // the reader needs an 8-aligned buffer, and the sanitizers see any read
  // past its end.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(copy.get(), data, size);
  const uint8_t* base = copy.get();
  FUZZ_CHECK(reinterpret_cast<uintptr_t>(base) % 8 == 0);

  ReadAll(base, size, ReadLimits());
  ReadLimits tiny;
  tiny.max_depth = 3;
  tiny.traversal_bytes = 256;
  ReadAll(base, size, tiny);
  return 0;
}
