// Doorbell: how one side waits for the other without burning CPU, and how the
// other side wakes it only when it actually sleeps.
//
// A Doorbell is a view over a BellWord in the control segment: a futex word
// `seq` and an `announced` flag. The waiting side spins for a bounded budget
// (WaitPolicy::spin), checking its condition; then it announces that it is
// about to sleep (announced = 1), checks once more, and sleeps on the futex.
// The side that makes the condition true publishes its change and calls
// Notify(), which is a plain load unless a sleeper announced itself; then it
// takes the announcement (announced = 0), bumps `seq` and wakes everyone
// sleeping on the word. The store-load pairs on both sides are ordered by
// seq_cst fences, so a wake-up is never lost.
//
//   waiter                               notifier
//   ------                               --------
//   spin: if ready() return              publish state (release)
//   announced = 1                        fence(seq_cst)
//   key = seq                            if announced and
//   fence(seq_cst)                           exchange(announced, 0):
//   if ready(): return                     seq += 1
//   FUTEX_WAIT(seq, key, deadline)         FUTEX_WAKE(seq, all)
//   loop (announcing again)
//
// The notifier consumes the announcement, so one sleep costs one wake-up no
// matter how long the woken thread takes to get a CPU; a waiter never
// withdraws its announcement (another may still sleep), so one that did not
// end up sleeping costs at most one spurious FUTEX_WAKE later.
//
// Each bell has one kind of waiter (e.g. "the consumer of ring X" or "the
// owner of stream 7"), so a waiter is only woken for its own work. A bell may
// also have uncounted sleepers (standby threads that should run only when
// asked): they sleep in their own futex wait class, so Notify() never wakes
// them; only Kick() and WakeAll() do.
#ifndef SHMRPC_TRANSPORT_DOORBELL_H_
#define SHMRPC_TRANSPORT_DOORBELL_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "shmrpc/transport/control_layout.h"
#include "shmrpc/transport/futex.h"

namespace shmrpc::transport {

// How a waiter waits. Plain value.
struct WaitPolicy {
  // How long to spin re-checking the condition before sleeping on the futex.
  // Zero sleeps at once (after one check). Spinning trades a CPU for latency:
  // a spinning waiter sees new work within ~100 ns; a sleeping one needs a
  // futex wake-up (~5-20 us, and on a virtual machine whose idle CPU was
  // handed back to the host, 100 us or more).
  std::chrono::nanoseconds spin = std::chrono::microseconds(50);
  // For waits on a peer whose work grows with a payload (parsing, copying),
  // extra spin per KiB of it (see SpinFor), up to max_spin in all. The
  // default covers a peer that handles ~2 bytes per nanosecond, so that a
  // large exchange is not slowed by a wake-up, while the CPU spent spinning
  // stays within a small multiple of the CPU spent on the payload itself.
  std::chrono::nanoseconds spin_per_kib = std::chrono::nanoseconds(512);
  std::chrono::nanoseconds max_spin = std::chrono::milliseconds(5);

  // Whether the layers above adapt the spin to how it pays off
  // (adaptive_spin.h): spin only while recent spins caught their event soon
  // enough, and with no more spinning threads than CPUs to spare. Off: always
  // spin the full budget.
  bool adaptive = true;
  // A spin "paid" if its event came within this long (plus spin_per_kib per
  // KiB of payload, see PayoffFor): about what sleeping and being woken
  // would have cost instead.
  std::chrono::nanoseconds payoff = std::chrono::microseconds(20);

  // The spin budget for a wait whose peer handles `bytes` of payload:
  // spin + spin_per_kib per KiB, but not beyond max(spin, max_spin).
  std::chrono::nanoseconds SpinFor(size_t bytes) const {
    const auto extra = spin_per_kib * static_cast<int64_t>(bytes >> 10);
    return std::max(spin, std::min(spin + extra, max_spin));
  }

  // How soon the event of such a wait must come for its spin to have paid:
  // payoff + spin_per_kib per KiB (the peer's work on the payload), within
  // SpinFor(bytes).
  std::chrono::nanoseconds PayoffFor(size_t bytes) const {
    const auto extra = spin_per_kib * static_cast<int64_t>(bytes >> 10);
    return std::min(payoff + extra, SpinFor(bytes));
  }
};

enum class WaitStatus {
  kReady,     // the condition became true
  kTimedOut,  // the deadline passed first
};

// A view over a BellWord that may be shared with another process. Copyable;
// thread-safe (all state is in the shared word).
class Doorbell {
 public:
  // Futex wait classes of the two kinds of sleeper.
  static constexpr uint32_t kAnnouncedClass = 1u << 0;
  static constexpr uint32_t kUncountedClass = 1u << 1;

  explicit Doorbell(BellWord* word) : word_(word) {}

  // Called by the notifier after it published (with release order or
  // stronger) the state that a sleeper may be waiting for. Makes a system call
  // only if some waiter announced that it sleeps, and then wakes all the
  // announced sleepers (not the uncounted ones). Returns true if it did (a
  // hint: the peer may scribble on `announced`).
  bool Notify() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (word_->announced.load(std::memory_order_relaxed) != 0 &&
        word_->announced.exchange(0, std::memory_order_seq_cst) != 0) {
      word_->seq.fetch_add(1, std::memory_order_release);
      FutexWake(&word_->seq, INT_MAX, kAnnouncedClass);
      return true;
    }
    return false;
  }

  // Wakes every sleeper unconditionally (used when a connection dies or shuts
  // down, so that waiters re-check and see it). Consumes any announcement.
  void WakeAll() {
    word_->announced.store(0, std::memory_order_relaxed);
    Kick(INT_MAX);
  }

  // Bumps `seq` and wakes up to `count` sleepers of either kind, whether or
  // not any announced itself: for waking waiters that sleep without being
  // counted (see SleepUncounted()).
  void Kick(int count) {
    word_->seq.fetch_add(1, std::memory_order_seq_cst);
    FutexWake(&word_->seq, count);
  }

  // ---- building blocks for custom wait loops ----------------------------
  //
  // An announced sleeper (one that notifiers must wake) does:
  //   key = Announce(); if (!ready()) Sleep(key, d);
  // An uncounted sleeper (woken only by Kick or WakeAll) does:
  //   key = key(); if (!ready()) SleepUncounted(key, d);

  // Announces a sleeper and returns the key to sleep on. Issues the fence
  // that orders the announcement before the caller's next check.
  uint32_t Announce() {
    word_->announced.store(1, std::memory_order_seq_cst);
    const uint32_t key = word_->seq.load(std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return key;
  }

  // The current key, for an uncounted sleeper.
  uint32_t key() const { return word_->seq.load(std::memory_order_seq_cst); }

  // Sleeps, as an announced sleeper, while the bell's key is still `key`,
  // until woken or `deadline`.
  FutexWaitResult Sleep(uint32_t key, Deadline deadline) {
    return FutexWait(&word_->seq, key, deadline, kAnnouncedClass);
  }

  // Sleeps, as an uncounted sleeper (woken by Kick() or WakeAll() but not by
  // Notify()), while the bell's key is still `key`, until woken or
  // `deadline`.
  FutexWaitResult SleepUncounted(uint32_t key, Deadline deadline) {
    return FutexWait(&word_->seq, key, deadline, kUncountedClass);
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
    if (ready()) return WaitStatus::kReady;
    Sleep(key, deadline);
    if (ready()) return WaitStatus::kReady;
  }
}

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_DOORBELL_H_
