// Hostile clients against a real shmrpc server process. Each test starts a
// victim_server, connects an honest client (both stubs on one channel with
// ShmChannelCredentials, shared memory required), takes the server's
// baseline from /proc, then runs one hostile_client scenario (see
// hostile_client.cc) while honest calls keep going in the background, and
// asserts:
//
//   - the server process is alive;
//   - every honest call, on the existing channel and (where the scenario
//     leaves the server the means to accept one) on brand-new channels, got
//     the right answer over shared memory within its 2 s deadline, during
//     and after the attack;
//   - the scenario's own checks of the server's answers passed (its exit
//     status);
//   - once the hostile process is gone, the server's fds, live connections
//     and serving threads return exactly to the baseline, its threads within
//     a small slack, and VmRSS within RssSlackKib().
//
// Scenario-specific checks: no spinning while the server is out of fds, peak
// RSS while it is sent oversized requests, and handlers seeing their calls
// cancelled when the hostile process is killed.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/hostile/proc_stats.h"
#include "tests/hostile/victim.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string g_victim;   // path of victim_server
std::string g_hostile;  // path of hostile_client

struct Scenario {
  std::string name;  // hostile_client --scenario
  int ms = 1500;     // hostile_client --ms
  std::vector<std::string> server_flags;
  // Also probe with brand-new channels during the attack.
  bool fresh_probes = true;
  // The hostile process prints "holding" and waits; the test then checks
  // what it must and kills it with SIGKILL.
  bool kill_when_holding = false;
  // kill_when_holding: sleeping handlers to see start before the kill, and
  // to see cancelled after it.
  int handlers = 0;
  // kill_when_holding: over one second of holding (honest calls paused), no
  // server thread may be runnable (on a CPU or waiting for one: a spinning
  // thread always is, however loaded the machine) more than this fraction
  // of the time.
  double max_runnable_share = -1;
  // The server's peak RSS (VmHWM) during the attack must stay below the
  // baseline RSS plus this (KiB); <0: not checked.
  int64_t max_peak_growth_kib = -1;
  // The server runs out of file descriptors.
  bool out_of_fds = false;
};

// gtest prints a failing test's parameter: its name, not its bytes.
void PrintTo(const Scenario& s, std::ostream* os) { *os << s.name; }

std::string ScenarioName(const ::testing::TestParamInfo<Scenario>& info) {
  std::string n = info.param.name;
  for (char& c : n) {
    if (c == '-') c = '_';
  }
  return n;
}

class HostileClientTest : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
    ::unsetenv(kShmModeEnvVar);
  }
  void TearDown() override { ::unsetenv("SHMRPC_DIR"); }

  TempDir dir_;
};

TEST_P(HostileClientTest, ServerSurvivesAndRecovers) {
  const Scenario& sc = GetParam();
#if defined(SHMRPC_TEST_UBSAN)
  if (sc.out_of_fds) {
    // UBSan's runtime checks a vptr by copying the vtable through a pipe it
    // opens for the purpose (sanitizer_common's IsAccessibleMemoryRange), and
    // reads its suppressions lazily, on the first report: in a process out
    // of fds every virtual call's check fails as "invalid vptr" and cannot
    // be suppressed. The scenario runs in the plain and ASan builds.
    GTEST_SKIP() << "UBSan cannot run in a process that is out of fds";
  }
#endif
  VictimProcess victim(g_victim, sc.server_flags);
  ASSERT_TRUE(victim.ready()) << victim.output();

  HonestClient honest(victim.target());
  for (int i = 0; i < 6; ++i) {
    const ProbeResult r = honest.Probe(i);
    ASSERT_TRUE(r.ok) << "before the attack: " << r.error;
  }
  const Baseline base = TakeBaseline(victim);
  std::printf("[%s] baseline: %s live=%d serving_threads=%d\n", sc.name.c_str(),
              base.proc.ToString().c_str(), base.shm.live, base.shm.threads);

  auto prober =
      std::make_unique<Prober>(&honest, victim.target(), sc.fresh_probes);
  Subprocess hostile({g_hostile, "--endpoint=" + victim.endpoint(),
                      "--scenario=" + sc.name,
                      "--ms=" + std::to_string(sc.ms)});
  if (sc.kill_when_holding) {
    ASSERT_TRUE(hostile.WaitForPrefix("holding", milliseconds(30000)))
        << hostile.output();
    if (sc.handlers > 0) {
      EXPECT_TRUE(victim.WaitForHandlers(sc.handlers, 0, milliseconds(10000)))
          << victim.output();
    }
    if (sc.max_runnable_share >= 0) {
      // One second without honest calls: what the server does now, it does
      // on its own.
      prober->Pause(true);
      std::this_thread::sleep_for(milliseconds(100));
      const int64_t ticks = ReadCpuTicks(victim.pid());
      const std::map<pid_t, int64_t> before = ReadRunnableNs(victim.pid());
      const auto start = steady_clock::now();
      std::this_thread::sleep_for(milliseconds(1000));
      const std::map<pid_t, int64_t> after = ReadRunnableNs(victim.pid());
      const double seconds =
          std::chrono::duration<double>(steady_clock::now() - start).count();
      prober->Pause(false);
      const double cpu =
          static_cast<double>(ReadCpuTicks(victim.pid()) - ticks) /
          TicksPerSecond() / seconds;
      double busiest = 0;
      for (const auto& [tid, ns] : after) {
        auto it = before.find(tid);
        if (it == before.end()) continue;
        busiest = std::max(busiest, (ns - it->second) / 1e9 / seconds);
      }
      std::printf(
          "[%s] server while holding: %.2f of a core used; its "
          "busiest thread runnable %.2f of the time\n",
          sc.name.c_str(), cpu, busiest);
      EXPECT_LT(busiest, sc.max_runnable_share)
          << "a server thread spins while the hostile peer holds it (" << cpu
          << " of a core used)";
    }
    const int64_t killed = MonotonicNs();
    hostile.Kill(SIGKILL);
    EXPECT_EQ(hostile.ExitCode(milliseconds(10000)), -SIGKILL);
    if (sc.handlers > 0) {
      const bool ended =
          victim.WaitForHandlers(sc.handlers, sc.handlers, milliseconds(5000));
      EXPECT_TRUE(ended) << "handlers still running 5 s after their client "
                            "was killed:\n"
                         << victim.output();
      int64_t last = 0;
      for (const HandlerEvent& e : victim.handler_events()) {
        if (e.start) continue;
        EXPECT_TRUE(e.cancelled) << "a handler ended without seeing its "
                                    "call cancelled";
        last = std::max(last, e.t_ns);
      }
      if (ended) {
        std::printf(
            "[%s] all %d handlers saw the cancellation %.1f ms after "
            "the kill\n",
            sc.name.c_str(), sc.handlers, (last - killed) / 1e6);
      }
    }
  } else {
    const int code = hostile.ExitCode(milliseconds(sc.ms + 40000));
    hostile.ReadToEnd(milliseconds(100));
    EXPECT_EQ(code, 0) << "the hostile client's own checks of the server's "
                          "answers (FAIL lines):\n"
                       << hostile.output();
  }
  std::printf("[%s] hostile client said:\n%s", sc.name.c_str(),
              hostile.ReadToEnd(milliseconds(100)).c_str());

  // Honest calls go on for a moment after the attack.
  std::this_thread::sleep_for(milliseconds(300));
  prober->Stop();
  ASSERT_TRUE(victim.alive()) << "the server died:\n" << victim.output();
  std::printf("[%s] honest probes: %d, slowest %lld ms\n", sc.name.c_str(),
              prober->probes(),
              static_cast<long long>(prober->max_latency().count()));
  EXPECT_GE(prober->probes(), 5);
  EXPECT_EQ(prober->failures(), 0) << prober->failure_log();
  prober.reset();

  if (sc.max_peak_growth_kib >= 0) {
    const int64_t peak = ReadHwmKib(victim.pid());
    std::printf("[%s] server peak RSS %lld KiB (baseline RSS %lld KiB)\n",
                sc.name.c_str(), static_cast<long long>(peak),
                static_cast<long long>(base.proc.rss_kib));
    EXPECT_LT(peak - base.proc.rss_kib, sc.max_peak_growth_kib)
        << "the server's memory grew with what the hostile peer sent";
  }

  // After the attack: honest calls on the old channel and on a new one.
  for (int i = 0; i < 4; ++i) {
    const ProbeResult r = honest.Probe(i);
    EXPECT_TRUE(r.ok) << "after the attack: " << r.error;
  }
  {
    HonestClient fresh(victim.target());
    const ProbeResult r = fresh.Probe(1);
    EXPECT_TRUE(r.ok) << "after the attack, new channel: " << r.error;
  }

  const auto start = steady_clock::now();
  const std::string off = WaitForBaseline(victim, base, /*thread_slack=*/3,
                                          RssSlackKib(), milliseconds(10000));
  const ProcStats now = ReadProcStats(victim.pid());
  std::printf("[%s] after: %s live=%d serving_threads=%d (%lld ms to settle)\n",
              sc.name.c_str(), now.ToString().c_str(), victim.stats().live,
              victim.stats().threads,
              static_cast<long long>(std::chrono::duration_cast<milliseconds>(
                                         steady_clock::now() - start)
                                         .count()));
  EXPECT_EQ(off, "") << "the server did not return to its baseline";
  EXPECT_TRUE(victim.alive());
}

Scenario Make(std::string name) {
  Scenario s;
  s.name = std::move(name);
  return s;
}

std::vector<Scenario> Scenarios() {
  std::vector<Scenario> all;
  for (const char* s :
       {"scribble-header", "scribble-heads", "scribble-bells",
        "scribble-notify", "scribble-entries", "scribble-all"}) {
    all.push_back(Make(s));
  }
  all.push_back(Make("bad-descriptors"));
  all.push_back(Make("bogus-returns"));
  {
    Scenario s = Make("never-return");
    s.ms = 2500;
    all.push_back(s);
  }
  all.push_back(Make("flood"));
  {
    Scenario s = Make("many-connections");
    s.ms = 1500;
    all.push_back(s);
  }
  {
    // Keeps the server's pending handshakes full for 3 s: new honest
    // channels must still get in.
    Scenario s = Make("silent-handshakes");
    s.ms = 3000;
    all.push_back(s);
  }
  {
    // The server may open only 40 more fds. While it is out of them it must
    // not spin, and existing connections keep working; new channels cannot
    // get in until the hostile peer lets go, so they are not probed.
    Scenario s = Make("fd-exhaustion");
    s.ms = 60000;
    s.fresh_probes = false;
    s.kill_when_holding = true;
    s.max_runnable_share = 0.5;
    s.server_flags = {"--spare-fds=40", "--monitor-ms=20"};
    s.out_of_fds = true;
    all.push_back(s);
  }
  all.push_back(Make("rewrite-request"));
  all.push_back(Make("huge-length"));
  {
    Scenario s = Make("oversized");
    s.max_peak_growth_kib = 64 * 1024;
    all.push_back(s);
  }
  all.push_back(Make("bad-hello"));
  {
    Scenario s = Make("die-mid-call");
    s.ms = 60000;
    s.kill_when_holding = true;
    s.handlers = 6;
    all.push_back(s);
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, HostileClientTest,
                         ::testing::ValuesIn(Scenarios()), ScenarioName);

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  shmrpc::testing::LimitSanitizerMemoryOfChildren();
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s VICTIM_SERVER HOSTILE_CLIENT\n", argv[0]);
    return 2;
  }
  shmrpc::testing::g_victim = argv[1];
  shmrpc::testing::g_hostile = argv[2];
  return RUN_ALL_TESTS();
}
