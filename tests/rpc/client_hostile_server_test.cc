// The client against a misbehaving server (hostile_server, a separate
// process): every call ends by its deadline or its cancellation with the
// right status, gRPC's size limits hold over shared memory, a bad method
// table is refused, and the client neither hangs, crashes nor grows.
//
// Client styles, as in rpc_e2e_test:
//   kStub          generated ShmEchoService::Stub, blocking
//   kStubAsync     generated stub, async() callback form
//   kCreds         gRPC's EchoService::Stub on shmrpc's credentials, blocking
//   kCredsCallback gRPC's stub, async() callback API
#include <grpc/impl/codegen/grpc_types.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/echo_service.h"
#include "tests/util/notification.h"
#include "tests/util/poll.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::system_clock;

std::string g_server;  // path of hostile_server, from argv

enum class Style { kStub, kStubAsync, kCreds, kCredsCallback };

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
  }
  return "?";
}

int64_t Ms(Clock::duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

// One channel to the hostile server and both kinds of stub on it.
class Client {
 public:
  Client(const std::string& socket, ShmChannelOptions options,
         const grpc::ChannelArguments& args)
      : channel_(CreateChannel(
            // Never reached: the endpoint is given, and kRequired never
            // falls back.
            "localhost:1", grpc::InsecureChannelCredentials(),
            WithEndpoint(std::move(options), socket), args)),
        stub_(ShmEchoService::NewStub(channel_)),
        grpc_stub_(EchoService::NewStub(channel_)) {}

  // Starts one Echo call in `style`; `done` runs with its status (on this
  // thread for the blocking styles).
  void Start(Style style, grpc::ClientContext* context,
             const EchoRequest* request, EchoResponse* response,
             std::function<void(grpc::Status)> done) {
    switch (style) {
      case Style::kStub:
        done(stub_->Echo(context, *request, response));
        return;
      case Style::kCreds:
        done(grpc_stub_->Echo(context, *request, response));
        return;
      case Style::kStubAsync:
        stub_->async()->Echo(context, request, response, std::move(done));
        return;
      case Style::kCredsCallback:
        grpc_stub_->async()->Echo(context, request, response, std::move(done));
        return;
    }
  }

  // Makes one call and waits for it (at most a minute).
  grpc::Status Call(Style style, grpc::ClientContext* context,
                    const EchoRequest& request, EchoResponse* response) {
    Notification done;
    grpc::Status status(grpc::StatusCode::INTERNAL, "no answer in a minute");
    Start(style, context, &request, response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(milliseconds(60000)));
    return status;
  }

  grpc::Status Echo(Style style, const EchoRequest& request,
                    EchoResponse* response,
                    milliseconds timeout = milliseconds(20000)) {
    grpc::ClientContext context;
    context.set_deadline(system_clock::now() + timeout);
    return Call(style, &context, request, response);
  }

  const std::shared_ptr<grpc::Channel>& channel() { return channel_; }

 private:
  static ShmChannelOptions WithEndpoint(ShmChannelOptions options,
                                        const std::string& socket) {
    options.endpoint_path = socket;
    return options;
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ShmEchoService::Stub> stub_;
  std::unique_ptr<EchoService::Stub> grpc_stub_;
};

ShmChannelOptions Required() {
  ShmChannelOptions options;
  options.mode = ShmMode::kRequired;
  return options;
}

EchoRequest Request(size_t payload_bytes) {
  EchoRequest request;
  request.set_payload(std::string(payload_bytes, 'r'));
  return request;
}

class HostileServerTest : public ::testing::Test {
 protected:
  // Starts hostile_server in `mode` (see hostile_server.cc).
  void StartServer(const std::string& mode, size_t size = 0) {
    // A fresh path each time: a killed server leaves its socket file.
    socket_ = dir_.File("hostile-" + std::to_string(servers_++) + ".sock");
    server_ = std::make_unique<Subprocess>(std::vector<std::string>{
        g_server, "--socket=" + socket_, "--mode=" + mode,
        "--size=" + std::to_string(size)});
    ASSERT_TRUE(server_->WaitForLine("ready", milliseconds(20000)))
        << "hostile_server did not start";
  }

  std::unique_ptr<Client> NewClient(ShmChannelOptions options = Required(),
                                    const grpc::ChannelArguments& args = {}) {
    return std::make_unique<Client>(socket_, std::move(options), args);
  }

  TempDir dir_;
  int servers_ = 0;
  std::string socket_;
  std::unique_ptr<Subprocess> server_;
};

class HostileStyleTest : public HostileServerTest,
                         public ::testing::WithParamInterface<Style> {};

// ---- gRPC's size limits ----------------------------------------------------

TEST_P(HostileStyleTest, ResponseOverTheReceiveLimitIsRefused) {
  StartServer("huge_response", 5 << 20);
  EchoResponse response;
  // gRPC's default: 4 MiB.
  grpc::Status s = NewClient()->Echo(GetParam(), Request(1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_EQ(s.error_message().rfind("Received message larger than max (", 0),
            0u)
      << s.error_message();
  EXPECT_NE(s.error_message().find(" vs. 4194304)"), std::string::npos)
      << s.error_message();
  EXPECT_TRUE(response.payload().empty());

  // Raised with gRPC's own setter, or lifted: accepted.
  grpc::ChannelArguments raised;
  raised.SetMaxReceiveMessageSize(16 << 20);
  grpc::ChannelArguments unlimited;
  unlimited.SetMaxReceiveMessageSize(-1);
  for (const grpc::ChannelArguments* args : {&raised, &unlimited}) {
    EchoResponse big;
    s = NewClient(Required(), *args)->Echo(GetParam(), Request(1), &big);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(big.payload().size(), size_t{5} << 20);
  }
}

TEST_P(HostileStyleTest, ReceiveLimitFromTheChannelArgument) {
  StartServer("huge_response", 2000);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 1000);
  EchoResponse response;
  grpc::Status s =
      NewClient(Required(), args)->Echo(GetParam(), Request(1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find(" vs. 1000)"), std::string::npos)
      << s.error_message();
}

TEST_P(HostileStyleTest, InitialMetadataOverTheLimitIsRefused) {
  StartServer("big_initial", 9000);
  EchoResponse response;
  grpc::Status s = NewClient()->Echo(GetParam(), Request(1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message().rfind(
                "received initial metadata size exceeds limit (", 0),
            0u)
      << s.error_message();

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MAX_METADATA_SIZE, 64 << 10);
  grpc::ClientContext context;
  context.set_deadline(system_clock::now() + std::chrono::seconds(20));
  s = NewClient(Required(), args)
          ->Call(GetParam(), &context, Request(1), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto it = context.GetServerInitialMetadata().find("x-big");
  ASSERT_NE(it, context.GetServerInitialMetadata().end());
  EXPECT_EQ(it->second.size(), 9000u);
}

TEST_P(HostileStyleTest, TrailingMetadataOverTheLimitIsRefused) {
  StartServer("big_trailing", 9000);
  EchoResponse response;
  grpc::Status s = NewClient()->Echo(GetParam(), Request(1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message().rfind(
                "received trailing metadata size exceeds limit (", 0),
            0u)
      << s.error_message();

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MAX_METADATA_SIZE, 64 << 10);
  grpc::ClientContext context;
  context.set_deadline(system_clock::now() + std::chrono::seconds(20));
  s = NewClient(Required(), args)
          ->Call(GetParam(), &context, Request(1), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto it = context.GetServerTrailingMetadata().find("x-big");
  ASSERT_NE(it, context.GetServerTrailingMetadata().end());
  EXPECT_EQ(it->second.size(), 9000u);
}

// gRPC carries the status in the trailers: large details count with them.
TEST_P(HostileStyleTest, StatusDetailsCountWithTheTrailingMetadata) {
  StartServer("big_details", 9000);
  EchoResponse response;
  grpc::Status s = NewClient()->Echo(GetParam(), Request(1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message().rfind(
                "received trailing metadata size exceeds limit (", 0),
            0u)
      << s.error_message();

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MAX_METADATA_SIZE, 64 << 10);
  s = NewClient(Required(), args)->Echo(GetParam(), Request(1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(s.error_details().size(), 9000u);
}

TEST_P(HostileStyleTest, RequestOverTheSendLimitIsNotSent) {
  StartServer("echo");
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(100);
  std::unique_ptr<Client> client = NewClient(Required(), args);
  EchoResponse response;
  ASSERT_TRUE(client->Echo(GetParam(), Request(10), &response).ok());
  const uint32_t before = response.checksum();  // calls the server received

  grpc::Status s = client->Echo(GetParam(), Request(200), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "Sent message larger than max (203 vs. 100)");

  ASSERT_TRUE(client->Echo(GetParam(), Request(10), &response).ok());
  EXPECT_EQ(response.checksum(), before + 1) << "the large request was sent";
}

// ---- connecting ------------------------------------------------------------

// A server that never finishes the handshake (or never sends its method
// table) holds a call no longer than the call's deadline, in either mode.
TEST_P(HostileStyleTest, ConnectingEndsAtTheCallsDeadline) {
  for (const char* mode : {"silent_handshake", "no_table"}) {
    SCOPED_TRACE(mode);
    StartServer(mode);
    for (ShmMode shm_mode : {ShmMode::kRequired, ShmMode::kAuto}) {
      ShmChannelOptions options;
      options.mode = shm_mode;
      options.connect_timeout = milliseconds(10000);
      std::unique_ptr<Client> client = NewClient(options);
      EchoResponse response;
      const auto start = Clock::now();
      grpc::Status s =
          client->Echo(GetParam(), Request(1), &response, milliseconds(200));
      const auto took = Clock::now() - start;
      EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
          << s.error_message();
      EXPECT_LT(took, milliseconds(3000)) << Ms(took) << " ms";
    }
    server_.reset();  // ends the attempts still under way
  }
}

// A call that finds another thread connecting waits no longer than its own
// deadline for that attempt.
TEST_F(HostileServerTest, WaitingForAnotherThreadsAttemptEndsAtTheDeadline) {
  StartServer("silent_handshake");
  ShmChannelOptions options = Required();
  options.connect_timeout = milliseconds(10000);
  std::unique_ptr<Client> client = NewClient(options);
  std::thread connecting([&] { ConnectSharedMemory(client->channel()); });
  std::this_thread::sleep_for(milliseconds(100));  // it is attempting
  for (Style style : {Style::kStub, Style::kCreds}) {
    EchoResponse response;
    const auto start = Clock::now();
    grpc::Status s =
        client->Echo(style, Request(1), &response, milliseconds(200));
    const auto took = Clock::now() - start;
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << s.error_message();
    EXPECT_LT(took, milliseconds(3000)) << Ms(took) << " ms";
  }
  server_.reset();  // ends the attempt
  connecting.join();
}

// ---- the method table -----------------------------------------------------

class MethodTableTest : public HostileServerTest,
                        public ::testing::WithParamInterface<
                            std::pair<const char*, const char*>> {};

TEST_P(MethodTableTest, BadReplyIsRefused) {
  const auto [mode, reason] = GetParam();
  StartServer(mode, 9 << 20);
  std::unique_ptr<Client> client = NewClient();
  EXPECT_EQ(ConnectSharedMemory(client->channel()), ChannelPath::kGrpc);
  EXPECT_NE(DescribeChannelPath(client->channel()).find(reason),
            std::string::npos)
      << DescribeChannelPath(client->channel());
  for (Style style : {Style::kStub, Style::kCreds}) {
    EchoResponse response;
    grpc::Status s = client->Echo(style, Request(1), &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(s.error_message().find(reason), std::string::npos)
        << s.error_message();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Replies, MethodTableTest,
    ::testing::Values(
        std::make_pair("table_wrong_kind", "frame of kind 2"),
        std::make_pair("table_wrong_gen", "with generation 8 instead of 1"),
        std::make_pair("table_huge", "more than the 8388608 a client accepts")),
    [](const auto& info) { return std::string(info.param.first); });

// ---- calls that wait --------------------------------------------------------

TEST_P(HostileStyleTest, UnansweredCallEndsAtItsDeadline) {
  StartServer("never_answer");
  std::unique_ptr<Client> client = NewClient();
  EchoResponse response;
  const auto start = Clock::now();
  grpc::Status s =
      client->Echo(GetParam(), Request(1), &response, milliseconds(300));
  const auto took = Clock::now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(3000)) << Ms(took) << " ms";
}

// Starts calls without a deadline that the server keeps waiting, then one
// more that has to wait for `what` (a stream, a chunk, ring space): each
// ends with CANCELLED soon after TryCancel().
void CancelWaitingCalls(Client* client, Style style, int blockers,
                        size_t payload, std::unique_ptr<Subprocess>* server) {
  struct Call {
    grpc::ClientContext context;  // no deadline
    EchoRequest request;
    EchoResponse response;
    Notification done;
    grpc::Status status;
    std::atomic<int64_t> ended_ns{0};
    std::thread thread;  // blocking styles
  };
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i <= blockers; ++i) {
    auto call = std::make_unique<Call>();
    call->request = Request(payload);
    Call* c = call.get();
    auto done = [c](grpc::Status s) {
      c->ended_ns.store(Clock::now().time_since_epoch().count());
      c->status = std::move(s);
      c->done.Notify();
    };
    // Every style may block in Start while it waits (the asynchronous
    // forms send before they return): start each on its own thread.
    c->thread = std::thread([client, style, c, done] {
      client->Start(style, &c->context, &c->request, &c->response, done);
    });
    calls.push_back(std::move(call));
    std::this_thread::sleep_for(milliseconds(100));
  }
  // The last call waits; none has ended.
  for (auto& c : calls) EXPECT_FALSE(c->done.HasBeenNotified());
  // Cancel the waiting one first, then the others.
  bool hung = false;
  for (int i = blockers; i >= 0; --i) {
    Call& c = *calls[i];
    const auto cancelled = Clock::now();
    c.context.TryCancel();
    if (!c.done.WaitForNotificationWithTimeout(milliseconds(10000))) {
      ADD_FAILURE() << "call " << i << " ignored TryCancel()";
      hung = true;
      break;
    }
    const auto latency =
        Clock::time_point(Clock::duration(c.ended_ns.load())) - cancelled;
    EXPECT_EQ(c.status.error_code(), grpc::StatusCode::CANCELLED)
        << "call " << i << ": " << c.status.error_message();
    // Generous for a loaded machine; the defect was a wait without end.
    EXPECT_LT(latency, milliseconds(3000))
        << "call " << i << ": " << Ms(latency) << " ms";
  }
  // A call that ignored its cancellation only ends with the connection.
  if (hung) server->reset();
  for (auto& c : calls) {
    c->done.WaitForNotificationWithTimeout(milliseconds(30000));
    if (c->thread.joinable()) c->thread.join();
  }
}

TEST_P(HostileStyleTest, CancelWhileWaitingForAStream) {
  StartServer("never_answer");
  ShmChannelOptions options = Required();
  options.handshake.stream_count = 2;
  std::unique_ptr<Client> client = NewClient(options);
  ASSERT_EQ(ConnectSharedMemory(client->channel()), ChannelPath::kSharedMemory);
  CancelWaitingCalls(client.get(), GetParam(), /*blockers=*/2,
                     /*payload=*/10, &server_);
}

TEST_P(HostileStyleTest, CancelWhileWaitingForAChunk) {
  StartServer("hoard_chunks");
  ShmChannelOptions options = Required();
  options.handshake.pool = transport::PoolConfig{{{4096, 2}}};
  std::unique_ptr<Client> client = NewClient(options);
  ASSERT_EQ(ConnectSharedMemory(client->channel()), ChannelPath::kSharedMemory);
  CancelWaitingCalls(client.get(), GetParam(), /*blockers=*/2,
                     /*payload=*/1000, &server_);
}

TEST_P(HostileStyleTest, CancelWhileWaitingForRingSpace) {
  StartServer("stop_reading");
  ShmChannelOptions options = Required();
  options.handshake.request_capacity = 2;
  std::unique_ptr<Client> client = NewClient(options);
  ASSERT_EQ(ConnectSharedMemory(client->channel()), ChannelPath::kSharedMemory);
  CancelWaitingCalls(client.get(), GetParam(), /*blockers=*/2,
                     /*payload=*/10, &server_);
}

INSTANTIATE_TEST_SUITE_P(AllStyles, HostileStyleTest,
                         ::testing::Values(Style::kStub, Style::kStubAsync,
                                           Style::kCreds,
                                           Style::kCredsCallback),
                         [](const ::testing::TestParamInfo<Style>& info) {
                           return StyleName(info.param);
                         });

// ---- resources --------------------------------------------------------------

int OpenFds() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

int ShmMappings() {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:shmrpc") != std::string::npos) ++n;
  }
  return n;
}

// ClientContexts kept alive after their calls, across many reconnections,
// do not keep the old connections' fds and mappings.
TEST_F(HostileServerTest, KeptContextsDoNotKeepConnectionsAlive) {
  StartServer("close_after_call");
  std::unique_ptr<Client> client = NewClient();
  std::vector<std::unique_ptr<grpc::ClientContext>> kept;
  // One successful call per connection (the server closes it after
  // answering); a call that races with the close fails and is retried.
  auto call = [&](int i) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      kept.push_back(std::make_unique<grpc::ClientContext>());
      kept.back()->set_deadline(system_clock::now() + milliseconds(5000));
      EchoResponse response;
      grpc::Status s =
          client->Call(i % 2 ? Style::kCreds : Style::kCredsCallback,
                       kept.back().get(), Request(10), &response);
      if (s.ok()) return true;
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
          << s.error_message();
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  };
  constexpr int kWarmup = 3;
  constexpr int kConnections = 40;
  for (int i = 0; i < kWarmup; ++i) ASSERT_TRUE(call(i));
  std::this_thread::sleep_for(milliseconds(200));
  const int fds = OpenFds();
  const int maps = ShmMappings();
  for (int i = kWarmup; i < kConnections; ++i) ASSERT_TRUE(call(i));
  // What the last connection, and one on its way out, may hold.
  constexpr int kSlackFds = 10;
  constexpr int kSlackMaps = 8;
  const bool settled = PollUntil(
      [&] {
        return OpenFds() <= fds + kSlackFds &&
               ShmMappings() <= maps + kSlackMaps;
      },
      milliseconds(3000));
  std::printf(
      "after %d connections and %zu kept contexts: fds %d -> %d, "
      "memfd:shmrpc mappings %d -> %d\n",
      kConnections, kept.size(), fds, OpenFds(), maps, ShmMappings());
  EXPECT_TRUE(settled);
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH_TO_HOSTILE_SERVER\n", argv[0]);
    return 2;
  }
  shmrpc::testing::g_server = argv[1];
  return RUN_ALL_TESTS();
}
