// Descriptor acceptance: the checks a receiver applies to every descriptor it
// pops from a ring before it exposes the payload, as pure functions (no
// shared memory is read here: the caller passes its private copy), so that
// they can be tested and fuzzed on their own (descriptor_fuzzer.cc).
#ifndef SHMRPC_TRANSPORT_DESCRIPTOR_CHECK_H_
#define SHMRPC_TRANSPORT_DESCRIPTOR_CHECK_H_

#include <cstdint>

#include "shmrpc/transport/control_layout.h"

namespace shmrpc::transport {

// What the receiving side knows when it judges a message. Plain value.
struct DescriptorRules {
  // Size of the sender's data segment, as checked at handshake time.
  uint64_t peer_segment_size = 0;
  // Streams negotiated on the connection.
  uint32_t stream_count = 0;
  // kFeatureInlinePayload was negotiated.
  bool inline_payloads = false;
  // The stream id must name a stream (< stream_count). True where a
  // message's stream id selects state (the server's requests ring); a client
  // instead checks that a stream ring's messages carry that ring's id.
  bool check_stream = false;
};

// Checks a message descriptor `d` (a private copy) against `rules`. Returns
// nullptr if it is acceptable, otherwise a static string naming the problem
// (for the connection's DATA_LOSS close status):
//   - kNone with a non-zero length;
//   - kInline when inline payloads were not negotiated, or longer than
//     kInlineCapacity;
//   - kChunk in a segment other than 0, starting inside the data header or
//     at or past the end of the segment, or running past its end;
//   - an unknown payload kind;
//   - with check_stream, a stream id >= stream_count.
// An acceptable kChunk descriptor names bytes
// [chunk_offset(), chunk_offset() + length) inside the segment, past the
// header. Thread-safe.
const char* ValidateDescriptor(const Descriptor& d,
                               const DescriptorRules& rules);

// Checks a descriptor popped from a return ring (a private copy): it must
// be a kChunk in segment 0. Whether it names a chunk we lent, and under which
// lend generation, is ChunkPool::Return's business. Returns nullptr if the
// shape is right, else the problem. Thread-safe.
const char* ValidateReturn(const Descriptor& d);

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_DESCRIPTOR_CHECK_H_
