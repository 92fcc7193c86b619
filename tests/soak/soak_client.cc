// One client process of the concurrency soak (soak_test.cc). Usage:
//
//   soak_client --target=T --threads=N --seconds=S --seed=K
//
// N threads call EchoService.Echo on one channel made with shmrpc's
// credentials for S seconds, each call in one of four styles (generated
// stub blocking / callback, gRPC stub blocking / callback), with a payload
// of a random size from 0 to 300 KB that starts with a unique call id and
// carries a checksum. Some calls are cancelled from another thread while the
// handler sleeps, and some have a deadline shorter than the handler's sleep.
// Every call is checked:
//
//   plain      OK over shared memory, the payload and checksum echoed exactly
//              (a response belonging to another call, a duplicate or a
//              corrupted one cannot match), within kSlowCall
//   cancelled  CANCELLED, within kLate of the TryCancel()
//   deadline   DEADLINE_EXCEEDED, within kLate of the deadline
//
// Prints one line "calls=... ok=... cancelled=... deadline=... failures=...
// slowest_ms=..." and exits 0 if nothing failed.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "shmrpc/shmrpc.h"
#include "tests/rpc/echo_service.h"

namespace shmrpc::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Bounds, generous for a loaded 2-core machine (the slowest call measured
// there: 50-110 ms, under ASan too), yet below the defects they catch:
// a completion thread that slept out its one-second linger, a cancellation
// that took effect only then (~800 ms), lost wake-ups (forever).
constexpr milliseconds kSlowCall{750};
constexpr milliseconds kLate{750};
// The handler's sleep for calls that are cancelled or time out.
constexpr int kSleepMs = 2000;

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

enum class Style { kStub, kStubCallback, kCreds, kCredsCallback };
enum class Kind { kPlain, kCancelled, kDeadline };

struct Totals {
  std::atomic<int64_t> calls{0}, ok{0}, cancelled{0}, deadline{0};
  std::atomic<int64_t> failures{0};
  std::atomic<int64_t> slowest_ms{0};
};

class Soak {
 public:
  Soak(const std::string& target, uint32_t seed)
      : channel_(grpc::CreateChannel(
            target, ShmChannelCredentials(grpc::InsecureChannelCredentials()))),
        stub_(ShmEchoService::NewStub(channel_)),
        grpc_stub_(EchoService::NewStub(channel_)),
        seed_(seed) {}

  void Thread(int index, Clock::time_point end, Totals* totals) {
    std::mt19937 rng(seed_ * 7919 + index);
    const size_t sizes[] = {0,    1,    24,    60,    100,
                            1000, 4096, 20000, 65536, 300000};
    for (uint64_t seq = 0; Clock::now() < end; ++seq) {
      const Style style = static_cast<Style>(rng() % 4);
      const uint32_t dice = rng() % 10;
      const Kind kind = dice == 0   ? Kind::kCancelled
                        : dice == 1 ? Kind::kDeadline
                                    : Kind::kPlain;
      // A unique id first, then random bytes.
      std::string payload = "soak " + std::to_string(::getpid()) + "/" +
                            std::to_string(index) + "/" + std::to_string(seq);
      const size_t size = std::max(payload.size(), sizes[rng() % 10]);
      while (payload.size() < size) payload.push_back(static_cast<char>(rng()));
      EchoRequest request;
      request.set_checksum(PayloadChecksum(payload));
      request.set_payload(payload);
      grpc::ClientContext context;
      Clock::time_point expected_end;
      std::thread canceller;
      if (kind == Kind::kCancelled) {
        request.set_sleep_ms(kSleepMs);
        const milliseconds after(1 + rng() % 20);
        canceller = std::thread([&context, after] {
          std::this_thread::sleep_for(after);
          context.TryCancel();
        });
        expected_end = Clock::now() + after;
      } else if (kind == Kind::kDeadline) {
        request.set_sleep_ms(kSleepMs);
        const milliseconds timeout(5 + rng() % 30);
        context.set_deadline(std::chrono::system_clock::now() + timeout);
        expected_end = Clock::now() + timeout;
      } else {
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(30));
      }
      const Clock::time_point start = Clock::now();
      EchoResponse response;
      const grpc::Status status = Call(style, &context, request, &response);
      const Clock::time_point done = Clock::now();
      if (canceller.joinable()) canceller.join();

      totals->calls.fetch_add(1);
      const int64_t ms =
          std::chrono::duration_cast<milliseconds>(done - start).count();
      std::string problem;
      switch (kind) {
        case Kind::kPlain:
          if (!status.ok()) {
            problem = "status " + std::to_string(status.error_code()) + " " +
                      status.error_message();
          } else if (response.payload() != payload ||
                     response.checksum() != request.checksum()) {
            problem = "payload or checksum differs (lost/duplicated/corrupt)";
          } else if (!response.shared_memory()) {
            problem = "not over shared memory";
          } else if (done - start > kSlowCall) {
            problem = "slow: " + std::to_string(ms) + " ms";
          } else {
            totals->ok.fetch_add(1);
          }
          if (ms > totals->slowest_ms.load()) totals->slowest_ms.store(ms);
          break;
        case Kind::kCancelled:
          if (status.error_code() != grpc::StatusCode::CANCELLED) {
            problem = "cancelled call ended with " +
                      std::to_string(status.error_code());
          } else if (done > expected_end + kLate) {
            problem = "cancellation took effect late";
          } else {
            totals->cancelled.fetch_add(1);
          }
          break;
        case Kind::kDeadline:
          if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
            problem = "call past its deadline ended with " +
                      std::to_string(status.error_code());
          } else if (done > expected_end + kLate) {
            problem = "deadline took effect late";
          } else {
            totals->deadline.fetch_add(1);
          }
          break;
      }
      if (!problem.empty()) {
        totals->failures.fetch_add(1);
        std::fprintf(stderr,
                     "soak_client %d thread %d call %llu (style %d): %s\n",
                     ::getpid(), index, static_cast<unsigned long long>(seq),
                     static_cast<int>(style), problem.c_str());
      }
    }
  }

 private:
  grpc::Status Call(Style style, grpc::ClientContext* context,
                    const EchoRequest& request, EchoResponse* response) {
    switch (style) {
      case Style::kStub:
        return stub_->Echo(context, request, response);
      case Style::kCreds:
        return grpc_stub_->Echo(context, request, response);
      case Style::kStubCallback:
      case Style::kCredsCallback: {
        std::mutex mu;
        std::condition_variable cv;
        bool finished = false;
        grpc::Status result;
        auto on_done = [&](grpc::Status s) {
          std::lock_guard<std::mutex> lock(mu);
          result = std::move(s);
          finished = true;
          cv.notify_one();
        };
        if (style == Style::kStubCallback) {
          stub_->async()->Echo(context, &request, response, on_done);
        } else {
          grpc_stub_->async()->Echo(context, &request, response, on_done);
        }
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return finished; });
        return result;
      }
    }
    return grpc::Status(grpc::StatusCode::INTERNAL, "bad style");
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ShmEchoService::Stub> stub_;
  std::unique_ptr<EchoService::Stub> grpc_stub_;
  const uint32_t seed_;
};

int Main(int argc, char** argv) {
  const std::string target = Flag(argc, argv, "target", "");
  const int threads = std::atoi(Flag(argc, argv, "threads", "8").c_str());
  const int seconds = std::atoi(Flag(argc, argv, "seconds", "10").c_str());
  const uint32_t seed = static_cast<uint32_t>(
      std::strtoul(Flag(argc, argv, "seed", "1").c_str(), nullptr, 10));
  if (target.empty() || threads < 1 || seconds < 1) {
    std::fprintf(stderr,
                 "usage: soak_client --target=T --threads=N "
                 "--seconds=S [--seed=K]\n");
    return 2;
  }
  Soak soak(target, seed);
  Totals totals;
  const Clock::time_point end = Clock::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] { soak.Thread(t, end, &totals); });
  }
  for (std::thread& w : workers) w.join();
  std::printf(
      "calls=%lld ok=%lld cancelled=%lld deadline=%lld failures=%lld "
      "slowest_ms=%lld\n",
      static_cast<long long>(totals.calls.load()),
      static_cast<long long>(totals.ok.load()),
      static_cast<long long>(totals.cancelled.load()),
      static_cast<long long>(totals.deadline.load()),
      static_cast<long long>(totals.failures.load()),
      static_cast<long long>(totals.slowest_ms.load()));
  std::fflush(stdout);
  return totals.failures.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
