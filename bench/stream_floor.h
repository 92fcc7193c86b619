// stream-floor: the least a stream of messages through shared memory can
// cost on this machine, for stream_throughput.
//
// A producer process writes every byte of each message's payload straight
// into a slot of a ring in shared memory and publishes it; the consumer
// process waits for it (spinning), reads and checks every byte in place and
// frees the slot. Nothing else: no framing, no RPC, no protobuf, no copy,
// no system call, no flow control beyond the ring itself. What any stream
// must do with the same window (the same bytes and messages in flight as
// shmrpc's default stream: 8 messages, 4 MiB) is at least this, so a
// transport's messages/s divided by grpc-uds's can be held against this
// row's: a bound, not a transport.
//
// Layout, in one MAP_SHARED anonymous mapping made before the producer is
// forked (never exposed to another program):
//
//   +--------------------------------+  offset 0
//   | consumed (u64, own line)       |  messages the consumer has freed
//   +--------------------------------+  64
//   | slot 0: seq (u64) | payload... |  seq = index + 1 once message
//   | slot 1: seq (u64) | payload... |  `index` is in the slot
//   | ...  (SlotSize() bytes each)   |
//   +--------------------------------+
//
// The payload starts right after seq, in the same cache line, as a small
// message does in shmrpc's ring entry.
//
// Thread safety: one producer and one consumer per floor at a time.
#ifndef SHMRPC_BENCH_STREAM_FLOOR_H_
#define SHMRPC_BENCH_STREAM_FLOOR_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace shmrpc::bench {

struct StreamFloor;

// shmrpc's default stream window (ServerOptions::stream_window_bytes and the
// handshake's stream_capacity), which the floor's ring copies.
inline constexpr uint64_t kStreamFloorWindowBytes = uint64_t{4} << 20;
inline constexpr uint32_t kStreamFloorWindowMessages = 32;

// Slots in flight for messages of `bytes`: as many as the window holds,
// at least one, at most kStreamFloorWindowMessages.
uint32_t StreamFloorSlots(uint32_t bytes);

// Maps a floor for messages of up to `max_bytes` (a multiple of 8). Dies if
// the mapping fails. Never unmapped: it lives as long as the benchmark.
StreamFloor* CreateStreamFloor(uint32_t max_bytes);

// Producer: writes `count` messages of `bytes` (a multiple of 8, at most
// the floor's max_bytes), message i with the pattern for
// DownloadSeed(seed, i, true), waiting (spinning) for a free slot. Returns
// InvalidArgument for a size outside the floor, DeadlineExceeded if the
// consumer has not freed a slot for 60 s. Uses no allocation, no lock and
// no system call while streaming, so it may run in a child forked from a
// multi-threaded process.
absl::Status ProduceStreamFloor(StreamFloor* floor, uint64_t count,
                                uint32_t bytes, uint64_t seed);

// Consumer: reads and checks `count` messages as ProduceStreamFloor writes
// them. DataLoss if a message does not match its pattern, DeadlineExceeded
// if none comes for 60 s. Call ResetStreamFloor before starting either
// side of a stream.
absl::Status ConsumeStreamFloor(StreamFloor* floor, uint64_t count,
                                uint32_t bytes, uint64_t seed);

// Resets the ring for a new stream of messages of `bytes` (no producer or
// consumer may be running): clears what an earlier stream left in the
// slots' seq words.
void ResetStreamFloor(StreamFloor* floor, uint32_t bytes);

}  // namespace shmrpc::bench

#endif  // SHMRPC_BENCH_STREAM_FLOOR_H_
