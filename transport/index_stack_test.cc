#include "shmrpc/transport/index_stack.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace shmrpc::transport {
namespace {

TEST(IndexStackTest, StartsEmpty) {
  std::atomic<uint32_t> links[4];
  IndexStack s;
  s.Attach(links);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.Pop(), std::nullopt);
}

TEST(IndexStackTest, LastPushedComesFirst) {
  std::atomic<uint32_t> links[4];
  IndexStack s;
  s.Attach(links);
  s.Push(2);
  s.Push(0);
  s.Push(3);
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.Pop(), 3u);
  s.Push(1);
  EXPECT_EQ(s.Pop(), 1u);
  EXPECT_EQ(s.Pop(), 0u);
  EXPECT_EQ(s.Pop(), 2u);
  EXPECT_EQ(s.Pop(), std::nullopt);
  EXPECT_TRUE(s.empty());
}

// Two stacks over one links array, each index on one of them at a time.
TEST(IndexStackTest, StacksShareLinks) {
  std::atomic<uint32_t> links[6];
  IndexStack a, b;
  a.Attach(links);
  b.Attach(links);
  for (uint32_t i = 0; i < 3; ++i) a.Push(i);
  for (uint32_t i = 3; i < 6; ++i) b.Push(i);
  const std::optional<uint32_t> moved = a.Pop();
  ASSERT_EQ(moved, 2u);
  b.Push(*moved);
  std::vector<uint32_t> from_b;
  while (std::optional<uint32_t> i = b.Pop()) from_b.push_back(*i);
  EXPECT_EQ(from_b, (std::vector<uint32_t>{2, 5, 4, 3}));
  EXPECT_EQ(a.Pop(), 1u);
  EXPECT_EQ(a.Pop(), 0u);
  EXPECT_EQ(a.Pop(), std::nullopt);
}

// Threads pop and push the same few indices as fast as they can (the case
// where ABA would strike): no index is ever held by two threads at once, and
// every index is back at the end.
TEST(IndexStackTest, ConcurrentPopPushKeepsEveryIndexOnce) {
  constexpr uint32_t kIndices = 4;
  constexpr int kThreads = 4;
  constexpr int kRounds = 200000;
  std::atomic<uint32_t> links[kIndices];
  IndexStack s;
  s.Attach(links);
  for (uint32_t i = 0; i < kIndices; ++i) s.Push(i);
  std::atomic<int> holders[kIndices] = {};
  std::atomic<bool> doubled{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        std::optional<uint32_t> i = s.Pop();
        if (!i) continue;
        if (*i >= kIndices || holders[*i].fetch_add(1) != 0) {
          doubled = true;
          return;
        }
        holders[*i].fetch_sub(1);
        s.Push(*i);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(doubled.load());
  std::vector<uint32_t> left;
  while (std::optional<uint32_t> i = s.Pop()) left.push_back(*i);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<uint32_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace shmrpc::transport
