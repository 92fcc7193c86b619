#include "shmrpc/message/flat.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace shmrpc::flat {
namespace internal {
namespace {

uint32_t Low(uint64_t slot) { return static_cast<uint32_t>(slot); }
uint32_t High(uint64_t slot) { return static_cast<uint32_t>(slot >> 32); }

template <typename T>
T BitCast(uint64_t bits) {
  T value;
  if constexpr (sizeof(T) == 4) {
    const uint32_t low = static_cast<uint32_t>(bits);
    std::memcpy(&value, &low, 4);
  } else {
    std::memcpy(&value, &bits, 8);
  }
  return value;
}

}  // namespace

absl::StatusOr<MessageRef> MessageRef::Root(const Source& src, uint64_t type) {
  if (src.base == nullptr || src.size < kFirstMessageOffset) {
    return absl::InvalidArgumentError(
        "flat message: buffer smaller than its header");
  }
  if (reinterpret_cast<uintptr_t>(src.base) % 8 != 0) {
    return absl::InvalidArgumentError("flat message: buffer not 8-aligned");
  }
  const uint32_t magic = LoadOnce<uint32_t>(src.base);
  const uint16_t version = LoadOnce<uint16_t>(src.base + 4);
  const uint32_t root = LoadOnce<uint32_t>(src.base + 8);
  const uint64_t root_type = LoadOnce<uint64_t>(src.base + 16);
  if (magic != kFlatMagic) {
    return absl::InvalidArgumentError("flat message: bad magic");
  }
  if (version != kFlatVersion) {
    return absl::FailedPreconditionError(
        "flat message: layout version " + std::to_string(version) +
        ", this build reads version " + std::to_string(kFlatVersion));
  }
  if (root_type != type) {
    return absl::InvalidArgumentError(
        "flat message: the root is a message of another type");
  }
  MessageRef ref = At(src, root, 0);
  if (ref.empty() && (root < kFirstMessageOffset || root % 8 != 0 ||
                      uint64_t{root} + sizeof(MessageHeader) > src.size)) {
    return absl::InvalidArgumentError(
        "flat message: root offset outside the buffer");
  }
  return ref;
}

MessageRef MessageRef::At(const Source& src, uint64_t offset, uint32_t depth) {
  MessageRef ref;
  if (depth > src.max_depth || offset < kFirstMessageOffset ||
      offset % 8 != 0 || offset + sizeof(MessageHeader) > src.size) {
    return ref;
  }
  const uint32_t count = LoadOnce<uint32_t>(src.base + offset);
  if (count == 0 || count > kMaxFieldNumber ||
      offset + MessageSize(count) > src.size) {
    return ref;
  }
  if (src.budget != nullptr && !src.budget->Charge(MessageSize(count))) {
    return ref;
  }
  ref.src_ = src;
  ref.offset_ = static_cast<uint32_t>(offset);
  ref.count_ = count;
  ref.depth_ = depth;
  return ref;
}

uint8_t MessageRef::KindOf(uint32_t number) const {
  if (number == 0 || number > count_) return kNone;
  return LoadOnce<uint8_t>(src_.base + offset_ + KindsOffset() + number - 1);
}

bool MessageRef::Has(uint32_t number) const {
  if (number == 0 || number > count_) return false;
  const uint64_t word = LoadOnce<uint64_t>(
      src_.base + offset_ + PresenceOffset(count_) + 8 * ((number - 1) / 64));
  return (word >> ((number - 1) % 64)) & 1;
}

uint64_t MessageRef::Slot(uint32_t number, uint8_t* kind) const {
  *kind = KindOf(number);
  if (*kind == kNone) return 0;
  return LoadOnce<uint64_t>(src_.base + offset_ + SlotsOffset(count_) +
                            8 * (number - 1));
}

int64_t MessageRef::Varint(uint32_t number) const {
  uint8_t kind;
  const uint64_t slot = Slot(number, &kind);
  return kind == kVarint ? static_cast<int64_t>(slot) : 0;
}

uint32_t MessageRef::Fixed32(uint32_t number) const {
  uint8_t kind;
  const uint64_t slot = Slot(number, &kind);
  return kind == kFixed32 ? Low(slot) : 0;
}

uint64_t MessageRef::Fixed64(uint32_t number) const {
  uint8_t kind;
  const uint64_t slot = Slot(number, &kind);
  return kind == kFixed64 ? slot : 0;
}

float MessageRef::Float(uint32_t number) const {
  uint8_t kind;
  const uint64_t slot = Slot(number, &kind);
  return kind == kFloat ? BitCast<float>(slot) : 0.0f;
}

double MessageRef::Double(uint32_t number) const {
  uint8_t kind;
  const uint64_t slot = Slot(number, &kind);
  return kind == kDouble ? BitCast<double>(slot) : 0.0;
}

absl::string_view MessageRef::Bytes(uint32_t number) const {
  uint8_t kind;
  const uint64_t slot = Slot(number, &kind);
  if (kind != kBytes) return {};
  const uint64_t offset = Low(slot);
  const uint64_t length = High(slot);
  if (length == 0 || offset + length > src_.size) return {};
  return absl::string_view(reinterpret_cast<const char*>(src_.base + offset),
                           length);
}

MessageRef MessageRef::Message(uint32_t number) const {
  uint8_t kind;
  const uint64_t slot = Slot(number, &kind);
  if (kind != kMessage) return {};
  return At(src_, Low(slot), depth_ + 1);
}

bool MessageRef::Charge(uint64_t bytes) const {
  return src_.budget == nullptr || src_.budget->Charge(bytes);
}

RepeatedRef MessageRef::Repeated(uint32_t number) const {
  uint8_t kind;
  const uint64_t slot = Slot(number, &kind);
  const uint32_t element = ElementSize(kind);
  if (element == 0) return {};
  const uint64_t offset = Low(slot);
  const uint64_t count = High(slot);
  if (count == 0 || offset % element != 0 || offset < kFirstMessageOffset ||
      offset + count * element > src_.size) {
    return {};
  }
  return RepeatedRef(src_, kind, static_cast<uint32_t>(offset),
                     static_cast<uint32_t>(count), depth_);
}

const uint8_t* RepeatedRef::At(int i, uint32_t element) const {
  if (i < 0 || static_cast<uint32_t>(i) >= count_) return nullptr;
  return src_.base + offset_ + uint64_t{element} * static_cast<uint32_t>(i);
}

int64_t RepeatedRef::VarintAt(int i) const {
  const uint8_t* p = At(i, ElementSize(kind_));
  if (p == nullptr) return 0;
  switch (kind_) {
    case kRepBool:
      return p[0] != 0 ? 1 : 0;
    case kRepInt32:
      return static_cast<int32_t>(LoadOnce<uint32_t>(p));
    case kRepUInt32:
      return LoadOnce<uint32_t>(p);
    case kRepInt64:
    case kRepUInt64:
      return static_cast<int64_t>(LoadOnce<uint64_t>(p));
    default:
      return 0;
  }
}

uint32_t RepeatedRef::Fixed32At(int i) const {
  if (kind_ != kRepFixed32) return 0;
  const uint8_t* p = At(i, 4);
  return p == nullptr ? 0 : LoadOnce<uint32_t>(p);
}

uint64_t RepeatedRef::Fixed64At(int i) const {
  if (kind_ != kRepFixed64) return 0;
  const uint8_t* p = At(i, 8);
  return p == nullptr ? 0 : LoadOnce<uint64_t>(p);
}

float RepeatedRef::FloatAt(int i) const {
  if (kind_ != kRepFloat) return 0.0f;
  const uint8_t* p = At(i, 4);
  return p == nullptr ? 0.0f : BitCast<float>(LoadOnce<uint32_t>(p));
}

double RepeatedRef::DoubleAt(int i) const {
  if (kind_ != kRepDouble) return 0.0;
  const uint8_t* p = At(i, 8);
  return p == nullptr ? 0.0 : BitCast<double>(LoadOnce<uint64_t>(p));
}

absl::string_view RepeatedRef::BytesAt(int i) const {
  if (kind_ != kRepBytes) return {};
  const uint8_t* p = At(i, 8);
  if (p == nullptr) return {};
  const uint64_t pair = LoadOnce<uint64_t>(p);
  const uint64_t offset = Low(pair);
  const uint64_t length = High(pair);
  if (length == 0 || offset + length > src_.size) return {};
  return absl::string_view(reinterpret_cast<const char*>(src_.base + offset),
                           length);
}

MessageRef RepeatedRef::MessageAt(int i) const {
  if (kind_ != kRepMessage) return {};
  const uint8_t* p = At(i, 4);
  if (p == nullptr) return {};
  return MessageRef::At(src_, LoadOnce<uint32_t>(p), depth_ + 1);
}

}  // namespace internal

Reader::Reader(absl::Span<const uint8_t> buffer, ReadLimits limits)
    : buffer_(buffer),
      limits_(limits),
      budget_(limits.traversal_bytes != 0
                  ? limits.traversal_bytes
                  : std::max<uint64_t>(uint64_t{64} << 20,
                                       8 * uint64_t{buffer.size()})) {}

internal::Source Reader::source() const {
  internal::Source src;
  src.base = buffer_.data();
  src.size = std::min<uint64_t>(buffer_.size(), kMaxBufferSize - 1);
  src.max_depth = limits_.max_depth;
  src.budget = &budget_;
  return src;
}

Arena::Arena(absl::Span<uint8_t> buffer, Grow grow)
    : buffer_(buffer), grow_(std::move(grow)) {
  if (buffer_.size() < kFirstMessageOffset ||
      reinterpret_cast<uintptr_t>(buffer_.data()) % 8 != 0) {
    status_ = absl::InvalidArgumentError(
        "flat arena: buffer smaller than 24 bytes or not 8-aligned");
  }
}

uint32_t Arena::Allocate(uint64_t bytes, bool zero) {
  if (!status_.ok()) return 0;
  const uint64_t start = used_;
  // In 64 bits: AlignUp8 returns a uint32_t, which wraps 2^32 - 7 and up to 0.
  const uint64_t end = start + ((bytes + 7) & ~uint64_t{7});
  if (bytes >= kMaxBufferSize || end >= kMaxBufferSize) {
    status_ = absl::ResourceExhaustedError("flat message larger than 4 GiB");
    return 0;
  }
  if (end > buffer_.size()) {
    if (!grow_) {
      status_ = absl::ResourceExhaustedError(
          "flat message does not fit its buffer of " +
          std::to_string(buffer_.size()) + " bytes (needs " +
          std::to_string(end) + ")");
      return 0;
    }
    absl::StatusOr<absl::Span<uint8_t>> grown =
        grow_(buffer_, used_, std::max<uint64_t>(end, 2 * buffer_.size()));
    if (!grown.ok()) {
      status_ =
          absl::ResourceExhaustedError("flat message outgrew its buffer: " +
                                       std::string(grown.status().message()));
      return 0;
    }
    if (grown->size() < end ||
        reinterpret_cast<uintptr_t>(grown->data()) % 8 != 0) {
      status_ = absl::InternalError("flat arena: grown buffer too small");
      return 0;
    }
    buffer_ = *grown;
  }
  if (zero) {
    std::memset(buffer_.data() + start, 0, end - start);
  } else if (end - start > bytes) {
    // The padding to the next multiple of 8, so that no stale byte sits
    // between parts.
    std::memset(buffer_.data() + start + bytes, 0, end - start - bytes);
  }
  used_ = static_cast<uint32_t>(end);
  return static_cast<uint32_t>(start);
}

absl::Status Arena::Finish(const MessageBuilder& root) {
  if (!status_.ok()) return status_;
  if (root.detached() || root.arena() != this || root.schema() == nullptr) {
    return absl::InvalidArgumentError(
        "flat arena: Finish needs a message built on this arena");
  }
  BufferHeader h{};
  h.magic = kFlatMagic;
  h.version = kFlatVersion;
  h.root = root.offset();
  h.used = used_;
  h.type = root.schema()->type_id;
  std::memcpy(buffer_.data(), &h, sizeof(h));
  return absl::OkStatus();
}

namespace {

using Blocks = std::vector<std::unique_ptr<uint8_t[]>>;

uint8_t* NewBlock(Blocks* blocks, uint64_t size) {
  // operator new[] of uint8_t aligns to at least 16.
  // Value-initialized: no indeterminate byte is ever read back.
  blocks->push_back(std::unique_ptr<uint8_t[]>(new uint8_t[size]()));
  return blocks->back().get();
}

}  // namespace

HeapArena::HeapArena(uint64_t initial_size)
    : HeapArena(std::make_shared<Blocks>(),
                std::max<uint64_t>(initial_size, kFirstMessageOffset)) {}

HeapArena::HeapArena(std::shared_ptr<Blocks> blocks, uint64_t initial_size)
    : Arena(absl::Span<uint8_t>(NewBlock(blocks.get(), initial_size),
                                initial_size),
            [blocks](absl::Span<uint8_t> old, uint32_t used,
                     uint64_t min_size) -> absl::StatusOr<absl::Span<uint8_t>> {
              uint8_t* next = NewBlock(blocks.get(), min_size);
              std::memcpy(next, old.data(), used);
              // Only the newest block is in use from now on.
              blocks->erase(blocks->begin(), blocks->end() - 1);
              return absl::Span<uint8_t>(next, min_size);
            }),
      blocks_(std::move(blocks)) {}

MessageBuilder MessageBuilder::New(Arena* arena, const MessageSchema& schema) {
  if (arena == nullptr || schema.field_count == 0 ||
      schema.field_count > kMaxFieldNumber) {
    return {};
  }
  const uint32_t offset = arena->Allocate(MessageSize(schema.field_count));
  if (offset == 0) return {};
  uint8_t* p = arena->At(offset);
  const MessageHeader h{schema.field_count, 0};
  std::memcpy(p, &h, sizeof(h));
  std::memcpy(p + KindsOffset(), schema.kinds, schema.field_count);
  return MessageBuilder(arena, offset, &schema);
}

uint8_t* MessageBuilder::SlotPtr(uint32_t number) {
  // Once the arena failed, every setter does nothing.
  if (!detached() && !arena_->status().ok()) return nullptr;
  return const_cast<uint8_t*>(std::as_const(*this).SlotPtr(number));
}

const uint8_t* MessageBuilder::SlotPtr(uint32_t number) const {
  if (detached() || number == 0 || number > schema_->field_count ||
      schema_->kinds[number - 1] == kNone) {
    return nullptr;
  }
  return arena_->At(offset_) + SlotsOffset(schema_->field_count) +
         8 * (number - 1);
}

uint64_t MessageBuilder::LoadSlot(uint32_t number) const {
  const uint8_t* p = SlotPtr(number);
  uint64_t v = 0;
  if (p != nullptr) std::memcpy(&v, p, 8);
  return v;
}

void MessageBuilder::StoreSlot(uint32_t number, uint64_t value) {
  uint8_t* p = SlotPtr(number);
  if (p != nullptr) std::memcpy(p, &value, 8);
}

void MessageBuilder::SetPresence(uint32_t number, bool present) {
  if (SlotPtr(number) == nullptr) return;
  uint8_t* word = arena_->At(offset_) + PresenceOffset(schema_->field_count) +
                  8 * ((number - 1) / 64);
  uint64_t bits;
  std::memcpy(&bits, word, 8);
  const uint64_t bit = uint64_t{1} << ((number - 1) % 64);
  bits = present ? (bits | bit) : (bits & ~bit);
  std::memcpy(word, &bits, 8);
}

bool MessageBuilder::Has(uint32_t number) const {
  if (SlotPtr(number) == nullptr) return false;
  const uint8_t* word = arena_->At(offset_) +
                        PresenceOffset(schema_->field_count) +
                        8 * ((number - 1) / 64);
  uint64_t bits;
  std::memcpy(&bits, word, 8);
  return (bits >> ((number - 1) % 64)) & 1;
}

void MessageBuilder::SetVarint(uint32_t number, int64_t value, bool presence) {
  StoreSlot(number, static_cast<uint64_t>(value));
  if (presence) SetPresence(number, true);
}

void MessageBuilder::SetFixed32(uint32_t number, uint32_t value,
                                bool presence) {
  StoreSlot(number, value);
  if (presence) SetPresence(number, true);
}

void MessageBuilder::SetFixed64(uint32_t number, uint64_t value,
                                bool presence) {
  StoreSlot(number, value);
  if (presence) SetPresence(number, true);
}

void MessageBuilder::SetFloat(uint32_t number, float value, bool presence) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  StoreSlot(number, bits);
  if (presence) SetPresence(number, true);
}

void MessageBuilder::SetDouble(uint32_t number, double value, bool presence) {
  uint64_t bits;
  std::memcpy(&bits, &value, 8);
  StoreSlot(number, bits);
  if (presence) SetPresence(number, true);
}

void MessageBuilder::Clear(uint32_t number) {
  StoreSlot(number, 0);
  SetPresence(number, false);
}

absl::Span<uint8_t> MessageBuilder::ResizeBytes(uint32_t number, uint64_t size,
                                                bool presence) {
  if (SlotPtr(number) == nullptr) return {};
  uint32_t offset = 0;
  if (size > 0) {
    offset = arena_->Allocate(size, /*zero=*/false);
    if (offset == 0) return {};
  }
  StoreSlot(number, offset | (size << 32));
  if (presence) SetPresence(number, true);
  return absl::Span<uint8_t>(arena_->At(offset), size);
}

namespace {

// `value` itself, or a copy of it in `*copy` when it lies in `arena`'s
// buffer (which the allocation about to be made may move).
absl::string_view OutsideArena(const Arena* arena, absl::string_view value,
                               std::string* copy) {
  const absl::Span<uint8_t> buffer = arena->buffer();
  const auto* p = reinterpret_cast<const uint8_t*>(value.data());
  if (!value.empty() && p >= buffer.data() &&
      p < buffer.data() + buffer.size()) {
    copy->assign(value.data(), value.size());
    return *copy;
  }
  return value;
}

}  // namespace

void MessageBuilder::SetBytes(uint32_t number, absl::string_view value,
                              bool presence) {
  if (arena_ == nullptr) return;
  std::string copy;
  value = OutsideArena(arena_, value, &copy);
  absl::Span<uint8_t> out = ResizeBytes(number, value.size(), presence);
  if (!out.empty()) std::memcpy(out.data(), value.data(), value.size());
}

MessageBuilder MessageBuilder::MutableMessage(uint32_t number,
                                              const MessageSchema& schema) {
  if (SlotPtr(number) == nullptr) return {};
  const uint32_t existing = static_cast<uint32_t>(LoadSlot(number));
  if (existing != 0) return MessageBuilder(arena_, existing, &schema);
  MessageBuilder child = New(arena_, schema);
  if (child.detached()) return {};
  StoreSlot(number, child.offset_);
  SetPresence(number, true);
  return child;
}

int MessageBuilder::RepeatedSize(uint32_t number) const {
  return static_cast<int>(LoadSlot(number) >> 32);
}

uint32_t MessageBuilder::AppendElement(uint32_t number) {
  if (SlotPtr(number) == nullptr) return 0;
  const uint32_t element = ElementSize(schema_->kinds[number - 1]);
  if (element == 0) return 0;
  const uint64_t slot = LoadSlot(number);
  const uint32_t array = static_cast<uint32_t>(slot);
  const uint32_t count = static_cast<uint32_t>(slot >> 32);
  uint64_t capacity = 0;
  if (array != 0) std::memcpy(&capacity, arena_->At(array - 8), 8);
  if (count == std::numeric_limits<uint32_t>::max()) return 0;
  uint32_t target = array;
  if (count + uint64_t{1} > capacity) {
    const uint64_t grown = std::max<uint64_t>(4, 2 * capacity);
    const uint32_t block = arena_->Allocate(8 + grown * element);
    if (block == 0) return 0;
    target = block + 8;
    std::memcpy(arena_->At(block), &grown, 8);
    if (count > 0) {
      std::memcpy(arena_->At(target), arena_->At(array),
                  uint64_t{count} * element);
    }
  }
  StoreSlot(number, target | (uint64_t{count + 1} << 32));
  return target + count * element;
}

void MessageBuilder::AddScalar(uint32_t number, const void* element) {
  const uint32_t at = AppendElement(number);
  if (at == 0) return;
  std::memcpy(arena_->At(at), element, ElementSize(schema_->kinds[number - 1]));
}

absl::Span<uint8_t> MessageBuilder::ResizeRepeated(uint32_t number,
                                                   uint64_t count) {
  if (SlotPtr(number) == nullptr) return {};
  const uint32_t element = ElementSize(schema_->kinds[number - 1]);
  if (element == 0) return {};
  if (count >= kMaxBufferSize / element) {
    arena_->Allocate(kMaxBufferSize);  // fails the arena: more than 4 GiB
    return {};
  }
  const uint64_t slot = LoadSlot(number);
  const uint32_t old = static_cast<uint32_t>(slot);
  const uint64_t old_count = slot >> 32;
  if (count == 0) {
    StoreSlot(number, 0);
    return {};
  }
  const uint32_t block = arena_->Allocate(8 + count * element);
  if (block == 0) return {};
  const uint32_t target = block + 8;
  std::memcpy(arena_->At(block), &count, 8);
  if (old != 0 && old_count > 0) {
    std::memcpy(arena_->At(target), arena_->At(old),
                std::min(old_count, count) * element);
  }
  StoreSlot(number, target | (count << 32));
  return absl::Span<uint8_t>(arena_->At(target), count * element);
}

absl::Span<uint8_t> MessageBuilder::AddBytes(uint32_t number, uint64_t size) {
  if (SlotPtr(number) == nullptr || schema_->kinds[number - 1] != kRepBytes) {
    return {};
  }
  uint32_t bytes = 0;
  if (size > 0) {
    bytes = arena_->Allocate(size, /*zero=*/false);
    if (bytes == 0) return {};
  }
  const uint32_t at = AppendElement(number);
  if (at == 0) return {};
  const uint64_t pair = bytes | (size << 32);
  std::memcpy(arena_->At(at), &pair, 8);
  return absl::Span<uint8_t>(arena_->At(bytes), size);
}

void MessageBuilder::AddBytes(uint32_t number, absl::string_view value) {
  if (arena_ == nullptr) return;
  std::string copy;
  value = OutsideArena(arena_, value, &copy);
  absl::Span<uint8_t> out = AddBytes(number, value.size());
  if (!out.empty()) std::memcpy(out.data(), value.data(), value.size());
}

MessageBuilder MessageBuilder::AddMessage(uint32_t number,
                                          const MessageSchema& schema) {
  if (SlotPtr(number) == nullptr || schema_->kinds[number - 1] != kRepMessage) {
    return {};
  }
  MessageBuilder child = New(arena_, schema);
  if (child.detached()) return {};
  const uint32_t at = AppendElement(number);
  if (at == 0) return {};
  std::memcpy(arena_->At(at), &child.offset_, 4);
  return child;
}

MessageBuilder MessageBuilder::MessageAt(uint32_t number, int i,
                                         const MessageSchema& schema) {
  if (SlotPtr(number) == nullptr || schema_->kinds[number - 1] != kRepMessage ||
      i < 0 || i >= RepeatedSize(number)) {
    return {};
  }
  const uint32_t array = static_cast<uint32_t>(LoadSlot(number));
  uint32_t child;
  std::memcpy(&child, arena_->At(array + 4 * static_cast<uint32_t>(i)), 4);
  return MessageBuilder(arena_, child, &schema);
}

internal::MessageRef MessageBuilder::Read() const {
  if (detached()) return {};
  internal::Source src;
  src.base = arena_->At(0);
  src.size = arena_->used();
  src.max_depth = ReadLimits().max_depth;
  src.budget = nullptr;  // our own memory: no one else writes it
  return internal::MessageRef::At(src, offset_, 0);
}

}  // namespace shmrpc::flat
