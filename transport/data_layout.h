// A data segment: the memory in which one side writes the payloads it sends.
// Each side of a connection owns exactly one data segment. The owner maps it
// read-write and, before handing its fd to the peer, seals it with
// F_SEAL_FUTURE_WRITE, so the kernel refuses any writable mapping of it by the
// peer (or by anyone the fd reaches). The peer maps it read-only and reads
// payloads in place.
//
// The segment is cut into fixed-size chunks grouped in size classes. Chunks
// are named by their byte offset from the start of the segment, never by a
// pointer (the two processes map the segment at different addresses):
//
//   offset 0
//   +--------------------------------------------------------------+
//   | DataHeader (one 4 KiB page): magic, version, size, classes   |
//   +--------------------------------------------------------------+  page
//   | class 0: count x chunk_size   (e.g. 512 x 256 B)            |  aligned
//   +--------------------------------------------------------------+
//   | class 1: count x chunk_size   (e.g. 128 x 4 KiB)            |
//   +--------------------------------------------------------------+
//   | ...                                                          |
//   +--------------------------------------------------------------+
//
//   chunk j of class i starts at classes[i].offset + j * classes[i].chunk_size
//
// Which chunks are free, held or lent is kept in the owner's private memory
// (chunk_pool.h), never here, so the peer cannot corrupt the allocator. The
// header is informational for the peer (and for debugging tools): a receiver
// never relies on it. What a receiver checks for every chunk descriptor
// (descriptor_check.h) is only: segment index 0, offset at or past
// kDataHeaderSize, and offset + length within the segment size it validated
// at handshake time. Offsets travel in kChunkAlignment units
// (Descriptor::offset_units), so they are aligned by construction.
#ifndef SHMRPC_TRANSPORT_DATA_LAYOUT_H_
#define SHMRPC_TRANSPORT_DATA_LAYOUT_H_

#include <cstddef>
#include <cstdint>

namespace shmrpc::transport {

// "SMRD" read as a little-endian u32: marks a data segment.
inline constexpr uint32_t kDataMagic = 0x44524d53;

// Chunks start on cache-line boundaries and are whole cache lines long.
inline constexpr uint32_t kChunkAlignment = 64;

// At most this many size classes per segment.
inline constexpr uint32_t kMaxSizeClasses = 16;

// The header occupies the first page; class regions start page-aligned.
inline constexpr uint64_t kDataHeaderSize = 4096;
inline constexpr uint64_t kPageSize = 4096;

// One size class as recorded in the header.
struct DataClassEntry {
  uint32_t chunk_size;  // bytes per chunk, multiple of kChunkAlignment
  uint32_t count;       // chunks in this class
  uint64_t offset;      // segment offset of chunk 0, page-aligned
};
static_assert(sizeof(DataClassEntry) == 16);

struct DataHeader {
  uint32_t magic;         // kDataMagic
  uint16_t version;       // kProtocolVersion (control_layout.h)
  uint16_t class_count;   // <= kMaxSizeClasses
  uint64_t segment_size;  // bytes
  DataClassEntry classes[kMaxSizeClasses];
};
static_assert(sizeof(DataHeader) == 16 + 16 * kMaxSizeClasses);
static_assert(sizeof(DataHeader) <= kDataHeaderSize);

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_DATA_LAYOUT_H_
