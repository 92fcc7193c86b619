#include "shmrpc/transport/adaptive_spin.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "shmrpc/transport/futex.h"

namespace shmrpc::transport {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

constexpr nanoseconds kBudget = microseconds(50);
constexpr nanoseconds kPayoff = microseconds(20);

// A spin that caught its event at once.
void Paid(AdaptiveSpin& spin) {
  AdaptiveSpin::Ticket t = spin.Begin(kBudget);
  ASSERT_GT(t.budget().count(), 0);
  SpinClock clock(t.budget());
  spin.End(&t, /*got=*/true, clock, kPayoff);
}

// A spin that ran out without its event (as at a low call rate).
void Wasted(AdaptiveSpin& spin) {
  AdaptiveSpin::Ticket t = spin.Begin(kBudget);
  if (t.budget().count() == 0) return;
  SpinClock clock(t.budget());
  while (clock.Tick()) CpuRelax();
  spin.End(&t, /*got=*/false, clock, kPayoff);
}

TEST(AdaptiveSpinTest, SpinsUntilSpinningStopsPaying) {
  AdaptiveSpin spin;
  EXPECT_TRUE(spin.spinning());
  for (int i = 0; i < 10; ++i) Paid(spin);
  EXPECT_TRUE(spin.spinning());
  for (uint32_t i = 0; i < AdaptiveSpin::kHistory - 1; ++i) Wasted(spin);
  EXPECT_TRUE(spin.spinning()) << "one paying spin is still remembered";
  Wasted(spin);
  EXPECT_FALSE(spin.spinning());
}

TEST(AdaptiveSpinTest, SleepsAtOnceWhenOffExceptForProbesThatBackOff) {
  AdaptiveSpin spin;
  for (uint32_t i = 0; i < AdaptiveSpin::kHistory; ++i) Wasted(spin);
  ASSERT_FALSE(spin.spinning());
  // The waits at which a probe was granted, while every probe fails.
  std::vector<uint32_t> probes;
  for (uint32_t i = 1; i <= 4 * 1024; ++i) {
    AdaptiveSpin::Ticket t = spin.Begin(kBudget);
    if (t.budget().count() > 0) {
      probes.push_back(i);
      SpinClock clock(t.budget());
      spin.End(&t, /*got=*/false, clock, kPayoff);
    }
  }
  // 16 waits to the first probe, then twice as many after each failed one,
  // up to kMaxProbeEvery.
  const std::vector<uint32_t> expected = {
      16,         16 + 32,    48 + 64,    112 + 128,  240 + 256,  496 + 512,
      1008 + 512, 1520 + 512, 2032 + 512, 2544 + 512, 3056 + 512, 3568 + 512};
  EXPECT_EQ(probes, expected);
  EXPECT_EQ(spin.probe_every(), AdaptiveSpin::kMaxProbeEvery);
}

TEST(AdaptiveSpinTest, APayingSpinBringsProbesBackToTheShortInterval) {
  AdaptiveSpin spin(/*paid_to_spin=*/AdaptiveSpin::kHistory);
  Wasted(spin);
  ASSERT_FALSE(spin.spinning());
  int failed = 0;
  for (uint32_t i = 0; failed < 3 && i < 1024; ++i) {
    AdaptiveSpin::Ticket t = spin.Begin(kBudget);
    if (t.budget().count() == 0) continue;
    SpinClock clock(t.budget());
    spin.End(&t, /*got=*/false, clock, kPayoff);
    ++failed;
  }
  EXPECT_EQ(spin.probe_every(), 8 * AdaptiveSpin::kProbeEvery);
  // A probe that pays (not enough to turn spinning on for this place).
  for (uint32_t i = 0; i < 1024; ++i) {
    AdaptiveSpin::Ticket t = spin.Begin(kBudget);
    if (t.budget().count() == 0) continue;
    SpinClock clock(t.budget());
    spin.End(&t, /*got=*/true, clock, kPayoff);
    break;
  }
  EXPECT_FALSE(spin.spinning());
  EXPECT_EQ(spin.probe_every(), AdaptiveSpin::kProbeEvery);
}

TEST(AdaptiveSpinTest, OnePayingProbeTurnsSpinningBackOn) {
  AdaptiveSpin spin;
  for (uint32_t i = 0; i < AdaptiveSpin::kHistory; ++i) Wasted(spin);
  ASSERT_FALSE(spin.spinning());
  for (uint32_t i = 0; i < AdaptiveSpin::kProbeEvery; ++i) {
    AdaptiveSpin::Ticket t = spin.Begin(kBudget);
    if (t.budget().count() > 0) {
      SpinClock clock(t.budget());
      spin.End(&t, /*got=*/true, clock, kPayoff);
      break;
    }
  }
  EXPECT_TRUE(spin.spinning());
  EXPECT_GT(spin.Begin(kBudget).budget().count(), 0);
}

TEST(AdaptiveSpinTest, AnEventLaterThanThePayoffDidNotPay) {
  AdaptiveSpin spin;
  for (uint32_t i = 0; i < AdaptiveSpin::kHistory; ++i) {
    AdaptiveSpin::Ticket t = spin.Begin(microseconds(200));
    ASSERT_GT(t.budget().count(), 0);
    SpinClock clock(t.budget());
    // Spin 60 us as the spin clock counts them (from its first look, which
    // comes after SpinClock::kFirstLook iterations, however slow those are:
    // under TSan they take tens of microseconds), longer than the 20 us
    // payoff, then "get" the event.
    while (clock.Tick() && clock.Elapsed() < microseconds(60)) CpuRelax();
    if (clock.preempted()) GTEST_SKIP() << "preempted on a loaded machine";
    spin.End(&t, /*got=*/true, clock, kPayoff);
  }
  EXPECT_FALSE(spin.spinning());
}

// A place that asks for three paying spins in four stops spinning as soon
// as two of the last four did not pay, and spins again only once three
// paid (here: probes).
TEST(AdaptiveSpinTest, AStricterPlaceNeedsMostSpinsToPay) {
  AdaptiveSpin spin(/*paid_to_spin=*/3);
  EXPECT_TRUE(spin.spinning()) << "starts as if every spin had paid";
  Wasted(spin);
  EXPECT_TRUE(spin.spinning()) << "three of the last four paid";
  Paid(spin);
  Wasted(spin);
  EXPECT_FALSE(spin.spinning()) << "only two of the last four paid";
  int probes = 0;
  for (uint32_t i = 0; i < 8 * AdaptiveSpin::kProbeEvery && !spin.spinning();
       ++i) {
    AdaptiveSpin::Ticket t = spin.Begin(kBudget);
    if (t.budget().count() == 0) continue;
    ++probes;
    SpinClock clock(t.budget());
    spin.End(&t, /*got=*/true, clock, kPayoff);
  }
  EXPECT_TRUE(spin.spinning());
  // History (newest bit last) 1010; a paying probe makes it 0101, still two
  // of four; a second one 1011, three of four.
  EXPECT_EQ(probes, 2);
}

TEST(AdaptiveSpinTest, TheThresholdIsClampedToTheHistory) {
  AdaptiveSpin never_below_one(/*paid_to_spin=*/0);
  for (uint32_t i = 0; i + 1 < AdaptiveSpin::kHistory; ++i) {
    Wasted(never_below_one);
  }
  EXPECT_TRUE(never_below_one.spinning()) << "one paid spin is enough";
  AdaptiveSpin at_most_all(/*paid_to_spin=*/100);
  EXPECT_TRUE(at_most_all.spinning()) << "every spin paid so far";
  Wasted(at_most_all);
  EXPECT_FALSE(at_most_all.spinning());
}

TEST(AdaptiveSpinTest, NoMoreSpinnersThanCpusToSpare) {
  const int max = AdaptiveSpin::MaxSpinners();
  ASSERT_GE(max, 1);
  std::vector<AdaptiveSpin> places(max + 1);
  std::vector<AdaptiveSpin::Ticket> held;
  for (int i = 0; i < max; ++i) {
    held.push_back(places[i].Begin(kBudget));
    EXPECT_GT(held.back().budget().count(), 0);
  }
  EXPECT_EQ(AdaptiveSpin::Spinners(), max);
  EXPECT_EQ(places[max].Begin(kBudget).budget().count(), 0)
      << "every spinner place is taken";
  held.pop_back();  // a ticket gives its place back when dropped
  EXPECT_EQ(AdaptiveSpin::Spinners(), max - 1);
  EXPECT_GT(places[max].Begin(kBudget).budget().count(), 0);
  held.clear();
  EXPECT_EQ(AdaptiveSpin::Spinners(), 0);
}

TEST(AdaptiveSpinTest, NotAdaptiveAlwaysGrantsTheBudget) {
  AdaptiveSpin spin;
  for (uint32_t i = 0; i < AdaptiveSpin::kHistory; ++i) Wasted(spin);
  ASSERT_FALSE(spin.spinning());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(spin.Begin(kBudget, /*adaptive=*/false).budget(), kBudget);
  }
  EXPECT_EQ(spin.Begin(nanoseconds(0), /*adaptive=*/false).budget().count(), 0);
}

TEST(SpinClockTest, AFastEventNeverReadsTheClock) {
  SpinClock clock(kBudget);
  for (uint32_t i = 0; i + 1 < SpinClock::kFirstLook; ++i) {
    ASSERT_TRUE(clock.Tick());
  }
  EXPECT_EQ(clock.Elapsed().count(), 0);
  EXPECT_FALSE(clock.preempted());
}

TEST(SpinClockTest, EndsWhenTheBudgetIsSpent) {
  SpinClock clock(microseconds(100));
  const auto start = SpinClock::Clock::now();
  while (clock.Tick()) CpuRelax();
  const auto spent = SpinClock::Clock::now() - start;
  if (clock.preempted()) GTEST_SKIP() << "preempted on a loaded machine";
  EXPECT_GE(spent, microseconds(100));
  EXPECT_GE(clock.Elapsed(), microseconds(100));
}

TEST(SpinClockTest, NoticesThatItLostItsCpu) {
  SpinClock clock(std::chrono::milliseconds(100));
  for (uint32_t i = 0; i < SpinClock::kFirstLook; ++i)
    ASSERT_TRUE(clock.Tick());
  // As if preempted: much longer than kPreemptedGap between two looks.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  bool running = true;
  for (uint32_t i = 0; i < SpinClock::kLookEvery && running; ++i) {
    running = clock.Tick();
  }
  EXPECT_FALSE(running);
  EXPECT_TRUE(clock.preempted());
}

TEST(SpinClockTest, OnLookCanEndTheSpin) {
  SpinClock clock(std::chrono::seconds(1));
  int looks = 0;
  bool running = true;
  while (running) {
    running =
        clock.Tick([&](SpinClock::Clock::time_point) { return ++looks < 3; });
  }
  EXPECT_EQ(looks, 3);
}

// ---- Mode::kYield and YieldFor -------------------------------------------

TEST(AdaptiveYieldTest, YieldingIsNotCappedByTheSpinnerPlaces) {
  const int max = AdaptiveSpin::MaxSpinners();
  std::vector<AdaptiveSpin> spinners(max + 1);
  std::vector<AdaptiveSpin::Ticket> held;
  for (int i = 0; i < max; ++i) held.push_back(spinners[i].Begin(kBudget));
  ASSERT_EQ(spinners[max].Begin(kBudget).budget().count(), 0)
      << "every spinner place is taken";
  AdaptiveSpin yield(1, AdaptiveSpin::Mode::kYield);
  std::vector<AdaptiveSpin::Ticket> yielders;
  for (int i = 0; i < 8; ++i) {
    yielders.push_back(yield.Begin(kBudget));
    EXPECT_EQ(yielders.back().budget(), kBudget);
  }
  EXPECT_EQ(AdaptiveSpin::Spinners(), max) << "yielders are not spinners";
}

TEST(AdaptiveYieldTest, AYieldPaysByItsWasteNotByHowLongItTook) {
  AdaptiveSpin yield(1, AdaptiveSpin::Mode::kYield);
  for (uint32_t i = 0; i < AdaptiveSpin::kHistory; ++i) {
    AdaptiveSpin::Ticket t = yield.Begin(kBudget);
    // Long in wall time (other threads ran), little waste: paid.
    yield.End(&t, /*got=*/true, /*wasted=*/microseconds(3), kPayoff);
  }
  EXPECT_TRUE(yield.spinning());
  for (uint32_t i = 0; i < AdaptiveSpin::kHistory; ++i) {
    AdaptiveSpin::Ticket t = yield.Begin(kBudget);
    // Got it, but only after wasting more than sleeping costs.
    yield.End(&t, /*got=*/true, /*wasted=*/microseconds(30), kPayoff);
  }
  EXPECT_FALSE(yield.spinning());
}

TEST(YieldForTest, ReturnsOnceReady) {
  int looks = 0;
  nanoseconds wasted{-1};
  EXPECT_TRUE(YieldFor(
      std::chrono::seconds(1), std::chrono::seconds(1),
      [&] { return ++looks == 5; },
      [](std::chrono::steady_clock::time_point) { return true; }, &wasted));
  EXPECT_EQ(looks, 5);
  EXPECT_GE(wasted.count(), 0);
}

TEST(YieldForTest, OnLookCanEndThePhase) {
  int looks = 0;
  nanoseconds wasted{0};
  EXPECT_FALSE(YieldFor(
      std::chrono::seconds(1), std::chrono::seconds(1), [] { return false; },
      [&](std::chrono::steady_clock::time_point) { return ++looks < 3; },
      &wasted));
  EXPECT_EQ(looks, 3);
}

// Alone on its CPU, every yield comes straight back: the phase is a spin
// with system calls, and it ends when it has wasted its waste budget, long
// before its time budget.
TEST(YieldForTest, AloneItStopsAtItsWasteBudget) {
  cpu_set_t one;
  CPU_ZERO(&one);
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  CPU_SET(sched_getcpu(), &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  const auto start = std::chrono::steady_clock::now();
  nanoseconds wasted{0};
  const bool got = YieldFor(
      std::chrono::seconds(5), microseconds(200), [] { return false; },
      [](std::chrono::steady_clock::time_point) { return true; }, &wasted);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_FALSE(got);
  EXPECT_GE(wasted, microseconds(200));
  EXPECT_LT(took, std::chrono::seconds(1))
      << "ended by its time budget, not by its waste";
}

// Sharing its CPU with a busy thread, each yield lets that thread run: the
// time it runs is not waste, so the phase lasts its whole time budget while
// wasting little.
TEST(YieldForTest, NextToABusyThreadItGivesTheCpuAway) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> busy_work{0};
  // Inherits the one-CPU affinity.
  std::thread busy([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      busy_work.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (busy_work.load() == 0) std::this_thread::yield();
  nanoseconds wasted{0};
  const auto start = std::chrono::steady_clock::now();
  const bool got = YieldFor(
      std::chrono::milliseconds(50), std::chrono::milliseconds(40),
      [] { return false; },
      [](std::chrono::steady_clock::time_point) { return true; }, &wasted);
  const auto took = std::chrono::steady_clock::now() - start;
  stop.store(true);
  busy.join();
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_FALSE(got);
  EXPECT_GE(took, std::chrono::milliseconds(50)) << "ended by its waste";
  EXPECT_LT(wasted, std::chrono::milliseconds(40));
}

}  // namespace
}  // namespace shmrpc::transport
