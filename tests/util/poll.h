// Deadlines and polling for tests that wait for something to happen in
// another thread or process.
#ifndef SHMRPC_TESTS_UTIL_POLL_H_
#define SHMRPC_TESTS_UTIL_POLL_H_

#include <chrono>
#include <thread>

namespace shmrpc::testing {

// The steady_clock time `timeout` from now.
inline std::chrono::steady_clock::time_point In(
    std::chrono::milliseconds timeout) {
  return std::chrono::steady_clock::now() + timeout;
}

// Calls `cond` every 200 us until it returns true or `timeout` passes;
// returns its last value.
template <typename Cond>
bool PollUntil(Cond cond, std::chrono::milliseconds timeout =
                              std::chrono::milliseconds(5000)) {
  const auto end = In(timeout);
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= end) return cond();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_UTIL_POLL_H_
