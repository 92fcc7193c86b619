#include "shmrpc/transport/listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shmrpc/transport/connector.h"
#include "tests/util/notification.h"
#include "tests/util/poll.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::transport {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

using shmrpc::testing::In;
using shmrpc::testing::PollUntil;

ConnectOptions SmallClient(EventLoop* loop) {
  ConnectOptions o;
  o.handshake.pool = PoolConfig{{{256, 8}}};
  o.handshake.stream_count = 4;
  o.monitor = loop;
  return o;
}

ListenerOptions SmallServer(const std::string& path) {
  ListenerOptions o;
  o.path = path;
  o.handshake.pool = PoolConfig{{{256, 8}}};
  return o;
}

// Reads the ServerHello a raw client gets back.
ServerHello ReadReply(int fd, milliseconds timeout) {
  absl::StatusOr<Record> r =
      RecvRecord(fd, sizeof(ServerHello) + 1, 2, In(timeout));
  EXPECT_TRUE(r.ok()) << r.status();
  ServerHello h{};
  if (r.ok() && r->bytes.size() == sizeof(h)) {
    std::memcpy(&h, r->bytes.data(), sizeof(h));
  }
  return h;
}

class ListenerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Listener> Start(ListenerOptions options) {
    auto l =
        Listener::Start(options, &loop_, [this](std::shared_ptr<Connection> c) {
          std::lock_guard<std::mutex> lock(mu_);
          accepted_.push_back(std::move(c));
        });
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? std::move(*l) : nullptr;
  }

  testing::TempDir dir_;
  std::string path_ = dir_.File("l.sock");
  EventLoop loop_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Connection>> accepted_;
};

TEST_F(ListenerTest, AcceptsAndHandsOverConnections) {
  auto listener = Start(SmallServer(path_));
  auto c = Connect(path_, SmallClient(&loop_));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->role(), Role::kClient);
  EXPECT_EQ((*c)->peer().pid, ::getpid());
  for (int i = 0; i < 1000 && listener->stats().accepted == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(listener->stats().accepted, 1u);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(accepted_.size(), 1u);
  EXPECT_EQ(accepted_[0]->role(), Role::kServer);
}

TEST_F(ListenerTest, SocketIsPrivateToTheUserByDefault) {
  auto listener = Start(SmallServer(path_));
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ListenerTest, RefusesToDisplaceALiveListener) {
  auto first = Start(SmallServer(path_));
  auto second = Listener::Start(SmallServer(path_), &loop_, [](auto) {});
  EXPECT_TRUE(absl::IsAlreadyExists(second.status())) << second.status();
  // The first one still works.
  EXPECT_TRUE(Connect(path_, SmallClient(&loop_)).ok());
}

TEST_F(ListenerTest, TakesOverAStaleSocketFile) {
  // What a crashed server leaves: a bound socket file nobody listens on, and
  // an unlocked lock file.
  {
    UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
    UniqueFd lock(::open((path_ + ".lock").c_str(), O_CREAT | O_RDWR, 0600));
  }
  EXPECT_TRUE(
      absl::IsUnavailable(Connect(path_, SmallClient(&loop_)).status()));
  auto listener = Start(SmallServer(path_));
  ASSERT_NE(listener, nullptr);
  EXPECT_TRUE(Connect(path_, SmallClient(&loop_)).ok());
}

TEST_F(ListenerTest, SilentClientTimesOutWithoutBlockingOthers) {
  ListenerOptions options = SmallServer(path_);
  options.handshake_timeout = milliseconds(150);
  auto listener = Start(options);
  absl::StatusOr<UniqueFd> silent = ConnectSeqpacket(path_);
  ASSERT_TRUE(silent.ok());
  const auto start = steady_clock::now();
  // While the silent client is pending, others get through at once.
  auto good = Connect(path_, SmallClient(&loop_));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_LT(steady_clock::now() - start, milliseconds(150));
  // The silent one is refused when its time is up, then disconnected.
  ServerHello h = ReadReply(silent->get(), milliseconds(5000));
  EXPECT_GE(steady_clock::now() - start, milliseconds(140));
  EXPECT_EQ(h.refusal, static_cast<uint16_t>(Refusal::kTimeout));
  EXPECT_THAT(h.message, HasSubstr("150 ms"));
  EXPECT_TRUE(absl::IsUnavailable(
      RecvRecord(silent->get(), 16, 0, In(milliseconds(1000))).status()));
  EXPECT_EQ(listener->stats().timed_out, 1u);
}

TEST_F(ListenerTest, RefusesBeyondThePerPeerLimit) {
  ListenerOptions options = SmallServer(path_);
  options.max_pending_handshakes_per_peer = 1;
  auto listener = Start(options);
  absl::StatusOr<UniqueFd> first = ConnectSeqpacket(path_);
  ASSERT_TRUE(first.ok());
  // Let the listener accept the first before the second arrives.
  std::this_thread::sleep_for(milliseconds(50));
  absl::StatusOr<UniqueFd> second = ConnectSeqpacket(path_);
  ASSERT_TRUE(second.ok());
  ServerHello h = ReadReply(second->get(), milliseconds(5000));
  EXPECT_EQ(h.refusal, static_cast<uint16_t>(Refusal::kResourceExhausted));
  EXPECT_THAT(h.message, HasSubstr("from pid"));
  // A real client of the same process hears the same refusal.
  auto c = Connect(path_, SmallClient(&loop_));
  EXPECT_TRUE(absl::IsResourceExhausted(c.status())) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("too many handshakes"));
  const ListenerStats stats = listener->stats();
  EXPECT_EQ(stats.refused_peer_limit, 2u);
  EXPECT_EQ(stats.evicted, 0u);
  // The first is still pending (not refused): it may still say hello.
}

TEST_F(ListenerTest, EvictsTheOldestHandshakeWhenTheTableIsFull) {
  ListenerOptions options = SmallServer(path_);
  options.max_pending_handshakes = 2;
  auto listener = Start(options);
  std::vector<UniqueFd> silent;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<UniqueFd> s = ConnectSeqpacket(path_);
    ASSERT_TRUE(s.ok());
    silent.push_back(std::move(*s));
    std::this_thread::sleep_for(milliseconds(50));  // accepted in this order
  }
  // The newcomer took the oldest one's place (all from one pid here).
  ServerHello h = ReadReply(silent[0].get(), milliseconds(5000));
  EXPECT_EQ(h.refusal, static_cast<uint16_t>(Refusal::kResourceExhausted));
  EXPECT_THAT(h.message, HasSubstr("evicted"));
  for (int i = 1; i < 3; ++i) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(
        WaitReadable(silent[i].get(), In(milliseconds(100)))))
        << i;
  }
  // So does a real client, and completes its handshake.
  EXPECT_TRUE(Connect(path_, SmallClient(&loop_)).ok());
  EXPECT_TRUE(PollUntil([&] { return listener->stats().accepted == 1; }));
  EXPECT_EQ(listener->stats().evicted, 2u);
}

TEST_F(ListenerTest, GarbageDoesNotHurtTheServer) {
  auto listener = Start(SmallServer(path_));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<UniqueFd> raw = ConnectSeqpacket(path_);
    ASSERT_TRUE(raw.ok());
    std::string junk(100 + i * 50, static_cast<char>(0xA5));
    ASSERT_TRUE(
        SendRecord(raw->get(),
                   {reinterpret_cast<const uint8_t*>(junk.data()), junk.size()},
                   {})
            .ok());
    EXPECT_EQ(ReadReply(raw->get(), milliseconds(5000)).refusal,
              static_cast<uint16_t>(Refusal::kMalformed));
  }
  // A client that hangs up at once.
  { ASSERT_TRUE(ConnectSeqpacket(path_).ok()); }
  EXPECT_TRUE(Connect(path_, SmallClient(&loop_)).ok());
  for (int i = 0; i < 1000 && listener->stats().refused < 4; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(listener->stats().refused, 4u);
}

TEST_F(ListenerTest, ShutdownRefusesPendingAndRemovesTheSocket) {
  auto listener = Start(SmallServer(path_));
  absl::StatusOr<UniqueFd> pending = ConnectSeqpacket(path_);
  ASSERT_TRUE(pending.ok());
  std::this_thread::sleep_for(milliseconds(50));
  listener.reset();
  EXPECT_EQ(ReadReply(pending->get(), milliseconds(5000)).refusal,
            static_cast<uint16_t>(Refusal::kShuttingDown));
  EXPECT_NE(::access(path_.c_str(), F_OK), 0);
  EXPECT_TRUE(
      absl::IsUnavailable(Connect(path_, SmallClient(&loop_)).status()));
}

TEST_F(ListenerTest, ConnectToNothingIsUnavailable) {
  auto c = Connect(dir_.File("nobody.sock"), SmallClient(&loop_));
  EXPECT_TRUE(absl::IsUnavailable(c.status())) << c.status();
}

}  // namespace
}  // namespace shmrpc::transport
