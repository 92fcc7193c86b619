// The layout of a flat message: a protobuf message laid out by generated
// code so that it is written once, in place, into a buffer (a chunk of the
// sender's shared-memory segment) and read in place by the receiver, with no
// serialize and no parse. Shared between two processes that trust each other
// only this far: the reader checks every offset, length and count it reads
// against the buffer's size from its own descriptor (message/flat.h).
//
// Everything is little-endian, every reference is an offset from the start
// of the buffer (never a pointer), and every message and array starts at a
// multiple of 8.
//
// Buffer:
//
//   0        4        6        8        12       16                24
//   +--------+--------+--------+--------+--------+-----------------+------
//   | magic  |version | flags  |  root  |  used  |  type (u64)     | ...
//   +--------+--------+--------+--------+--------+-----------------+------
//   magic   kFlatMagic ("FLT1"); version kFlatVersion; flags 0
//   root    offset of the root message
//   used    bytes of the buffer the writer used (informational)
//   type    TypeId() of the root message's full protobuf name
//
// Message (at an 8-aligned offset m):
//
//   m+0      m+4      m+8            m+K                m+S
//   +--------+--------+--------------+------------------+------------------+
//   | count  | flags  | kind[count]  | presence[words]  | slot[count]      |
//   | (u32)  | (u32)  | (u8 each,    | (u64 each, bit i | (u64 each)       |
//   |        |        |  padded to 8)|  = field i+1 set)|                  |
//   +--------+--------+--------------+------------------+------------------+
//   count   N, the highest field number of the writer's schema: field number
//           f lives in kind[f-1], presence bit f-1 and slot[f-1], so readers
//           and writers of different versions of the .proto agree on where
//           every field is (protobuf's field numbers are the stable names)
//   kind    FieldKind of the field as the writer's schema has it (0: no
//           such field); a reader takes a field only when its kind is one
//           it can read as the type it expects, and sees the default
//           otherwise: a changed type is never misread
//   presence  set for fields with explicit presence (proto2, `optional`,
//           oneof members, messages) once set
//
// Slots, by kind:
//
//   kVarint     the value as int64 (signed types sign-extended, unsigned
//               zero-extended, bool 0 or 1, enums as int32): int32, int64,
//               uint32, uint64, sint32, sint64, bool and enum read each
//               other as protobuf's varint types do
//   kFixed32    u32 in the low half (fixed32, sfixed32)
//   kFixed64    u64 (fixed64, sfixed64)
//   kFloat      IEEE-754 single in the low half
//   kDouble     IEEE-754 double
//   kBytes      low half: offset of the bytes; high half: their length
//               (string, bytes)
//   kMessage    low half: offset of the child message (0: none)
//   kRep*       low half: offset of the elements; high half: their count.
//               Elements: kRepBool u8, kRepInt32 i32 (int32, sint32, enum),
//               kRepUInt32 u32, kRepInt64 i64 (int64, sint64), kRepUInt64
//               u64, kRepFixed32 u32, kRepFixed64 u64, kRepFloat f32,
//               kRepDouble f64, kRepBytes {u32 offset, u32 length} pairs,
//               kRepMessage u32 message offsets. Map fields are kRepMessage
//               of entries whose field 1 is the key and field 2 the value,
//               as on protobuf's wire.
//
// A writer's arena may leave a u64 in front of an element array (its
// capacity); readers never look at it. Nothing else lives in the buffer.
#ifndef SHMRPC_MESSAGE_FLAT_LAYOUT_H_
#define SHMRPC_MESSAGE_FLAT_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace shmrpc::flat {

inline constexpr uint32_t kFlatMagic = 0x31544c46;  // "FLT1"
inline constexpr uint16_t kFlatVersion = 1;

// The highest field number a flat message may use (the header of a message
// has a kind byte and a slot per number up to its highest).
inline constexpr uint32_t kMaxFieldNumber = 4096;

// Buffers are at most this large (offsets and lengths are u32).
inline constexpr uint64_t kMaxBufferSize = uint64_t{1} << 32;

struct BufferHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t flags;
  uint32_t root;
  uint32_t used;
  uint64_t type;
};
static_assert(sizeof(BufferHeader) == 24);
static_assert(offsetof(BufferHeader, root) == 8);
static_assert(offsetof(BufferHeader, type) == 16);

// The first message of a buffer starts here.
inline constexpr uint32_t kFirstMessageOffset = 24;

struct MessageHeader {
  uint32_t count;
  uint32_t flags;
};
static_assert(sizeof(MessageHeader) == 8);

enum FieldKind : uint8_t {
  kNone = 0,
  kVarint = 1,
  kFixed32 = 2,
  kFixed64 = 3,
  kFloat = 4,
  kDouble = 5,
  kBytes = 6,
  kMessage = 7,
  kRepBool = 0x81,
  kRepInt32 = 0x82,
  kRepUInt32 = 0x83,
  kRepInt64 = 0x84,
  kRepUInt64 = 0x85,
  kRepFixed32 = 0x86,
  kRepFixed64 = 0x87,
  kRepFloat = 0x88,
  kRepDouble = 0x89,
  kRepBytes = 0x8a,
  kRepMessage = 0x8b,
};

inline constexpr bool IsRepeated(uint8_t kind) { return (kind & 0x80) != 0; }

// Bytes per element of a repeated kind (0 for anything else).
inline constexpr uint32_t ElementSize(uint8_t kind) {
  switch (kind) {
    case kRepBool:
      return 1;
    case kRepInt32:
    case kRepUInt32:
    case kRepFixed32:
    case kRepFloat:
    case kRepMessage:
      return 4;
    case kRepInt64:
    case kRepUInt64:
    case kRepFixed64:
    case kRepDouble:
    case kRepBytes:
      return 8;
    default:
      return 0;
  }
}

// Repeated kinds whose elements read as protobuf's varint types.
inline constexpr bool IsVarintArray(uint8_t kind) {
  return kind == kRepBool || kind == kRepInt32 || kind == kRepUInt32 ||
         kind == kRepInt64 || kind == kRepUInt64;
}

inline constexpr uint32_t AlignUp8(uint64_t n) {
  return static_cast<uint32_t>((n + 7) & ~uint64_t{7});
}

// Where the parts of a message with `count` fields start, from the
// message's offset, and its header's size.
inline constexpr uint32_t KindsOffset() { return sizeof(MessageHeader); }
inline constexpr uint32_t PresenceOffset(uint32_t count) {
  return sizeof(MessageHeader) + AlignUp8(count);
}
inline constexpr uint32_t PresenceWords(uint32_t count) {
  return (count + 63) / 64;
}
inline constexpr uint32_t SlotsOffset(uint32_t count) {
  return PresenceOffset(count) + 8 * PresenceWords(count);
}
inline constexpr uint32_t MessageSize(uint32_t count) {
  return SlotsOffset(count) + 8 * count;
}
static_assert(MessageSize(kMaxFieldNumber) < (1u << 16));

// The type id of a message: FNV-1a (64 bits) of its full protobuf name
// ("package.Message"). A reader refuses a root of another type.
constexpr uint64_t TypeId(absl::string_view full_name) {
  uint64_t h = 0xcbf29ce484222325u;
  for (char c : full_name) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3u;
  }
  return h;
}

}  // namespace shmrpc::flat

#endif  // SHMRPC_MESSAGE_FLAT_LAYOUT_H_
