// The control segment: the only memory that both processes of a connection
// write. It holds the descriptor rings, their indices and the futex words the
// two sides sleep on. Payload bytes never live here except for small inline
// payloads copied into a ring entry; large payloads live in chunks of the
// sender's own data segment (data_layout.h) and rings carry their offsets.
//
// The server creates this segment during the handshake (handshake.h), sizes
// it from the negotiated ControlParams, seals it and passes its fd to the
// client. Both sides compute every offset themselves from the params with
// ControlLayout::Compute(); no offset or pointer stored in shared memory is
// ever followed.
//
// Everything in this segment can be scribbled on by the peer at any moment.
// Readers load each shared field once into a local, check the local, and use
// only the local (see ring.h for the ring rules).
//
//   offset 0
//   +------------------------------------------------------------------+
//   | ControlHeader (256 B): magic, version, size, features, params,   |
//   |                        per-side "closing" words (goaway)          |
//   +------------------------------------------------------------------+
//   | ring "requests"        client -> server   RingControl + entries   |
//   +------------------------------------------------------------------+
//   | ring "client_returns"  server -> client   (client's chunks back)  |
//   +------------------------------------------------------------------+
//   | ring "server_returns"  client -> server   (server's chunks back)  |
//   +------------------------------------------------------------------+
//   | ring "notify"          server -> client   (stream ids that have   |
//   |                                            news, for async users)|
//   +------------------------------------------------------------------+
//   | ring "stream[0]"       server -> client   (messages of stream 0)  |
//   | ring "stream[1]"       ...                                        |
//   | ...                                                              |
//   | ring "stream[n-1]"                                               |
//   +------------------------------------------------------------------+
//
// Every ring region is laid out the same way (all lines are 64 B):
//
//   +0    line 0  head            consumer's index (written by consumer)
//   +64   line 1  data_bell       {seq, announced}: consumer sleeps here
//                                 when the ring is empty; producer wakes it
//   +128  line 2  space_bell      {seq, announced}: producers sleep here when
//                                 the ring is full; consumer wakes them
//   +192  line 3  notify_mode,    used by stream rings only (zero elsewhere)
//                 notify_pending,
//                 abandoned       the generation of the last call the client
//                                 gave up on while the server may still be
//                                 writing to it (0: none)
//                 credit          {generation, count}: the client's messages
//                                 of that call the server has consumed
//   +256  entries[capacity], 128 B each:
//
//         0       8                                      40            128
//         +-------+--------------------------------------+-------------+
//         | seq   | Descriptor (32 B)                    | inline data |
//         +-------+--------------------------------------+-------------+
//
//   An entry at position p is published when the producer stores
//   seq = p + 1 with release order, after writing the descriptor and the
//   inline bytes. The consumer loads seq with acquire order and accepts the
//   entry only if it equals p + 1; it then copies the entry out and stores
//   head = p + 1 with release order. Producers only reuse an entry once head
//   has passed it (acquire load of head).
//
// Ownership of each field:
//   field                    written by                 read by
//   header (except closing)  server, before handing     client (once, checked)
//                            the fd over
//   closing[kClientSide]     client                     server
//   closing[kServerSide]     server                     client
//   ring entries, data_bell  producer (seq), consumer   the other side
//     .seq                   (announced; the producer
//                            clears it when it wakes)
//   head, space_bell.seq     consumer (and announced    producer
//                            by producers)
//   notify_mode              client                     server
//   notify_pending           server sets, client clears both
//   abandoned                client                     server (a hint that
//                                                       only ends the
//                                                       client's own call)
//   credit                   server                     client (a hint that
//                                                       only paces the
//                                                       client's own call)
#ifndef SHMRPC_TRANSPORT_CONTROL_LAYOUT_H_
#define SHMRPC_TRANSPORT_CONTROL_LAYOUT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "absl/status/statusor.h"
#include "shmrpc/transport/data_layout.h"

namespace shmrpc::transport {

// "SMRC" read as a little-endian u32: marks a control segment.
inline constexpr uint32_t kControlMagic = 0x43524d53;

// Layout and protocol version carried by the handshake and the header. Bump
// it with any incompatible change to this file, data_layout.h or
// handshake_wire.h. Version 2: chunk offsets in 64-byte units and a lend
// generation in every Descriptor (version 1 had a 64-bit byte offset).
inline constexpr uint16_t kProtocolVersion = 2;

inline constexpr size_t kCacheLine = 64;

// Bytes of payload that fit inside a ring entry (see kEntrySize).
inline constexpr uint32_t kInlineCapacity = 88;

// Where a descriptor's payload is.
enum class PayloadKind : uint8_t {
  kNone = 0,    // no payload; length is 0
  kInline = 1,  // `length` bytes in the entry's inline area
  kChunk = 2,   // `length` bytes at `offset` in the sender's data segment
};

// One message as it travels through a ring: a plain 32-byte value that the
// consumer copies out before looking at it. The transport interprets only the
// payload fields (payload, segment, offset_units, lend, length) and `stream`;
// kind, flags, generation and aux belong to the layer above and pass through
// unchanged.
//
//   0         4      8        12       16           20    24     26
//   +---------+------+--------+--------+------------+-----+------+-------+
//   | offset_ | lend | length | stream | generation | aux | kind | flags |
//   | units   |      |        |        |            |     |      |       |
//   +---------+------+--------+--------+------------+-----+------+-------+
//   28        29        30
//   +---------+---------+----------+
//   | payload | segment | reserved |
//   +---------+---------+----------+
//
// A chunk's offset travels in kChunkAlignment (64-byte) units, so any chunk
// of a segment of up to 256 GiB can be named (segments are at most 64 GiB)
// and a misaligned offset cannot even be expressed. `lend` is the chunk's
// lending generation: the owner bumps it every time it lends the chunk
// (ChunkPool::MarkLent), and the receiver echoes it in the chunk's return, so
// a late duplicate return of an earlier lend cannot free the chunk while it is
// lent again.
struct Descriptor {
  uint32_t offset_units;  // kChunk: chunk offset in the segment / 64
  uint32_t lend;          // kChunk: the chunk's lend generation
  uint32_t length;        // payload bytes
  uint32_t stream;        // stream id: index of a stream ring, < stream_count
  uint32_t generation;    // upper layer: which use of the stream this is
  uint32_t aux;           // upper layer: a 32-bit value (e.g. a status code)
  uint16_t kind;          // upper layer: frame kind
  uint16_t flags;         // upper layer: frame flags
  uint8_t payload;        // PayloadKind
  uint8_t segment;        // kChunk: index of the sender's data segment (0)
  uint16_t reserved;      // zero

  // The chunk's byte offset in the sender's data segment.
  uint64_t chunk_offset() const {
    return uint64_t{offset_units} * kChunkAlignment;
  }
  // Names the chunk at byte `offset`, a multiple of kChunkAlignment below
  // 2^32 * kChunkAlignment (every chunk a ChunkPool hands out is).
  void set_chunk_offset(uint64_t offset) {
    offset_units = static_cast<uint32_t>(offset / kChunkAlignment);
  }
};
static_assert(sizeof(Descriptor) == 32, "descriptor layout is part of v2");
static_assert(offsetof(Descriptor, lend) == 4);
static_assert(offsetof(Descriptor, kind) == 24);
static_assert(offsetof(Descriptor, payload) == 28);
static_assert(std::is_trivially_copyable_v<Descriptor> &&
              std::is_standard_layout_v<Descriptor>);

// A futex word plus an "announced" flag: the shared half of a doorbell
// (doorbell.h). A side about to sleep sets `announced`, re-checks its
// condition and futex-waits on `seq`; a side that made the condition true
// clears `announced` (if set), bumps `seq` and calls FUTEX_WAKE.
struct BellWord {
  std::atomic<uint32_t> seq;
  std::atomic<uint32_t> announced;
};
static_assert(sizeof(BellWord) == 8);

// One ring entry (see the diagram above).
struct alignas(128) RingEntry {
  std::atomic<uint64_t> seq;
  Descriptor desc;
  uint8_t inline_data[kInlineCapacity];
};
inline constexpr size_t kEntrySize = 128;
static_assert(sizeof(RingEntry) == kEntrySize);
static_assert(alignof(RingEntry) == 128);
static_assert(offsetof(RingEntry, desc) == 8);
static_assert(offsetof(RingEntry, inline_data) == 40);
// Inline bytes that share the entry's first cache line with seq and the
// descriptor; the rest are in the second line.
inline constexpr uint32_t kInlineInFirstLine =
    kCacheLine - offsetof(RingEntry, inline_data);
static_assert(kInlineInFirstLine == 24);

// notify_mode values (stream rings only).
inline constexpr uint32_t kNotifyNone = 0;  // the owner waits on data_bell
inline constexpr uint32_t kNotifyRing = 1;  // also post the stream id to the
                                            // notify ring when it has news

// The four control lines in front of a ring's entries.
struct RingControl {
  alignas(kCacheLine) std::atomic<uint64_t> head;
  alignas(kCacheLine) BellWord data_bell;
  alignas(kCacheLine) BellWord space_bell;
  alignas(kCacheLine) std::atomic<uint32_t> notify_mode;
  std::atomic<uint32_t> notify_pending;
  // Stream rings: the generation of the call on this stream that the client
  // abandoned (cancelled, deadline passed, reader gone) while the server may
  // still be streaming to it; the server's writer stops instead of waiting
  // for space the client will never make. Zero-initialized like the rest of
  // the segment, and generations start at 1, so 0 names no call: a peer
  // that predates the field never sets it, and nothing changes for it.
  std::atomic<uint32_t> abandoned;
  // Stream rings: how many of the client's messages of a call the server
  // has consumed, as (generation << 32) | count, written by the server as
  // its handler reads them (flow control from client to server: the client
  // keeps at most the ring's capacity of messages unconsumed). A value of
  // another generation counts as 0 for the call at hand.
  std::atomic<uint64_t> credit;
};
inline constexpr size_t kRingControlSize = 256;
static_assert(sizeof(RingControl) == kRingControlSize);
static_assert(offsetof(RingControl, data_bell) == 64);
static_assert(offsetof(RingControl, space_bell) == 128);
static_assert(offsetof(RingControl, notify_mode) == 192);
static_assert(offsetof(RingControl, abandoned) == 200);
static_assert(offsetof(RingControl, credit) == 208);

// The sizes that the handshake negotiates; they determine the whole layout.
// Capacities are numbers of entries and must be powers of two.
struct ControlParams {
  uint32_t request_capacity;        // requests ring
  uint32_t client_return_capacity;  // client_returns ring
  uint32_t server_return_capacity;  // server_returns ring
  uint32_t notify_capacity;         // notify ring
  uint32_t stream_count;            // number of stream rings
  uint32_t stream_capacity;         // entries per stream ring
};
static_assert(sizeof(ControlParams) == 24);

// Bounds that both sides enforce on ControlParams.
inline constexpr uint32_t kMinRingCapacity = 2;
inline constexpr uint32_t kMaxRingCapacity = 1u << 16;
inline constexpr uint32_t kMaxStreamCount = 4096;
inline constexpr uint32_t kMaxStreamCapacity = 256;

// Index into ControlHeader::closing.
inline constexpr int kClientSide = 0;
inline constexpr int kServerSide = 1;

struct ControlHeader {
  uint32_t magic;         // kControlMagic
  uint16_t version;       // kProtocolVersion
  uint16_t header_size;   // sizeof(ControlHeader)
  uint64_t segment_size;  // bytes, == ControlLayout::size
  uint64_t features;      // negotiated feature bits (handshake_wire.h)
  ControlParams params;
  // A side sets its word to 1 when it stops accepting new streams (graceful
  // shutdown, like HTTP/2 GOAWAY). Informational: never trusted for safety.
  alignas(kCacheLine) std::atomic<uint32_t> closing[2];
};
inline constexpr size_t kControlHeaderSize = 256;
static_assert(sizeof(ControlHeader) <= kControlHeaderSize);
static_assert(offsetof(ControlHeader, closing) == 64);

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free (address-free)");
static_assert(sizeof(std::atomic<uint64_t>) == 8 &&
              sizeof(std::atomic<uint32_t>) == 4);

// Identifies a fixed ring of the control segment.
enum class RingId { kRequests, kClientReturns, kServerReturns, kNotify };

// Byte offsets of every region, computed from ControlParams alone.
// Plain value; thread-compatible.
struct ControlLayout {
  ControlParams params;
  uint64_t requests_offset;
  uint64_t client_returns_offset;
  uint64_t server_returns_offset;
  uint64_t notify_offset;
  uint64_t streams_offset;
  uint64_t stream_stride;  // bytes per stream ring region
  uint64_t size;           // total segment size

  // Checks every bound on `params` and lays the segment out. Returns
  // kInvalidArgument naming the offending field.
  static absl::StatusOr<ControlLayout> Compute(const ControlParams& params);

  // Byte size of a ring region with `capacity` entries.
  static constexpr uint64_t RingBytes(uint32_t capacity) {
    return kRingControlSize + uint64_t{capacity} * kEntrySize;
  }

  uint64_t RingOffset(RingId id) const;
  uint32_t RingCapacity(RingId id) const;
  uint64_t StreamOffset(uint32_t stream) const {
    return streams_offset + uint64_t{stream} * stream_stride;
  }
};

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_CONTROL_LAYOUT_H_
