#include "bench/wake_floor.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <thread>
#include <vector>

#include "bench/latency_service.h"

namespace shmrpc::bench {
namespace {

// The server in another process, as in rpc_throughput: calls of every size
// from several threads all come back with their own checked payloads (a
// response of another call's pattern would fail WakeFloorCall).
TEST(WakeFloorTest, CallsFromSeveralThreadsCrossProcesses) {
  WakeFloor* floor = CreateWakeFloor(4);
  const pid_t server = ::fork();
  ASSERT_GE(server, 0);
  if (server == 0) RunWakeFloorServer(floor);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 2000; ++i) {
        const uint32_t bytes =
            8 * static_cast<uint32_t>(1 + i % (kWakeFloorMaxBytes / 8));
        if (!WakeFloorCall(floor, t, bytes, Mix64(i * 4 + t)).ok()) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ::kill(server, SIGKILL);
  ::waitpid(server, nullptr, 0);
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST(WakeFloorTest, RefusesCallsOutsideItsContract) {
  WakeFloor* floor = CreateWakeFloor(1);  // no server: nothing may wait
  EXPECT_TRUE(absl::IsInvalidArgument(WakeFloorCall(floor, 1, 64, 0)));
  EXPECT_TRUE(absl::IsInvalidArgument(WakeFloorCall(floor, -1, 64, 0)));
  EXPECT_TRUE(absl::IsInvalidArgument(
      WakeFloorCall(floor, 0, kWakeFloorMaxBytes + 8, 0)));
  EXPECT_TRUE(absl::IsInvalidArgument(WakeFloorCall(floor, 0, 12, 0)));
}

}  // namespace
}  // namespace shmrpc::bench
