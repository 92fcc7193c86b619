// Futex wait/wake on 32-bit words that may live in memory shared between
// processes. Never uses FUTEX_PRIVATE_FLAG: the kernel keys the wait queue on
// the backing page, so a waiter in one process is woken by a waker in another.
#ifndef SHMRPC_TRANSPORT_FUTEX_H_
#define SHMRPC_TRANSPORT_FUTEX_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace shmrpc::transport {

// Absolute time on CLOCK_MONOTONIC (std::chrono::steady_clock on Linux).
using Deadline = std::chrono::steady_clock::time_point;

// A deadline that never passes.
inline constexpr Deadline kNoDeadline = Deadline::max();

enum class FutexWaitResult {
  kWoken,         // woken by FUTEX_WAKE (or spuriously)
  kValueChanged,  // *word != expected when the call started
  kTimedOut,      // deadline passed
  kInterrupted,   // a signal arrived
};

// Wait-queue classes: a waiter sleeps with a non-zero mask of classes, and a
// wake-up names the classes it is for (FUTEX_WAIT_BITSET/FUTEX_WAKE_BITSET),
// so waiters of one kind sleeping on a word are not woken for another kind's
// work.
inline constexpr uint32_t kFutexAnyClass = 0xffffffffu;

// Sleeps while `*word == expected`, until woken (by a wake-up naming one of
// the classes in `mask`, which must not be zero) or until `deadline`.
// Thread-safe; may be called from any thread of any process mapping `word`.
FutexWaitResult FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
                          Deadline deadline, uint32_t mask = kFutexAnyClass);

// Wakes up to `count` waiters sleeping on `word` whose mask shares a bit with
// `mask` (not zero); returns how many woke. Thread-safe. This is a system
// call: callers avoid it when nobody sleeps.
int FutexWake(std::atomic<uint32_t>* word, int count,
              uint32_t mask = kFutexAnyClass);

// A hint to the CPU inside spin loops.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Gives the CPU to another runnable thread, if there is one (sched_yield):
// for a waiter on a machine with more runnable threads than CPUs.
void CpuYield();

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_FUTEX_H_
