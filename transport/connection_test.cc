#include "transport/connection.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "transport/connector.h"
#include "transport/listener.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::transport {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

Deadline In(milliseconds ms) { return steady_clock::now() + ms; }

// A listener plus one connected client, all in this process.
class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(ListenerOptions{}, ConnectOptions{}); }

  void Open(ListenerOptions lo, ConnectOptions co) {
    lo.path = dir_.File("conn.sock");
    absl::Notification accepted;
    auto listener = Listener::Start(lo, &loop_, [&](std::shared_ptr<Connection> c) {
      server_ = std::move(c);
      accepted.Notify();
    });
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
    co.monitor = &loop_;
    auto client = Connect(lo.path, co);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    ASSERT_TRUE(accepted.WaitForNotificationWithTimeout(absl::Seconds(5)));
  }

  testing::TempDir dir_;
  EventLoop loop_;
  std::unique_ptr<Listener> listener_;
  std::shared_ptr<Connection> server_;
  std::shared_ptr<Connection> client_;
};

TEST_F(ConnectionTest, RoundTripInlineAndChunk) {
  ASSERT_TRUE(client_->inline_payloads());
  absl::StatusOr<uint32_t> stream = client_->OpenStream();
  ASSERT_TRUE(stream.ok()) << stream.status();

  // Inline request.
  const std::string hello = "hello";
  MessageHeader h;
  h.stream = *stream;
  h.generation = 7;
  h.kind = 3;
  ASSERT_TRUE(client_
                  ->Send(h,
                         OutgoingPayload::Inline(
                             {reinterpret_cast<const uint8_t*>(hello.data()),
                              hello.size()}),
                         In(milliseconds(1000)))
                  .ok());
  absl::StatusOr<InboundMessage> req = server_->ReceiveRequest(In(milliseconds(1000)));
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->descriptor().stream, *stream);
  EXPECT_EQ(req->descriptor().generation, 7u);
  EXPECT_EQ(req->descriptor().kind, 3);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(req->payload().data()),
                        req->payload().size()),
            hello);

  // Chunk response of 100 KiB.
  absl::StatusOr<Chunk> chunk = server_->AllocateChunk(100 << 10, In(milliseconds(1000)));
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  for (size_t i = 0; i < (100 << 10); ++i) chunk->data[i] = static_cast<uint8_t>(i * 7);
  MessageHeader rh;
  rh.stream = *stream;
  rh.generation = 7;
  ASSERT_TRUE(server_->Send(rh, OutgoingPayload::InChunk(*chunk, 100 << 10),
                            In(milliseconds(1000)))
                  .ok());
  EXPECT_EQ(server_->stats().pool.lent, 1u);
  absl::StatusOr<InboundMessage> resp =
      client_->ReceiveStream(*stream, In(milliseconds(1000)));
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->payload().size(), 100u << 10);
  for (size_t i = 0; i < (100 << 10); ++i) {
    ASSERT_EQ(resp->payload()[i], static_cast<uint8_t>(i * 7)) << i;
  }
  resp->Release();
  // The chunk is back once the server drains returns (on its next allocation).
  absl::StatusOr<Chunk> again = server_->AllocateChunk(100 << 10, In(milliseconds(1000)));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->offset, chunk->offset);
  server_->DiscardChunk(*again);
  EXPECT_EQ(server_->stats().pool.lent, 0u);
  client_->CloseStream(*stream);
}

TEST_F(ConnectionTest, PeerCloseIsNoticedAndWakesWaiters) {
  absl::StatusOr<uint32_t> stream = client_->OpenStream();
  ASSERT_TRUE(stream.ok());
  std::thread waiter([&] {
    absl::StatusOr<InboundMessage> m = client_->ReceiveStream(*stream, kNoDeadline);
    EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
  });
  std::this_thread::sleep_for(milliseconds(50));
  const auto t0 = steady_clock::now();
  server_.reset();  // drops the server end: its socket closes
  waiter.join();
  EXPECT_LT(steady_clock::now() - t0, milliseconds(500));
  EXPECT_FALSE(client_->ok());
}

}  // namespace
}  // namespace shmrpc::transport
