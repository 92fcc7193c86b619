// Cancellation on the server is per call: a call cancelled with
// ClientContext::TryCancel() and followed at once by another call on the same
// channel (which reuses its transport stream) is seen cancelled by its own
// handler, promptly, and the next call is not cancelled. The server
// (probe_server) runs in another process; the client uses the generated stub
// and gRPC's stub on ShmChannelCredentials.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/probe_service.h"
#include "tests/rpc/probe_testing.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

enum class Style { kStub, kCreds };

class ReusedStreamCancelTest : public ::testing::TestWithParam<Style> {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
    ::unsetenv(kShmModeEnvVar);
    server_ = std::make_unique<ProbeServer>();
    ASSERT_NE(server_->port(), 0) << "server did not start";
    ShmChannelOptions options;
    options.mode = ShmMode::kRequired;  // every call over shared memory
    channel_ = grpc::CreateChannel(
        server_->target(),
        ShmChannelCredentials(grpc::InsecureChannelCredentials(), options));
    stub_ = ShmProbe::NewStub(channel_);
    grpc_stub_ = Probe::NewStub(channel_);
  }
  void TearDown() override { ::unsetenv("SHMRPC_DIR"); }

  grpc::Status Call(grpc::ClientContext* context, const ProbeRequest& request,
                    ProbeResponse* response) {
    return GetParam() == Style::kStub
               ? stub_->Call(context, request, response)
               : grpc_stub_->Call(context, request, response);
  }

  TempDir dir_;
  std::unique_ptr<ProbeServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ShmProbe::Stub> stub_;
  std::unique_ptr<Probe::Stub> grpc_stub_;
};

TEST_P(ReusedStreamCancelTest, CancelledHandlerSeesItWhenAnotherCallFollows) {
  {
    grpc::ClientContext context;
    ProbeResponse response;
    ASSERT_TRUE(Call(&context, ProbeRequest(), &response).ok());
  }
  ASSERT_EQ(GetChannelPath(channel_), ChannelPath::kSharedMemory);
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string tag = "cancelled-" + std::to_string(round);
    ProbeRequest slow;
    slow.set_tag(tag);
    slow.set_wait_for_cancel_ms(20000);
    grpc::ClientContext context;
    system_clock::time_point cancelled_at;
    std::thread canceller([&] {
      std::this_thread::sleep_for(milliseconds(200));
      cancelled_at = system_clock::now();
      context.TryCancel();
    });
    ProbeResponse response;
    const grpc::Status status = Call(&context, slow, &response);
    canceller.join();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED)
        << status.error_message();

    // At once another call on the same channel: it reuses the stream.
    ProbeRequest next;
    next.set_tag("next-" + std::to_string(round));
    next.set_payload("after the cancel");
    // It runs a while, so that a cancel meant for the earlier call would
    // find it (it must not).
    next.set_wait_for_cancel_ms(300);
    grpc::ClientContext next_context;
    next_context.set_deadline(system_clock::now() + std::chrono::seconds(10));
    ProbeResponse next_response;
    const grpc::Status next_status = Call(&next_context, next, &next_response);
    ASSERT_TRUE(next_status.ok()) << next_status.error_message();
    EXPECT_EQ(next_response.payload(), "after the cancel");

    // The cancelled handler saw IsCancelled() within a second of the cancel.
    std::optional<Report> report =
        WaitForReport(*stub_, tag, milliseconds(3000));
    ASSERT_TRUE(report.has_value());
    ASSERT_TRUE(report->started());
    ASSERT_TRUE(report->finished())
        << "the handler of the cancelled call is still running";
    EXPECT_TRUE(report->saw_cancel());
    const auto latency =
        std::chrono::nanoseconds(report->cancel_seen_unix_ns()) -
        cancelled_at.time_since_epoch();
    EXPECT_LT(latency, milliseconds(1000))
        << std::chrono::duration_cast<std::chrono::microseconds>(latency)
               .count()
        << " us";
    std::printf(
        "round %d: handler saw the cancel after %lld us\n", round,
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::microseconds>(latency)
                .count()));
    // And the call that followed was not cancelled.
    std::optional<Report> next_report =
        WaitForReport(*stub_, next.tag(), milliseconds(3000));
    ASSERT_TRUE(next_report.has_value());
    EXPECT_TRUE(next_report->finished());
    EXPECT_FALSE(next_report->saw_cancel());
  }
}

INSTANTIATE_TEST_SUITE_P(BothStubs, ReusedStreamCancelTest,
                         ::testing::Values(Style::kStub, Style::kCreds),
                         [](const ::testing::TestParamInfo<Style>& info) {
                           return info.param == Style::kStub ? "GeneratedStub"
                                                             : "GrpcStub";
                         });

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH_TO_PROBE_SERVER\n", argv[0]);
    return 2;
  }
  shmrpc::testing::g_probe_server = argv[1];
  return RUN_ALL_TESTS();
}
