// A server that cannot create threads (a task limit: systemd's TasksMax, a
// container's pids.max, ulimit -u) stays up: connections it cannot give a
// thread are closed or refused cleanly, the ones it serves keep working, and
// it admits clients again once threads can be had.
//
// The server runs in a forked child of this test that becomes an otherwise
// unused uid with a low RLIMIT_NPROC (the kernel does not apply that limit to
// root), so thread creation really fails there. Needs root to change uid, and
// real uids (tag no-sandbox: the sandbox's user namespace maps only ours).
// The fork happens before this process starts any thread.
#include <fcntl.h>
#include <grp.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/probe_service.h"
#include "tests/rpc/probe_testing.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;

// Threads the server's uid may have in all: the main thread, the server's
// event loop, and two connections of two threads each.
constexpr int kTaskLimit = 6;

// Reads one line from `fd` within `timeout`; empty on timeout or EOF.
std::string ReadLine(int fd, milliseconds timeout) {
  std::string line;
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(
                          end - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return "";
    char c;
    if (::read(fd, &c, 1) != 1) return "";
    if (c == '\n') return line;
    line.push_back(c);
  }
}

void WriteLine(int fd, const std::string& line) {
  const std::string s = line + "\n";
  if (::write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size())) {
    ::_exit(3);
  }
}

// The child: becomes `uid` with RLIMIT_NPROC = kTaskLimit, serves Probe at
// `path`, says "ready" (or "skip WHY") on `report`, and on a line from
// `control` reports its stats and exits.
[[noreturn]] void RunServer(uid_t uid, const std::string& path, int report,
                            int control) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
      ::setresuid(uid, uid, uid) != 0) {
    WriteLine(report, std::string("skip cannot become another uid: ") +
                          std::strerror(errno));
    ::_exit(0);
  }
  const rlimit limit{kTaskLimit, kTaskLimit};
  if (::setrlimit(RLIMIT_NPROC, &limit) != 0) {
    WriteLine(report, "skip setrlimit failed");
    ::_exit(0);
  }
  ProbeServiceImpl service;
  ServerOptions options;
  options.handshake.allow.uids = {0};  // the test's clients run as root
  std::string error;
  std::unique_ptr<Server> server = ServerBuilder()
                                       .AddEndpointPath(path)
                                       .RegisterService(&service)
                                       .SetOptions(options)
                                       .BuildAndStart(&error);
  if (server == nullptr) {
    WriteLine(report, "error " + error);
    ::_exit(1);
  }
  WriteLine(report, "ready");
  char c;
  while (::read(control, &c, 1) < 0 && errno == EINTR) {
  }
  const ServerStats s = server->stats();
  WriteLine(report,
            "stats thread_failures=" + std::to_string(s.thread_failures) +
                " refused=" + std::to_string(s.refused_connections) +
                " live=" + std::to_string(s.live_connections));
  server->Shutdown();
  ::_exit(0);
}

std::shared_ptr<grpc::Channel> Channel(const std::string& path, uid_t uid) {
  ShmChannelOptions options;
  options.mode = ShmMode::kRequired;
  options.endpoint_path = path;
  options.handshake.allow.uids = {uid};
  options.initial_backoff = milliseconds(50);
  options.max_backoff = milliseconds(100);
  return CreateChannel("localhost:1", grpc::InsecureChannelCredentials(),
                       options);
}

TEST(ThreadLimitTest, ServerSurvivesWhenThreadsCannotBeCreated) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to run the server as another uid "
                    "(RLIMIT_NPROC does not bind root)";
  }
  // An otherwise unused uid, so that no other process counts against the
  // limit.
  const uid_t uid = 3000000 + static_cast<uid_t>(::getpid() % 1000000);
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
  const std::string endpoints = dir.File("endpoints");
  ASSERT_EQ(::mkdir(endpoints.c_str(), 0700), 0);
  ASSERT_EQ(::chown(endpoints.c_str(), uid, uid), 0);
  const std::string path = endpoints + "/probe.sock";

  int report[2], control[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(control, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    ::close(control[1]);
    RunServer(uid, path, report[1], control[0]);
  }
  ::close(report[1]);
  ::close(control[0]);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      int status;
      if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
    }
  } reaper{child};

  const std::string ready = ReadLine(report[0], milliseconds(20000));
  if (ready.rfind("skip ", 0) == 0) GTEST_SKIP() << ready;
  ASSERT_EQ(ready, "ready");

  // Connect until the server runs out of threads.
  std::vector<std::shared_ptr<grpc::Channel>> served;
  grpc::Status refused;
  for (int i = 0; i < 16 && refused.ok(); ++i) {
    auto channel = Channel(path, uid);
    grpc::Status s = EchoProbe(channel, "hello " + std::to_string(i));
    if (s.ok()) {
      served.push_back(channel);
    } else {
      refused = s;
    }
  }
  std::printf("served %zu connections, then: %s (%d)\n", served.size(),
              refused.error_message().c_str(), refused.error_code());
  ASSERT_FALSE(served.empty());
  ASSERT_FALSE(refused.ok()) << "threads never ran out";
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.error_message();

  // The server is alive, and the connections it has keep working.
  int status;
  ASSERT_EQ(::waitpid(child, &status, WNOHANG), 0) << "the server died";
  for (int round = 0; round < 3; ++round) {
    for (auto& channel : served) {
      const grpc::Status s = EchoProbe(channel, "still");
      EXPECT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(GetChannelPath(channel), ChannelPath::kSharedMemory);
    }
  }

  // Past the refusal period, with still no thread to be had, a new client is
  // admitted, finds its connection closed at once, and fails cleanly too.
  std::this_thread::sleep_for(milliseconds(1200));
  auto closed = Channel(path, uid);
  const grpc::Status closed_status = EchoProbe(closed, "no thread");
  std::printf("after the refusal period: %s (%d)\n",
              closed_status.error_message().c_str(),
              closed_status.error_code());
  EXPECT_EQ(closed_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(::waitpid(child, &status, WNOHANG), 0) << "the server died";
  for (auto& channel : served) EXPECT_TRUE(EchoProbe(channel, "still").ok());

  // Once connections go away and their threads exit, new clients get in.
  served.resize(1);
  bool admitted = false;
  auto late = Channel(path, uid);
  for (int i = 0; i < 200 && !admitted; ++i) {
    admitted = EchoProbe(late, "late").ok();
    if (!admitted) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(admitted) << DescribeChannelPath(late);
  EXPECT_TRUE(EchoProbe(served[0], "first").ok());

  ASSERT_EQ(::write(control[1], "q", 1), 1);
  const std::string stats = ReadLine(report[0], milliseconds(20000));
  std::printf("server %s\n", stats.c_str());
  EXPECT_EQ(stats.rfind("stats thread_failures=", 0), 0u) << stats;
  EXPECT_EQ(stats.find("thread_failures=0 "), std::string::npos) << stats;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  reaper.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::close(report[0]);
  ::close(control[1]);
}

}  // namespace
}  // namespace shmrpc::testing
