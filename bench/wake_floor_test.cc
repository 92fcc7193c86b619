#include "bench/wake_floor.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
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

// Calls from one thread, `n` of them, made with `server_polls`, with a
// pause of 300 us between them (so that the server has nothing to do in
// between, however loaded the machine: back to back, the next call can be
// there before the server looks for sleep); returns how often the server
// (in another process, polling for a second after a call that asks for it)
// went to sleep.
uint64_t SleepsDuringCalls(bool server_polls, int n) {
  WakeFloor* floor = CreateWakeFloor(1);
  const pid_t server = ::fork();
  EXPECT_GE(server, 0);
  if (server == 0) RunWakeFloorServer(floor, std::chrono::seconds(1));
  // The first call wakes the server from its first sleep.
  EXPECT_TRUE(WakeFloorCall(floor, 0, 64, 1, server_polls).ok());
  const uint64_t before = WakeFloorSleeps(floor);
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    if (!WakeFloorCall(floor, 0, 64, Mix64(static_cast<uint64_t>(i)),
                       server_polls)
             .ok()) {
      ++failures;
    }
  }
  const uint64_t sleeps = WakeFloorSleeps(floor) - before;
  ::kill(server, SIGKILL);
  ::waitpid(server, nullptr, 0);
  EXPECT_EQ(failures, 0);
  return sleeps;
}

// The server sleeps between one caller's calls; for calls that ask it to
// poll it keeps looking while they keep coming (a whole second without one
// would put it to sleep).
TEST(WakeFloorTest, ServerPollsOnlyWhileCallsAskingForItCome) {
  constexpr int kCalls = 200;
  // A sleep in (nearly) every pause.
  EXPECT_GE(SleepsDuringCalls(/*server_polls=*/false, kCalls),
            uint64_t{kCalls / 2});
  // Awake throughout: it polls for a second after each such call.
  EXPECT_LE(SleepsDuringCalls(/*server_polls=*/true, kCalls),
            uint64_t{kCalls / 50});
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
