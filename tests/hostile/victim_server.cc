// The server process that the hostile-peer and fault-matrix tests attack: an
// ordinary shmrpc server (next to a gRPC server on the same port, as users
// run it) serving EchoService, which reports what a test cannot read from
// /proc. Usage:
//
//   victim_server [--port=N] [--max-threads=N] [--handshake-timeout-ms=N]
//                 [--spare-fds=N] [--monitor-ms=N]
//
// Prints, one line each, flushed:
//   pid P                          first, before anything else
//   ready PORT ENDPOINT_PATH       once both servers listen
//   stats live=L threads=T accepted=A t=NS
//                                  whenever Server::stats() live connections
//                                  or serving threads change (polled every
//                                  --monitor-ms, default 1); t is
//                                  CLOCK_MONOTONIC in ns,
//                                  comparable with steady_clock in the test
//   handler start t=NS             an Echo call with sleep_ms > 0 started
//   handler end cancelled=C t=NS   ... and ended; C is whether its handler
//                                  saw ServerContext::IsCancelled()
//
// --spare-fds=N: once listening, lowers RLIMIT_NOFILE so that only N more
// file descriptors can be opened (for the fd-exhaustion scenario).
// SIGTERM: graceful shutdown, exit 0.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "shmrpc/shmrpc.h"
#include "tests/rpc/echo_service.h"

namespace shmrpc::testing {
namespace {

std::mutex g_print_mu;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename... Args>
void Print(const char* format, Args... args) {
  std::lock_guard<std::mutex> lock(g_print_mu);
  std::printf(format, args...);
  std::fflush(stdout);
}

std::string Flag(int argc, char** argv, const std::string& name,
                 const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return fallback;
}

// EchoService as the tests' EchoServiceImpl serves it, reporting when a
// sleeping call starts and ends.
class ReportingEcho final : public ShmEchoService::Service {
 public:
  grpc::Status Echo(ServerContext* context, const EchoRequest* request,
                    EchoResponse* response) override {
    const bool report = request->sleep_ms() > 0;
    if (report) Print("handler start t=%lld\n", (long long)NowNs());
    grpc::Status status = impl_.Echo(context, request, response);
    if (report) {
      Print("handler end cancelled=%d t=%lld\n", context->IsCancelled() ? 1 : 0,
            (long long)NowNs());
    }
    return status;
  }
  grpc::Status LastCall(ServerContext* context, const EchoRequest* request,
                        EchoResponse* response) override {
    return impl_.LastCall(context, request, response);
  }

 private:
  EchoServiceImpl impl_;
};

int Main(int argc, char** argv) {
  Print("pid %d\n", static_cast<int>(::getpid()));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  int port = std::atoi(Flag(argc, argv, "port", "0").c_str());
  ReportingEcho service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || port == 0) {
    std::fprintf(stderr, "victim_server: cannot listen\n");
    return 1;
  }
  ServerOptions options;
  options.max_threads_per_connection =
      std::atoi(Flag(argc, argv, "max-threads", "16").c_str());
  options.handshake_timeout = std::chrono::milliseconds(
      std::atoi(Flag(argc, argv, "handshake-timeout-ms", "1000").c_str()));
  shmrpc::ServerBuilder shm_builder;
  shm_builder.AddListeningAddress("127.0.0.1:" + std::to_string(port))
      .RegisterService(&service)
      .SetOptions(options);
  std::string error;
  std::unique_ptr<shmrpc::Server> server = shm_builder.BuildAndStart(&error);
  if (server == nullptr) {
    std::fprintf(stderr, "victim_server: %s\n", error.c_str());
    return 1;
  }
  const int spare = std::atoi(Flag(argc, argv, "spare-fds", "-1").c_str());
  if (spare >= 0) {
    // Fd numbers are handed out lowest first, so the highest open fd + 1 +
    // spare allows about `spare` more.
    int highest = 0;
    for (int fd = 0; fd < 65536; ++fd) {
      if (::fcntl(fd, F_GETFD) != -1) highest = fd;
    }
    struct rlimit lim;
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = static_cast<rlim_t>(highest + 1 + spare);
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      std::perror("victim_server: setrlimit");
      return 1;
    }
  }

  const auto monitor_interval = std::chrono::milliseconds(
      std::atoi(Flag(argc, argv, "monitor-ms", "1").c_str()));
  std::atomic<bool> stop{false};
  std::thread monitor([&] {
    int live = -1, threads = -1;
    while (!stop.load()) {
      const ServerStats s = server->stats();
      if (s.live_connections != live || s.threads != threads) {
        live = s.live_connections;
        threads = s.threads;
        Print("stats live=%d threads=%d accepted=%llu t=%lld\n", live, threads,
              (unsigned long long)s.connections, (long long)NowNs());
      }
      std::this_thread::sleep_for(monitor_interval);
    }
  });
  Print("ready %d %s\n", port, server->endpoints()[0].c_str());
  int signal;
  sigwait(&set, &signal);
  server->Shutdown();
  grpc_server->Shutdown();
  stop.store(true);
  monitor.join();
  return 0;
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
