// The runtime of flat messages (layout: message/flat_layout.h): what the
// generated views and builders (`<package>::flat::FooView`, `FooBuilder`,
// from cc_shm_grpc_library(..., flat = True)) are made of.
//
// Reading. A view reads a message in place, in a buffer that another
// process may still be writing (a misbehaving sender can rewrite its own
// segment at any time). So every value is loaded once into a local, checked,
// then used: an offset, length or count that points outside the buffer, a
// misaligned array, a field of an unexpected kind, a message nested deeper
// than ReadLimits::max_depth, or a read past the traversal budget gives the
// field's default (an empty string, an empty array, an empty message), never
// an out-of-bounds read, a crash or a hang. What a string_view or span
// returned by a view shows may still change if the sender keeps writing; its
// bounds do not.
//
//   flat::Reader reader(buffer);               // checks the header
//   absl::StatusOr<FooView> foo = reader.Root<FooView>();
//   if (foo.ok()) Use(foo->name(), foo->values());
//
// Writing. A builder writes a message into an Arena: a buffer (a chunk of
// the sender's segment, or memory of its own) plus a way to grow. Setters
// write the field's slot in place; strings, bytes, repeated fields and
// nested messages are appended to the arena as they are set.
//
//   flat::HeapArena arena;
//   FooBuilder foo = FooBuilder::New(&arena);
//   foo.set_id(7);
//   absl::Span<uint8_t> pixels = foo.mutable_image(width * height);
//   Render(pixels);                            // written in place, once
//   absl::Status s = arena.Finish(foo);        // then send arena.buffer()
//
// An allocation the arena cannot satisfy (its buffer is full and it cannot
// grow, or the buffer would pass 4 GiB) makes the arena fail: the failing
// setter does nothing (a mutable_ span comes back empty), every later one
// does nothing either, and Finish() returns RESOURCE_EXHAUSTED.
//
// Thread-safety: views are values; reading the same buffer from several
// threads is safe (the traversal budget is atomic). An arena and the
// builders on it belong to one thread at a time.
#ifndef SHMRPC_MESSAGE_FLAT_H_
#define SHMRPC_MESSAGE_FLAT_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "shmrpc/message/flat_layout.h"

namespace shmrpc::flat {

// What reading one buffer may cost.
struct ReadLimits {
  // Messages nested deeper than this read as empty (a hostile sender can
  // make a message its own child).
  uint32_t max_depth = 64;
  // Following a reference to a message charges the size of its header
  // against this budget, and ToProto charges every string and array it
  // copies; once spent, every further message reads as empty and ToProto
  // fails (as Cap'n Proto's traversal limit: a sender that points many
  // references at one large part cannot make a reader walk or copy more
  // than this). Reading an array or a string in place is not charged: its
  // cost is the reader's own loop. 0: 8 times the buffer's size, at least
  // 64 MiB.
  uint64_t traversal_bytes = 0;
};

// The budget that ReadLimits::traversal_bytes sets for one buffer.
// Thread-safe.
class ReadBudget {
 public:
  explicit ReadBudget(uint64_t bytes)
      : left_(static_cast<int64_t>(
            std::min<uint64_t>(bytes, std::numeric_limits<int64_t>::max()))) {}
  // Takes `bytes`; false (and takes nothing more from then on) once the
  // budget does not cover them.
  bool Charge(uint64_t bytes) {
    if (bytes > (uint64_t{1} << 62)) bytes = uint64_t{1} << 62;
    return left_.fetch_sub(static_cast<int64_t>(bytes),
                           std::memory_order_relaxed) >=
           static_cast<int64_t>(bytes);
  }
  bool exhausted() const { return left_.load(std::memory_order_relaxed) < 0; }

 private:
  std::atomic<int64_t> left_;
};

namespace internal {

// Loads a T at `p` exactly once (p aligned to sizeof(T)).
template <typename T>
T LoadOnce(const uint8_t* p) {
  static_assert(std::is_integral<T>::value);
  return __atomic_load_n(reinterpret_cast<const T*>(p), __ATOMIC_RELAXED);
}

// Where a buffer is and how much reading it may still cost; shared by all
// the references into one buffer.
struct Source {
  const uint8_t* base = nullptr;
  uint64_t size = 0;
  uint32_t max_depth = 0;
  ReadBudget* budget = nullptr;
};

class MessageRef;

// A repeated field of a message being read: its kind and checked bounds.
// A value; copyable.
class RepeatedRef {
 public:
  RepeatedRef() = default;

  uint8_t kind() const { return kind_; }
  int size() const { return static_cast<int>(count_); }

  // Element `i` (0 <= i < size(), else the default) as a varint type: any
  // varint array (kRepBool, kRepInt32, ...) reads as each of them.
  int64_t VarintAt(int i) const;
  uint32_t Fixed32At(int i) const;
  uint64_t Fixed64At(int i) const;
  float FloatAt(int i) const;
  double DoubleAt(int i) const;
  absl::string_view BytesAt(int i) const;
  MessageRef MessageAt(int i) const;

  // The elements in place, when the array has exactly `expected` kind (and
  // so T's size); empty otherwise. The span's contents may change if the
  // sender keeps writing; its bounds do not.
  template <typename T>
  absl::Span<const T> Span(uint8_t expected) const {
    // A sender can put any byte in a bool element: read those one by one
    // (VarintAt), never as bool in place.
    static_assert(!std::is_same<T, bool>::value,
                  "bool elements are read with VarintAt or operator[]");
    if (kind_ != expected || ElementSize(expected) != sizeof(T)) return {};
    return absl::Span<const T>(reinterpret_cast<const T*>(src_.base + offset_),
                               count_);
  }

 private:
  friend class MessageRef;
  RepeatedRef(const Source& src, uint8_t kind, uint32_t offset, uint32_t count,
              uint32_t depth)
      : src_(src), kind_(kind), offset_(offset), count_(count), depth_(depth) {}
  const uint8_t* At(int i, uint32_t element) const;

  Source src_;
  uint8_t kind_ = kNone;
  uint32_t offset_ = 0;
  uint32_t count_ = 0;
  uint32_t depth_ = 0;
};

// A message being read: checked where it is and how many fields its header
// has; every field read checks the rest. A value; copyable. The default one
// is the empty message (every field reads as its default).
class MessageRef {
 public:
  MessageRef() = default;

  // The root message of `src`'s buffer if its header is valid and names
  // `type`; else FailedPrecondition / InvalidArgument saying what is wrong.
  static absl::StatusOr<MessageRef> Root(const Source& src, uint64_t type);

  bool empty() const { return count_ == 0; }
  // The highest field number the writer's schema has (0 when empty).
  uint32_t field_count() const { return count_; }

  // The kind of field `number` as written (kNone if the writer has no such
  // field).
  uint8_t KindOf(uint32_t number) const;
  // Whether field `number`'s presence bit is set.
  bool Has(uint32_t number) const;

  // Field `number` read as the type named, or 0 / "" / empty when it is not
  // of a kind that reads as that type.
  int64_t Varint(uint32_t number) const;
  uint32_t Fixed32(uint32_t number) const;
  uint64_t Fixed64(uint32_t number) const;
  float Float(uint32_t number) const;
  double Double(uint32_t number) const;
  absl::string_view Bytes(uint32_t number) const;
  MessageRef Message(uint32_t number) const;
  RepeatedRef Repeated(uint32_t number) const;

  // Takes `bytes` from the buffer's traversal budget (ReadLimits): for
  // work that grows with what it reads, such as copying every string and
  // array (ToProto). False once the budget does not cover them.
  bool Charge(uint64_t bytes) const;

  // For RepeatedRef and the tests: the message at `offset` of `src`, one
  // level below `depth`; empty if it is not valid there.
  static MessageRef At(const Source& src, uint64_t offset, uint32_t depth);

 private:
  uint64_t Slot(uint32_t number, uint8_t* kind) const;

  Source src_;
  uint32_t offset_ = 0;
  uint32_t count_ = 0;
  uint32_t depth_ = 0;
};

}  // namespace internal

// What ToProto returns when the traversal budget ran out mid-copy.
inline absl::Status TraversalExhausted() {
  return absl::DataLossError(
      "flat message: traversal budget exhausted (ReadLimits::traversal_bytes)");
}

// A buffer to read flat messages from, with the limits and the traversal
// budget of reading it. The buffer must stay mapped while the reader or any
// view from it is used; the reader must outlive its views. Thread-safe.
class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> buffer, ReadLimits limits = {});
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // The root message as a generated view type (which has a static
  // `kTypeId` and a constructor from internal::MessageRef).
  template <typename View>
  absl::StatusOr<View> Root() const {
    absl::StatusOr<internal::MessageRef> ref =
        internal::MessageRef::Root(source(), View::kTypeId);
    if (!ref.ok()) return ref.status();
    return View(*ref);
  }

  // Whether a read was cut short by the traversal budget (the values read
  // since are defaults).
  bool budget_exhausted() const { return budget_.exhausted(); }

  internal::Source source() const;

 private:
  absl::Span<const uint8_t> buffer_;
  ReadLimits limits_;
  mutable ReadBudget budget_;
};

// The generated description of a message type that a builder needs.
struct MessageSchema {
  const char* full_name;
  uint64_t type_id;
  uint32_t field_count;  // the highest field number
  const uint8_t* kinds;  // field_count kinds, kinds[f-1] for field f
};

class MessageBuilder;

// Where builders write: a buffer and, when it is full, a way to get a
// larger one. Offsets stay valid when the buffer moves; pointers and spans
// into it do not (a span from a builder is valid until the next setter on
// the same arena). Not thread-safe.
class Arena {
 public:
  // Asked for a buffer of at least `min_size` bytes when the current one
  // (`old`, whose first `used` bytes are in use) is full; returns the new
  // one with those bytes copied, or an error. The old buffer is not used
  // again.
  using Grow = std::function<absl::StatusOr<absl::Span<uint8_t>>(
      absl::Span<uint8_t> old, uint32_t used, uint64_t min_size)>;

  // Builds into `buffer` (which need not be zeroed); `grow` may be empty (the
  // buffer is all there is).
  explicit Arena(absl::Span<uint8_t> buffer, Grow grow = nullptr);
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  virtual ~Arena() = default;

  // `bytes` bytes at a multiple of 8, zeroed unless `zero` is false (then
  // they hold whatever the buffer held: for bytes the caller writes in
  // full); the offset, or 0 (and the arena fails) if they cannot be had.
  uint32_t Allocate(uint64_t bytes, bool zero = true);
  // A pointer to `offset` (valid until the next Allocate).
  uint8_t* At(uint32_t offset) { return buffer_.data() + offset; }
  const uint8_t* At(uint32_t offset) const { return buffer_.data() + offset; }

  // Writes the buffer's header for the root message `root` (a builder made
  // on this arena). RESOURCE_EXHAUSTED if an allocation failed.
  absl::Status Finish(const MessageBuilder& root);

  // OK, or RESOURCE_EXHAUSTED once an allocation failed.
  const absl::Status& status() const { return status_; }
  // The buffer, and how much of it is in use (what a sender sends).
  absl::Span<uint8_t> buffer() const { return buffer_; }
  uint32_t used() const { return used_; }
  absl::Span<const uint8_t> written() const {
    return absl::Span<const uint8_t>(buffer_.data(), used_);
  }

 private:
  absl::Span<uint8_t> buffer_;
  Grow grow_;
  uint32_t used_ = kFirstMessageOffset;
  absl::Status status_;
};

// An arena in memory of its own that doubles as it fills (for messages that
// are not headed for shared memory: tests, FromProto for gRPC, copies).
class HeapArena : public Arena {
 public:
  explicit HeapArena(uint64_t initial_size = 256);

 private:
  HeapArena(std::shared_ptr<std::vector<std::unique_ptr<uint8_t[]>>> blocks,
            uint64_t initial_size);
  std::shared_ptr<std::vector<std::unique_ptr<uint8_t[]>>> blocks_;
};

// A message being built on an Arena: the arena and the message's offset. A
// value; copies refer to the same message. The default one is detached:
// its setters do nothing. Generated builders wrap one.
class MessageBuilder {
 public:
  MessageBuilder() = default;

  // A new message of `schema` on `arena` (detached if the arena fails).
  static MessageBuilder New(Arena* arena, const MessageSchema& schema);

  bool detached() const { return arena_ == nullptr || offset_ == 0; }
  Arena* arena() const { return arena_; }
  uint32_t offset() const { return offset_; }
  const MessageSchema* schema() const { return schema_; }

  // Scalars (kVarint, kFixed32, kFixed64, kFloat, kDouble slots); with
  // `presence`, also sets the field's presence bit.
  void SetVarint(uint32_t number, int64_t value, bool presence);
  void SetFixed32(uint32_t number, uint32_t value, bool presence);
  void SetFixed64(uint32_t number, uint64_t value, bool presence);
  void SetFloat(uint32_t number, float value, bool presence);
  void SetDouble(uint32_t number, double value, bool presence);
  // Clears field `number` (slot zero, presence bit off).
  void Clear(uint32_t number);
  void SetPresence(uint32_t number, bool present);
  bool Has(uint32_t number) const;

  // String or bytes: copies `value` in; or reserves `size` bytes and returns
  // them to be written (empty, with size > 0, if the arena failed). Reserved
  // bytes are not cleared (the caller writes them, once): in a chunk they
  // hold whatever an earlier message of this side left there.
  void SetBytes(uint32_t number, absl::string_view value, bool presence);
  absl::Span<uint8_t> ResizeBytes(uint32_t number, uint64_t size,
                                  bool presence);

  // The child message in field `number`, made on first use.
  MessageBuilder MutableMessage(uint32_t number, const MessageSchema& schema);

  // Repeated fields. Appends one element; or makes the field `count`
  // elements (zeroed) and returns them to be written.
  void AddScalar(uint32_t number, const void* element);
  absl::Span<uint8_t> ResizeRepeated(uint32_t number, uint64_t count);
  void AddBytes(uint32_t number, absl::string_view value);
  absl::Span<uint8_t> AddBytes(uint32_t number, uint64_t size);
  MessageBuilder AddMessage(uint32_t number, const MessageSchema& schema);
  // The `i`th message of repeated field `number` (detached if out of range).
  MessageBuilder MessageAt(uint32_t number, int i, const MessageSchema& schema);
  int RepeatedSize(uint32_t number) const;

  // This message, read back (from the builder's own memory).
  internal::MessageRef Read() const;

 private:
  MessageBuilder(Arena* arena, uint32_t offset, const MessageSchema* schema)
      : arena_(arena), offset_(offset), schema_(schema) {}
  // The slot of field `number` (nullptr if the schema has no such field or
  // the builder is detached).
  uint8_t* SlotPtr(uint32_t number);
  const uint8_t* SlotPtr(uint32_t number) const;
  uint64_t LoadSlot(uint32_t number) const;
  void StoreSlot(uint32_t number, uint64_t value);
  // Makes room for one more element of repeated field `number`; returns its
  // offset (0 if the arena failed).
  uint32_t AppendElement(uint32_t number);

  Arena* arena_ = nullptr;
  uint32_t offset_ = 0;
  const MessageSchema* schema_ = nullptr;
};

}  // namespace shmrpc::flat

#endif  // SHMRPC_MESSAGE_FLAT_H_
