// Doorbell: how one side waits for the other without burning CPU, and how the
// other side wakes it only when it actually sleeps.
//
// A Doorbell is a view over a BellWord in the control segment (an event count:
// a futex word `seq` plus a `sleepers` count). The waiting side spins for a
// bounded budget (WaitPolicy::spin), checking its condition; then it
// announces that it sleeps (sleepers += 1), checks once more, and sleeps on
// the futex. The side that makes the condition true publishes its change and
// then calls Notify(), which is a plain load unless a sleeper announced
// itself; only then does it bump `seq` and call FUTEX_WAKE. The store-load
// pairs on both sides are ordered by seq_cst fences, so a wake-up is never
// lost.
//
//   waiter                               notifier
//   ------                               --------
//   spin: if ready() return              publish state (release)
//   sleepers += 1                        fence(seq_cst)
//   key = seq                            if sleepers != 0:
//   fence(seq_cst)                         seq += 1
//   if ready(): sleepers -= 1; return      FUTEX_WAKE(seq)
//   FUTEX_WAIT(seq, key, deadline)
//   sleepers -= 1; loop
//
// Each bell has one kind of waiter (e.g. "the consumer of ring X" or "the
// owner of stream 7"), so a waiter is only woken for its own work.
#ifndef SHMRPC_TRANSPORT_DOORBELL_H_
#define SHMRPC_TRANSPORT_DOORBELL_H_

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

#include "transport/control_layout.h"
#include "transport/futex.h"

namespace shmrpc::transport {

// How a waiter waits. Plain value.
struct WaitPolicy {
  // How long to spin re-checking the condition before sleeping on the futex.
  // Zero sleeps at once (after one check). Spinning trades a CPU for latency:
  // a spinning waiter sees new work within ~100 ns; a sleeping one needs a
  // futex wake-up (~5-20 us).
  std::chrono::nanoseconds spin = std::chrono::microseconds(50);
};

enum class WaitStatus {
  kReady,     // the condition became true
  kTimedOut,  // the deadline passed first
};

// A view over a BellWord that may be shared with another process. Copyable;
// thread-safe (all state is in the shared word).
class Doorbell {
 public:
  explicit Doorbell(BellWord* word) : word_(word) {}

  // Called by the notifier after it published (with release order or
  // stronger) the state that a sleeper may be waiting for. Makes a system call
  // only if some waiter announced that it sleeps. Wakes up to `count`.
  void Notify(int count = INT_MAX) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (word_->sleepers.load(std::memory_order_relaxed) != 0) {
      word_->seq.fetch_add(1, std::memory_order_release);
      FutexWake(&word_->seq, count);
    }
  }

  // Wakes every sleeper unconditionally (used when a connection dies or shuts
  // down, so that waiters re-check and see it).
  void WakeAll() { Kick(INT_MAX); }

  // Bumps `seq` and wakes up to `count` sleepers whether or not any announced
  // itself: for waking waiters that sleep without being counted (see
  // Sleep()).
  void Kick(int count) {
    word_->seq.fetch_add(1, std::memory_order_seq_cst);
    FutexWake(&word_->seq, count);
  }

  // ---- building blocks for custom wait loops ----------------------------
  //
  // A counted sleeper (one that notifiers must wake) does:
  //   key = Announce(); if (!ready()) Sleep(key, d); Withdraw();
  // An uncounted sleeper (woken only by Kick or by other sleepers' wake-ups)
  // does: key = key(); if (!ready()) Sleep(key, d);

  // Registers a sleeper and returns the key to sleep on. Issues the fence
  // that orders the registration before the caller's next check.
  uint32_t Announce() {
    word_->sleepers.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t key = word_->seq.load(std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return key;
  }

  // Undoes Announce().
  void Withdraw() { word_->sleepers.fetch_sub(1, std::memory_order_relaxed); }

  // The current key, for an uncounted sleeper.
  uint32_t key() const { return word_->seq.load(std::memory_order_seq_cst); }

  // Sleeps while the bell's key is still `key`, until woken or `deadline`.
  FutexWaitResult Sleep(uint32_t key, Deadline deadline) {
    return FutexWait(&word_->seq, key, deadline);
  }

  // Waits until `ready()` returns true or `deadline` passes. `ready` is called
  // repeatedly; it must be cheap and must itself check any abort condition
  // (peer death, cancellation) that should end the wait, since WakeAll() is
  // how those are signalled. Returns kReady as soon as ready() is true.
  template <typename Ready>
  WaitStatus Wait(Ready&& ready, const WaitPolicy& policy, Deadline deadline);

 private:
  BellWord* word_;
};

template <typename Ready>
WaitStatus Doorbell::Wait(Ready&& ready, const WaitPolicy& policy,
                          Deadline deadline) {
  using Clock = std::chrono::steady_clock;
  if (ready()) return WaitStatus::kReady;
  // Spin phase: read the clock only every 64 checks.
  if (policy.spin.count() > 0) {
    const Deadline spin_end = std::min(deadline, Clock::now() + policy.spin);
    for (uint32_t i = 1;; ++i) {
      CpuRelax();
      if (ready()) return WaitStatus::kReady;
      if ((i & 63) == 0 && Clock::now() >= spin_end) break;
    }
  }
  // Sleep phase.
  for (;;) {
    if (deadline != kNoDeadline && Clock::now() >= deadline) {
      return ready() ? WaitStatus::kReady : WaitStatus::kTimedOut;
    }
    const uint32_t key = Announce();
    if (ready()) {
      Withdraw();
      return WaitStatus::kReady;
    }
    Sleep(key, deadline);
    Withdraw();
    if (ready()) return WaitStatus::kReady;
  }
}

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_DOORBELL_H_
