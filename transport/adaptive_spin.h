// AdaptiveSpin: whether a waiter should spin before it sleeps, decided from
// how recent spins at the same place turned out.
//
// Spinning buys latency with CPU: a spinning waiter sees the event within
// ~100 ns, a sleeping one pays a futex wake-up (~5-20 us on a busy core, 100
// us or more once its CPU has gone idle). That trade pays only when the event
// comes soon. At a low call rate (the next request is a millisecond away) a
// fixed 50 us spin is pure waste; and with more spinning threads than CPUs,
// spinners take the CPU from the very threads they wait for. So:
//
//   * A spin "paid" if the event came while spinning, within `payoff` of its
//     start (about what a sleep and wake-up would have cost, plus the time the
//     peer needs for the payload), and the spinner was not preempted (two
//     looks at the clock more than kPreemptedGap apart: the machine is
//     oversubscribed and spinning only delays the peer).
//   * A place spins only while enough of its last kHistory spins paid: one
//     of them by default (latency first), more for a place whose spins are
//     known to pay less often (see the constructor). When too few did, it
//     sleeps at once, except that now and then a wait spins anyway to find
//     out whether things changed (a probe): the kProbeEvery-th wait first,
//     then, while probes keep failing, twice as many waits apart each time,
//     up to kMaxProbeEvery. Paying probes turn spinning back on.
//   * At most MaxSpinners() threads of the process spin at once (the CPUs
//     less one, at least one); a waiter that finds them all taken does not
//     spin: it may yield instead, at a place of its own in Mode::kYield
//     (YieldFor), which adapts the same way, and otherwise sleeps.
//
// Typical use:
//
//   AdaptiveSpin::Ticket t =
//       spin.Begin(policy.SpinFor(bytes), policy.adaptive);
//   bool got = false;
//   if (t.budget() > 0ns) {
//     SpinClock clock(t.budget());
//     while (!(got = ready()) && clock.Tick()) CpuRelax();
//     spin.End(&t, got, clock, policy.PayoffFor(bytes));
//   }
//   if (!got) sleep...
//
// Thread safety: all methods are thread-safe and lock-free; a Ticket belongs
// to the thread that got it. Each AdaptiveSpin has a cache line of its own
// (every waiter at its place reads it), and its history is written only when
// it changes.
#ifndef SHMRPC_TRANSPORT_ADAPTIVE_SPIN_H_
#define SHMRPC_TRANSPORT_ADAPTIVE_SPIN_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "shmrpc/transport/futex.h"

namespace shmrpc::transport {

// Watches the clock for a spin loop without reading it on every iteration:
// the first read happens after kFirstLook iterations (a fast event never
// reads it), then every kLookEvery. Not thread-safe.
class SpinClock {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint32_t kFirstLook = 128;
  static constexpr uint32_t kLookEvery = 64;
  // A gap this long between two looks means the spinner lost its CPU.
  static constexpr std::chrono::microseconds kPreemptedGap{50};

  explicit SpinClock(std::chrono::nanoseconds budget) : budget_(budget) {}

  // Counts one iteration; false once the budget is spent (or the spinner
  // was preempted). `on_look`, if given, runs at each clock read with the
  // time (for periodic work such as a kick, or a deadline); the spin ends if
  // it returns false.
  template <typename OnLook>
  bool Tick(OnLook&& on_look) {
    ++iterations_;
    if (iterations_ < kFirstLook ||
        (iterations_ - kFirstLook) % kLookEvery != 0) {
      return true;
    }
    const Clock::time_point now = Clock::now();
    if (iterations_ == kFirstLook) {
      // About kFirstLook iterations have passed; count them as ~no time.
      start_ = now;
      end_ = now + budget_;
    } else if (now - last_ > kPreemptedGap) {
      preempted_ = true;
      return false;
    }
    last_ = now;
    return on_look(now) && now < end_;
  }
  bool Tick() {
    return Tick([](Clock::time_point) { return true; });
  }

  // How long the spin has lasted (zero if it never read the clock), read at
  // the end of the spin.
  std::chrono::nanoseconds Elapsed() const {
    if (iterations_ < kFirstLook) return std::chrono::nanoseconds(0);
    return Clock::now() - start_;
  }
  bool preempted() const { return preempted_; }
  // The time of the first look (default-constructed if there was none).
  Clock::time_point start() const { return start_; }

 private:
  const std::chrono::nanoseconds budget_;
  uint32_t iterations_ = 0;
  bool preempted_ = false;
  Clock::time_point start_{};
  Clock::time_point last_{};
  Clock::time_point end_{};
};

class alignas(64) AdaptiveSpin {
 public:
  // Spins remembered per place (bits of history).
  static constexpr uint32_t kHistory = 4;
  // When spinning is off, every this many waits spin anyway (a probe); after
  // each probe that did not pay, twice as many, up to kMaxProbeEvery (at a
  // low call rate a probe is a whole spin budget spent for nothing, and
  // one in 16 waits made it a few microseconds of every call).
  static constexpr uint32_t kProbeEvery = 16;
  static constexpr uint32_t kMaxProbeEvery = 512;

  // The permission to spin for one wait. Move-only; must be given back with
  // End() if budget() is non-zero.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept
        : budget_(other.budget_),
          counted_(other.counted_),
          probe_(other.probe_) {
      other.budget_ = std::chrono::nanoseconds(0);
      other.counted_ = false;
      other.probe_ = false;
    }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { Release(); }

    std::chrono::nanoseconds budget() const { return budget_; }

   private:
    friend class AdaptiveSpin;
    void Release();
    std::chrono::nanoseconds budget_{0};
    bool counted_ = false;  // holds one of the process's spinner places
    bool probe_ = false;    // granted as a probe (spinning was off)
  };

  // How a place waits while it may.
  enum class Mode {
    // Busy-waits on its CPU (SpinClock, CpuRelax); at most MaxSpinners()
    // threads of the process at once.
    kSpin,
    // Gives its CPU to any other runnable thread between looks (CpuYield):
    // with more runnable threads than CPUs, a waiter that spins keeps the
    // very threads it waits for (the peer's, or this process's other callers
    // with answers to take) off the CPU until the scheduler preempts it,
    // while one that yields lets them run at once and costs the peer no
    // wake-up (it never sleeps). Not capped: a yielding thread takes no CPU
    // from a thread that has work. It paid if the event came before the
    // phase wasted `payoff` (YieldFor); preemption is what it asks for.
    kYield,
  };

  // Waiting is on while at least `paid_to_spin` (1 to kHistory) of the last
  // kHistory waits paid: 1 favours latency (wait while any recent wait
  // paid), kHistory favours CPU (wait only while nearly every wait pays).
  explicit AdaptiveSpin(uint32_t paid_to_spin = 1, Mode mode = Mode::kSpin)
      : paid_to_spin_(paid_to_spin < 1          ? 1
                      : paid_to_spin > kHistory ? kHistory
                                                : paid_to_spin),
        mode_(mode) {}
  AdaptiveSpin(const AdaptiveSpin&) = delete;
  AdaptiveSpin& operator=(const AdaptiveSpin&) = delete;

  // Permission to spin (or yield) for up to `max` before this wait sleeps:
  // `max` if waiting paid recently here (or this wait is a probe) and, for
  // kSpin, a spinner place is free; zero otherwise. Not `adaptive`: always
  // `max` (a fixed spin, as configured), though still counted as a spinner.
  Ticket Begin(std::chrono::nanoseconds max, bool adaptive = true);

  // Records how the spin of `ticket` went: `got` the event, after
  // clock.Elapsed(), preempted or not. It paid if it got the event within
  // `payoff` without being preempted. Gives the spinner place back.
  void End(Ticket* ticket, bool got, const SpinClock& clock,
           std::chrono::nanoseconds payoff);
  // Records how a yield phase (YieldFor) of `ticket` went: it paid if it got
  // the event having wasted at most `payoff` (what sleeping and being woken
  // would have cost); the time other threads ran meanwhile is not waste.
  void End(Ticket* ticket, bool got, std::chrono::nanoseconds wasted,
           std::chrono::nanoseconds payoff);

  // Waits between probes now, while spinning is off (for tests).
  uint32_t probe_every() const {
    return probe_every_.load(std::memory_order_relaxed);
  }

  // True if spinning is on here (for tests and monitoring).
  bool spinning() const {
    return Paying(history_.load(std::memory_order_relaxed));
  }

  // Threads of this process that may spin at once: the CPUs this process may
  // run on, less one, at least one.
  static int MaxSpinners();
  // Threads spinning now, process-wide (for tests).
  static int Spinners();

 private:
  // Whether a history of outcomes says spin.
  bool Paying(uint32_t history) const {
    return static_cast<uint32_t>(__builtin_popcount(history)) >= paid_to_spin_;
  }

  // Records one outcome and gives the ticket back.
  void Record(Ticket* ticket, bool paid);

  const uint32_t paid_to_spin_;
  const Mode mode_;
  // The last kHistory outcomes, newest in bit 0 (1 = paid). Starts "paid".
  std::atomic<uint32_t> history_{(1u << kHistory) - 1};
  // Waits since the last probe, counted only while spinning is off.
  std::atomic<uint32_t> waits_{0};
  // Waits between probes now (kProbeEvery to kMaxProbeEvery).
  std::atomic<uint32_t> probe_every_{kProbeEvery};
};

// A yield phase: looks at `ready` and gives the CPU away (CpuYield) between
// looks, until ready() is true, `on_look(now)` returns false (a deadline, a
// kick; called with the time at each look), `budget` has passed, or the
// phase has wasted `waste_budget`. A yield that came back within
// kGaveAwayGap found nobody else to run: its time counts as wasted (what a
// spin would have cost); a longer one let other threads run, which is what
// the phase is for, and counts as kGaveAwayGap. Returns whether ready()
// turned true; `*wasted` is the waste. Everything runs on the calling thread.
inline constexpr std::chrono::microseconds kGaveAwayGap{5};

template <typename Ready, typename OnLook>
bool YieldFor(std::chrono::nanoseconds budget,
              std::chrono::nanoseconds waste_budget, Ready&& ready,
              OnLook&& on_look, std::chrono::nanoseconds* wasted) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Clock::time_point last = start;
  Clock::duration waste{0};
  bool got = false;
  for (;;) {
    CpuYield();
    if (ready()) {
      got = true;
      break;
    }
    const Clock::time_point now = Clock::now();
    const Clock::duration gap = now - last;
    waste += gap < kGaveAwayGap ? gap : Clock::duration(kGaveAwayGap);
    last = now;
    if (waste >= waste_budget || now - start >= budget || !on_look(now)) {
      break;
    }
  }
  *wasted = waste;
  return got;
}

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_ADAPTIVE_SPIN_H_
