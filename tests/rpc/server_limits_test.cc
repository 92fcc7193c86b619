// gRPC's size limits on the shmrpc server, from another process: the
// receive limit (4 MiB by default, configurable), the send limit (unlimited
// by default, configurable) and the metadata limit, with gRPC's codes and
// wording, over both client stubs; and against a hostile client that crafts
// its own frames: lengths beyond INT_MAX, unparsable messages just above the
// limit, and a flood of 32 MiB requests, none of which the server parses or
// lets grow its memory.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/probe_service.h"
#include "tests/rpc/probe_testing.h"
#include "tests/util/sanitizer_memory.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

constexpr char kCallMethod[] = "/shmrpc.testing.Probe/Call";

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
    ::unsetenv(kShmModeEnvVar);
  }
  void TearDown() override { ::unsetenv("SHMRPC_DIR"); }

  void Start(std::vector<std::string> flags = {}) {
    server_ = std::make_unique<ProbeServer>(std::move(flags));
    ASSERT_NE(server_->port(), 0) << "server did not start";
    ShmChannelOptions required;
    required.mode = ShmMode::kRequired;
    shm_channel_ = grpc::CreateChannel(
        server_->target(),
        ShmChannelCredentials(grpc::InsecureChannelCredentials(), required));
    // Plain gRPC to the same server, for comparison.
    grpc_channel_ = grpc::CreateChannel(server_->target(),
                                        grpc::InsecureChannelCredentials());
  }

  // One Call through the generated stub (`generated`) or gRPC's stub on the
  // shared-memory channel, or (`over_grpc`) through gRPC.
  grpc::Status Call(const ProbeRequest& request, ProbeResponse* response,
                    bool generated, bool over_grpc = false,
                    const std::string& metadata_value = "") {
    grpc::ClientContext context;
    context.set_deadline(system_clock::now() + std::chrono::seconds(30));
    if (!metadata_value.empty()) context.AddMetadata("x-big", metadata_value);
    const auto& channel = over_grpc ? grpc_channel_ : shm_channel_;
    if (generated) {
      return ShmProbe::NewStub(channel)->Call(&context, request, response);
    }
    return Probe::NewStub(channel)->Call(&context, request, response);
  }

  int64_t HandlerCalls() {
    auto stub = ShmProbe::NewStub(shm_channel_);
    grpc::ClientContext context;
    Report report;
    EXPECT_TRUE(stub->GetReport(&context, ReportRequest(), &report).ok());
    return report.calls();
  }

  TempDir dir_;
  std::unique_ptr<ProbeServer> server_;
  std::shared_ptr<grpc::Channel> shm_channel_;
  std::shared_ptr<grpc::Channel> grpc_channel_;
};

// A request whose serialized size is exactly `size` (>= 2^21 + 5).
ProbeRequest RequestOfSize(size_t size) {
  ProbeRequest request;
  request.set_payload(std::string(size - 5, 'p'));  // tag + 4-byte length
  EXPECT_EQ(request.ByteSizeLong(), size);
  return request;
}

TEST_F(LimitsTest, DefaultReceiveLimitIsFourMiBAsInGrpc) {
  Start();
  const size_t limit = 4 << 20;
  for (bool generated : {true, false}) {
    SCOPED_TRACE(generated ? "generated stub" : "gRPC stub");
    ProbeResponse response;
    grpc::Status at = Call(RequestOfSize(limit), &response, generated);
    EXPECT_TRUE(at.ok()) << at.error_message();
    EXPECT_EQ(response.payload().size(), limit - 5);

    const int64_t calls = HandlerCalls();
    grpc::Status over = Call(RequestOfSize(limit + 1), &response, generated);
    EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(over.error_message(),
              "Received message larger than max (4194305 vs. 4194304)");
    // Refused before the handler.
    EXPECT_EQ(HandlerCalls(), calls);
  }
  // gRPC says the same.
  ProbeResponse response;
  grpc::Status over_grpc = Call(RequestOfSize(limit + 1), &response,
                                /*generated=*/false, /*over_grpc=*/true);
  EXPECT_EQ(over_grpc.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(over_grpc.error_message(),
            "Received message larger than max (4194305 vs. 4194304)");
}

TEST_F(LimitsTest, ConfiguredLimitsBothWays) {
  Start({"--max-receive=1000", "--max-send=2000"});
  for (bool generated : {true, false}) {
    SCOPED_TRACE(generated ? "generated stub" : "gRPC stub");
    ProbeRequest request;
    request.set_payload(std::string(997, 'q'));  // 1 + 2 + 997 = 1000 bytes
    ProbeResponse response;
    EXPECT_TRUE(Call(request, &response, generated).ok());
    request.set_payload(std::string(998, 'q'));
    grpc::Status over = Call(request, &response, generated);
    EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(over.error_message(),
              "Received message larger than max (1001 vs. 1000)");

    // Responses: 1 + 2 + 1997 = 2000 bytes pass, 2001 do not.
    ProbeRequest ask;
    ask.set_response_bytes(1997);
    EXPECT_TRUE(Call(ask, &response, generated).ok());
    EXPECT_EQ(response.payload().size(), 1997u);
    ask.set_response_bytes(1998);
    grpc::Status too_big = Call(ask, &response, generated);
    EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << too_big.error_message();
    EXPECT_EQ(too_big.error_message(),
              "Sent message larger than max (2001 vs. 2000)");
  }
}

TEST_F(LimitsTest, OversizedClientMetadataIsRefusedWithoutRunningTheHandler) {
  Start();
  for (bool generated : {true, false}) {
    SCOPED_TRACE(generated ? "generated stub" : "gRPC stub");
    ProbeResponse response;
    // Within 8 KiB as gRPC counts it ("x-big" + value + 32).
    EXPECT_TRUE(Call(ProbeRequest(), &response, generated, false,
                     std::string(8192 - 37, 'm'))
                    .ok());
    const int64_t calls = HandlerCalls();
    grpc::Status over = Call(ProbeRequest(), &response, generated, false,
                             std::string(8192 - 36, 'm'));
    EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(over.error_message(),
              "received initial metadata size exceeds limit (8193 vs. 8192)");
    EXPECT_EQ(HandlerCalls(), calls);
  }
}

// ---- a hostile client --------------------------------------------------

// A frame whose message is longer than INT_MAX (the client's own 2 GiB + 64
// KiB chunk class, sparse: nothing is written) with the receive limit off:
// protobuf cannot take it, and the server must say so without reading it.
TEST_F(LimitsTest, MessageLongerThanIntMaxIsRefusedUnread) {
  Start({"--max-receive=-1"});
  transport::ClientHandshakeOptions handshake;
  const uint32_t huge = (uint32_t{1} << 31) + (64 << 10);
  handshake.pool.classes = {{256, 16}, {huge, 1}};
  absl::StatusOr<std::unique_ptr<RawClient>> client =
      RawClient::Connect(server_->target(), handshake);
  ASSERT_TRUE(client.ok()) << client.status();
  const uint32_t method = (*client)->MethodId(kCallMethod);
  ASSERT_NE(method, 0u);
  const int64_t rss_before = ProcStatusField(server_->pid(), "VmRSS");
  absl::StatusOr<RawClient::Answer> answer =
      (*client)->Call(method, rpc::kHasMessage | rpc::kHalfClose, huge, nullptr,
                      milliseconds(20000));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->code,
            static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(answer->message,
            "Received message larger than max (2147549184 vs. "
            "2147483647)");
  // The server is alive and did not read the message.
  EXPECT_LT(ProcStatusField(server_->pid(), "VmRSS") - rss_before, 64 << 10);
  ProbeResponse response;
  ProbeRequest request;
  request.set_payload("still here");
  ASSERT_TRUE(Call(request, &response, true).ok());
  EXPECT_EQ(response.payload(), "still here");
}

// Just above the limit and not protobuf at all: the size check comes first
// (RESOURCE_EXHAUSTED, not a parse error).
TEST_F(LimitsTest, SizeIsCheckedBeforeParsing) {
  Start();
  absl::StatusOr<std::unique_ptr<RawClient>> client =
      RawClient::Connect(server_->target());
  ASSERT_TRUE(client.ok()) << client.status();
  const uint32_t method = (*client)->MethodId(kCallMethod);
  const std::string garbage((4 << 20) + 1, '\xff');
  absl::StatusOr<RawClient::Answer> answer =
      (*client)->CallWithMessage(method, garbage, milliseconds(20000));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->code,
            static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(answer->message,
            "Received message larger than max (4194305 vs. 4194304)");
  // Within the limit the same bytes are a parse error.
  answer = (*client)->CallWithMessage(method, garbage.substr(0, 4 << 20),
                                      milliseconds(20000));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->code, static_cast<int>(grpc::StatusCode::INTERNAL));
}

// Eight threads send 32 MiB requests (real ones: a protobuf message the
// server would parse if it let them through) as fast as the server answers,
// for a few seconds. The server refuses each unread; its resident memory
// stays within a few tens of MiB of where it started.
TEST_F(LimitsTest, FloodOf32MiBRequestsDoesNotGrowServerMemory) {
  Start();
  constexpr int kThreads = 8;
  constexpr uint32_t k32MiB = 32 << 20;
  transport::ClientHandshakeOptions handshake;
  handshake.pool.classes = {{256, 64}, {4 << 10, 16}, {k32MiB, kThreads}};
  absl::StatusOr<std::unique_ptr<RawClient>> client =
      RawClient::Connect(server_->target(), handshake);
  ASSERT_TRUE(client.ok()) << client.status();
  RawClient& raw = **client;
  const uint32_t method = raw.MethodId(kCallMethod);
  // Write a 32 MiB request into every 32 MiB chunk once (chunks keep their
  // contents when they come back).
  ProbeRequest request;
  request.set_payload(std::string(k32MiB - 16, 'f'));
  const std::string bytes = request.SerializeAsString();
  ASSERT_LE(bytes.size(), k32MiB);
  {
    std::vector<transport::Chunk> chunks;
    for (int i = 0; i < kThreads; ++i) {
      absl::StatusOr<transport::Chunk> c = raw.connection().AllocateChunk(
          bytes.size(), std::chrono::steady_clock::now());
      ASSERT_TRUE(c.ok()) << c.status();
      std::memcpy(c->data, bytes.data(), bytes.size());
      chunks.push_back(*c);
    }
    for (const auto& c : chunks) raw.connection().DiscardChunk(c);
  }
  // Baseline: the server has served this connection once.
  ProbeResponse response;
  ASSERT_TRUE(Call(ProbeRequest(), &response, true).ok());
  const int64_t baseline = ProcStatusField(server_->pid(), "VmRSS");
  ASSERT_GT(baseline, 0);

  std::atomic<bool> stop{false};
  std::atomic<int> refused{0}, other{0};
  std::atomic<int64_t> peak{baseline};
  std::thread sampler([&] {
    while (!stop.load()) {
      const int64_t rss = ProcStatusField(server_->pid(), "VmRSS");
      int64_t p = peak.load();
      while (rss > p && !peak.compare_exchange_weak(p, rss)) {
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  });
  std::vector<std::thread> flood;
  for (int t = 0; t < kThreads; ++t) {
    flood.emplace_back([&] {
      while (!stop.load()) {
        absl::StatusOr<RawClient::Answer> a =
            raw.Call(method, rpc::kHasMessage | rpc::kHalfClose, bytes.size(),
                     nullptr, milliseconds(20000));
        if (a.ok() &&
            a->code == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED)) {
          refused.fetch_add(1);
        } else {
          other.fetch_add(1);
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(3000));
  stop.store(true);
  for (auto& t : flood) t.join();
  sampler.join();
  std::printf(
      "server VmRSS: %lld KiB before, %lld KiB at the peak of %d "
      "refused 32 MiB requests\n",
      static_cast<long long>(baseline), static_cast<long long>(peak.load()),
      refused.load());
  EXPECT_GT(refused.load(), kThreads);
  EXPECT_EQ(other.load(), 0);
  EXPECT_LT(peak.load() - baseline, RssSlackKib())
      << "the server's memory grew under the flood";
  // And it still serves.
  ASSERT_TRUE(Call(ProbeRequest(), &response, false).ok());
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH_TO_PROBE_SERVER\n", argv[0]);
    return 2;
  }
  shmrpc::testing::g_probe_server = argv[1];
  shmrpc::testing::LimitSanitizerMemoryOfChildren();
  return RUN_ALL_TESTS();
}
