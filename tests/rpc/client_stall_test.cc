// Calls made through gRPC's unchanged stub on a channel with shmrpc's
// credentials never stall: with 1, 8 and 32 client threads making small
// unary calls for about two seconds, some call completes at least every
// 100 ms, and TryCancel() ends a call within 100 ms even right after a slow
// call (which is when the connection's completion thread used to sleep its
// whole idle linger, one second, with calls handed to it).
//
// The server is rpc_peer (a separate process serving EchoService over gRPC
// and shared memory).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/echo_service.h"
#include "tests/util/notification.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string g_peer;  // path of rpc_peer, from argv

class ClientStallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
    ::unsetenv(kShmModeEnvVar);
    server_ = std::make_unique<Subprocess>(
        std::vector<std::string>{g_peer, "server"});
    std::optional<std::string> port =
        server_->WaitForPrefix("ready ", milliseconds(20000));
    ASSERT_TRUE(port.has_value()) << "server did not start";
    target_ = "localhost:" + *port;
    ShmChannelOptions options;
    options.mode = ShmMode::kRequired;  // a fallback would hide the defect
    channel_ = grpc::CreateChannel(
        target_,
        ShmChannelCredentials(grpc::InsecureChannelCredentials(), options));
    stub_ = EchoService::NewStub(channel_);
    ASSERT_EQ(ConnectSharedMemory(channel_), ChannelPath::kSharedMemory);
  }
  void TearDown() override { ::unsetenv("SHMRPC_DIR"); }

  TempDir dir_;
  std::unique_ptr<Subprocess> server_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<EchoService::Stub> stub_;
};

// What a closed-loop run measured.
struct LoopResult {
  double calls_per_second = 0;
  milliseconds longest_gap{0};  // longest time no call completed
  int failures = 0;
};

// `threads` threads each make blocking 64 B Echo calls through the gRPC stub
// for `duration`.
LoopResult ClosedLoop(EchoService::Stub* stub, int threads,
                      milliseconds duration) {
  std::vector<std::vector<Clock::time_point>> done(threads);
  std::atomic<int> failures{0};
  const auto start = Clock::now();
  const auto end = start + duration;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      EchoRequest request;
      request.set_payload(std::string(64, static_cast<char>('a' + t % 26)));
      done[t].reserve(1 << 16);
      while (Clock::now() < end) {
        grpc::ClientContext context;
        // Bounded, so that a stall cannot hang the test.
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(20));
        EchoResponse response;
        grpc::Status s = stub->Echo(&context, request, &response);
        if (!s.ok() || response.payload() != request.payload() ||
            !response.shared_memory()) {
          if (failures.fetch_add(1) < 5) {
            std::fprintf(stderr, "call failed: %d %s\n", s.error_code(),
                         s.error_message().c_str());
          }
        }
        done[t].push_back(Clock::now());
      }
    });
  }
  for (auto& w : workers) w.join();
  std::vector<Clock::time_point> all;
  for (auto& d : done) all.insert(all.end(), d.begin(), d.end());
  std::sort(all.begin(), all.end());
  LoopResult run;
  run.failures = failures.load();
  Clock::time_point last = start;
  Clock::duration gap{0};
  for (Clock::time_point t : all) {
    gap = std::max(gap, t - last);
    last = t;
  }
  run.longest_gap = std::chrono::duration_cast<milliseconds>(gap);
  run.calls_per_second =
      all.size() / std::chrono::duration<double>(last - start).count();
  return run;
}

// The defect stalled every thread for about one second, in every run of a
// couple of seconds. On a loaded machine a run may also see a gap from
// scheduling alone: such a run is repeated (up to kAttempts in all), and the
// bound must hold in one of them.
TEST_F(ClientStallTest, NoGapWithoutCompletionsAt1And8And32Threads) {
  constexpr int kAttempts = 5;
  for (int threads : {1, 8, 32}) {
    LoopResult best;
    best.longest_gap = milliseconds::max();
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      const LoopResult run =
          ClosedLoop(stub_.get(), threads, milliseconds(2000));
      std::printf("threads=%d calls/s=%.0f longest_gap_ms=%lld\n", threads,
                  run.calls_per_second,
                  static_cast<long long>(run.longest_gap.count()));
      EXPECT_EQ(run.failures, 0) << threads << " threads";
      if (run.longest_gap < best.longest_gap) best = run;
      if (best.longest_gap < milliseconds(100)) break;
    }
    EXPECT_LT(best.longest_gap.count(), 100)
        << "ms without a completed call in the best of " << kAttempts
        << " runs, " << threads << " threads";
  }
}

// The mechanism behind the stalls, made deterministic: while a slow call
// runs on the server's polling thread, a new request is taken only once the
// client kicks an idle server thread (docs/rpc.md, "Takeover"). A gRPC-stub
// call whose answer does not come within its spin is handed to the
// completion thread; that thread used to sleep out its idle linger without
// kicking, so such a call took most of a second. Now it takes milliseconds.
// Each round uses a new channel (a new connection, with a fresh pair of
// server threads); the median of the rounds is judged, for a loaded
// machine.
TEST_F(ClientStallTest, CallThatNeedsTheTakeoverKickIsNotStalled) {
  constexpr int kRounds = 3;
  std::vector<int64_t> took_us;
  for (int round = 0; round < kRounds; ++round) {
    ShmChannelOptions options;
    options.mode = ShmMode::kRequired;
    auto channel = grpc::CreateChannel(
        target_,
        ShmChannelCredentials(grpc::InsecureChannelCredentials(), options));
    auto stub = EchoService::NewStub(channel);
    // A deferred call, so that the completion thread exists and then idles.
    {
      EchoRequest slow;
      slow.set_sleep_ms(50);
      grpc::ClientContext context;
      EchoResponse response;
      ASSERT_TRUE(stub->Echo(&context, slow, &response).ok());
    }
    // A slow call occupies the server thread that polls for requests.
    grpc::ClientContext slow_context;
    std::thread slow([&] {
      EchoRequest request;
      request.set_sleep_ms(20000);
      EchoResponse response;
      (void)stub->Echo(&slow_context, request, &response);
    });
    std::this_thread::sleep_for(milliseconds(200));
    EchoRequest request;
    request.set_payload(std::string(64, 'k'));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    EchoResponse response;
    const auto start = Clock::now();
    grpc::Status s = stub->Echo(&context, request, &response);
    took_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                          Clock::now() - start)
                          .count());
    std::printf("call during a slow call took %lld us\n",
                static_cast<long long>(took_us.back()));
    EXPECT_TRUE(s.ok()) << s.error_message();
    slow_context.TryCancel();
    slow.join();
  }
  std::sort(took_us.begin(), took_us.end());
  EXPECT_LT(took_us[kRounds / 2], 100'000)
      << "median microseconds of a call during a slow call";
}

// A call that waits long enough to be handed to the completion thread, then
// a call that is cancelled: the cancellation takes effect at once. The
// defect delayed it by most of a second in every round; the median of the
// rounds is judged, so that a round delayed by a loaded machine alone does
// not fail the test.
void CancelAfterSlowCall(EchoService::Stub* stub, bool callback_api) {
  constexpr int kRounds = 5;
  std::vector<int64_t> latencies_us;
  for (int round = 0; round < kRounds; ++round) {
    {
      EchoRequest slow;
      slow.set_sleep_ms(50);
      grpc::ClientContext context;
      EchoResponse response;
      ASSERT_TRUE(stub->Echo(&context, slow, &response).ok());
    }
    EchoRequest request;
    request.set_sleep_ms(5000);
    grpc::ClientContext context;  // no deadline
    EchoResponse response;
    grpc::Status status;
    Notification done;
    std::atomic<int64_t> ended_ns{0};
    auto finish = [&](grpc::Status s) {
      ended_ns.store(Clock::now().time_since_epoch().count());
      status = std::move(s);
      done.Notify();
    };
    std::thread caller;
    if (callback_api) {
      stub->async()->Echo(&context, &request, &response, finish);
    } else {
      caller = std::thread(
          [&] { finish(stub->Echo(&context, request, &response)); });
    }
    std::this_thread::sleep_for(milliseconds(150));
    const auto cancelled = Clock::now();
    context.TryCancel();
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(milliseconds(10000)));
    if (caller.joinable()) caller.join();
    const auto latency =
        Clock::time_point(Clock::duration(ended_ns.load())) - cancelled;
    latencies_us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
    std::printf("cancel latency %lld us\n",
                static_cast<long long>(latencies_us.back()));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED)
        << status.error_message();
    // Every round: a bound far above what a loaded machine adds.
    EXPECT_LT(latencies_us.back(), 2'000'000) << "round " << round;
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  EXPECT_LT(latencies_us[kRounds / 2], 100'000)
      << "median microseconds from TryCancel() to the call's end";
}

TEST_F(ClientStallTest, TryCancelAfterSlowCallTakesEffectAtOnce) {
  CancelAfterSlowCall(stub_.get(), /*callback_api=*/false);
}

TEST_F(ClientStallTest, TryCancelAfterSlowCallTakesEffectAtOnceCallbackApi) {
  CancelAfterSlowCall(stub_.get(), /*callback_api=*/true);
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH_TO_RPC_PEER\n", argv[0]);
    return 2;
  }
  shmrpc::testing::g_peer = argv[1];
  return RUN_ALL_TESTS();
}
