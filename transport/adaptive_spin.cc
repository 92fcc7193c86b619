#include "shmrpc/transport/adaptive_spin.h"

#include <sched.h>

#include <algorithm>

namespace shmrpc::transport {
namespace {

std::atomic<int> g_spinners{0};

int CpusAvailable() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return 1;
}

}  // namespace

int AdaptiveSpin::MaxSpinners() {
  // Read once: the affinity rarely changes, and this is on the wait path.
  static const int max = std::max(1, CpusAvailable() - 1);
  return max;
}

int AdaptiveSpin::Spinners() {
  return g_spinners.load(std::memory_order_relaxed);
}

void AdaptiveSpin::Ticket::Release() {
  if (counted_) g_spinners.fetch_sub(1, std::memory_order_relaxed);
  counted_ = false;
  probe_ = false;
  budget_ = std::chrono::nanoseconds(0);
}

AdaptiveSpin::Ticket AdaptiveSpin::Begin(std::chrono::nanoseconds max,
                                         bool adaptive) {
  Ticket t;
  if (max.count() <= 0) return t;
  if (!adaptive) {
    g_spinners.fetch_add(1, std::memory_order_relaxed);
    t.counted_ = true;
    t.budget_ = max;
    return t;
  }
  // Waits are counted only while spinning is off (to place the probes), so
  // a place that spins pays no read-modify-write for it. Races between
  // threads of one place only move a probe by a wait or two.
  bool probe = false;
  if (!Paying(history_.load(std::memory_order_relaxed))) {
    if (waits_.fetch_add(1, std::memory_order_relaxed) + 1 <
        probe_every_.load(std::memory_order_relaxed)) {
      return t;  // spinning has not paid lately: sleep at once
    }
    waits_.store(0, std::memory_order_relaxed);
    probe = true;
  }
  if (mode_ == Mode::kYield) {
    t.budget_ = max;
    t.probe_ = probe;
    return t;
  }
  if (g_spinners.fetch_add(1, std::memory_order_relaxed) >= MaxSpinners()) {
    g_spinners.fetch_sub(1, std::memory_order_relaxed);
    return t;  // every CPU that may spin already does
  }
  t.counted_ = true;
  t.budget_ = max;
  t.probe_ = probe;
  return t;
}

void AdaptiveSpin::End(Ticket* ticket, bool got, const SpinClock& clock,
                       std::chrono::nanoseconds payoff) {
  Record(ticket, got && !clock.preempted() && clock.Elapsed() <= payoff);
}

void AdaptiveSpin::End(Ticket* ticket, bool got,
                       std::chrono::nanoseconds wasted,
                       std::chrono::nanoseconds payoff) {
  Record(ticket, got && wasted <= payoff);
}

void AdaptiveSpin::Record(Ticket* ticket, bool paid) {
  constexpr uint32_t kMask = (1u << kHistory) - 1;
  // A lost update between two threads of one place only blurs the history.
  // Written only when it changes: a place whose waits keep paying (or keep
  // not paying) leaves the line shared by every thread that reads it, rather
  // than moving it from core to core on every call.
  const uint32_t h = history_.load(std::memory_order_relaxed);
  const uint32_t next = ((h << 1) | (paid ? 1u : 0u)) & kMask;
  if (next != h) history_.store(next, std::memory_order_relaxed);
  if (paid) {
    if (probe_every_.load(std::memory_order_relaxed) != kProbeEvery) {
      probe_every_.store(kProbeEvery, std::memory_order_relaxed);
    }
  } else if (ticket->probe_) {
    const uint32_t every = probe_every_.load(std::memory_order_relaxed);
    probe_every_.store(std::min(every * 2, kMaxProbeEvery),
                       std::memory_order_relaxed);
  }
  ticket->Release();
}

}  // namespace shmrpc::transport
