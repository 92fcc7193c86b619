// The listener under resource pressure, with hostile peers in other
// processes (transport_peer): a crowd of silent connections must not keep
// honest clients out, and running out of file descriptors must neither make
// the event loop spin nor stop it from serving once fds are back.
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/transport/connector.h"
#include "shmrpc/transport/listener.h"
#include "tests/util/notification.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using transport::Connection;
using transport::EventLoop;
using transport::Listener;
using transport::ListenerOptions;

std::string g_peer;  // path of transport_peer, from argv

std::unique_ptr<Subprocess> StartPeer(std::vector<std::string> args) {
  args.insert(args.begin(), g_peer);
  return std::make_unique<Subprocess>(std::move(args));
}

transport::ConnectOptions SmallClient(EventLoop* loop) {
  transport::ConnectOptions o;
  o.handshake.pool = transport::PoolConfig{{{256, 8}}};
  o.handshake.stream_count = 4;
  o.monitor = loop;
  o.timeout = milliseconds(3000);
  return o;
}

class ListenerLimitsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Listener> Start(ListenerOptions options) {
    options.path = path_;
    options.handshake.pool = transport::PoolConfig{{{256, 8}}};
    auto l =
        Listener::Start(options, &loop_, [this](std::shared_ptr<Connection> c) {
          std::lock_guard<std::mutex> lock(mu_);
          accepted_.push_back(std::move(c));
        });
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? std::move(*l) : nullptr;
  }

  // Connects as an honest client `rounds` times, `pause` apart; each
  // handshake must complete within `bound`. Returns the slowest.
  milliseconds HonestClientRounds(int rounds, milliseconds pause,
                                  milliseconds bound) {
    milliseconds slowest{0};
    for (int i = 0; i < rounds; ++i) {
      const auto start = steady_clock::now();
      auto c = transport::Connect(path_, SmallClient(&client_loop_));
      const auto took =
          std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
      std::printf("round %d: %lld ms\n", i,
                  static_cast<long long>(took.count()));
      EXPECT_TRUE(c.ok()) << "round " << i << ": " << c.status();
      EXPECT_LT(took, bound) << "round " << i;
      slowest = std::max(slowest, took);
      std::this_thread::sleep_for(pause);
    }
    return slowest;
  }

  TempDir dir_;
  std::string path_ = dir_.File("limits.sock");
  EventLoop loop_;         // the listener's
  EventLoop client_loop_;  // watches our client connections
  std::mutex mu_;
  std::vector<std::shared_ptr<Connection>> accepted_;
};

// 200 connections from one process that never send a hello (and reconnect
// whenever the server drops them) hold at most the per-peer limit of
// handshake slots; a client from another process gets through every time.
TEST_F(ListenerLimitsTest, SilentCrowdFromOneProcessDoesNotKeepOthersOut) {
  ListenerOptions options;  // 64 pending at most, 16 per peer, 1 s timeout
  auto listener = Start(options);
  ASSERT_NE(listener, nullptr);
  auto crowd = StartPeer({"silent-crowd", path_, "200"});
  ASSERT_TRUE(crowd->WaitForLine("ready", milliseconds(20000)));
  // Spans several handshake timeouts, so the crowd's slots turn over.
  const milliseconds slowest =
      HonestClientRounds(15, milliseconds(150), milliseconds(500));
  std::printf(
      "honest handshake under a 200-connection silent crowd: "
      "slowest %lld ms\n",
      static_cast<long long>(slowest.count()));
  const transport::ListenerStats stats = listener->stats();
  EXPECT_GE(stats.accepted, 15u);
  EXPECT_GT(stats.refused_peer_limit, 0u);  // the crowd's surplus
}

// A crowd spread over several processes, together above the global table
// size: a newcomer evicts the oldest handshake of the peer holding the most
// instead of being refused.
TEST_F(ListenerLimitsTest, SilentCrowdOfManyProcessesCannotFillTheTable) {
  ListenerOptions options;
  options.max_pending_handshakes = 32;
  options.max_pending_handshakes_per_peer = 16;
  auto listener = Start(options);
  ASSERT_NE(listener, nullptr);
  std::vector<std::unique_ptr<Subprocess>> crowds;
  for (int i = 0; i < 4; ++i) {
    crowds.push_back(StartPeer({"silent-crowd", path_, "50"}));
  }
  for (auto& c : crowds) {
    ASSERT_TRUE(c->WaitForLine("ready", milliseconds(20000)));
  }
  const milliseconds slowest =
      HonestClientRounds(15, milliseconds(150), milliseconds(500));
  std::printf("honest handshake under a 4 x 50 silent crowd: slowest %lld ms\n",
              static_cast<long long>(slowest.count()));
  const transport::ListenerStats stats = listener->stats();
  EXPECT_GE(stats.accepted, 15u);
  EXPECT_GT(stats.evicted, 0u);
}

// Runs `fn` on `loop`'s thread and waits for it.
void OnLoop(EventLoop& loop, std::function<void()> fn) {
  Notification done;
  loop.RunAt(steady_clock::now(), [&] {
    fn();
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(std::chrono::seconds(10)));
}

// Lowers this process's fd limit to what is open now plus a few, and uses
// those up, so that the listener's accept4 fails with EMFILE. Restores
// everything on destruction.
//
// Everything runs on the listener's loop thread, so it never interleaves
// with the listener's own fd juggling (giving up the spare fd to refuse a
// client happens within one loop callback). An fd the listener frees later
// (a handshake in progress when the hog started, then finished) would let
// it accept normally again, so the hog tops itself up every 2 ms while it
// lives.
class FdHog {
 public:
  explicit FdHog(EventLoop* loop) : loop_(loop) {
    OnLoop(*loop_, [this] { Fill(); });
  }
  ~FdHog() {
    OnLoop(*loop_, [this] {
      active_ = false;
      loop_->Cancel(timer_);
      for (int fd : fds_) ::close(fd);
      fds_.clear();
      ::setrlimit(RLIMIT_NOFILE, &saved_);
    });
  }
  int exhausted_errno() const { return errno_; }

 private:
  // Loop thread.
  void Fill() {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
    int highest = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.')
          highest = std::max(highest, std::atoi(e->d_name));
      }
      ::closedir(d);
    }
    rlimit lower = saved_;
    lower.rlim_cur = static_cast<rlim_t>(highest) + 9;
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &lower), 0);
    null_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_ >= 0) fds_.push_back(null_);
    TopUp();
  }

  // Loop thread: takes every fd that has come free, then looks again soon.
  void TopUp() {
    if (!active_ || null_ < 0) return;
    for (;;) {
      const int fd = ::fcntl(null_, F_DUPFD_CLOEXEC, 0);
      if (fd < 0) {
        if (errno_ == 0) errno_ = errno;  // why the first fill stopped
        break;
      }
      fds_.push_back(fd);
    }
    timer_ = loop_->RunAt(steady_clock::now() + milliseconds(2),
                          [this] { TopUp(); });
  }

  EventLoop* loop_;
  rlimit saved_{};
  std::vector<int> fds_;
  int null_ = -1;
  int errno_ = 0;
  bool active_ = true;
  EventLoop::TimerId timer_ = 0;
};

// CPU time of the calling thread.
std::chrono::microseconds ThreadCpu() {
  rusage r{};
  ::getrusage(RUSAGE_THREAD, &r);
  return std::chrono::seconds(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         std::chrono::microseconds(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

// CPU time of `loop`'s thread, read on that thread.
std::chrono::microseconds LoopCpu(EventLoop& loop) {
  std::chrono::microseconds cpu{0};
  OnLoop(loop, [&] { cpu = ThreadCpu(); });
  return cpu;
}

// Out of fds, accept4 fails with EMFILE while the listening socket stays
// readable. The loop must not spin on it (it backs off), clients that knock
// meanwhile are refused rather than left hanging (a spare fd is given up to
// accept and refuse them), and once fds are free new clients are served
// again.
TEST_F(ListenerLimitsTest, OutOfFdsTheLoopBacksOffAndRecovers) {
  auto listener = Start(ListenerOptions{});
  ASSERT_NE(listener, nullptr);
  // Started while we still have fds; it knocks every 20 ms. A knock with
  // fds to spare is refused as malformed (code 1).
  auto knock = StartPeer({"knock", path_});
  ASSERT_TRUE(knock->WaitForLine("knock: refused 1", milliseconds(20000)));

  std::chrono::microseconds cpu{0};
  {
    FdHog hog(&loop_);
    ASSERT_EQ(hog.exhausted_errno(), EMFILE);
    const std::chrono::microseconds before = LoopCpu(loop_);
    std::this_thread::sleep_for(milliseconds(1000));
    cpu = LoopCpu(loop_) - before;
    // Knocks get an answer even now: out of fds, the server refuses them
    // (kResourceExhausted, code 6) instead of leaving them in the backlog.
    EXPECT_TRUE(knock->WaitForLine("knock: refused 6", milliseconds(5000)))
        << knock->output().substr(
               knock->output().size() -
               std::min<size_t>(knock->output().size(), 400));
  }
  std::printf("event loop CPU over 1 s without fds: %lld us\n",
              static_cast<long long>(cpu.count()));
  EXPECT_LT(cpu.count(), 100000) << "us of loop CPU in 1 s";
  EXPECT_GT(listener->stats().accept_backoffs, 0u);

  // Fds are back: a new client is served within the longest back-off.
  const auto start = steady_clock::now();
  absl::StatusOr<std::shared_ptr<Connection>> c;
  do {
    c = transport::Connect(path_, SmallClient(&client_loop_));
  } while (!c.ok() && steady_clock::now() - start < milliseconds(5000));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_LT(steady_clock::now() - start, milliseconds(3000));
  EXPECT_TRUE(knock->WaitForLine("knock: refused 1", milliseconds(5000)));
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
