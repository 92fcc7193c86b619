// Server::statistics() and the Admin service against a live shared-memory
// server in this process: each method's calls by status code, bytes and
// messages both ways for unary calls and all three kinds of streams, the
// connection that made them, the totals, and the Admin service's answer.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/admin/v1/admin.shmrpc.h"
#include "shmrpc/client/credentials.h"
#include "shmrpc/server/admin_service.h"
#include "shmrpc/server/server.h"
#include "tests/rpc/echo_service.h"
#include "tests/rpc/probe_service.h"
#include "tests/util/temp_dir.h"

namespace shmrpc {
namespace {

using std::chrono::milliseconds;
using testing::EchoRequest;
using testing::EchoResponse;
using testing::StreamMessage;
using testing::StreamRequest;
using testing::UploadSummary;

constexpr char kEcho[] = "/shmrpc.testing.EchoService/Echo";
constexpr char kStream[] = "/shmrpc.testing.Probe/Stream";
constexpr char kUpload[] = "/shmrpc.testing.Probe/Upload";
constexpr char kChat[] = "/shmrpc.testing.Probe/Chat";

class ServerStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    ::unsetenv("SHMRPC_DIR");
  }

  void Start(const ServerOptions& options = ServerOptions()) {
    std::string error;
    server_ = ServerBuilder()
                  .AddListeningAddress("127.0.0.1:40123")
                  .RegisterService(&echo_)
                  .RegisterService(&probe_)
                  .SetOptions(options)
                  .BuildAndStart(&error);
    ASSERT_NE(server_, nullptr) << error;
    ShmChannelOptions channel_options;
    channel_options.endpoint_path = server_->endpoints().at(0);
    channel_options.mode = ShmMode::kRequired;
    // Nothing listens for gRPC: every call goes over shared memory.
    channel_ = CreateChannel("localhost:1", grpc::InsecureChannelCredentials(),
                             channel_options);
  }

  static MethodStatistics Find(const ServerStatistics& s,
                               const std::string& method) {
    for (const MethodStatistics& m : s.methods) {
      if (m.method == method && m.transport == kTransportShm) return m;
    }
    ADD_FAILURE() << "no statistics for " << method;
    return {};
  }

  // The statistics once no call runs (10 s at most): a call is recorded
  // when the server is done with it, a moment after its client has the
  // answer (or later, for a call that ends without one).
  ServerStatistics Settled() {
    const auto give_up = std::chrono::steady_clock::now() + milliseconds(10000);
    for (;;) {
      ServerStatistics s = server_->statistics();
      int64_t running = 0;
      for (const MethodStatistics& m : s.methods) running += m.in_flight;
      if (running == 0 || std::chrono::steady_clock::now() >= give_up) {
        return s;
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  }

  static void WithDeadline(grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(20));
  }

  testing::TempDir dir_;
  testing::EchoServiceImpl echo_;
  testing::ProbeServiceImpl probe_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Every method served is listed from the start, the server's own Admin
// method among them; the totals describe the server.
TEST_F(ServerStatsTest, ListsEveryMethodAndTheServer) {
  Start();
  const ServerStatistics s = server_->statistics();
  EXPECT_EQ(s.pid, ::getpid());
  EXPECT_EQ(s.uid, ::geteuid());
  EXPECT_EQ(s.endpoints, server_->endpoints());
  EXPECT_EQ(s.addresses, std::vector<std::string>{"127.0.0.1:40123"});
  EXPECT_GE(s.uptime_seconds, 0);
  EXPECT_LE(s.start_time, std::chrono::system_clock::now());
  EXPECT_EQ(s.calls, 0u);
  EXPECT_EQ(s.connections_live, 0);
  std::vector<std::string> names;
  for (const MethodStatistics& m : s.methods) {
    EXPECT_EQ(m.transport, "shm");
    EXPECT_EQ(m.calls, 0u);
    names.push_back(m.method);
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "/shmrpc.admin.v1.Admin/GetStats",
                       "/shmrpc.testing.EchoService/Echo",
                       "/shmrpc.testing.EchoService/LastCall",
                       "/shmrpc.testing.EchoService/Unimplemented",
                       "/shmrpc.testing.Probe/Call",
                       kChat,
                       "/shmrpc.testing.Probe/GetReport",
                       kStream,
                       kUpload,
                   }));
  EXPECT_EQ(server_->stats_registry(), server_->stats_registry());
  EXPECT_NE(server_->stats_registry(), nullptr);
}

// Unary calls: counted by the code the client got, with the serialized
// sizes of their requests and responses.
TEST_F(ServerStatsTest, CountsUnaryCallsByCode) {
  Start();
  auto stub = testing::ShmEchoService::NewStub(channel_);
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext context;
    EchoRequest request;
    request.set_payload(std::string(10 * i, 'p'));
    request.set_checksum(testing::PayloadChecksum(request.payload()));
    EchoResponse response;
    ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
    bytes_in += request.ByteSizeLong();
    bytes_out += response.ByteSizeLong();
  }
  for (int code : {5, 5, 9}) {
    grpc::ClientContext context;
    EchoRequest request;
    request.set_fail_code(code);
    EchoResponse response;
    EXPECT_EQ(stub->Echo(&context, request, &response).error_code(), code);
    bytes_in += request.ByteSizeLong();
  }
  {
    grpc::ClientContext context;
    EchoResponse response;
    EXPECT_EQ(
        stub->Unimplemented(&context, EchoRequest(), &response).error_code(),
        grpc::StatusCode::UNIMPLEMENTED);
  }
  const ServerStatistics s = Settled();
  const MethodStatistics echo = Find(s, kEcho);
  EXPECT_EQ(echo.calls, 8u);
  EXPECT_EQ(echo.in_flight, 0);
  EXPECT_EQ(echo.calls_by_code[0], 5u);
  EXPECT_EQ(echo.calls_by_code[5], 2u);
  EXPECT_EQ(echo.calls_by_code[9], 1u);
  EXPECT_EQ(echo.messages_in, 8u);
  EXPECT_EQ(echo.messages_out, 5u);
  EXPECT_EQ(echo.bytes_in, bytes_in);
  EXPECT_EQ(echo.bytes_out, bytes_out);
  EXPECT_EQ(echo.latency.count, 8u);
  EXPECT_GT(echo.latency.p50_us, 0);
  EXPECT_LE(echo.latency.p50_us, echo.latency.p99_us);
  EXPECT_LE(echo.latency.p99_us, echo.latency.max_us);
  EXPECT_GE(echo.latency.sum_us, echo.latency.max_us);
  EXPECT_EQ(Find(s, "/shmrpc.testing.EchoService/Unimplemented")
                .calls_by_code[grpc::StatusCode::UNIMPLEMENTED],
            1u);
  EXPECT_EQ(s.calls, 9u);
  // The one connection that made them.
  ASSERT_EQ(s.connections.size(), 1u);
  const ConnectionStatistics& c = s.connections[0];
  EXPECT_EQ(c.peer_pid, ::getpid());
  EXPECT_EQ(c.peer_uid, ::geteuid());
  EXPECT_EQ(c.calls, 9u);
  EXPECT_GE(c.threads, 1);
  EXPECT_GE(c.max_threads, c.threads);
  EXPECT_GT(c.age_seconds, 0);
  EXPECT_GT(c.pool_bytes_capacity, uint64_t{50} << 20);  // the default pool
  EXPECT_LE(c.pool_bytes_used, c.pool_bytes_capacity);
  EXPECT_EQ(s.connections_live, 1);
  EXPECT_EQ(s.connections_accepted, 1u);
  // Without connections, when not asked for.
  EXPECT_TRUE(
      server_->statistics(/*include_connections=*/false).connections.empty());
}

// Streams of all three kinds count every message each way.
TEST_F(ServerStatsTest, CountsStreamMessages) {
  Start();
  auto stub = testing::ShmProbe::NewStub(channel_);
  {
    grpc::ClientContext context;
    WithDeadline(&context);
    StreamRequest request;
    for (int size : {10, 200, 3000}) request.add_sizes(size);
    request.set_rounds(2);
    auto reader = stub->Stream(&context, request);
    StreamMessage m;
    uint64_t bytes = 0;
    int n = 0;
    while (reader->Read(&m)) {
      bytes += m.ByteSizeLong();
      ++n;
    }
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(n, 6);
    const MethodStatistics s = Find(Settled(), kStream);
    EXPECT_EQ(s.calls_by_code[0], 1u);
    EXPECT_EQ(s.messages_in, 1u);
    EXPECT_EQ(s.bytes_in, request.ByteSizeLong());
    EXPECT_EQ(s.messages_out, 6u);
    EXPECT_EQ(s.bytes_out, bytes);
  }
  {
    grpc::ClientContext context;
    WithDeadline(&context);
    UploadSummary summary;
    auto writer = stub->Upload(&context, &summary);
    uint64_t bytes = 0;
    for (int i = 0; i < 100; ++i) {
      const StreamMessage m = testing::Numbered(i, 50);
      bytes += m.ByteSizeLong();
      ASSERT_TRUE(writer->Write(m));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    const MethodStatistics s = Find(Settled(), kUpload);
    EXPECT_EQ(s.calls_by_code[0], 1u);
    EXPECT_EQ(s.messages_in, 100u);
    EXPECT_EQ(s.bytes_in, bytes);
    EXPECT_EQ(s.messages_out, 1u);
    EXPECT_EQ(s.bytes_out, summary.ByteSizeLong());
  }
  {
    grpc::ClientContext context;
    WithDeadline(&context);
    auto stream = stub->Chat(&context);
    uint64_t bytes = 0;
    for (int i = 0; i < 70; ++i) {
      const StreamMessage m = testing::Numbered(i, 20);
      bytes += m.ByteSizeLong();
      ASSERT_TRUE(stream->Write(m));
      StreamMessage back;
      ASSERT_TRUE(stream->Read(&back));
    }
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
    const MethodStatistics s = Find(Settled(), kChat);
    EXPECT_EQ(s.calls_by_code[0], 1u);
    EXPECT_EQ(s.messages_in, 70u);
    EXPECT_EQ(s.bytes_in, bytes);
    EXPECT_EQ(s.messages_out, 70u);
    EXPECT_EQ(s.bytes_out, bytes);
  }
}

// A long stream shows its messages before it ends (in batches of 64), and
// one its client cancels counts as CANCELLED.
TEST_F(ServerStatsTest, LongStreamsShowUpWhileTheyRun) {
  Start();
  auto stub = testing::ShmProbe::NewStub(channel_);
  grpc::ClientContext context;
  WithDeadline(&context);
  StreamRequest request;
  request.add_sizes(8);
  request.set_rounds(130);
  request.set_wait_for_cancel_ms(10000);  // then holds the call open
  auto reader = stub->Stream(&context, request);
  StreamMessage m;
  for (int i = 0; i < 130; ++i) ASSERT_TRUE(reader->Read(&m));
  MethodStatistics s = Find(server_->statistics(), kStream);
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_EQ(s.messages_out, 128u);
  context.TryCancel();
  reader->Finish();
  s = Find(Settled(), kStream);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.calls_by_code[grpc::StatusCode::CANCELLED], 1u);
  EXPECT_EQ(s.messages_out, 130u);
}

// The Admin service answers what statistics() says, its own call in flight.
TEST_F(ServerStatsTest, AdminServiceAnswersTheStatistics) {
  Start();
  auto echo = testing::ShmEchoService::NewStub(channel_);
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    EchoResponse response;
    ASSERT_TRUE(echo->Echo(&context, EchoRequest(), &response).ok());
  }
  Settled();
  auto admin = admin::v1::ShmAdmin::NewStub(channel_);
  grpc::ClientContext context;
  admin::v1::StatsRequest request;
  request.set_include_connections(true);
  admin::v1::ServerStatsReply reply;
  ASSERT_TRUE(admin->GetStats(&context, request, &reply).ok());
  EXPECT_EQ(reply.pid(), ::getpid());
  EXPECT_EQ(reply.endpoints_size(), 1);
  EXPECT_EQ(reply.addresses(0), "127.0.0.1:40123");
  EXPECT_EQ(reply.calls(), 3u);  // the two, and this one
  EXPECT_EQ(reply.connections_size(), 1);
  EXPECT_EQ(reply.connections(0).calls(), 3u);
  bool saw_echo = false;
  bool saw_admin = false;
  for (const admin::v1::MethodStats& m : reply.methods()) {
    if (m.method() == kEcho) {
      saw_echo = true;
      EXPECT_EQ(m.calls(), 2u);
      EXPECT_EQ(m.calls_by_code().at(0), 2u);
      EXPECT_EQ(m.calls_by_code().size(), 1u);  // codes with calls only
      EXPECT_EQ(m.transport(), "shm");
      EXPECT_GT(m.latency_p50_us(), 0);
    }
    if (m.method() == internal::kAdminGetStatsMethod) {
      saw_admin = true;
      EXPECT_EQ(m.in_flight(), 1);
      EXPECT_EQ(m.calls(), 0u);
    }
  }
  EXPECT_TRUE(saw_echo);
  EXPECT_TRUE(saw_admin);
  // Without connections unless asked.
  grpc::ClientContext again;
  ASSERT_TRUE(admin->GetStats(&again, admin::v1::StatsRequest(), &reply).ok());
  EXPECT_EQ(reply.connections_size(), 0);
  EXPECT_EQ(reply.connections_live(), 1);
}

// A registry given in the options is the server's, shared with whatever
// else records into it (a gRPC server's interceptor).
TEST_F(ServerStatsTest, SharesAGivenRegistry) {
  auto registry = std::make_shared<StatsRegistry>();
  MethodRecorder* grpc_echo = registry->Recorder(kEcho, kTransportGrpc, true);
  grpc_echo->FinishUnary(grpc_echo->Start(), 0, 1, 2);
  ServerOptions options;
  options.stats_registry = registry;
  Start(options);
  EXPECT_EQ(server_->stats_registry(), registry.get());
  int rows = 0;
  for (const MethodStatistics& m : server_->statistics().methods) {
    if (m.method != kEcho) continue;
    ++rows;
    if (m.transport == kTransportGrpc) {
      EXPECT_EQ(m.calls, 1u);
    }
  }
  EXPECT_EQ(rows, 2);  // shm and grpc
}

}  // namespace
}  // namespace shmrpc
