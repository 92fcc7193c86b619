#include "bench/stream_floor.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

#include "bench/latency_service.h"
#include "shmrpc/transport/handshake.h"

namespace shmrpc::bench {
namespace {

// Streams `count` messages of `bytes` from a forked producer written with
// `producer_seed`; returns what the consumer (expecting `seed`) said.
absl::Status Stream(StreamFloor* floor, uint64_t count, uint32_t bytes,
                    uint64_t seed, uint64_t producer_seed) {
  ResetStreamFloor(floor, bytes);
  const pid_t producer = ::fork();
  EXPECT_GE(producer, 0);
  if (producer == 0) {
    ::_exit(ProduceStreamFloor(floor, count, bytes, producer_seed).ok() ? 0
                                                                        : 1);
  }
  const absl::Status consumed = ConsumeStreamFloor(floor, count, bytes, seed);
  int status = 0;
  EXPECT_EQ(::waitpid(producer, &status, 0), producer);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return consumed;
}

TEST(StreamFloorTest, WindowCopiesShmrpcsDefaultStream) {
  EXPECT_EQ(kStreamFloorWindowMessages,
            transport::ClientHandshakeOptions().stream_capacity);
  EXPECT_EQ(StreamFloorSlots(64), 32u);
  EXPECT_EQ(StreamFloorSlots(64 << 10), 32u);
  EXPECT_EQ(StreamFloorSlots(1 << 20), 4u);
  EXPECT_EQ(StreamFloorSlots(16 << 20), 1u);
}

// Every message of streams of every size crosses processes intact, one
// stream after another on the same mapping (what one stream leaves in the
// ring must not pass for the next one's messages).
TEST(StreamFloorTest, StreamsOfEverySizeCrossProcesses) {
  StreamFloor* floor = CreateStreamFloor(2 << 20);
  for (uint32_t bytes : {8u, 64u, 4096u, 1u << 20, 2u << 20, 64u, 8u}) {
    const uint64_t count = bytes >= (1 << 20) ? 50 : 20000;
    EXPECT_TRUE(Stream(floor, count, bytes, Mix64(bytes), Mix64(bytes)).ok())
        << bytes;
  }
}

// A message that does not match its pattern is reported, not counted.
TEST(StreamFloorTest, WrongPayloadIsDataLoss) {
  StreamFloor* floor = CreateStreamFloor(4096);
  EXPECT_EQ(Stream(floor, 1000, 4096, 1, 2).code(),
            absl::StatusCode::kDataLoss);
}

TEST(StreamFloorTest, SizeOutsideTheFloorIsRefused) {
  StreamFloor* floor = CreateStreamFloor(4096);
  EXPECT_EQ(ProduceStreamFloor(floor, 1, 8192, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConsumeStreamFloor(floor, 1, 12, 1).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shmrpc::bench
