// End-to-end tests of the gRPC layer. The server (rpc_peer) runs in another
// process and serves EchoService over gRPC and shared memory; this process
// is the client, in every client style:
//
//   kStub          generated ShmEchoService::Stub, blocking
//   kStubAsync     generated stub, async() callback form
//   kCreds         unchanged gRPC EchoService::Stub on a channel with
//                  shmrpc::ShmChannelCredentials, blocking
//   kCredsCallback gRPC stub, async() callback API
//   kCredsQueue    gRPC stub, completion-queue API (AsyncEcho + Finish)
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
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

using std::chrono::milliseconds;
using std::chrono::system_clock;

std::string g_peer;  // path of rpc_peer, from argv

enum class Style { kStub, kStubAsync, kCreds, kCredsCallback, kCredsQueue };

std::string StyleName(Style s) {
  switch (s) {
    case Style::kStub:
      return "Stub";
    case Style::kStubAsync:
      return "StubAsync";
    case Style::kCreds:
      return "Creds";
    case Style::kCredsCallback:
      return "CredsCallback";
    case Style::kCredsQueue:
      return "CredsQueue";
  }
  return "?";
}

// A server process and the client side of one channel to it.
class Client {
 public:
  Client(const std::string& target, const ShmChannelOptions& options = {})
      : channel_(grpc::CreateChannel(
            target, ShmChannelCredentials(grpc::InsecureChannelCredentials(),
                                          options))),
        stub_(ShmEchoService::NewStub(channel_)),
        grpc_stub_(EchoService::NewStub(channel_)) {}

  // Makes one Echo (or Unimplemented) call in `style` and waits for it.
  grpc::Status Call(Style style, grpc::ClientContext* context,
                    const EchoRequest& request, EchoResponse* response,
                    bool unimplemented = false) {
    switch (style) {
      case Style::kStub:
        return unimplemented ? stub_->Unimplemented(context, request, response)
                             : stub_->Echo(context, request, response);
      case Style::kCreds:
        return unimplemented
                   ? grpc_stub_->Unimplemented(context, request, response)
                   : grpc_stub_->Echo(context, request, response);
      case Style::kStubAsync:
      case Style::kCredsCallback: {
        Notification done;
        grpc::Status status;
        auto on_done = [&](grpc::Status s) {
          status = std::move(s);
          done.Notify();
        };
        if (style == Style::kStubAsync) {
          if (unimplemented) {
            stub_->async()->Unimplemented(context, &request, response, on_done);
          } else {
            stub_->async()->Echo(context, &request, response, on_done);
          }
        } else if (unimplemented) {
          grpc_stub_->async()->Unimplemented(context, &request, response,
                                             on_done);
        } else {
          grpc_stub_->async()->Echo(context, &request, response, on_done);
        }
        EXPECT_TRUE(done.WaitForNotificationWithTimeout(milliseconds(60000)));
        return status;
      }
      case Style::kCredsQueue: {
        grpc::CompletionQueue cq;
        auto rpc = unimplemented
                       ? grpc_stub_->AsyncUnimplemented(context, request, &cq)
                       : grpc_stub_->AsyncEcho(context, request, &cq);
        grpc::Status status;
        rpc->Finish(response, &status, reinterpret_cast<void*>(1));
        void* tag;
        bool ok;
        EXPECT_TRUE(cq.Next(&tag, &ok));
        EXPECT_EQ(tag, reinterpret_cast<void*>(1));
        cq.Shutdown();
        while (cq.Next(&tag, &ok)) {
        }
        return status;
      }
    }
    return grpc::Status::CANCELLED;
  }

  grpc::Status Echo(Style style, const EchoRequest& request,
                    EchoResponse* response,
                    milliseconds timeout = milliseconds(30000)) {
    grpc::ClientContext context;
    context.set_deadline(system_clock::now() + timeout);
    return Call(style, &context, request, response);
  }

  // What the server's last Echo handler saw.
  EchoResponse LastCall() {
    grpc::ClientContext context;
    EchoResponse response;
    EXPECT_TRUE(stub_->LastCall(&context, EchoRequest(), &response).ok());
    return response;
  }

  const std::shared_ptr<grpc::Channel>& channel() { return channel_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ShmEchoService::Stub> stub_;
  std::unique_ptr<EchoService::Stub> grpc_stub_;
};

// Starts rpc_peer servers with a private endpoint directory.
class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
    ::unsetenv(kShmModeEnvVar);
    port_ = StartServer(&server_);
  }
  void TearDown() override { ::unsetenv("SHMRPC_DIR"); }

  // Starts a server process (extra flags: "--no-shm", "--port=N") and
  // returns its port.
  int StartServer(std::unique_ptr<Subprocess>* out,
                  std::vector<std::string> flags = {}) {
    std::vector<std::string> argv = {g_peer, "server"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    *out = std::make_unique<Subprocess>(argv);
    std::optional<std::string> port =
        (*out)->WaitForPrefix("ready ", milliseconds(20000));
    EXPECT_TRUE(port.has_value()) << "server did not start";
    return port ? std::atoi(port->c_str()) : 0;
  }

  std::string Target() const { return "localhost:" + std::to_string(port_); }

  TempDir dir_;
  std::unique_ptr<Subprocess> server_;
  int port_ = 0;
};

EchoRequest Payload(size_t size, uint32_t seed) {
  std::string payload(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : payload) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  EchoRequest request;
  request.set_checksum(PayloadChecksum(payload));
  request.set_payload(std::move(payload));
  return request;
}

class StyleTest : public RpcTest,
                  public ::testing::WithParamInterface<Style> {};

TEST_P(StyleTest, EchoesEverySizeOverSharedMemory) {
  Client client(Target());
  // The largest stays within gRPC's default 4 MiB receive limit, whose
  // response (payload plus a few fields) would otherwise be refused.
  for (size_t size :
       {0, 1, 64, 70, 88, 4096, 65536, 1 << 20, (4 << 20) - 1024}) {
    const EchoRequest request = Payload(size, static_cast<uint32_t>(size));
    EchoResponse response;
    grpc::Status s = client.Echo(GetParam(), request, &response);
    ASSERT_TRUE(s.ok()) << size << ": " << s.error_message();
    EXPECT_EQ(response.checksum(), request.checksum()) << size;
    EXPECT_EQ(response.payload(), request.payload()) << size;
    EXPECT_TRUE(response.shared_memory()) << size;
    EXPECT_EQ(response.peer().rfind("shmrpc:pid=", 0), 0u) << response.peer();
  }
  EXPECT_EQ(GetChannelPath(client.channel()), ChannelPath::kSharedMemory);
}

TEST_P(StyleTest, MetadataBothWays) {
  Client client(Target());
  const std::string binary("\x0a\x0b\x0a\x0b\x0a\x0b\x00\xff", 8);
  grpc::ClientContext context;
  context.AddMetadata(kEchoInitialKey, "test_initial_metadata_value");
  context.AddMetadata(kEchoTrailingKey, binary);
  EchoResponse response;
  grpc::Status s = client.Call(GetParam(), &context, Payload(10, 1), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(response.shared_memory());
  const auto& initial = context.GetServerInitialMetadata();
  auto it = initial.find(kEchoInitialKey);
  ASSERT_NE(it, initial.end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()),
            "test_initial_metadata_value");
  const auto& trailing = context.GetServerTrailingMetadata();
  auto jt = trailing.find(kEchoTrailingKey);
  ASSERT_NE(jt, trailing.end());
  EXPECT_EQ(std::string(jt->second.data(), jt->second.size()), binary);
}

TEST_P(StyleTest, StatusCodeMessageAndDetailsArriveUnchanged) {
  Client client(Target());
  const std::string special =
      "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP "
      "\xf0\x9f\x98\x88\t\n";
  for (const std::string& message :
       {std::string("test status message"), special}) {
    EchoRequest request;
    request.set_fail_code(2);
    request.set_fail_message(message);
    request.set_fail_details(std::string("\x08\x02\x12\x00", 4));
    EchoResponse response;
    grpc::Status s = client.Echo(GetParam(), request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
    EXPECT_EQ(s.error_message(), message);
    EXPECT_EQ(s.error_details(), std::string("\x08\x02\x12\x00", 4));
  }
}

TEST_P(StyleTest, UnimplementedMethod) {
  Client client(Target());
  grpc::ClientContext context;
  EchoResponse response;
  grpc::Status s = client.Call(GetParam(), &context, Payload(5, 2), &response,
                               /*unimplemented=*/true);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_P(StyleTest, DeadlineExceededOnBothSides) {
  Client client(Target());
  EchoRequest request = Payload(10, 3);
  request.set_sleep_ms(3000);
  EchoResponse response;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status s =
      client.Echo(GetParam(), request, &response, milliseconds(100));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_message();
  EXPECT_GE(took, milliseconds(90));
  EXPECT_LT(took, milliseconds(1500));
  // The handler saw its call cancelled at the deadline (and stopped early).
  std::this_thread::sleep_for(milliseconds(200));
  const EchoResponse last = client.LastCall();
  EXPECT_TRUE(last.cancelled());
  EXPECT_TRUE(last.shared_memory());
}

TEST_P(StyleTest, DeadlineIsVisibleToTheHandler) {
  Client client(Target());
  EchoResponse response;
  ASSERT_TRUE(
      client.Echo(GetParam(), Payload(1, 4), &response, milliseconds(5000))
          .ok());
  EXPECT_GT(response.deadline_ms_left(), 4000);
  EXPECT_LE(response.deadline_ms_left(), 5000);
  // And a call without a deadline sees none.
  grpc::ClientContext context;
  ASSERT_TRUE(client.Call(GetParam(), &context, Payload(1, 5), &response).ok());
  EXPECT_EQ(response.deadline_ms_left(), -1);
}

TEST_P(StyleTest, TimeoutOnSleepingServer) {
  Client client(Target());
  EchoRequest request = Payload(27182, 6);
  request.set_sleep_ms(1000);
  EchoResponse response;
  grpc::Status s = client.Echo(GetParam(), request, &response, milliseconds(1));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_P(StyleTest, ClientCancellationReachesTheHandler) {
  Client client(Target());
  EchoRequest request = Payload(10, 7);
  request.set_sleep_ms(5000);
  grpc::ClientContext context;
  EchoResponse response;
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(100));
    context.TryCancel();
  });
  const auto start = std::chrono::steady_clock::now();
  grpc::Status s = client.Call(GetParam(), &context, request, &response);
  const auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << s.error_message();
  EXPECT_LT(took, milliseconds(2000));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(client.LastCall().cancelled());
}

TEST_P(StyleTest, ServerCancellation) {
  Client client(Target());
  EchoRequest request = Payload(10, 8);
  request.set_server_cancel(true);
  EchoResponse response;
  EXPECT_EQ(client.Echo(GetParam(), request, &response).error_code(),
            grpc::StatusCode::CANCELLED);
}

// gRPC's ClientContext::peer() names the server over shared memory, on
// every client path, as the server's ServerContext::peer() names the client;
// a later TryCancel() (which then reaches the object that names it) changes
// nothing for this or other calls.
TEST_P(StyleTest, ClientPeerNamesTheServer) {
  Client client(Target());
  const std::string expected = "shmrpc:pid=" + std::to_string(server_->pid()) +
                               ",uid=" + std::to_string(::getuid());
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    EchoResponse response;
    ASSERT_TRUE(
        client.Call(GetParam(), &context, Payload(10, 30 + i), &response).ok());
    ASSERT_TRUE(response.shared_memory());
    EXPECT_EQ(context.peer(), expected) << i;
    context.TryCancel();
    EXPECT_EQ(context.peer(), expected) << i;
  }
  // A call that the server fails still names it.
  grpc::ClientContext context;
  EchoResponse response;
  EXPECT_EQ(client
                .Call(GetParam(), &context, Payload(10, 33), &response,
                      /*unimplemented=*/true)
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(context.peer(), expected);
  // And cancellation still works after all that.
  EchoRequest slow = Payload(10, 34);
  slow.set_sleep_ms(5000);
  grpc::ClientContext cancelled;
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(100));
    cancelled.TryCancel();
  });
  EXPECT_EQ(client.Call(GetParam(), &cancelled, slow, &response).error_code(),
            grpc::StatusCode::CANCELLED);
  canceller.join();
}

INSTANTIATE_TEST_SUITE_P(AllStyles, StyleTest,
                         ::testing::Values(Style::kStub, Style::kStubAsync,
                                           Style::kCreds, Style::kCredsCallback,
                                           Style::kCredsQueue),
                         [](const ::testing::TestParamInfo<Style>& info) {
                           return StyleName(info.param);
                         });

// The completion-queue API with initial metadata read first sends the
// receive ops in two batches; both complete, with the right contents.
TEST_F(RpcTest, CompletionQueueWithInitialMetadataFirst) {
  auto channel = grpc::CreateChannel(
      Target(), ShmChannelCredentials(grpc::InsecureChannelCredentials()));
  auto stub = EchoService::NewStub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.AddMetadata(kEchoInitialKey, "first");
  const EchoRequest request = Payload(5000, 40);
  auto rpc = stub->AsyncEcho(&context, request, &cq);
  rpc->ReadInitialMetadata(reinterpret_cast<void*>(1));
  EchoResponse response;
  grpc::Status status;
  rpc->Finish(&response, &status, reinterpret_cast<void*>(2));
  std::set<void*> tags;
  for (int i = 0; i < 2; ++i) {
    void* tag;
    bool ok;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_TRUE(ok);
    tags.insert(tag);
  }
  EXPECT_EQ(tags.size(), 2u);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.payload(), request.payload());
  EXPECT_TRUE(response.shared_memory());
  EXPECT_EQ(context.GetServerInitialMetadata().count(kEchoInitialKey), 1u);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(RpcTest, ChannelSaysHowItsCallsTravel) {
  Client client(Target());
  EXPECT_EQ(GetChannelPath(client.channel()), ChannelPath::kNotConnected);
  EXPECT_EQ(ConnectSharedMemory(client.channel()), ChannelPath::kSharedMemory);
  EXPECT_NE(DescribeChannelPath(client.channel()).find("port-"),
            std::string::npos)
      << DescribeChannelPath(client.channel());
  // A plain gRPC channel is not a shmrpc channel.
  auto plain =
      grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(GetChannelPath(plain), ChannelPath::kGrpc);
  auto stub = ShmEchoService::NewStub(plain);
  grpc::ClientContext context;
  // gRPC's own channel may fail its first connection attempt on a loaded
  // machine, and a fail-fast call then reports that instead of the path:
  // wait for it to connect, within a deadline.
  context.set_wait_for_ready(true);
  context.set_deadline(system_clock::now() + std::chrono::seconds(20));
  EchoResponse response;
  const grpc::Status status = stub->Echo(&context, Payload(3, 9), &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
  EXPECT_FALSE(response.shared_memory());
}

// A target that names another host never uses shared memory, even though an
// endpoint for its port exists here.
TEST_F(RpcTest, RemoteTargetUsesGrpc) {
  Client client("192.0.2.1:" + std::to_string(port_));  // TEST-NET-1
  EchoResponse response;
  grpc::Status s =
      client.Echo(Style::kStub, Payload(3, 10), &response, milliseconds(300));
  EXPECT_FALSE(s.ok());  // gRPC cannot reach that address
  EXPECT_EQ(GetChannelPath(client.channel()), ChannelPath::kGrpc);
  EXPECT_NE(DescribeChannelPath(client.channel()).find("not on this host"),
            std::string::npos)
      << DescribeChannelPath(client.channel());
}

TEST_F(RpcTest, ServerWithoutSharedMemoryIsServedOverGrpc) {
  std::unique_ptr<Subprocess> plain;
  const int port = StartServer(&plain, {"--no-shm"});
  Client client("localhost:" + std::to_string(port));
  for (Style style : {Style::kStub, Style::kCreds}) {
    EchoResponse response;
    ASSERT_TRUE(client.Echo(style, Payload(100, 11), &response).ok());
    EXPECT_FALSE(response.shared_memory());
  }
  EXPECT_EQ(GetChannelPath(client.channel()), ChannelPath::kGrpc);
}

// Over gRPC, peer() is gRPC's own (the server's address), on both paths.
TEST_F(RpcTest, ClientPeerOverGrpcIsGrpcs) {
  std::unique_ptr<Subprocess> plain;
  const int port = StartServer(&plain, {"--no-shm"});
  Client client("localhost:" + std::to_string(port));
  for (Style style : {Style::kStub, Style::kCreds}) {
    grpc::ClientContext context;
    EchoResponse response;
    ASSERT_TRUE(client.Call(style, &context, Payload(10, 35), &response).ok());
    EXPECT_FALSE(response.shared_memory());
    const std::string peer = context.peer();
    EXPECT_TRUE(peer.rfind("ipv4:", 0) == 0 || peer.rfind("ipv6:", 0) == 0)
        << peer;
    EXPECT_NE(peer.find(":" + std::to_string(port)), std::string::npos) << peer;
  }
}

TEST_F(RpcTest, SharedMemoryCanBeDisabled) {
  ShmChannelOptions options;
  options.mode = ShmMode::kDisabled;
  Client by_option(Target(), options);
  EchoResponse response;
  ASSERT_TRUE(by_option.Echo(Style::kStub, Payload(10, 12), &response).ok());
  EXPECT_FALSE(response.shared_memory());
  EXPECT_EQ(GetChannelPath(by_option.channel()), ChannelPath::kGrpc);

  ::setenv(kShmModeEnvVar, "off", 1);
  Client by_env(Target());
  ASSERT_TRUE(by_env.Echo(Style::kCreds, Payload(10, 13), &response).ok());
  EXPECT_FALSE(response.shared_memory());
  ::unsetenv(kShmModeEnvVar);
}

TEST_F(RpcTest, RequiredSharedMemoryFailsInsteadOfFallingBack) {
  std::unique_ptr<Subprocess> plain;
  const int port = StartServer(&plain, {"--no-shm"});
  ShmChannelOptions options;
  options.mode = ShmMode::kRequired;
  Client client("localhost:" + std::to_string(port), options);
  for (Style style : {Style::kStub, Style::kCreds}) {
    EchoResponse response;
    EXPECT_EQ(client.Echo(style, Payload(10, 14), &response).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  // The environment variable forces it too.
  ::setenv(kShmModeEnvVar, "require", 1);
  Client forced("localhost:" + std::to_string(port));
  EchoResponse response;
  EXPECT_EQ(forced.Echo(Style::kStub, Payload(10, 15), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  ::unsetenv(kShmModeEnvVar);
}

TEST_F(RpcTest, ReconnectsAfterServerRestart) {
  ShmChannelOptions options;
  options.initial_backoff = milliseconds(50);
  options.max_backoff = milliseconds(200);
  Client client(Target(), options);
  EchoResponse response;
  ASSERT_TRUE(client.Echo(Style::kStub, Payload(10, 16), &response).ok());
  ASSERT_TRUE(response.shared_memory());

  server_->Kill(SIGKILL);
  ASSERT_EQ(server_->ExitCode(milliseconds(5000)), -SIGKILL);
  // While it is down, calls fail the way gRPC's do.
  grpc::Status down =
      client.Echo(Style::kStub, Payload(10, 17), &response, milliseconds(200));
  EXPECT_FALSE(down.ok());

  // The same port again; the dead server's socket file is taken over.
  std::unique_ptr<Subprocess> restarted;
  ASSERT_EQ(StartServer(&restarted, {"--port=" + std::to_string(port_)}),
            port_);
  bool back = false;
  for (int i = 0; i < 200 && !back; ++i) {
    grpc::Status s =
        client.Echo(i % 2 ? Style::kStub : Style::kCreds, Payload(10, 18),
                    &response, milliseconds(1000));
    back = s.ok() && response.shared_memory();
    if (!back) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(back) << DescribeChannelPath(client.channel());
  EXPECT_EQ(GetChannelPath(client.channel()), ChannelPath::kSharedMemory);
}

TEST_F(RpcTest, SlowHandlerDoesNotBlockOtherCalls) {
  Client client(Target());
  EchoResponse warm;
  ASSERT_TRUE(client.Echo(Style::kStub, Payload(1, 19), &warm).ok());
  std::thread slow([&] {
    EchoRequest request = Payload(1, 20);
    request.set_sleep_ms(2000);
    EchoResponse response;
    EXPECT_TRUE(client.Echo(Style::kStub, request, &response).ok());
  });
  std::this_thread::sleep_for(milliseconds(100));  // the slow call is running
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> fast;
  for (int t = 0; t < 4; ++t) {
    fast.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        EchoResponse response;
        EXPECT_TRUE(client
                        .Echo(t % 2 ? Style::kStub : Style::kCreds,
                              Payload(100, 21 + i), &response)
                        .ok());
        EXPECT_TRUE(response.shared_memory());
      }
    });
  }
  for (auto& f : fast) f.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
  slow.join();
}

TEST_F(RpcTest, SixteenThreadsInEachOfTwoProcesses) {
  std::vector<std::unique_ptr<Subprocess>> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{g_peer, "client", "--target=" + Target(),
                                 "--threads=16", "--calls=150"}));
  }
  for (auto& c : clients) {
    EXPECT_EQ(c->ExitCode(milliseconds(120000)), 0);
    EXPECT_NE(c->ReadToEnd(milliseconds(1000)).find("shared memory"),
              std::string::npos)
        << c->output();
  }
}

TEST_F(RpcTest, GracefulShutdownFinishesCallsInFlight) {
  ShmChannelOptions required;
  required.mode = ShmMode::kRequired;
  Client client(Target(), required);
  EchoResponse warm;
  ASSERT_TRUE(client.Echo(Style::kStub, Payload(1, 30), &warm).ok());
  grpc::Status in_flight;
  EchoResponse in_flight_response;
  std::thread call([&] {
    EchoRequest request = Payload(1000, 31);
    request.set_sleep_ms(800);
    in_flight = client.Echo(Style::kStub, request, &in_flight_response);
  });
  std::this_thread::sleep_for(milliseconds(150));
  server_->Kill(SIGTERM);
  std::this_thread::sleep_for(milliseconds(150));
  // The server is draining: a new call cannot use shared memory.
  EchoResponse response;
  EXPECT_EQ(client.Echo(Style::kStub, Payload(1, 32), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  call.join();
  EXPECT_TRUE(in_flight.ok()) << in_flight.error_message();
  EXPECT_TRUE(in_flight_response.shared_memory());
  EXPECT_FALSE(in_flight_response.cancelled());
  EXPECT_EQ(server_->ExitCode(milliseconds(10000)), 0);
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
