#include "shmrpc/transport/doorbell.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <new>
#include <thread>

#include "gtest/gtest.h"
#include "shmrpc/transport/futex.h"
#include "shmrpc/transport/segment.h"
#include "tests/util/poll.h"

namespace shmrpc::transport {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

using shmrpc::testing::In;
using shmrpc::testing::PollUntil;

WaitPolicy NoSpin() {
  WaitPolicy p;
  p.spin = std::chrono::nanoseconds(0);
  return p;
}

WaitPolicy Spin(std::chrono::nanoseconds spin) {
  WaitPolicy p;
  p.spin = spin;
  return p;
}

// ---- futex ----------------------------------------------------------------

// FUTEX_WAIT refuses to sleep when the word already differs.
TEST(FutexTest, WaitReturnsValueChangedWhenWordDiffers) {
  std::atomic<uint32_t> word{5};
  EXPECT_EQ(FutexWait(&word, 4, kNoDeadline), FutexWaitResult::kValueChanged);
  EXPECT_EQ(FutexWait(&word, 6, In(milliseconds(1000))),
            FutexWaitResult::kValueChanged);
}

// The deadline is absolute CLOCK_MONOTONIC and is honoured.
TEST(FutexTest, WaitTimesOutAtDeadline) {
  std::atomic<uint32_t> word{7};
  const auto start = steady_clock::now();
  const Deadline deadline = start + milliseconds(30);
  EXPECT_EQ(FutexWait(&word, 7, deadline), FutexWaitResult::kTimedOut);
  const auto end = steady_clock::now();
  EXPECT_GE(end, deadline);
  EXPECT_LT(end - start, milliseconds(3000));
}

// A deadline in the past times out at once.
TEST(FutexTest, WaitWithPastDeadlineTimesOutImmediately) {
  std::atomic<uint32_t> word{0};
  const auto start = steady_clock::now();
  EXPECT_EQ(FutexWait(&word, 0, start - milliseconds(10)),
            FutexWaitResult::kTimedOut);
  EXPECT_EQ(FutexWait(&word, 0, Deadline{}), FutexWaitResult::kTimedOut);
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));
}

// Waking with nobody asleep wakes nobody.
TEST(FutexTest, WakeWithoutSleepersReturnsZero) {
  std::atomic<uint32_t> word{0};
  EXPECT_EQ(FutexWake(&word, 1), 0);
  EXPECT_EQ(FutexWake(&word, INT_MAX), 0);
}

// FutexWake wakes a thread sleeping in FutexWait (the value never changes, so
// only a wake can end its wait before the deadline).
TEST(FutexTest, WakeWakesSleeper) {
  std::atomic<uint32_t> word{3};
  std::atomic<bool> started{false};
  std::atomic<int> result{-1};
  std::thread sleeper([&] {
    started.store(true);
    result.store(
        static_cast<int>(FutexWait(&word, 3, In(milliseconds(20000)))));
  });
  ASSERT_TRUE(PollUntil([&] { return started.load(); }));
  // Retry until the wake finds the sleeper in the kernel's queue.
  int woken = 0;
  ASSERT_TRUE(PollUntil([&] {
    woken = FutexWake(&word, 1);
    return woken != 0;
  }));
  EXPECT_EQ(woken, 1);
  sleeper.join();
  EXPECT_EQ(result.load(), static_cast<int>(FutexWaitResult::kWoken));
}

// FutexWake(count) wakes at most `count` sleepers.
TEST(FutexTest, WakeHonoursCount) {
  std::atomic<uint32_t> word{0};
  std::atomic<int> done{0};
  auto body = [&] {
    while (FutexWait(&word, 0, In(milliseconds(20000))) ==
           FutexWaitResult::kInterrupted) {
    }
    done.fetch_add(1);
  };
  std::thread t1(body), t2(body);
  // Wake one at a time; each FutexWake call must report exactly one.
  int total = 0;
  for (int i = 0; i < 2; ++i) {
    int woken = 0;
    ASSERT_TRUE(PollUntil([&] {
      woken = FutexWake(&word, 1);
      return woken != 0;
    }));
    EXPECT_EQ(woken, 1);
    total += woken;
  }
  t1.join();
  t2.join();
  EXPECT_EQ(total, 2);
  EXPECT_EQ(done.load(), 2);
}

// A wake-up reaches only sleepers of the classes it names.
TEST(FutexTest, WakeReachesOnlyMatchingClass) {
  std::atomic<uint32_t> word{0};
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    while (FutexWait(&word, 0, In(milliseconds(20000)), 1u << 1) ==
           FutexWaitResult::kInterrupted) {
    }
    woke = true;
  });
  // Let it fall asleep; wake-ups of other classes must not reach it.
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(FutexWake(&word, INT_MAX, 1u << 0), 0);
  EXPECT_EQ(FutexWake(&word, INT_MAX, 1u << 2), 0);
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(woke.load());
  int woken = 0;
  ASSERT_TRUE(PollUntil([&] {
    woken = FutexWake(&word, INT_MAX, (1u << 1) | (1u << 0));
    return woken != 0;
  }));
  EXPECT_EQ(woken, 1);
  sleeper.join();
  EXPECT_TRUE(woke.load());
}

// ---- doorbell -------------------------------------------------------------

// The spin budget grows with the payload the peer handles, within bounds.
TEST(WaitPolicyTest, SpinForScalesWithBytesUpToMaxSpin) {
  using std::chrono::microseconds;
  using std::chrono::nanoseconds;
  WaitPolicy p;
  p.spin = microseconds(50);
  p.spin_per_kib = nanoseconds(500);
  p.max_spin = microseconds(1000);
  EXPECT_EQ(p.SpinFor(0), microseconds(50));
  EXPECT_EQ(p.SpinFor(1023), microseconds(50));
  EXPECT_EQ(p.SpinFor(1024), nanoseconds(50500));
  EXPECT_EQ(p.SpinFor(100 * 1024), microseconds(100));
  EXPECT_EQ(p.SpinFor(size_t{1} << 40), microseconds(1000));
  // max_spin never shortens the plain budget.
  p.max_spin = microseconds(10);
  EXPECT_EQ(p.SpinFor(1 << 20), microseconds(50));
  // Without a per-KiB part, every size gets the plain budget.
  p.spin_per_kib = nanoseconds(0);
  p.max_spin = microseconds(1000);
  EXPECT_EQ(p.SpinFor(1 << 20), microseconds(50));
}

// A ready condition returns at once, with no sleeper announced and no change
// to the bell.
TEST(DoorbellTest, WaitReturnsReadyImmediately) {
  BellWord word{};
  Doorbell bell(&word);
  int calls = 0;
  EXPECT_EQ(bell.Wait(
                [&] {
                  ++calls;
                  return true;
                },
                WaitPolicy{}, kNoDeadline),
            WaitStatus::kReady);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(bell.Wait([] { return true; }, NoSpin(), Deadline{}),
            WaitStatus::kReady);
  EXPECT_EQ(word.announced.load(), 0u);
  EXPECT_EQ(word.seq.load(), 0u);
}

// A condition that becomes true during the spin phase is seen without ever
// sleeping.
TEST(DoorbellTest, WaitSeesConditionDuringSpin) {
  BellWord word{};
  Doorbell bell(&word);
  int calls = 0;
  EXPECT_EQ(bell.Wait([&] { return ++calls == 100; },
                      Spin(std::chrono::seconds(10)), In(milliseconds(20000))),
            WaitStatus::kReady);
  EXPECT_EQ(calls, 100);
  EXPECT_EQ(word.announced.load(), 0u);
}

// Without spinning, a never-true condition times out at the deadline and
// leaves no sleeper behind.
TEST(DoorbellTest, WaitTimesOutWithoutSpin) {
  BellWord word{};
  Doorbell bell(&word);
  const auto start = steady_clock::now();
  const Deadline deadline = start + milliseconds(30);
  EXPECT_EQ(bell.Wait([] { return false; }, NoSpin(), deadline),
            WaitStatus::kTimedOut);
  EXPECT_GE(steady_clock::now(), deadline);
  EXPECT_LT(steady_clock::now() - start, milliseconds(3000));
  EXPECT_EQ(word.announced.load(), 1u);  // left for the next Notify to consume
}

// With a spin budget shorter than the deadline: spins, sleeps, times out.
TEST(DoorbellTest, WaitTimesOutWithSpinBudget) {
  BellWord word{};
  Doorbell bell(&word);
  const auto start = steady_clock::now();
  const Deadline deadline = start + milliseconds(30);
  EXPECT_EQ(bell.Wait([] { return false; },
                      Spin(std::chrono::microseconds(500)), deadline),
            WaitStatus::kTimedOut);
  EXPECT_GE(steady_clock::now(), deadline);
  EXPECT_LT(steady_clock::now() - start, milliseconds(3000));
  EXPECT_EQ(word.announced.load(), 1u);  // left for the next Notify to consume
}

// A spin budget longer than the deadline is cut short by the deadline.
TEST(DoorbellTest, SpinBudgetDoesNotOutlastDeadline) {
  BellWord word{};
  Doorbell bell(&word);
  const auto start = steady_clock::now();
  EXPECT_EQ(bell.Wait([] { return false; }, Spin(std::chrono::seconds(30)),
                      start + milliseconds(20)),
            WaitStatus::kTimedOut);
  EXPECT_LT(steady_clock::now() - start, milliseconds(3000));
}

// A deadline already in the past times out (after one check) with or without
// spinning.
TEST(DoorbellTest, PastDeadlineTimesOut) {
  BellWord word{};
  Doorbell bell(&word);
  const auto start = steady_clock::now();
  EXPECT_EQ(bell.Wait([] { return false; }, NoSpin(), Deadline{}),
            WaitStatus::kTimedOut);
  EXPECT_EQ(bell.Wait([] { return false; }, WaitPolicy{}, Deadline{}),
            WaitStatus::kTimedOut);
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));
  EXPECT_EQ(word.announced.load(), 0u);
}

// Notify() with nobody asleep is a plain load: seq does not move.
TEST(DoorbellTest, NotifyWithoutSleepersDoesNotBumpSeq) {
  BellWord word{};
  word.seq.store(41);
  Doorbell bell(&word);
  for (int i = 0; i < 10; ++i) bell.Notify();
  EXPECT_EQ(word.seq.load(), 41u);
  EXPECT_EQ(word.announced.load(), 0u);
}

// Notify() with an announced sleeper bumps seq (even if nobody is in the
// kernel queue yet, e.g. a waiter between announcing and FUTEX_WAIT) and
// consumes the announcement: the next Notify() is a plain load again.
TEST(DoorbellTest, NotifyConsumesTheAnnouncement) {
  BellWord word{};
  word.announced.store(1);
  Doorbell bell(&word);
  bell.Notify();
  EXPECT_EQ(word.seq.load(), 1u);
  EXPECT_EQ(word.announced.load(), 0u);
  bell.Notify();
  EXPECT_EQ(word.seq.load(), 1u);
}

// A waiter that went to sleep is woken by Notify() once the notifier has
// published its state, well before its deadline.
TEST(DoorbellTest, NotifyWakesSleepingWaiter) {
  BellWord word{};
  Doorbell bell(&word);
  std::atomic<bool> flag{false};
  std::atomic<int> status{-1};
  std::atomic<int64_t> waited_ms{-1};
  std::thread waiter([&] {
    const auto start = steady_clock::now();
    WaitStatus s =
        bell.Wait([&] { return flag.load(std::memory_order_acquire); },
                  NoSpin(), In(milliseconds(30000)));
    waited_ms.store(
        std::chrono::duration_cast<milliseconds>(steady_clock::now() - start)
            .count());
    status.store(static_cast<int>(s));
  });
  ASSERT_TRUE(PollUntil([&] { return word.announced.load() == 1; }));
  // Let the waiter get from "announced" into FUTEX_WAIT.
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(status.load(), -1);
  const uint32_t seq_before = word.seq.load();
  flag.store(true, std::memory_order_release);
  bell.Notify();
  waiter.join();
  EXPECT_EQ(status.load(), static_cast<int>(WaitStatus::kReady));
  EXPECT_LT(waited_ms.load(), 10000);
  EXPECT_EQ(word.seq.load(), seq_before + 1);
  EXPECT_EQ(word.announced.load(), 0u);
}

// The same, with a waiter that spins first: it still ends up asleep and is
// woken.
TEST(DoorbellTest, NotifyWakesWaiterAfterSpinPhase) {
  BellWord word{};
  Doorbell bell(&word);
  std::atomic<bool> flag{false};
  std::atomic<int> status{-1};
  std::thread waiter([&] {
    status.store(static_cast<int>(bell.Wait(
        [&] { return flag.load(std::memory_order_acquire); },
        Spin(std::chrono::microseconds(200)), In(milliseconds(30000)))));
  });
  ASSERT_TRUE(PollUntil([&] { return word.announced.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(10));
  const auto start = steady_clock::now();
  flag.store(true, std::memory_order_release);
  bell.Notify();
  waiter.join();
  EXPECT_LT(steady_clock::now() - start, milliseconds(10000));
  EXPECT_EQ(status.load(), static_cast<int>(WaitStatus::kReady));
  EXPECT_EQ(word.announced.load(), 0u);
}

// A wake-up whose condition is still false sends the waiter back to sleep
// (it re-checks rather than returning); WakeAll() then delivers an abort flag
// that ready() checks.
TEST(DoorbellTest, WakeAllDeliversAbortFlag) {
  BellWord word{};
  Doorbell bell(&word);
  std::atomic<bool> aborted{false};
  std::atomic<int> checks{0};
  std::atomic<int> status{-1};
  std::thread waiter([&] {
    status.store(static_cast<int>(bell.Wait(
        [&] {
          checks.fetch_add(1);
          return aborted.load();
        },
        NoSpin(), In(milliseconds(30000)))));
  });
  ASSERT_TRUE(PollUntil([&] { return word.announced.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(10));

  // A spurious wake: nothing changed, so the waiter must go back to sleep.
  const int checks_before = checks.load();
  bell.WakeAll();
  EXPECT_EQ(word.seq.load(), 1u);
  ASSERT_TRUE(PollUntil([&] {
    return checks.load() >= checks_before + 2 && word.announced.load() == 1;
  }));
  EXPECT_EQ(status.load(), -1);
  std::this_thread::sleep_for(milliseconds(10));

  aborted.store(true);
  bell.WakeAll();
  waiter.join();
  EXPECT_EQ(status.load(), static_cast<int>(WaitStatus::kReady));
  EXPECT_EQ(word.seq.load(), 2u);
  EXPECT_EQ(word.announced.load(), 0u);
}

// Notify() wakes the announced sleeper only; an uncounted sleeper on the same
// bell (a standby thread) sleeps on until Kick().
TEST(DoorbellTest, NotifyLeavesUncountedSleepersAsleep) {
  BellWord word{};
  Doorbell bell(&word);
  std::atomic<bool> flag{false};
  std::atomic<bool> standby_woke{false};
  std::thread standby([&] {
    const uint32_t key = bell.key();
    bell.SleepUncounted(key, In(milliseconds(20000)));
    standby_woke = true;
  });
  std::thread waiter([&] {
    EXPECT_EQ(bell.Wait([&] { return flag.load(std::memory_order_acquire); },
                        NoSpin(), In(milliseconds(20000))),
              WaitStatus::kReady);
  });
  ASSERT_TRUE(PollUntil([&] { return word.announced.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(20));
  flag.store(true, std::memory_order_release);
  bell.Notify();
  waiter.join();
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_FALSE(standby_woke.load());
  bell.Kick(1);
  standby.join();
  EXPECT_TRUE(standby_woke.load());
}

// WakeAll() bumps seq even with nobody asleep, and wakes every sleeper.
TEST(DoorbellTest, WakeAllWakesEverySleeper) {
  BellWord word{};
  Doorbell bell(&word);
  bell.WakeAll();
  EXPECT_EQ(word.seq.load(), 1u);

  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  auto body = [&] {
    if (bell.Wait([&] { return go.load(); }, NoSpin(),
                  In(milliseconds(30000))) == WaitStatus::kReady) {
      ready.fetch_add(1);
    }
  };
  std::thread a(body), b(body), c(body);
  ASSERT_TRUE(PollUntil([&] { return word.announced.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(10));
  const auto start = steady_clock::now();
  go.store(true);
  bell.WakeAll();
  a.join();
  b.join();
  c.join();
  EXPECT_LT(steady_clock::now() - start, milliseconds(10000));
  EXPECT_EQ(ready.load(), 3);
  EXPECT_EQ(word.announced.load(), 0u);
}

// Ping-pong between two threads over two bells: no wake-up is ever lost (a
// lost one would hang until the deadline and fail).
TEST(DoorbellTest, PingPongLosesNoWakeups) {
  BellWord ping_word{}, pong_word{};
  Doorbell ping(&ping_word), pong(&pong_word);
  std::atomic<uint32_t> ball{0};
  constexpr uint32_t kRounds = 2000;
  std::atomic<bool> failed{false};
  std::thread other([&] {
    for (uint32_t i = 0; i < kRounds; ++i) {
      if (ping.Wait([&] { return ball.load() == 2 * i + 1; },
                    Spin(std::chrono::microseconds(i % 2 == 0 ? 0 : 5)),
                    In(milliseconds(20000))) != WaitStatus::kReady) {
        failed.store(true);
        return;
      }
      ball.store(2 * i + 2);
      pong.Notify();
    }
  });
  for (uint32_t i = 0; i < kRounds; ++i) {
    ball.store(2 * i + 1);
    ping.Notify();
    ASSERT_EQ(
        pong.Wait([&] { return ball.load() == 2 * i + 2 || failed.load(); },
                  Spin(std::chrono::microseconds(i % 3 == 0 ? 0 : 5)),
                  In(milliseconds(20000))),
        WaitStatus::kReady)
        << "round " << i;
    ASSERT_FALSE(failed.load()) << "round " << i;
  }
  other.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(ball.load(), 2 * kRounds);
  EXPECT_EQ(ping_word.announced.load(), 0u);
  EXPECT_EQ(pong_word.announced.load(), 0u);
}

// ---- across processes -----------------------------------------------------

// A child process sleeping on a BellWord in a kShared segment is woken by the
// parent's Notify(). The futex is not process-private.
TEST(DoorbellCrossProcessTest, ParentWakesChild) {
  absl::StatusOr<Segment> seg =
      Segment::Create("doorbell-test", 4096, SealMode::kShared);
  ASSERT_TRUE(seg.ok()) << seg.status();
  BellWord* word = new (seg->data()) BellWord{};
  auto* flag = new (seg->data() + 64) std::atomic<uint32_t>(0);
  Doorbell bell(word);

  // No threads exist in this test before the fork.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: only async-signal-safe-ish work, then _exit.
    const auto start = steady_clock::now();
    WaitStatus s = Doorbell(word).Wait(
        [&] { return flag->load(std::memory_order_acquire) == 1; }, NoSpin(),
        In(milliseconds(20000)));
    const bool quick = steady_clock::now() - start < milliseconds(15000);
    ::_exit(s == WaitStatus::kReady && quick ? 0 : 1);
  }

  // Parent: wait until the child sleeps, then ring.
  const bool child_slept = PollUntil(
      [&] { return word->announced.load() == 1; }, milliseconds(10000));
  EXPECT_TRUE(child_slept);
  std::this_thread::sleep_for(milliseconds(20));
  flag->store(1, std::memory_order_release);
  bell.Notify();
  if (child_slept) {
    EXPECT_EQ(word->seq.load(), 1u);
  }

  // Reap with a bounded timeout.
  int wstatus = 0;
  pid_t r = 0;
  const Deadline end = In(milliseconds(10000));
  while ((r = ::waitpid(pid, &wstatus, WNOHANG)) == 0 &&
         steady_clock::now() < end) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  if (r == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &wstatus, 0);
    FAIL() << "child did not exit: it was never woken";
  }
  ASSERT_EQ(r, pid);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "child status " << wstatus;
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_EQ(word->announced.load(), 0u);
}

}  // namespace
}  // namespace shmrpc::transport
