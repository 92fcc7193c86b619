#include "shmrpc/transport/event_loop.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/notification.h"

namespace shmrpc::transport {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct Pipe {
  Pipe() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    read.reset(p[0]);
    write.reset(p[1]);
  }
  void Poke() { ASSERT_EQ(::write(write.get(), "x", 1), 1); }
  void Drain() {
    char buf[16];
    while (::read(read.get(), buf, sizeof(buf)) > 0) {
    }
  }
  UniqueFd read, write;
};

TEST(EventLoopTest, CallsBackWhenReadable) {
  EventLoop loop;
  Pipe pipe;
  shmrpc::testing::Notification called;
  std::atomic<uint32_t> seen{0};
  ASSERT_TRUE(loop.Add(pipe.read.get(), EPOLLIN,
                       [&](uint32_t events) {
                         seen = events;
                         pipe.Drain();
                         EXPECT_TRUE(loop.InLoopThread());
                         called.Notify();
                       })
                  .ok());
  EXPECT_FALSE(loop.InLoopThread());
  pipe.Poke();
  ASSERT_TRUE(called.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
  EXPECT_NE(seen.load() & EPOLLIN, 0u);
  loop.Remove(pipe.read.get());
}

TEST(EventLoopTest, ReportsHangUp) {
  EventLoop loop;
  Pipe pipe;
  shmrpc::testing::Notification hung_up;
  ASSERT_TRUE(loop.Add(pipe.read.get(), EPOLLIN,
                       [&](uint32_t events) {
                         if (events & EPOLLHUP) {
                           loop.Remove(
                               pipe.read.get());  // from its own callback
                           hung_up.Notify();
                         }
                       })
                  .ok());
  pipe.write.reset();
  ASSERT_TRUE(hung_up.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
}

TEST(EventLoopTest, RemoveWaitsForARunningCallback) {
  EventLoop loop;
  Pipe pipe;
  shmrpc::testing::Notification entered;
  std::atomic<bool> finished{false};
  ASSERT_TRUE(loop.Add(pipe.read.get(), EPOLLIN,
                       [&](uint32_t) {
                         entered.Notify();
                         std::this_thread::sleep_for(milliseconds(100));
                         finished = true;
                       })
                  .ok());
  pipe.Poke();
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
  loop.Remove(pipe.read.get());
  EXPECT_TRUE(finished.load());
}

TEST(EventLoopTest, RemovedFdIsNotCalledAgain) {
  EventLoop loop;
  Pipe pipe;
  std::atomic<int> calls{0};
  ASSERT_TRUE(
      loop.Add(pipe.read.get(), EPOLLIN, [&](uint32_t) { ++calls; }).ok());
  loop.Remove(pipe.read.get());
  pipe.Poke();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(calls.load(), 0);
  EXPECT_FALSE(loop.Add(-1, EPOLLIN, [](uint32_t) {}).ok());
}

TEST(EventLoopTest, TimersRunInOrderAndCanBeCancelled) {
  EventLoop loop;
  std::mutex mu;
  std::vector<int> order;
  shmrpc::testing::Notification done;
  const auto now = steady_clock::now();
  auto record = [&](int v) {
    return [&, v] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(v);
      if (v == 3) done.Notify();
    };
  };
  loop.RunAt(now + milliseconds(60), record(3));
  loop.RunAt(now + milliseconds(20), record(1));
  EventLoop::TimerId cancelled = loop.RunAt(now + milliseconds(30), record(9));
  loop.RunAt(now + milliseconds(40), record(2));
  EXPECT_TRUE(loop.Cancel(cancelled));
  EXPECT_FALSE(loop.Cancel(cancelled));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
  EXPECT_GE(steady_clock::now() - now, milliseconds(60));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoopTest, DestructorDropsPendingWork) {
  std::atomic<bool> ran{false};
  {
    EventLoop loop;
    loop.RunAt(steady_clock::now() + std::chrono::hours(1),
               [&] { ran = true; });
  }
  EXPECT_FALSE(ran.load());
}

}  // namespace
}  // namespace shmrpc::transport
