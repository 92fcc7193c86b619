// The one-builder form: shmrpc::ServerBuilder given gRPC's calls builds the
// gRPC server and the shared-memory endpoints together. Clients run in this
// process over real loopback TCP, Unix sockets and shared memory.
#include "shmrpc/server/server_builder.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "shmrpc/client/credentials.h"
#include "shmrpc/server/health.h"
#include "shmrpc/server/server.h"
#include "tests/rpc/echo_service.h"
#include "tests/rpc/probe_service.h"
#include "tests/util/temp_dir.h"

namespace shmrpc {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using std::chrono::milliseconds;
using testing::EchoRequest;
using testing::EchoResponse;
using testing::EchoServiceImpl;
using testing::ShmEchoService;

// A plain gRPC service (no shmrpc code): served over gRPC only.
class PlainProbe final : public testing::Probe::Service {
  grpc::Status Call(grpc::ServerContext* context,
                    const testing::ProbeRequest* request,
                    testing::ProbeResponse* response) override {
    response->set_payload("plain:" + request->tag());
    return grpc::Status::OK;
  }
};

class ServerBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    // Every case runs gRPC end to end, and Debian's gRPC is not built with
    // TSan, which then cannot see gRPC hand a call's data between its
    // threads and reports races inside it (tools/test.sh says the same of
    // tests/rpc). ASan and UBSan run these cases.
    GTEST_SKIP() << "gRPC end to end, which TSan cannot follow";
#endif
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
  }
  void TearDown() override {
    grpc::EnableDefaultHealthCheckService(false);
    ::unsetenv("SHMRPC_DIR");
  }

  // A channel that uses shared memory when it can (gRPC's stub on
  // ShmChannelCredentials), or only shared memory (`required`).
  static std::shared_ptr<grpc::Channel> ShmChannel(const std::string& target,
                                                   bool required = false) {
    ShmChannelOptions options;
    if (required) options.mode = ShmMode::kRequired;
    return CreateChannel(target, grpc::InsecureChannelCredentials(), options);
  }
  static std::shared_ptr<grpc::Channel> GrpcChannel(const std::string& target) {
    return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  }

  static grpc::Status Echo(const std::shared_ptr<grpc::Channel>& channel,
                           EchoResponse* response, int sleep_ms = 0) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    EchoRequest request;
    request.set_payload("hello");
    request.set_checksum(testing::PayloadChecksum("hello"));
    request.set_sleep_ms(sleep_ms);
    return ShmEchoService::NewStub(channel)->Echo(&context, request, response);
  }

  static grpc::Status Check(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& service,
                            HealthCheckResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    HealthCheckRequest request;
    request.set_service(service);
    return Health::NewStub(channel)->Check(&context, request, response);
  }

  // A one-builder server of echo_ on a loopback port that gRPC picks, whose
  // "127.0.0.1:PORT" goes to *target; null if it did not start.
  std::unique_ptr<Server> StartEcho(std::string* target) {
    int port = 0;
    ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&echo_);
    std::unique_ptr<Server> server = builder.BuildAndStart();
    *target = "127.0.0.1:" + std::to_string(port);
    return server;
  }

  testing::TempDir dir_;
  EchoServiceImpl echo_;
  PlainProbe plain_;
};

TEST_F(ServerBuilderTest, PortZeroServesBothTransportsOnTheSelectedPort) {
  int port = -1;
  ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&echo_);
  std::string error;
  std::unique_ptr<Server> server = builder.BuildAndStart(&error);
  ASSERT_NE(server, nullptr) << error;
  ASSERT_GT(port, 0);
  ASSERT_NE(server->grpc_server(), nullptr);
  ASSERT_EQ(server->endpoints().size(), 1u);
  EXPECT_EQ(server->endpoints()[0],
            dir_.File("endpoints") + "/port-" + std::to_string(port) + ".sock");

  const std::string target = "127.0.0.1:" + std::to_string(port);
  EchoResponse local;
  auto shm = ShmChannel(target);
  ASSERT_TRUE(Echo(shm, &local).ok());
  EXPECT_TRUE(local.shared_memory());
  EXPECT_EQ(GetChannelPath(shm), ChannelPath::kSharedMemory);
  EXPECT_EQ(local.payload(), "hello");

  EchoResponse remote;
  ASSERT_TRUE(Echo(GrpcChannel(target), &remote).ok());
  EXPECT_FALSE(remote.shared_memory());
  EXPECT_EQ(remote.payload(), "hello");

  // Both calls are in the server's statistics, one per transport (each is
  // recorded just after its status went out).
  const std::string method = "/shmrpc.testing.EchoService/Echo";
  uint64_t shm_calls = 0, grpc_calls = 0;
  for (int i = 0; i < 200 && (shm_calls == 0 || grpc_calls == 0); ++i) {
    if (i > 0) std::this_thread::sleep_for(milliseconds(10));
    shm_calls = grpc_calls = 0;
    for (const auto& m : server->statistics(false).methods) {
      if (m.method != method) continue;
      (m.transport == "shm" ? shm_calls : grpc_calls) += m.calls;
    }
  }
  EXPECT_EQ(shm_calls, 1u);
  EXPECT_EQ(grpc_calls, 1u);
}

TEST_F(ServerBuilderTest, UnixAddressesGetAnEndpointToo) {
  const std::string address = "unix:" + dir_.File("app.sock");
  ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&echo_);
  std::string error;
  std::unique_ptr<Server> server = builder.BuildAndStart(&error);
  ASSERT_NE(server, nullptr) << error;
  ASSERT_EQ(server->endpoints().size(), 1u);

  EchoResponse local;
  ASSERT_TRUE(Echo(ShmChannel(address, /*required=*/true), &local).ok());
  EXPECT_TRUE(local.shared_memory());
  EchoResponse remote;
  ASSERT_TRUE(Echo(GrpcChannel(address), &remote).ok());
  EXPECT_FALSE(remote.shared_memory());
}

TEST_F(ServerBuilderTest, PlainGrpcServicesAreServedOverGrpc) {
  int port = 0;
  ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&echo_);
  builder.RegisterService(&plain_);
  std::unique_ptr<Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string target = "127.0.0.1:" + std::to_string(port);

  // From a shared-memory channel: the method is not served over shared
  // memory, so this call goes through gRPC; the Echo call beside it does
  // not.
  auto shm = ShmChannel(target);
  for (const auto& channel : {shm, GrpcChannel(target)}) {
    grpc::ClientContext context;
    testing::ProbeRequest request;
    request.set_tag("x");
    testing::ProbeResponse response;
    grpc::Status status =
        testing::Probe::NewStub(channel)->Call(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.payload(), "plain:x");
  }
  EchoResponse local;
  ASSERT_TRUE(Echo(shm, &local).ok());
  EXPECT_TRUE(local.shared_memory());
}

TEST_F(ServerBuilderTest, SizeLimitsApplyToBothTransports) {
  int port = 0;
  ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&echo_);
  builder.SetMaxReceiveMessageSize(1000);
  std::unique_ptr<Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string target = "127.0.0.1:" + std::to_string(port);
  for (bool local : {true, false}) {
    auto channel = local ? ShmChannel(target, true) : GrpcChannel(target);
    grpc::ClientContext context;
    EchoRequest request;
    request.set_payload(std::string(4000, 'x'));
    EchoResponse response;
    grpc::Status status =
        ShmEchoService::NewStub(channel)->Echo(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << (local ? "shm: " : "grpc: ") << status.error_message();
  }
}

TEST_F(ServerBuilderTest, FailsWholeWhenEitherSideCannotStart) {
  std::string target;
  std::unique_ptr<Server> server = StartEcho(&target);
  ASSERT_NE(server, nullptr);

  // gRPC binds the same port again (it sets SO_REUSEPORT), but the
  // shared-memory endpoint is taken: the second server does not start.
  EchoServiceImpl other;
  ServerBuilder second;
  second.AddListeningPort(target, grpc::InsecureServerCredentials());
  second.RegisterService(&other);
  std::string error;
  EXPECT_EQ(second.BuildAndStart(&error), nullptr);
  EXPECT_NE(error.find("another shmrpc server is listening"), std::string::npos)
      << error;

  // gRPC cannot listen: nothing starts either.
  ServerBuilder third;
  third.AddListeningPort("no-such-scheme:x", grpc::InsecureServerCredentials());
  third.RegisterService(&other);
  EXPECT_EQ(third.BuildAndStart(&error), nullptr);
  EXPECT_NE(error.find("gRPC's server did not start"), std::string::npos)
      << error;

  // A method registered twice.
  ServerBuilder fourth;
  fourth.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials());
  fourth.RegisterService(&other);
  EXPECT_EQ(fourth.RegisterService(static_cast<internal::ShmService*>(&echo_))
                .BuildAndStart(&error),
            nullptr);
  EXPECT_NE(error.find("registered twice"), std::string::npos) << error;
}

// Shutdown: local clients move to gRPC while the shared-memory side drains,
// and gRPC keeps serving them until it stops last.
TEST_F(ServerBuilderTest, ShutdownMovesLocalClientsToGrpcBeforeStoppingIt) {
  std::string target;
  std::unique_ptr<Server> server = StartEcho(&target);
  ASSERT_NE(server, nullptr);
  auto shm = ShmChannel(target);
  EchoResponse warm;
  ASSERT_TRUE(Echo(shm, &warm).ok());
  ASSERT_TRUE(warm.shared_memory());

  // A slow call in flight over shared memory keeps that side draining.
  auto slow = std::async(std::launch::async, [&] {
    EchoResponse r;
    grpc::Status s = Echo(shm, &r, /*sleep_ms=*/1500);
    return std::make_pair(s, r.shared_memory());
  });
  std::this_thread::sleep_for(milliseconds(200));
  auto shutdown = std::async(std::launch::async, [&] { server->Shutdown(); });
  std::this_thread::sleep_for(milliseconds(300));

  // Meanwhile a new call from the same local client is served, over gRPC.
  EchoResponse during;
  grpc::Status status = Echo(shm, &during);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(during.shared_memory());
  EXPECT_EQ(shutdown.wait_for(milliseconds(0)), std::future_status::timeout)
      << "shutdown ended before the call in flight did";

  auto [slow_status, slow_shm] = slow.get();
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_TRUE(slow_shm);
  shutdown.get();
  server->Wait();  // both servers are down: returns at once

  // gRPC is down too now.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(500));
  EchoResponse after;
  EXPECT_FALSE(ShmEchoService::NewStub(GrpcChannel(target))
                   ->Echo(&context, EchoRequest(), &after)
                   .ok());
}

TEST_F(ServerBuilderTest, HealthIsAnsweredOverBothTransportsFromOneState) {
  grpc::EnableDefaultHealthCheckService(true);
  std::string target;
  std::unique_ptr<Server> server = StartEcho(&target);
  ASSERT_NE(server, nullptr);
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  ASSERT_NE(health, nullptr);
  // gRPC's server uses the same object as its own health service.
  EXPECT_EQ(server->grpc_server()->GetHealthCheckService(), health);

  auto shm = ShmChannel(target, /*required=*/true);
  auto tcp = GrpcChannel(target);
  health->SetServingStatus("shmrpc.testing.EchoService", true);
  for (const auto& channel : {shm, tcp}) {
    HealthCheckResponse r;
    ASSERT_TRUE(Check(channel, "", &r).ok());
    EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
    ASSERT_TRUE(Check(channel, "shmrpc.testing.EchoService", &r).ok());
    EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
    grpc::Status unknown = Check(channel, "no.such.Service", &r);
    EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(unknown.error_message(), "service name unknown");
  }
  EXPECT_EQ(GetChannelPath(shm), ChannelPath::kSharedMemory);

  health->SetServingStatus("shmrpc.testing.EchoService", false);
  for (const auto& channel : {shm, tcp}) {
    HealthCheckResponse r;
    ASSERT_TRUE(Check(channel, "shmrpc.testing.EchoService", &r).ok());
    EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  }
}

TEST_F(ServerBuilderTest, HealthWatchSeesChangesAndEndsAtShutdown) {
  grpc::EnableDefaultHealthCheckService(true);
  std::string target;
  std::unique_ptr<Server> server = StartEcho(&target);
  ASSERT_NE(server, nullptr);
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();

  for (bool local : {true, false}) {
    SCOPED_TRACE(local ? "shared memory" : "gRPC");
    health->SetServingStatus("svc", true);
    auto channel = local ? ShmChannel(target, true) : GrpcChannel(target);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    HealthCheckRequest request;
    request.set_service("svc");
    auto reader = Health::NewStub(channel)->Watch(&context, request);
    HealthCheckResponse r;
    ASSERT_TRUE(reader->Read(&r));
    EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
    health->SetServingStatus("svc", false);
    ASSERT_TRUE(reader->Read(&r));
    EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
    context.TryCancel();
    while (reader->Read(&r)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }

  // A Watch open at shutdown ends as gRPC's does, and shutdown does not
  // wait for it.
  grpc::ClientContext context;
  HealthCheckRequest request;
  auto reader =
      Health::NewStub(ShmChannel(target, true))->Watch(&context, request);
  HealthCheckResponse r;
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
  server->Shutdown();
  // As gRPC's: the Watch sees NOT_SERVING, then ends.
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  while (reader->Read(&r)) {
  }
  grpc::Status end = reader->Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(end.error_message(), "not writing due to shutdown");
}

TEST_F(ServerBuilderTest, HealthIsNotServingDuringShutdown) {
  grpc::EnableDefaultHealthCheckService(true);
  std::string target;
  std::unique_ptr<Server> server = StartEcho(&target);
  ASSERT_NE(server, nullptr);
  auto shm = ShmChannel(target);
  EchoResponse warm;
  ASSERT_TRUE(Echo(shm, &warm).ok());

  auto slow = std::async(std::launch::async, [&] {
    EchoResponse r;
    return Echo(shm, &r, /*sleep_ms=*/1500);
  });
  std::this_thread::sleep_for(milliseconds(200));
  auto shutdown = std::async(std::launch::async, [&] { server->Shutdown(); });
  std::this_thread::sleep_for(milliseconds(300));
  HealthCheckResponse r;
  grpc::Status status = Check(shm, "", &r);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_TRUE(slow.get().ok());
  shutdown.get();
}

TEST(HealthServiceTest, FollowsGrpcDefaultServiceSemantics) {
  HealthService health;
  EXPECT_EQ(health.GetServingStatus(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(health.GetServingStatus("a"), HealthCheckResponse::SERVICE_UNKNOWN);
  health.SetServingStatus("a", true);
  health.SetServingStatus(false);  // every known name
  EXPECT_EQ(health.GetServingStatus(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(health.GetServingStatus("a"), HealthCheckResponse::NOT_SERVING);
  health.SetServingStatus(true);
  health.Shutdown();
  EXPECT_EQ(health.GetServingStatus("a"), HealthCheckResponse::NOT_SERVING);
  // After shutdown a name can be added, but only NOT_SERVING.
  health.SetServingStatus("b", true);
  EXPECT_EQ(health.GetServingStatus("b"), HealthCheckResponse::NOT_SERVING);
  HealthCheckRequest request;
  request.set_service(
      std::string(HealthService::kMaxServiceNameLength + 1, 'x'));
  HealthCheckResponse response;
  grpc::Status status = health.Check(nullptr, &request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "could not parse request");
}

// The two-builder form keeps working, with health over shared memory.
TEST_F(ServerBuilderTest, TwoBuilderFormStillWorks) {
  grpc::EnableDefaultHealthCheckService(true);
  int port = 0;
  grpc::ServerBuilder grpc_builder;
  grpc_builder.AddListeningPort("127.0.0.1:0",
                                grpc::InsecureServerCredentials(), &port);
  grpc_builder.RegisterService(&echo_);
  std::unique_ptr<grpc::Server> grpc_server = grpc_builder.BuildAndStart();
  ASSERT_NE(grpc_server, nullptr);
  const std::string target = "127.0.0.1:" + std::to_string(port);

  ServerBuilder shm_builder;
  shm_builder.AddListeningAddress(target).RegisterService(&echo_);
  std::unique_ptr<Server> shm_server = shm_builder.BuildAndStart();
  ASSERT_NE(shm_server, nullptr);
  EXPECT_EQ(shm_server->grpc_server(), nullptr);
  ASSERT_NE(shm_server->GetHealthCheckService(), nullptr);

  auto shm = ShmChannel(target);
  EchoResponse local;
  ASSERT_TRUE(Echo(shm, &local).ok());
  EXPECT_TRUE(local.shared_memory());
  HealthCheckResponse r;
  ASSERT_TRUE(Check(ShmChannel(target, true), "", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);

  shm_server->Shutdown();
  EchoResponse after;
  ASSERT_TRUE(Echo(shm, &after).ok());  // now over gRPC
  EXPECT_FALSE(after.shared_memory());
  grpc_server->Shutdown();
}

}  // namespace
}  // namespace shmrpc
