// Cross-process tests: the peer runs in another process (transport_peer),
// started and killed by the test.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/transport/connector.h"
#include "tests/transport/echo_peer.h"
#include "tests/util/notification.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using transport::Connection;
using transport::InboundMessage;
using transport::kNoDeadline;

std::string g_peer;  // path of transport_peer, from argv

transport::Deadline In(milliseconds ms) { return steady_clock::now() + ms; }

int CountOpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the DIR's own fd
}

// Mappings of shmrpc segments in this process.
int CountSegmentMappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) {
    if (line.find("memfd:shmrpc") != std::string::npos) ++n;
  }
  return n;
}

std::set<std::string> DevShmEntries() {
  std::set<std::string> names;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) names.insert(e->d_name);
    ::closedir(d);
  }
  return names;
}

// Polls `done` until it is true or `timeout` passes.
template <typename F>
bool Eventually(F done, milliseconds timeout = milliseconds(5000)) {
  const auto end = steady_clock::now() + timeout;
  while (!done()) {
    if (steady_clock::now() > end) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

std::unique_ptr<Subprocess> StartPeer(std::vector<std::string> args) {
  args.insert(args.begin(), g_peer);
  return std::make_unique<Subprocess>(std::move(args));
}

class MultiprocessTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.File("peer.sock");
};

// Handshake with a server in another process, then data both ways for every
// payload size class, inline and in chunks.
TEST_F(MultiprocessTest, EchoWithServerInAnotherProcess) {
  auto server = StartPeer({"echo-server", path_});
  ASSERT_TRUE(server->WaitForLine("ready", milliseconds(10000)));
  const std::set<std::string> shm_before = DevShmEntries();
  auto c = transport::Connect(path_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->peer().pid, server->pid());
  for (size_t size : {0, 1, 64, 88, 89, 4096, 65536, 1 << 20, 4 << 20}) {
    for (bool allow_inline : {true, false}) {
      absl::Status s = EchoCall(**c, size, static_cast<uint32_t>(size) + 11,
                                In(milliseconds(10000)), allow_inline);
      EXPECT_TRUE(s.ok()) << size << ": " << s;
    }
  }
  // Nothing appears in /dev/shm: segments are anonymous memfds.
  EXPECT_EQ(DevShmEntries(), shm_before);
  // Every chunk we sent came back (drained on the next allocation).
  auto chunk = (*c)->AllocateChunk(1, In(milliseconds(1000)));
  ASSERT_TRUE(chunk.ok());
  (*c)->DiscardChunk(*chunk);
  EXPECT_EQ((*c)->stats().pool.lent, 0u);
  EXPECT_EQ((*c)->stats().refused_returns, 0u);
}

// 16 threads of this process share one connection; every answer is checked
// byte for byte and by the server's checksum.
TEST_F(MultiprocessTest, ManyConcurrentSubmitters) {
  auto server = StartPeer({"echo-server", path_});
  ASSERT_TRUE(server->WaitForLine("ready", milliseconds(10000)));
  auto c = transport::Connect(path_);
  ASSERT_TRUE(c.ok()) << c.status();
  constexpr int kThreads = 16;
  constexpr int kCalls = 300;
  constexpr size_t kSizes[] = {0, 24, 88, 100, 1000, 5000, 70000};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        absl::Status s = EchoCall(**c, kSizes[(t + i) % std::size(kSizes)],
                                  static_cast<uint32_t>(t << 16 | i),
                                  In(milliseconds(20000)));
        if (s.ok()) {
          ok.fetch_add(1);
        } else {
          ADD_FAILURE() << "thread " << t << " call " << i << ": " << s;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kCalls);
}

// Two client processes with 16 threads each against a server in this process.
TEST_F(MultiprocessTest, ManyClientProcesses) {
  EchoServer server(path_);
  auto a = StartPeer({"echo-client", path_, "16", "200"});
  auto b = StartPeer({"echo-client", path_, "16", "200"});
  EXPECT_EQ(a->ExitCode(milliseconds(60000)), 0);
  EXPECT_EQ(b->ExitCode(milliseconds(60000)), 0);
  EXPECT_EQ(server.listener().stats().accepted, 2u);
}

// kill -9 of a client that holds server chunks: the server notices within
// milliseconds, takes every chunk back, releases every fd and mapping, and
// keeps serving other clients.
TEST_F(MultiprocessTest, ServerSurvivesClientKill) {
  EchoServer server(path_);
  const int fds_before = CountOpenFds();
  const int maps_before = CountSegmentMappings();
  constexpr int kHeld = 8;
  auto victim = StartPeer({"hold-client", path_, std::to_string(kHeld)});
  ASSERT_TRUE(victim->WaitForLine("ready", milliseconds(10000)));
  std::vector<std::shared_ptr<Connection>> live = server.connections();
  ASSERT_EQ(live.size(), 1u);
  std::shared_ptr<Connection> conn = live[0];
  live.clear();
  EXPECT_EQ(conn->stats().pool.lent, static_cast<uint32_t>(kHeld));
  EXPECT_GT(CountSegmentMappings(), maps_before);

  testing::Notification closed;
  steady_clock::time_point closed_at;
  conn->OnClose([&](const absl::Status& s) {
    closed_at = steady_clock::now();
    EXPECT_TRUE(absl::IsUnavailable(s)) << s;
    closed.Notify();
  });
  const auto killed_at = steady_clock::now();
  victim->Kill(SIGKILL);
  ASSERT_TRUE(closed.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
  const auto noticed = closed_at - killed_at;
  EXPECT_LT(noticed, milliseconds(500));
  std::printf("server noticed the client's death after %.3f ms\n",
              std::chrono::duration<double, std::milli>(noticed).count());
  EXPECT_EQ(conn->stats().reclaimed_on_close, static_cast<uint64_t>(kHeld));
  EXPECT_EQ(conn->stats().pool.lent, 0u);
  conn.reset();
  ASSERT_EQ(victim->ExitCode(milliseconds(5000)), -SIGKILL);
  victim.reset();  // closes our pipe from it

  // Everything of that connection is released once its serving thread ends.
  EXPECT_TRUE(Eventually([&] {
    return server.connections().empty() && CountOpenFds() == fds_before &&
           CountSegmentMappings() == maps_before;
  })) << "fds "
      << CountOpenFds() << " vs " << fds_before << ", mappings "
      << CountSegmentMappings() << " vs " << maps_before;

  // And the server keeps serving.
  auto next = StartPeer({"echo-client", path_, "4", "50"});
  EXPECT_EQ(next->ExitCode(milliseconds(30000)), 0);
}

// kill -9 of the server while this client waits for an answer and while the
// server holds our chunks: the waiter wakes with UNAVAILABLE within
// milliseconds, our chunks come back, nothing leaks, and a restarted server
// (which finds the dead one's socket file) accepts us again.
TEST_F(MultiprocessTest, ClientSurvivesServerKill) {
  const int fds_before = CountOpenFds();
  const int maps_before = CountSegmentMappings();
  auto server = StartPeer({"holding-server", path_});
  ASSERT_TRUE(server->WaitForLine("ready", milliseconds(10000)));
  {
    auto c = transport::Connect(path_);
    ASSERT_TRUE(c.ok()) << c.status();
    std::shared_ptr<Connection> conn = *c;
    constexpr int kHeld = 4;
    std::vector<InboundMessage> answers;
    for (int i = 0; i < kHeld; ++i) {
      auto stream = conn->OpenStream();
      ASSERT_TRUE(stream.ok());
      auto chunk = conn->AllocateChunk(1000, In(milliseconds(1000)));
      ASSERT_TRUE(chunk.ok());
      FillPattern(chunk->data, 1000, i);
      transport::MessageHeader h;
      h.stream = *stream;
      h.kind = kEcho;
      ASSERT_TRUE(conn->Send(h,
                             transport::OutgoingPayload::InChunk(*chunk, 1000),
                             In(milliseconds(1000)))
                      .ok());
      auto answer = conn->ReceiveStream(*stream, In(milliseconds(5000)));
      ASSERT_TRUE(answer.ok()) << answer.status();
      answers.push_back(std::move(*answer));
    }
    EXPECT_EQ(conn->stats().pool.lent, static_cast<uint32_t>(kHeld));

    // A caller waiting for an answer that will never come.
    auto stream = conn->OpenStream();
    ASSERT_TRUE(stream.ok());
    testing::Notification waiting;
    steady_clock::time_point woke_at;
    std::thread waiter([&] {
      waiting.Notify();
      auto m = conn->ReceiveStream(*stream, kNoDeadline);
      woke_at = steady_clock::now();
      EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
    });
    waiting.WaitForNotification();
    std::this_thread::sleep_for(milliseconds(20));  // let it fall asleep
    const auto killed_at = steady_clock::now();
    server->Kill(SIGKILL);
    waiter.join();
    const auto noticed = woke_at - killed_at;
    EXPECT_LT(noticed, milliseconds(500));
    std::printf("client noticed the server's death after %.3f ms\n",
                std::chrono::duration<double, std::milli>(noticed).count());
    EXPECT_FALSE(conn->ok());
    EXPECT_EQ(conn->stats().reclaimed_on_close, static_cast<uint64_t>(kHeld));
    // The answers we still hold stay readable (the mapping lives until the
    // last reference goes).
    for (auto& a : answers) EXPECT_EQ(a.payload().size(), 1000u);
    EXPECT_TRUE(absl::IsUnavailable(
        conn->AllocateChunk(10, In(milliseconds(10))).status()));
  }
  ASSERT_EQ(server->ExitCode(milliseconds(5000)), -SIGKILL);
  server.reset();  // closes our pipe from it
  // The monitor thread may still hold the connection for a moment while it
  // finishes its close callback.
  EXPECT_TRUE(Eventually([&] {
    return CountOpenFds() == fds_before &&
           CountSegmentMappings() == maps_before;
  })) << "fds "
      << CountOpenFds() << " vs " << fds_before << ", mappings "
      << CountSegmentMappings() << " vs " << maps_before;

  // The dead server left its socket file; a new one takes the path over.
  auto restarted = StartPeer({"echo-server", path_});
  ASSERT_TRUE(restarted->WaitForLine("ready", milliseconds(10000)));
  auto c = transport::Connect(path_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(EchoCall(**c, 5000, 1, In(milliseconds(5000))).ok());
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH_TO_TRANSPORT_PEER\n", argv[0]);
    return 2;
  }
  shmrpc::testing::g_peer = argv[1];
  return RUN_ALL_TESTS();
}
