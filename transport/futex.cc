#include "shmrpc/transport/futex.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace shmrpc::transport {

FutexWaitResult FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
                          Deadline deadline, uint32_t mask) {
  struct timespec ts;
  struct timespec* timeout = nullptr;
  if (deadline != kNoDeadline) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  deadline.time_since_epoch())
                  .count();
    if (ns < 0) ns = 0;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    timeout = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout.
  long rc = ::syscall(SYS_futex, const_cast<std::atomic<uint32_t>*>(word),
                      FUTEX_WAIT_BITSET, expected, timeout, nullptr, mask);
  if (rc == 0) return FutexWaitResult::kWoken;
  switch (errno) {
    case EAGAIN:
      return FutexWaitResult::kValueChanged;
    case ETIMEDOUT:
      return FutexWaitResult::kTimedOut;
    case EINTR:
      return FutexWaitResult::kInterrupted;
    default:
      // EFAULT/EINVAL cannot happen for a mapped, aligned word; treat as a
      // spurious wake so that the caller re-checks its condition.
      return FutexWaitResult::kWoken;
  }
}

int FutexWake(std::atomic<uint32_t>* word, int count, uint32_t mask) {
  long rc = ::syscall(SYS_futex, word, FUTEX_WAKE_BITSET, count, nullptr,
                      nullptr, mask);
  return rc < 0 ? 0 : static_cast<int>(rc);
}

void CpuYield() { sched_yield(); }

}  // namespace shmrpc::transport
