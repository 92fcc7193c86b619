#include "shmrpc/transport/connection.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shmrpc/transport/connector.h"
#include "shmrpc/transport/listener.h"
#include "tests/util/notification.h"
#include "tests/util/poll.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::transport {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

using shmrpc::testing::In;
using shmrpc::testing::PollUntil;

// A listener plus one connected client, all in this process.
class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(SmallListener(), SmallClient()); }
  // No accept callback may run once the fixture starts to go away.
  void TearDown() override { listener_.reset(); }

  static ListenerOptions SmallListener() {
    ListenerOptions o;
    o.handshake.pool = PoolConfig{{{256, 16}, {4096, 8}, {128 << 10, 4}}};
    return o;
  }
  static ConnectOptions SmallClient() {
    ConnectOptions o;
    o.handshake.pool = PoolConfig{{{256, 16}, {4096, 8}, {128 << 10, 4}}};
    o.handshake.stream_count = 4;
    o.handshake.stream_capacity = 4;
    o.handshake.request_capacity = 8;
    return o;
  }

  // Sends `bytes` inline from the client on `stream`.
  absl::Status SendInline(uint32_t stream, const std::string& bytes,
                          uint32_t generation = 0) {
    MessageHeader h;
    h.stream = stream;
    h.generation = generation;
    return client_->Send(
        h,
        OutgoingPayload::Inline(
            {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}),
        In(milliseconds(1000)));
  }
  // Sends `bytes` inline from the server on `stream`.
  absl::Status Answer(uint32_t stream, const std::string& bytes) {
    MessageHeader h;
    h.stream = stream;
    return server_->Send(
        h,
        OutgoingPayload::Inline(
            {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}),
        In(milliseconds(1000)));
  }

  void Open(ListenerOptions lo, ConnectOptions co) {
    lo.path = dir_.File("conn.sock");
    auto listener =
        Listener::Start(lo, &loop_, [this](std::shared_ptr<Connection> c) {
          // Only one client ever connects to this fixture's listener.
          server_ = std::move(c);
          accepted_.Notify();
        });
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
    co.monitor = &loop_;
    auto client = Connect(lo.path, co);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    ASSERT_TRUE(
        accepted_.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
  }

  testing::TempDir dir_;
  EventLoop loop_;
  std::unique_ptr<Listener> listener_;
  testing::Notification accepted_;
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
  absl::StatusOr<InboundMessage> req =
      server_->ReceiveRequest(In(milliseconds(1000)));
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->descriptor().stream, *stream);
  EXPECT_EQ(req->descriptor().generation, 7u);
  EXPECT_EQ(req->descriptor().kind, 3);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(req->payload().data()),
                        req->payload().size()),
            hello);

  // Chunk response of 100 KiB.
  absl::StatusOr<Chunk> chunk =
      server_->AllocateChunk(100 << 10, In(milliseconds(1000)));
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  for (size_t i = 0; i < (100 << 10); ++i)
    chunk->data[i] = static_cast<uint8_t>(i * 7);
  MessageHeader rh;
  rh.stream = *stream;
  rh.generation = 7;
  ASSERT_TRUE(server_
                  ->Send(rh, OutgoingPayload::InChunk(*chunk, 100 << 10),
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
  absl::StatusOr<Chunk> again =
      server_->AllocateChunk(100 << 10, In(milliseconds(1000)));
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
    absl::StatusOr<InboundMessage> m =
        client_->ReceiveStream(*stream, kNoDeadline);
    EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
  });
  std::this_thread::sleep_for(milliseconds(50));
  const auto t0 = steady_clock::now();
  server_.reset();  // drops the server end: its socket closes
  waiter.join();
  EXPECT_LT(steady_clock::now() - t0, milliseconds(500));
  EXPECT_FALSE(client_->ok());
}

TEST_F(ConnectionTest, ClientSeesWhenItsRequestIsTaken) {
  auto s = client_->OpenStream();
  ASSERT_TRUE(s.ok());
  uint64_t first = 99, second = 99;
  MessageHeader h;
  h.stream = *s;
  ASSERT_TRUE(
      client_->Send(h, OutgoingPayload::None(), In(milliseconds(100)), &first)
          .ok());
  ASSERT_TRUE(
      client_->Send(h, OutgoingPayload::None(), In(milliseconds(100)), &second)
          .ok());
  EXPECT_EQ(second, first + 1);
  EXPECT_FALSE(client_->RequestTaken(first));
  ASSERT_TRUE(server_->ReceiveRequest(In(milliseconds(1000))).ok());
  EXPECT_TRUE(client_->RequestTaken(first));
  EXPECT_FALSE(client_->RequestTaken(second));
}

TEST_F(ConnectionTest, ServerSeesWhatTheClientTookOffAStream) {
  auto s = client_->OpenStream();
  ASSERT_TRUE(s.ok());
  MessageHeader h;
  h.stream = *s;
  uint64_t first = 99, second = 99;
  ASSERT_TRUE(
      server_->Send(h, OutgoingPayload::None(), In(milliseconds(100)), &first)
          .ok());
  ASSERT_TRUE(
      server_->Send(h, OutgoingPayload::None(), In(milliseconds(100)), &second)
          .ok());
  EXPECT_EQ(second, first + 1);
  EXPECT_FALSE(server_->StreamTaken(*s, first));
  // Nothing read yet: the wait times out.
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      server_->WaitStreamTaken(*s, first, 1, In(milliseconds(20)))));
  // A reader in another thread wakes the waiter as it takes the message.
  std::thread reader([&] {
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_TRUE(client_->ReceiveStream(*s, In(milliseconds(1000))).ok());
  });
  EXPECT_TRUE(
      server_->WaitStreamTaken(*s, first, 1, In(milliseconds(5000))).ok());
  reader.join();
  EXPECT_TRUE(server_->StreamTaken(*s, first));
  EXPECT_FALSE(server_->StreamTaken(*s, second));
  // Out of range: never taken, never a crash.
  EXPECT_FALSE(server_->StreamTaken(1000, 0));
}

TEST_F(ConnectionTest, AbandoningAStreamWakesTheServersWriterForThatCallOnly) {
  auto s = client_->OpenStream();
  ASSERT_TRUE(s.ok());
  MessageHeader h;
  h.stream = *s;
  uint64_t position = 0;
  ASSERT_TRUE(
      server_
          ->Send(h, OutgoingPayload::None(), In(milliseconds(100)), &position)
          .ok());
  EXPECT_FALSE(server_->StreamAbandoned(*s, 7));
  std::thread client([&] {
    std::this_thread::sleep_for(milliseconds(30));
    client_->AbandonStream(*s, 7);
  });
  const auto start = steady_clock::now();
  const absl::Status st =
      server_->WaitStreamTaken(*s, position, 7, In(milliseconds(5000)));
  client.join();
  EXPECT_TRUE(absl::IsCancelled(st)) << st;
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
  EXPECT_TRUE(server_->StreamAbandoned(*s, 7));
  // Another call (generation) on the stream is not abandoned; generation 0
  // names no call.
  EXPECT_FALSE(server_->StreamAbandoned(*s, 8));
  EXPECT_FALSE(server_->StreamAbandoned(*s, 0));
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      server_->WaitStreamTaken(*s, position, 8, In(milliseconds(20)))));
}

TEST_F(ConnectionTest, StreamCreditReachesAWaitingClientForItsCallOnly) {
  auto s = client_->OpenStream();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(client_->StreamCredit(*s, 5), 0u);
  // Nothing granted yet: the wait times out.
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      client_->WaitStreamCredit(*s, 5, 0, In(milliseconds(20)))));
  std::thread server([&] {
    std::this_thread::sleep_for(milliseconds(30));
    server_->GrantStreamCredit(*s, 5, 3);
  });
  const auto start = steady_clock::now();
  EXPECT_TRUE(client_->WaitStreamCredit(*s, 5, 0, In(milliseconds(5000))).ok());
  server.join();
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
  EXPECT_EQ(client_->StreamCredit(*s, 5), 3u);
  // Another call on the stream sees none of it.
  EXPECT_EQ(client_->StreamCredit(*s, 6), 0u);
  // An interrupted stream ends the wait.
  client_->InterruptStream(*s);
  EXPECT_TRUE(absl::IsCancelled(
      client_->WaitStreamCredit(*s, 5, 3, In(milliseconds(5000)))));
  // Out of range: nothing, never a crash.
  EXPECT_EQ(client_->StreamCredit(1000, 5), 0u);
  server_->GrantStreamCredit(1000, 5, 1);
}

TEST_F(ConnectionTest, KickWakesAnUncountedServerSleeper) {
  Doorbell bell = server_->request_bell();
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    const uint32_t key = bell.key();
    bell.SleepUncounted(key, In(milliseconds(5000)));
    woke = true;
  });
  std::this_thread::sleep_for(milliseconds(30));
  // A plain send does not wake it: nobody announced that it sleeps.
  auto s = client_->OpenStream();
  ASSERT_TRUE(s.ok());
  MessageHeader h;
  h.stream = *s;
  ASSERT_TRUE(
      client_->Send(h, OutgoingPayload::None(), In(milliseconds(100))).ok());
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_FALSE(woke.load());
  const auto kicked = steady_clock::now();
  client_->KickServer();
  sleeper.join();
  EXPECT_TRUE(woke.load());
  EXPECT_LT(steady_clock::now() - kicked,
            milliseconds(1000));  // not its timeout
}

TEST_F(ConnectionTest, ReceiveStreamTimesOut) {
  absl::StatusOr<uint32_t> stream = client_->OpenStream();
  ASSERT_TRUE(stream.ok());
  const auto start = steady_clock::now();
  auto m = client_->ReceiveStream(*stream, In(milliseconds(50)));
  EXPECT_TRUE(absl::IsDeadlineExceeded(m.status())) << m.status();
  EXPECT_GE(steady_clock::now() - start, milliseconds(50));
  auto r = server_->ReceiveRequest(In(milliseconds(20)));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_TRUE(client_->ok());
}

TEST_F(ConnectionTest, InterruptWakesOnlyThatStream) {
  auto a = client_->OpenStream();
  auto b = client_->OpenStream();
  ASSERT_TRUE(a.ok() && b.ok());
  testing::Notification a_done;
  std::atomic<bool> b_woke{false};
  std::thread ta([&] {
    auto m = client_->ReceiveStream(*a, kNoDeadline);
    EXPECT_TRUE(absl::IsCancelled(m.status())) << m.status();
    a_done.Notify();
  });
  std::thread tb([&] {
    auto m = client_->ReceiveStream(*b, kNoDeadline);
    b_woke = true;
    EXPECT_TRUE(m.ok()) << m.status();
  });
  std::this_thread::sleep_for(milliseconds(30));
  client_->InterruptStream(*a);
  ASSERT_TRUE(a_done.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_FALSE(b_woke.load());  // not woken by another stream's event
  ASSERT_TRUE(Answer(*b, "for b").ok());
  ta.join();
  tb.join();
  EXPECT_TRUE(b_woke.load());
  // Reopening clears the interruption.
  client_->CloseStream(*a);
  auto again = client_->OpenStream();
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(Answer(*again, "x").ok());
  EXPECT_TRUE(client_->ReceiveStream(*again, In(milliseconds(1000))).ok());
}

TEST_F(ConnectionTest, StreamsAreLimitedAndReusedClean) {
  std::vector<uint32_t> open;
  for (int i = 0; i < 4; ++i) {
    auto s = client_->OpenStream();
    ASSERT_TRUE(s.ok()) << s.status();
    open.push_back(*s);
  }
  auto fifth = client_->OpenStream();
  EXPECT_TRUE(absl::IsResourceExhausted(fifth.status())) << fifth.status();
  // A late answer left on a closed stream is dropped when it is reopened.
  ASSERT_TRUE(Answer(open[0], "stale").ok());
  client_->CloseStream(open[0]);
  auto reopened = client_->OpenStream();
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*reopened, open[0]);
  InboundMessage m;
  EXPECT_FALSE(client_->TryReceiveStream(*reopened, &m));
}

TEST_F(ConnectionTest, NotificationsAreCoalescedPerStream) {
  auto a = client_->OpenStream(/*notify=*/true);
  auto b = client_->OpenStream(/*notify=*/true);
  auto quiet = client_->OpenStream(/*notify=*/false);
  ASSERT_TRUE(a.ok() && b.ok() && quiet.ok());
  ASSERT_TRUE(Answer(*a, "a1").ok());
  ASSERT_TRUE(Answer(*a, "a2").ok());
  ASSERT_TRUE(Answer(*quiet, "q").ok());
  ASSERT_TRUE(Answer(*b, "b1").ok());
  auto first = client_->ReceiveNotification(In(milliseconds(1000)));
  auto second = client_->ReceiveNotification(In(milliseconds(1000)));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *a);
  EXPECT_EQ(*second, *b);
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      client_->ReceiveNotification(In(milliseconds(20))).status()));
  InboundMessage m;
  int on_a = 0;
  while (client_->TryReceiveStream(*a, &m)) ++on_a;
  EXPECT_EQ(on_a, 2);
  // Drained and re-armed: the next message notifies again.
  ASSERT_TRUE(Answer(*a, "a3").ok());
  auto third = client_->ReceiveNotification(In(milliseconds(1000)));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, *a);
}

TEST_F(ConnectionTest, FullRequestRingAppliesBackpressure) {
  auto s = client_->OpenStream();
  ASSERT_TRUE(s.ok());
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(SendInline(*s, "m", i).ok());
  const auto start = steady_clock::now();
  absl::Status full = SendInline(*s, "m", 8);
  EXPECT_TRUE(absl::IsDeadlineExceeded(full)) << full;
  EXPECT_GE(steady_clock::now() - start, milliseconds(900));
  // A sender waiting for space proceeds as soon as the server consumes.
  std::thread sender([&] { EXPECT_TRUE(SendInline(*s, "m", 9).ok()); });
  std::this_thread::sleep_for(milliseconds(20));
  for (int i = 0; i < 9; ++i) {
    auto r = server_->ReceiveRequest(In(milliseconds(1000)));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->descriptor().generation, static_cast<uint32_t>(i < 8 ? i : 9));
  }
  sender.join();
}

TEST_F(ConnectionTest, RejectsBadOutgoingPayloads) {
  auto s = client_->OpenStream();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(
      SendInline(*s, std::string(kInlineCapacity + 1, 'x'))));
  auto chunk = client_->AllocateChunk(256, In(milliseconds(100)));
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->capacity, 256u);
  MessageHeader h;
  h.stream = *s;
  EXPECT_TRUE(absl::IsInvalidArgument(client_->Send(
      h, OutgoingPayload::InChunk(*chunk, 257), In(milliseconds(100)))));
  ASSERT_TRUE(client_
                  ->Send(h, OutgoingPayload::InChunk(*chunk, 256),
                         In(milliseconds(100)))
                  .ok());
  // Sending the same chunk twice is refused.
  EXPECT_TRUE(absl::IsInvalidArgument(client_->Send(
      h, OutgoingPayload::InChunk(*chunk, 256), In(milliseconds(100)))));
  // Too big for any chunk.
  EXPECT_TRUE(absl::IsResourceExhausted(
      client_->AllocateChunk(1 << 30, In(milliseconds(100))).status()));
  // The server may only answer on streams that exist.
  MessageHeader bad;
  bad.stream = 1000;
  EXPECT_TRUE(absl::IsInvalidArgument(
      server_->Send(bad, OutgoingPayload::None(), In(milliseconds(100)))));
}

TEST_F(ConnectionTest, AllocationWaitsForReturnsThenTimesOut) {
  // Lend all 4 big chunks to the client, which keeps them.
  auto s = client_->OpenStream();
  ASSERT_TRUE(s.ok());
  std::vector<InboundMessage> held;
  for (int i = 0; i < 4; ++i) {
    auto c = server_->AllocateChunk(100 << 10, In(milliseconds(100)));
    ASSERT_TRUE(c.ok()) << c.status();
    MessageHeader h;
    h.stream = *s;
    ASSERT_TRUE(server_
                    ->Send(h, OutgoingPayload::InChunk(*c, 100 << 10),
                           In(milliseconds(100)))
                    .ok());
    auto m = client_->ReceiveStream(*s, In(milliseconds(1000)));
    ASSERT_TRUE(m.ok());
    held.push_back(std::move(*m));
  }
  auto none = server_->AllocateChunk(100 << 10, In(milliseconds(50)));
  EXPECT_TRUE(absl::IsResourceExhausted(none.status())) << none.status();
  EXPECT_THAT(none.status().message(), HasSubstr("4 lent"));
  // A return wakes a waiting allocator.
  std::thread returner([&] {
    std::this_thread::sleep_for(milliseconds(30));
    held[2].Release();
  });
  auto got = server_->AllocateChunk(100 << 10, In(milliseconds(5000)));
  returner.join();
  ASSERT_TRUE(got.ok()) << got.status();
  server_->DiscardChunk(*got);
}

TEST_F(ConnectionTest, GoawayIsVisibleToThePeer) {
  EXPECT_FALSE(client_->peer_closing());
  server_->SetClosing();
  EXPECT_TRUE(client_->peer_closing());
  EXPECT_FALSE(server_->peer_closing());
}

TEST_F(ConnectionTest, CloseRunsCallbackOnceAndWakesBothSides) {
  std::atomic<int> calls{0};
  server_->OnClose([&](const absl::Status& s) {
    ++calls;
    EXPECT_THAT(s.message(), HasSubstr("test says bye"));
  });
  std::thread waiter([&] {
    auto r = server_->ReceiveRequest(kNoDeadline);
    EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  });
  std::this_thread::sleep_for(milliseconds(20));
  server_->Close(absl::UnavailableError("test says bye"));
  server_->Close(absl::InternalError("second close is ignored"));
  waiter.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_THAT(server_->status().message(), HasSubstr("test says bye"));
  // The client notices through its socket.
  for (int i = 0; i < 1000 && client_->ok(); ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_FALSE(client_->ok());
  // A callback registered after the close runs at once.
  bool late = false;
  server_->OnClose([&](const absl::Status&) { late = true; });
  EXPECT_TRUE(late);
}

// ---- a hostile client ------------------------------------------------------

// A client that did the handshake by hand and writes the shared rings
// directly, against a real server Connection.
class HostileClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ListenerOptions lo;
    lo.path = dir_.File("hostile.sock");
    lo.handshake.pool = PoolConfig{{{256, 16}, {4096, 8}}};
    auto listener =
        Listener::Start(lo, &loop_, [this](std::shared_ptr<Connection> c) {
          std::lock_guard<std::mutex> lock(mu_);
          if (server_ == nullptr) {
            server_ = std::move(c);
            accepted_.Notify();
          } else {
            others_.push_back(std::move(c));
          }
        });
    ASSERT_TRUE(listener.ok());
    listener_ = std::move(*listener);
    auto fd = ConnectSeqpacket(lo.path);
    ASSERT_TRUE(fd.ok());
    ClientHandshakeOptions co;
    co.pool = PoolConfig{{{256, 16}}};
    co.stream_count = 4;
    co.stream_capacity = 8;  // a stream ring the tests fill quickly
    auto e = ClientHandshake(std::move(*fd), co, In(milliseconds(5000)));
    ASSERT_TRUE(e.ok()) << e.status();
    raw_ = std::move(*e);
    ASSERT_TRUE(
        accepted_.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
    requests_.Attach(Ring(RingId::kRequests));
    returns_.Attach(Ring(RingId::kServerReturns));
  }

  void TearDown() override { listener_.reset(); }

  RingView Ring(RingId id) {
    return RingView::At(raw_.control.data(), raw_.layout.RingOffset(id),
                        raw_.layout.RingCapacity(id));
  }
  RingView StreamRing(uint32_t s) {
    return RingView::At(raw_.control.data(), raw_.layout.StreamOffset(s),
                        raw_.layout.params.stream_capacity);
  }

  // Publishes a request descriptor as the client.
  void Inject(const Descriptor& d) {
    uint8_t inline_bytes[kInlineCapacity] = {};  // TryPush copies at most this
    ASSERT_EQ(requests_.TryPush(d, inline_bytes), PushResult::kOk);
  }

  testing::TempDir dir_;
  EventLoop loop_;
  std::unique_ptr<Listener> listener_;
  std::mutex mu_;
  testing::Notification accepted_;
  std::shared_ptr<Connection> server_;  // the hostile client's peer
  std::vector<std::shared_ptr<Connection>> others_;
  Established raw_;
  RingProducer requests_;
  RingProducer returns_;
};

// A chunk descriptor for byte `offset` (a multiple of 64).
Descriptor ChunkAt(uint64_t offset, uint32_t length, uint32_t stream = 0) {
  Descriptor d{};
  d.payload = static_cast<uint8_t>(PayloadKind::kChunk);
  d.set_chunk_offset(offset);
  d.length = length;
  d.stream = stream;
  return d;
}

// The same, naming the chunk in 64-byte units (any u32 can be sent).
Descriptor ChunkAtUnits(uint32_t units, uint32_t length) {
  Descriptor d{};
  d.payload = static_cast<uint8_t>(PayloadKind::kChunk);
  d.offset_units = units;
  d.length = length;
  return d;
}

TEST_F(HostileClientTest, ValidRequestIsAccepted) {
  // The client's first chunk starts right after the data header.
  std::memset(raw_.own_data.data() + kDataHeaderSize, 0x42, 100);
  Inject(ChunkAt(kDataHeaderSize, 100));
  auto r = server_->ReceiveRequest(In(milliseconds(1000)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->payload().size(), 100u);
  EXPECT_EQ(r->payload()[99], 0x42);
}

struct BadDescriptor {
  const char* name;
  Descriptor desc;
  const char* expected;  // in the close status
};

class BadDescriptorTest : public HostileClientTest,
                          public ::testing::WithParamInterface<BadDescriptor> {
};

TEST_P(BadDescriptorTest, ClosesWithDataLossAndKeepsServing) {
  Inject(GetParam().desc);
  auto r = server_->ReceiveRequest(In(milliseconds(1000)));
  EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(GetParam().expected));
  EXPECT_FALSE(server_->ok());
  EXPECT_TRUE(absl::IsDataLoss(server_->status()));
  // The listener still accepts well-behaved clients.
  ConnectOptions co;
  co.handshake.pool = PoolConfig{{{256, 8}}};
  co.monitor = &loop_;
  EXPECT_TRUE(Connect(listener_->path(), co).ok());
}

Descriptor WithPayload(uint8_t kind, uint32_t length) {
  Descriptor d{};
  d.payload = kind;
  d.length = length;
  return d;
}

Descriptor OnStream(uint32_t stream) {
  Descriptor d{};
  d.stream = stream;
  return d;
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, BadDescriptorTest,
    ::testing::Values(
        BadDescriptor{"OffsetPastSegment", ChunkAtUnits(0xffffffffu, 10),
                      "outside its data segment"},
        BadDescriptor{"OffsetInHeader", ChunkAt(0, 10),
                      "outside its data segment"},
        BadDescriptor{"OffsetJustInsideHeader",
                      ChunkAt(kDataHeaderSize - kChunkAlignment, 10),
                      "outside its data segment"},
        BadDescriptor{"UnknownSegment",
                      [] {
                        Descriptor d = ChunkAt(kDataHeaderSize, 10);
                        d.segment = 1;
                        return d;
                      }(),
                      "unknown segment"},
        BadDescriptor{"LengthRunsPast", ChunkAt(kDataHeaderSize, 0xfffffff0u),
                      "running past"},
        BadDescriptor{"StreamOutOfRange", OnStream(1u << 30),
                      "stream id out of range"},
        BadDescriptor{"UnknownPayloadKind", WithPayload(7, 0),
                      "unknown payload kind"},
        BadDescriptor{"NoneWithLength", WithPayload(0, 5), "with a length"},
        BadDescriptor{"InlineTooLong", WithPayload(1, kInlineCapacity + 1),
                      "malformed ring entry"}),
    [](const ::testing::TestParamInfo<BadDescriptor>& info) {
      return info.param.name;
    });

TEST_F(HostileClientTest, BogusReturnsAreRefusedAndCounted) {
  // The server lends one chunk to us.
  auto chunk = server_->AllocateChunk(100, In(milliseconds(100)));
  ASSERT_TRUE(chunk.ok());
  MessageHeader h;
  ASSERT_TRUE(server_
                  ->Send(h, OutgoingPayload::InChunk(*chunk, 100),
                         In(milliseconds(100)))
                  .ok());
  RingConsumer stream0;
  stream0.Attach(StreamRing(0));
  RingMessage m;
  ASSERT_EQ(stream0.TryPop(&m), PopResult::kOk);
  const uint32_t lend = m.desc.lend;
  const PoolStats before = server_->stats().pool;
  EXPECT_EQ(before.lent, 1u);
  auto push = [&](Descriptor d, uint32_t with_lend) {
    d.lend = with_lend;
    ASSERT_EQ(returns_.TryPush(d, nullptr), PushResult::kOk);
  };
  push(ChunkAt(chunk->offset + 256, 100), lend);  // a chunk never lent
  push(ChunkAt(chunk->offset + 64, 100), lend);   // inside a chunk
  push(ChunkAtUnits(0xffffffffu, 100), lend);     // outside the segment
  push(WithPayload(0, 0), lend);                  // not a chunk at all
  push(ChunkAt(chunk->offset, 100), lend + 1);    // a lend not made yet
  push(ChunkAt(chunk->offset, 100), lend);        // the real one: accepted
  push(ChunkAt(chunk->offset, 100), lend);        // and again: a duplicate
  // The server drains returns when it next allocates.
  auto next = server_->AllocateChunk(100, In(milliseconds(100)));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->offset, chunk->offset);  // reused: the return was valid
  server_->DiscardChunk(*next);
  const ConnectionStats after = server_->stats();
  EXPECT_EQ(after.refused_returns, 6u);
  EXPECT_EQ(after.pool.lent, 0u);
  EXPECT_EQ(after.pool.held, 0u);
  EXPECT_EQ(after.pool.free, before.free + 1);
  EXPECT_TRUE(server_->ok());  // bogus returns are refused, not fatal
}

// A duplicate return that arrives after the chunk was returned and lent
// again must not free the chunk while the peer holds it under its new lend:
// the duplicate is refused and counted, the pool is untouched, and the
// connection stays up.
TEST_F(HostileClientTest, DuplicateReturnAfterRelendIsRefused) {
  RingConsumer stream0;
  stream0.Attach(StreamRing(0));
  // The server lends a chunk on stream 0; the client reads its descriptor.
  auto lend = [&](Chunk* chunk, Descriptor* received) {
    absl::StatusOr<Chunk> c =
        server_->AllocateChunk(100, In(milliseconds(1000)));
    ASSERT_TRUE(c.ok()) << c.status();
    MessageHeader h;
    ASSERT_TRUE(
        server_
            ->Send(h, OutgoingPayload::InChunk(*c, 100), In(milliseconds(1000)))
            .ok());
    RingMessage m;
    ASSERT_TRUE(
        PollUntil([&] { return stream0.TryPop(&m) == PopResult::kOk; }));
    *chunk = *c;
    *received = m.desc;
  };
  auto give_back = [&](const Descriptor& d) {
    // What an honest receiver sends back: the chunk's descriptor.
    ASSERT_EQ(returns_.TryPush(d, nullptr), PushResult::kOk);
  };
  Chunk first_chunk, second_chunk;
  Descriptor first, second;
  ASSERT_NO_FATAL_FAILURE(lend(&first_chunk, &first));
  give_back(first);
  // The server drains the return and reuses the same chunk for its next
  // message: lent again.
  ASSERT_NO_FATAL_FAILURE(lend(&second_chunk, &second));
  ASSERT_EQ(second_chunk.offset, first_chunk.offset);
  const ConnectionStats before = server_->stats();
  ASSERT_EQ(before.pool.lent, 1u);

  give_back(first);  // the late duplicate
  absl::StatusOr<Chunk> next =
      server_->AllocateChunk(100, In(milliseconds(1000)));  // drains it
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_NE(next->offset, second_chunk.offset)
      << "a chunk still lent to the peer was handed out again";
  server_->DiscardChunk(*next);
  const ConnectionStats after = server_->stats();
  EXPECT_EQ(after.refused_returns, before.refused_returns + 1);
  EXPECT_EQ(after.pool.lent, 1u);
  EXPECT_EQ(after.pool.free, before.pool.free);
  EXPECT_TRUE(server_->ok());

  // The return of the current lend is taken.
  give_back(second);
  absl::StatusOr<Chunk> reused =
      server_->AllocateChunk(100, In(milliseconds(1000)));
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused->offset, second_chunk.offset);
  server_->DiscardChunk(*reused);
  EXPECT_EQ(server_->stats().pool.lent, 0u);
  EXPECT_EQ(server_->stats().refused_returns, before.refused_returns + 1);
}

TEST_F(HostileClientTest, CorruptHeadIsDetected) {
  RingView stream0 = StreamRing(0);
  stream0.control->head.store(1000, std::memory_order_release);
  // The server's producer finds the head beyond anything it published the
  // first time it needs to look (when its cached head says "full").
  MessageHeader h;
  absl::Status s;
  for (int i = 0; i < 16 && s.ok(); ++i) {
    s = server_->Send(h, OutgoingPayload::None(), In(milliseconds(100)));
  }
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("ring index"));
  EXPECT_FALSE(server_->ok());
}

TEST_F(HostileClientTest, CorruptStreamHeadClosesAWaitingWriter) {
  MessageHeader h;
  uint64_t position = 0;
  ASSERT_TRUE(
      server_
          ->Send(h, OutgoingPayload::None(), In(milliseconds(100)), &position)
          .ok());
  StreamRing(0).control->head.store(1000, std::memory_order_release);
  const absl::Status st =
      server_->WaitStreamTaken(0, position, 1, In(milliseconds(1000)));
  EXPECT_TRUE(absl::IsDataLoss(st)) << st;
  EXPECT_FALSE(server_->ok());
}

TEST_F(HostileClientTest, UnexpectedSocketBytesCloseTheConnection) {
  testing::Notification closed;
  absl::Status why;
  server_->OnClose([&](const absl::Status& s) {
    why = s;
    closed.Notify();
  });
  ASSERT_TRUE(SendRecord(raw_.socket.get(),
                         {reinterpret_cast<const uint8_t*>("boo"), 3}, {})
                  .ok());
  ASSERT_TRUE(closed.WaitForNotificationWithTimeout(std::chrono::seconds(5)));
  EXPECT_TRUE(absl::IsDataLoss(why)) << why;
  EXPECT_THAT(why.message(), HasSubstr("unexpected bytes"));
}

TEST_F(HostileClientTest, ReturnRingOverflowClosesTheConnection) {
  // A client that lends the same chunk over and over, more times than it has
  // chunks: the server's returns of it overflow the client's return ring.
  std::memset(raw_.own_data.data() + kDataHeaderSize, 1, 10);
  const uint32_t capacity = raw_.layout.params.client_return_capacity;
  absl::Status last;
  for (uint32_t i = 0; i <= capacity && server_->ok(); ++i) {
    Inject(ChunkAt(kDataHeaderSize, 10));
    auto r = server_->ReceiveRequest(In(milliseconds(1000)));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  EXPECT_FALSE(server_->ok());
  EXPECT_THAT(server_->status().message(), HasSubstr("return ring overflowed"));
}

}  // namespace
}  // namespace shmrpc::transport
