// Test-side harness shared by the hostile-peer and fault-matrix tests:
//
//   VictimProcess   runs victim_server, reads what it reports (pid, port,
//                   endpoint, Server::stats() changes, sleeping handlers
//                   starting and ending) on a reader thread
//   HonestClient    one channel with ShmChannelCredentials (shared memory
//                   required), both the generated stub and gRPC's stub
//   Prober          honest calls in the background while a test attacks:
//                   every answer checked, every latency recorded
//   Baseline        the victim's fds, threads and memory before an attack,
//                   and a bounded wait for them to come back afterwards
#ifndef SHMRPC_TESTS_HOSTILE_VICTIM_H_
#define SHMRPC_TESTS_HOSTILE_VICTIM_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proto/echo.shmrpc.h"
#include "shmrpc/shmrpc.h"
#include "tests/hostile/proc_stats.h"
#include "tests/util/sanitizer_memory.h"  // IWYU pragma: export
#include "tests/util/subprocess.h"

namespace shmrpc::testing {

// steady_clock (CLOCK_MONOTONIC) in ns: comparable with the victim's "t=".
int64_t MonotonicNs();

// One "stats" line of the victim. Plain value.
struct VictimStats {
  int live = -1;     // Server::stats().live_connections
  int threads = -1;  // Server::stats().threads
  uint64_t accepted = 0;
  int64_t t_ns = 0;  // when the victim saw the change
};

// One "handler start/end" line. Plain value.
struct HandlerEvent {
  bool start = false;
  bool cancelled = false;  // end only
  int64_t t_ns = 0;
};

// A running victim_server. Thread-safe.
class VictimProcess {
 public:
  // Starts `binary` with `flags` and waits (up to 20 s) until it listens;
  // check ready().
  VictimProcess(const std::string& binary, std::vector<std::string> flags);
  // Kills it (SIGKILL) if it still runs.
  ~VictimProcess();
  VictimProcess(const VictimProcess&) = delete;
  VictimProcess& operator=(const VictimProcess&) = delete;

  // True once it listens (and said which pid it runs as).
  bool ready() const { return port_ > 0 && printed_pid_ == process_->pid(); }
  // The pid the server printed (the one whose /proc entries tests read).
  pid_t pid() const { return printed_pid_; }
  int port() const { return port_; }
  const std::string& endpoint() const { return endpoint_; }
  // The address it listens on (see ProbeServer::target).
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

  // The latest stats line.
  VictimStats stats() const;
  // Waits until `pred` holds for the latest stats line; returns that line
  // (check with `pred` again to tell a timeout).
  VictimStats WaitForStats(const std::function<bool(const VictimStats&)>& pred,
                           std::chrono::milliseconds timeout) const;
  // The first stats line at or after `since_ns` for which `pred` holds, if
  // one arrived (waits up to `timeout` for it).
  std::optional<VictimStats> FirstStatsAfter(
      int64_t since_ns, const std::function<bool(const VictimStats&)>& pred,
      std::chrono::milliseconds timeout) const;

  std::vector<HandlerEvent> handler_events() const;
  // Waits until at least `starts` handler starts and `ends` handler ends
  // have been reported.
  bool WaitForHandlers(int starts, int ends,
                       std::chrono::milliseconds timeout) const;

  // Everything the victim printed so far.
  std::string output() const;

  // Sends `signal`; returns MonotonicNs() just before.
  int64_t Kill(int signal);
  // Waits for the process to exit; see Subprocess::ExitCode. Not
  // thread-safe (call from one thread).
  int ExitCode(std::chrono::milliseconds timeout);
  // True while the process runs.
  bool alive() const;

 private:
  void ReadLines();

  std::unique_ptr<Subprocess> process_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> exited_{false};
  // Reaped by ExitCode() (Subprocess::Wait must not be called again then:
  // it would wait out its timeout).
  bool reaped_ = false;
  int exit_code_ = -1;
  int port_ = 0;
  pid_t printed_pid_ = -1;
  std::string endpoint_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string output_;
  std::vector<VictimStats> stats_;
  std::vector<HandlerEvent> handlers_;
};

// Options for honest channels: shared memory required (a call that cannot
// use it fails instead of quietly using gRPC), fast reconnection.
ShmChannelOptions HonestOptions();

// What one honest call got. Plain value.
struct ProbeResult {
  bool ok = false;
  std::string error;  // why not ok
  std::chrono::milliseconds took{0};
};

// One channel and both stubs. Thread-safe.
class HonestClient {
 public:
  explicit HonestClient(const std::string& target,
                        const ShmChannelOptions& options = HonestOptions());

  // Echo with a checksummed payload (64 B, 4 KiB or 100 KiB by `i`), through
  // the generated stub for even `i` and gRPC's stub for odd `i`, with
  // `deadline`. ok only if the status is OK, the payload and checksum come
  // back intact, and the call went over shared memory.
  ProbeResult Probe(int i, std::chrono::milliseconds deadline =
                               std::chrono::milliseconds(2000));

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  ShmEchoService::Stub& stub() { return *stub_; }
  EchoService::Stub& grpc_stub() { return *grpc_stub_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ShmEchoService::Stub> stub_;
  std::unique_ptr<EchoService::Stub> grpc_stub_;
};

// Honest calls every ~10 ms on a background thread until Stop(): on
// `persistent`, and (if `fresh`) every fifth one on a brand-new channel to
// `target`, which needs a new connection and handshake (those get `deadline`
// for connecting and a second more for the call). A call fails if its
// answer is wrong, not over shared memory, or it ends more than 500 ms after
// its deadline. Thread-safe.
class Prober {
 public:
  Prober(HonestClient* persistent, std::string target, bool fresh,
         std::chrono::milliseconds deadline = std::chrono::milliseconds(2000));
  ~Prober();

  void Stop();
  // While paused, no calls are made.
  void Pause(bool paused) { paused_.store(paused); }

  int probes() const;
  int failures() const;
  std::chrono::milliseconds max_latency() const;
  // The first failures, one per line.
  std::string failure_log() const;

 private:
  HonestClient* const persistent_;
  const std::string target_;
  const bool fresh_;
  const std::chrono::milliseconds deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  mutable std::mutex mu_;
  int probes_ = 0;
  int failures_ = 0;
  std::chrono::milliseconds max_latency_{0};
  std::string log_;
  std::thread thread_;
};

// The victim's resource use at rest. Plain value.
struct Baseline {
  ProcStats proc;
  VictimStats shm;
};

// Waits (up to 5 s) until the victim's fds and threads hold still for
// 300 ms, and returns them.
Baseline TakeBaseline(const VictimProcess& victim);

// Waits up to `timeout` until the victim is back at `base`: no more fds and
// no more shmrpc memfd mappings (a connection's segments, with every chunk
// in them, are unmapped once it is gone), the same live connections, at most
// one more serving thread (a spare that has not retired yet), at most
// `thread_slack` more threads in all, and VmRSS at most `rss_slack_kib` above.
// Returns an empty string on success, else what is still off.
std::string WaitForBaseline(const VictimProcess& victim, const Baseline& base,
                            int thread_slack, int64_t rss_slack_kib,
                            std::chrono::milliseconds timeout);

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_HOSTILE_VICTIM_H_
