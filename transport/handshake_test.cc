#include "shmrpc/transport/handshake.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/poll.h"

namespace shmrpc::transport {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

using shmrpc::testing::In;

// A connected SOCK_SEQPACKET pair: [0] plays the client, [1] the server.
struct SocketPair {
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
    client.reset(fds[0]);
    server.reset(fds[1]);
  }
  UniqueFd client;
  UniqueFd server;
};

PeerCredentials Me() {
  return PeerCredentials{::getpid(), ::geteuid(), ::getegid()};
}

// Small pools keep these tests fast.
PoolConfig SmallPool() { return PoolConfig{{{256, 8}, {4096, 4}}}; }

ClientHandshakeOptions ClientOptions() {
  ClientHandshakeOptions o;
  o.pool = SmallPool();
  o.stream_count = 8;
  o.stream_capacity = 8;
  return o;
}

ServerHandshakeOptions ServerOptions() {
  ServerHandshakeOptions o;
  o.pool = SmallPool();
  return o;
}

// Receives the client's hello on `fd` and runs the server side.
absl::StatusOr<Established> Serve(UniqueFd fd,
                                  const ServerHandshakeOptions& options) {
  absl::StatusOr<Record> hello =
      RecvRecord(fd.get(), sizeof(ClientHello) + 1, 2, In(milliseconds(5000)));
  if (!hello.ok()) return hello.status();
  return ServerHandshake(std::move(fd), std::move(*hello), Me(), options);
}

// A well-formed ClientHello for a data segment of `size` bytes.
ClientHello GoodHello(uint64_t size) {
  ClientHello h{};
  h.header.magic = kHandshakeMagic;
  h.header.type = static_cast<uint16_t>(WireType::kClientHello);
  h.header.length = sizeof(ClientHello);
  h.min_version = kMinProtocolVersion;
  h.max_version = kProtocolVersion;
  h.features = kAllFeatures;
  h.data_segment_size = size;
  h.chunk_count = 12;
  h.stream_count = 8;
  h.stream_capacity = 8;
  h.request_capacity = 64;
  return h;
}

// Sends raw bytes (and fds) as the client, runs the server, and returns the
// ServerHello the client would read back.
struct RawOutcome {
  absl::Status server_status;
  ServerHello reply{};
  size_t reply_fds = 0;
};

RawOutcome SendRaw(const void* bytes, size_t size, std::vector<int> fds,
                   ServerHandshakeOptions options = ServerOptions()) {
  SocketPair pair;
  EXPECT_TRUE(SendRecord(pair.client.get(),
                         {static_cast<const uint8_t*>(bytes), size}, fds)
                  .ok());
  RawOutcome out;
  out.server_status = Serve(std::move(pair.server), options).status();
  absl::StatusOr<Record> reply = RecvRecord(
      pair.client.get(), sizeof(ServerHello) + 1, 4, In(milliseconds(5000)));
  EXPECT_TRUE(reply.ok()) << reply.status();
  if (reply.ok()) {
    EXPECT_EQ(reply->bytes.size(), sizeof(ServerHello));
    std::memcpy(&out.reply, reply->bytes.data(),
                std::min(reply->bytes.size(), sizeof(ServerHello)));
    out.reply_fds = reply->fds.size();
  }
  return out;
}

RawOutcome SendHello(const ClientHello& hello, std::vector<int> fds,
                     ServerHandshakeOptions options = ServerOptions()) {
  return SendRaw(&hello, sizeof(hello), std::move(fds), options);
}

Segment MakeDataSegment() {
  absl::StatusOr<PoolGeometry> g = PoolGeometry::Plan(SmallPool());
  EXPECT_TRUE(g.ok());
  absl::StatusOr<Segment> s =
      Segment::Create("test-data", g->segment_size, SealMode::kOwnerWritesOnly);
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

TEST(NegotiateVersionTest, PicksHighestCommonVersion) {
  EXPECT_EQ(NegotiateVersion(1, 1, 1, 1), 1);
  EXPECT_EQ(NegotiateVersion(1, 3, 2, 5), 3);
  EXPECT_EQ(NegotiateVersion(2, 5, 1, 3), 3);
  EXPECT_EQ(NegotiateVersion(1, 9, 4, 4), 4);
  EXPECT_EQ(NegotiateVersion(1, 1, 2, 3), std::nullopt);
  EXPECT_EQ(NegotiateVersion(4, 5, 1, 3), std::nullopt);
  EXPECT_EQ(NegotiateVersion(3, 1, 1, 3), std::nullopt);  // empty range
  EXPECT_EQ(NegotiateVersion(1, 3, 3, 1), std::nullopt);
}

TEST(HandshakeTest, EstablishesMatchingStateOnBothSides) {
  SocketPair pair;
  auto server =
      std::async(std::launch::async, [fd = std::move(pair.server)]() mutable {
        return Serve(std::move(fd), ServerOptions());
      });
  absl::StatusOr<Established> client = ClientHandshake(
      std::move(pair.client), ClientOptions(), In(milliseconds(5000)));
  absl::StatusOr<Established> srv = server.get();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(srv.ok()) << srv.status();

  EXPECT_EQ(client->role, Role::kClient);
  EXPECT_EQ(srv->role, Role::kServer);
  EXPECT_EQ(client->version, kProtocolVersion);
  EXPECT_EQ(srv->version, kProtocolVersion);
  EXPECT_EQ(client->features, kAllFeatures);
  EXPECT_EQ(srv->features, kAllFeatures);
  EXPECT_EQ(std::memcmp(&client->layout.params, &srv->layout.params,
                        sizeof(ControlParams)),
            0);
  EXPECT_EQ(client->layout.params.stream_count, 8u);
  EXPECT_GE(client->layout.params.client_return_capacity,
            client->own_pool.total_chunks);
  EXPECT_GE(client->layout.params.server_return_capacity,
            srv->own_pool.total_chunks);
  // Each side maps the other's data segment read-only, at the owner's size.
  EXPECT_EQ(client->peer_data.size(), srv->own_data.size());
  EXPECT_EQ(srv->peer_data.size(), client->own_data.size());
  EXPECT_EQ(client->peer_data.access(), Access::kReadOnly);
  EXPECT_EQ(srv->peer_data.access(), Access::kReadOnly);
  // The same control segment: a write on one side shows on the other.
  EXPECT_EQ(client->control.size(), srv->control.size());
  srv->control.data()[client->control.size() - 1] = 0x5a;
  EXPECT_EQ(client->control.data()[client->control.size() - 1], 0x5a);
  // The kernel refuses a writable mapping of the peer's data segment.
  void* w = ::mmap(nullptr, client->peer_data.size(), PROT_READ | PROT_WRITE,
                   MAP_SHARED, client->peer_data.fd(), 0);
  EXPECT_EQ(w, MAP_FAILED);
}

TEST(HandshakeTest, UsesOnlyFeaturesBothSidesOffer) {
  SocketPair pair;
  ServerHandshakeOptions so = ServerOptions();
  so.features = kFeatureInlinePayload;
  auto server = std::async(std::launch::async,
                           [fd = std::move(pair.server), so]() mutable {
                             return Serve(std::move(fd), so);
                           });
  ClientHandshakeOptions co = ClientOptions();
  co.features = kFeatureInlinePayload | kFeatureNotifyRing;
  absl::StatusOr<Established> client =
      ClientHandshake(std::move(pair.client), co, In(milliseconds(5000)));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->features, kFeatureInlinePayload);
  EXPECT_EQ(server.get()->features, kFeatureInlinePayload);
}

TEST(HandshakeTest, ServerCapsRequestedSizes) {
  SocketPair pair;
  ServerHandshakeOptions so = ServerOptions();
  so.max_stream_count = 4;
  so.max_stream_capacity = 4;
  so.max_request_capacity = 16;
  auto server = std::async(std::launch::async,
                           [fd = std::move(pair.server), so]() mutable {
                             return Serve(std::move(fd), so);
                           });
  ClientHandshakeOptions co = ClientOptions();
  co.stream_count = 100;
  co.stream_capacity = 100;  // not a power of two: rounded up, then capped
  co.request_capacity = 5000;
  absl::StatusOr<Established> client =
      ClientHandshake(std::move(pair.client), co, In(milliseconds(5000)));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->layout.params.stream_count, 4u);
  EXPECT_EQ(client->layout.params.stream_capacity, 4u);
  EXPECT_EQ(client->layout.params.request_capacity, 16u);
  ASSERT_TRUE(server.get().ok());
}

// Requests of any u32 size are clamped to the server's limits before they
// are rounded to a power of two (absl::bit_ceil above 2^31 is undefined
// behaviour: a crash under UBSan).
TEST(HandshakeTest, ClampsHugeRequestsToServerLimits) {
  for (uint32_t huge : {0xFFFFFFFFu, 0x80000001u, 0x80000000u, 0x7FFFFFFFu}) {
    SCOPED_TRACE(huge);
    Segment data = MakeDataSegment();
    ClientHello h = GoodHello(data.size());
    h.stream_count = huge;
    h.stream_capacity = huge;
    h.request_capacity = huge;
    ServerHandshakeOptions so = ServerOptions();
    RawOutcome out = SendHello(h, {data.fd()}, so);
    ASSERT_TRUE(out.server_status.ok()) << out.server_status;
    EXPECT_EQ(out.reply.refusal, static_cast<uint16_t>(Refusal::kAccepted))
        << out.reply.message;
    EXPECT_EQ(out.reply.params.stream_count, so.max_stream_count);
    EXPECT_EQ(out.reply.params.stream_capacity, so.max_stream_capacity);
    EXPECT_EQ(out.reply.params.request_capacity, so.max_request_capacity);
    EXPECT_EQ(out.reply_fds, 2u);
  }
}

// The server's limits are honoured for every request, including ones that
// are not powers of two, zero, or far beyond the protocol's maxima; and
// whatever it grants, a client that asked for exactly that accepts.
TEST(HandshakeTest, CheckClientHelloGrantsWithinLimitsForAnyRequest) {
  const uint32_t values[] = {0,
                             1,
                             2,
                             3,
                             7,
                             8,
                             9,
                             255,
                             256,
                             257,
                             4095,
                             4096,
                             4097,
                             65535,
                             65536,
                             65537,
                             1u << 31,
                             (1u << 31) - 1,
                             (1u << 31) + 1,
                             0xFFFFFFFEu,
                             0xFFFFFFFFu};
  ServerHandshakeOptions so = ServerOptions();
  so.max_stream_count = 100;
  so.max_stream_capacity = 100;  // not a power of two: 64 at most
  so.max_request_capacity = 1000;
  for (uint32_t v : values) {
    SCOPED_TRACE(v);
    ClientHello h = GoodHello(1 << 20);
    h.stream_count = v;
    h.stream_capacity = v;
    h.request_capacity = v;
    ClientHelloVerdict verdict = CheckClientHello(
        {reinterpret_cast<const uint8_t*>(&h), sizeof(h)}, false, 1, false,
        /*server_chunk_count=*/12, so);
    ASSERT_TRUE(verdict.accepted()) << verdict.message;
    const ControlParams& p = verdict.terms.layout.params;
    EXPECT_GE(p.stream_count, 1u);
    EXPECT_LE(p.stream_count, 100u);
    EXPECT_LE(p.stream_capacity, 64u);
    EXPECT_LE(p.request_capacity, 512u);
    EXPECT_GE(p.stream_capacity, kMinRingCapacity);
    if (v != 0) {
      EXPECT_LE(p.stream_count, v);
    }
    EXPECT_TRUE(ControlLayout::Compute(p).ok());

    // The reply this grant makes, checked by a client that asked for `v`.
    ServerHello reply{};
    reply.header.magic = kHandshakeMagic;
    reply.header.type = static_cast<uint16_t>(WireType::kServerHello);
    reply.header.length = sizeof(ServerHello);
    reply.version = verdict.terms.version;
    reply.min_version = so.min_version;
    reply.max_version = so.max_version;
    reply.features = verdict.terms.features;
    reply.control_segment_size = verdict.terms.layout.size;
    reply.data_segment_size = 1 << 20;
    reply.params = p;
    ClientHandshakeOptions co = ClientOptions();
    co.stream_count = v;
    co.stream_capacity = v;
    co.request_capacity = v;
    absl::StatusOr<NegotiatedTerms> terms = CheckServerHello(
        {reinterpret_cast<const uint8_t*>(&reply), sizeof(reply)}, false, 2,
        false, h.chunk_count, co);
    ASSERT_TRUE(terms.ok()) << terms.status();
    EXPECT_EQ(terms->layout.size, verdict.terms.layout.size);
  }
}

TEST(HandshakeTest, ServerLimitsBelowTheMinimumActAsTheMinimum) {
  ServerHandshakeOptions so = ServerOptions();
  so.max_stream_count = 0;
  so.max_stream_capacity = 1;
  so.max_request_capacity = 0;
  ClientHello h = GoodHello(1 << 20);
  ClientHelloVerdict verdict =
      CheckClientHello({reinterpret_cast<const uint8_t*>(&h), sizeof(h)}, false,
                       1, false, 12, so);
  ASSERT_TRUE(verdict.accepted()) << verdict.message;
  EXPECT_EQ(verdict.terms.layout.params.stream_count, 1u);
  EXPECT_EQ(verdict.terms.layout.params.stream_capacity, kMinRingCapacity);
  EXPECT_EQ(verdict.terms.layout.params.request_capacity, kMinRingCapacity);
}

TEST(HandshakeTest, RefusesClientWithNoCommonVersion) {
  Segment data = MakeDataSegment();
  ClientHello h = GoodHello(data.size());
  h.min_version = 7;
  h.max_version = 9;
  RawOutcome out = SendHello(h, {data.fd()});
  EXPECT_TRUE(absl::IsFailedPrecondition(out.server_status));
  EXPECT_EQ(out.reply.refusal,
            static_cast<uint16_t>(Refusal::kVersionMismatch));
  EXPECT_THAT(out.reply.message, HasSubstr("no common protocol version"));
  EXPECT_THAT(out.reply.message, HasSubstr("[7, 9]"));
  EXPECT_EQ(out.reply.max_version, kProtocolVersion);
  EXPECT_EQ(out.reply_fds, 0u);
}

TEST(HandshakeTest, ClientReportsServerRefusalWithItsMessage) {
  // A server that supports only versions the client does not offer.
  SocketPair pair;
  auto server =
      std::async(std::launch::async, [fd = std::move(pair.server)]() mutable {
        absl::StatusOr<Record> hello = RecvRecord(
            fd.get(), sizeof(ClientHello) + 1, 2, In(milliseconds(5000)));
        EXPECT_TRUE(hello.ok());
        SendRefusal(fd.get(), Refusal::kVersionMismatch,
                    "server speaks only v9", ServerOptions());
      });
  absl::StatusOr<Established> client = ClientHandshake(
      std::move(pair.client), ClientOptions(), In(milliseconds(5000)));
  server.get();
  ASSERT_FALSE(client.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(client.status())) << client.status();
  EXPECT_THAT(client.status().message(), HasSubstr("server speaks only v9"));
}

TEST(HandshakeTest, ServerRefusesUidNotOnAllowList) {
  SocketPair pair;
  ServerHandshakeOptions so = ServerOptions();
  so.allow.uids = {::geteuid() + 1};
  auto server = std::async(std::launch::async,
                           [fd = std::move(pair.server), so]() mutable {
                             return Serve(std::move(fd), so);
                           });
  absl::StatusOr<Established> client = ClientHandshake(
      std::move(pair.client), ClientOptions(), In(milliseconds(5000)));
  absl::StatusOr<Established> srv = server.get();
  ASSERT_FALSE(client.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(client.status())) << client.status();
  EXPECT_THAT(client.status().message(), HasSubstr("allow-list"));
  EXPECT_TRUE(absl::IsPermissionDenied(srv.status()));
}

TEST(HandshakeTest, AdmissionRefusalReachesTheClient) {
  SocketPair pair;
  ServerHandshakeOptions so = ServerOptions();
  int asked = 0;
  so.admit = [&asked](const PeerCredentials& peer) {
    ++asked;
    EXPECT_EQ(peer.pid, ::getpid());
    return absl::ResourceExhaustedError("server has 3 of 3 connections");
  };
  auto server = std::async(std::launch::async,
                           [fd = std::move(pair.server), so]() mutable {
                             return Serve(std::move(fd), so);
                           });
  absl::StatusOr<Established> client = ClientHandshake(
      std::move(pair.client), ClientOptions(), In(milliseconds(5000)));
  absl::StatusOr<Established> srv = server.get();
  ASSERT_FALSE(client.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(client.status())) << client.status();
  EXPECT_THAT(client.status().message(),
              HasSubstr("server has 3 of 3 connections"));
  EXPECT_TRUE(absl::IsResourceExhausted(srv.status()));
  EXPECT_EQ(asked, 1);
}

TEST(HandshakeTest, AdmissionIsNotAskedForPeersOffTheAllowList) {
  ServerHandshakeOptions so = ServerOptions();
  so.allow.uids = {::geteuid() + 1};
  bool asked = false;
  so.admit = [&asked](const PeerCredentials&) {
    asked = true;
    return absl::OkStatus();
  };
  Segment segment = MakeDataSegment();
  RawOutcome out = SendHello(GoodHello(segment.size()), {segment.fd()}, so);
  EXPECT_EQ(out.reply.refusal,
            static_cast<uint16_t>(Refusal::kPermissionDenied));
  EXPECT_FALSE(asked);
}

TEST(HandshakeTest, AllowListAcceptsByGroupOrAnyone) {
  PeerAllowList by_gid;
  by_gid.gids = {::getegid()};
  EXPECT_TRUE(by_gid.Allows(Me()));
  PeerAllowList none;
  EXPECT_FALSE(none.Allows(Me()));
  PeerAllowList any;
  any.allow_any = true;
  EXPECT_TRUE(any.Allows(Me()));
  EXPECT_TRUE(PeerAllowList::SameUser().Allows(Me()));
}

TEST(HandshakeTest, ClientRefusesServerNotOnItsAllowList) {
  SocketPair pair;
  ClientHandshakeOptions co = ClientOptions();
  co.allow.uids = {::geteuid() + 1};
  absl::StatusOr<Established> client =
      ClientHandshake(std::move(pair.client), co, In(milliseconds(5000)));
  ASSERT_FALSE(client.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(client.status())) << client.status();
  // It refused before sending anything: the server reads end-of-stream.
  absl::StatusOr<Record> hello =
      RecvRecord(pair.server.get(), 1024, 2, In(milliseconds(1000)));
  EXPECT_TRUE(absl::IsUnavailable(hello.status())) << hello.status();
}

TEST(HandshakeTest, RefusesUnsealedSegment) {
  UniqueFd memfd(::memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_EQ(::ftruncate(memfd.get(), 1 << 20), 0);
  RawOutcome out = SendHello(GoodHello(1 << 20), {memfd.get()});
  EXPECT_EQ(out.reply.refusal, static_cast<uint16_t>(Refusal::kBadSegment));
  EXPECT_THAT(out.reply.message, HasSubstr("not sealed"));
  EXPECT_TRUE(absl::IsFailedPrecondition(out.server_status));
}

TEST(HandshakeTest, RefusesPartlySealedSegment) {
  UniqueFd memfd(::memfd_create("half", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_EQ(::ftruncate(memfd.get(), 1 << 20), 0);
  ASSERT_EQ(::fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_GROW), 0);  // can shrink
  RawOutcome out = SendHello(GoodHello(1 << 20), {memfd.get()});
  EXPECT_EQ(out.reply.refusal, static_cast<uint16_t>(Refusal::kBadSegment));
  EXPECT_THAT(out.reply.message, HasSubstr("not sealed"));
}

TEST(HandshakeTest, RefusesSegmentShorterThanDeclared) {
  Segment data = MakeDataSegment();
  RawOutcome out = SendHello(GoodHello(data.size() + 4096), {data.fd()});
  EXPECT_EQ(out.reply.refusal, static_cast<uint16_t>(Refusal::kBadSegment));
  EXPECT_THAT(out.reply.message, HasSubstr("expected"));
}

TEST(HandshakeTest, RefusesFdThatIsNotAMemfd) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  RawOutcome out = SendHello(GoodHello(1 << 20), {r.get()});
  EXPECT_EQ(out.reply.refusal, static_cast<uint16_t>(Refusal::kBadSegment));
  EXPECT_THAT(out.reply.message, HasSubstr("memfd"));
}

TEST(HandshakeTest, RefusesWrongNumberOfFds) {
  Segment data = MakeDataSegment();
  RawOutcome none = SendHello(GoodHello(data.size()), {});
  EXPECT_EQ(none.reply.refusal, static_cast<uint16_t>(Refusal::kBadSegment));
  EXPECT_THAT(none.reply.message, HasSubstr("exactly 1 fd"));
  RawOutcome two = SendHello(GoodHello(data.size()), {data.fd(), data.fd()});
  EXPECT_EQ(two.reply.refusal, static_cast<uint16_t>(Refusal::kBadSegment));
}

TEST(HandshakeTest, RefusesGarbageBytes) {
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  garbage.resize(sizeof(ClientHello), 'x');
  RawOutcome out = SendRaw(garbage.data(), garbage.size(), {});
  EXPECT_EQ(out.reply.refusal, static_cast<uint16_t>(Refusal::kMalformed));
  EXPECT_THAT(out.reply.message, HasSubstr("magic"));

  RawOutcome short_record = SendRaw("hi", 2, {});
  EXPECT_EQ(short_record.reply.refusal,
            static_cast<uint16_t>(Refusal::kMalformed));
  EXPECT_THAT(short_record.reply.message, HasSubstr("64 bytes"));

  std::string too_long(1000, '\0');
  RawOutcome long_record = SendRaw(too_long.data(), too_long.size(), {});
  EXPECT_EQ(long_record.reply.refusal,
            static_cast<uint16_t>(Refusal::kMalformed));
}

TEST(HandshakeTest, RefusesMalformedHeaderAndReservedFields) {
  Segment data = MakeDataSegment();
  ClientHello wrong_type = GoodHello(data.size());
  wrong_type.header.type = static_cast<uint16_t>(WireType::kServerHello);
  EXPECT_EQ(SendHello(wrong_type, {data.fd()}).reply.refusal,
            static_cast<uint16_t>(Refusal::kMalformed));
  ClientHello wrong_length = GoodHello(data.size());
  wrong_length.header.length = 12;
  EXPECT_EQ(SendHello(wrong_length, {data.fd()}).reply.refusal,
            static_cast<uint16_t>(Refusal::kMalformed));
  ClientHello reserved = GoodHello(data.size());
  reserved.zero1 = 1;
  EXPECT_EQ(SendHello(reserved, {data.fd()}).reply.refusal,
            static_cast<uint16_t>(Refusal::kMalformed));
}

TEST(HandshakeTest, RefusesOutOfBoundsParameters) {
  Segment data = MakeDataSegment();
  ClientHello no_chunks = GoodHello(data.size());
  no_chunks.chunk_count = 0;
  RawOutcome a = SendHello(no_chunks, {data.fd()});
  EXPECT_EQ(a.reply.refusal, static_cast<uint16_t>(Refusal::kBadParameters));
  EXPECT_TRUE(absl::IsInvalidArgument(a.server_status));

  ClientHello too_many = GoodHello(data.size());
  too_many.chunk_count = kMaxRingCapacity + 1;
  EXPECT_EQ(SendHello(too_many, {data.fd()}).reply.refusal,
            static_cast<uint16_t>(Refusal::kBadParameters));

  ServerHandshakeOptions small_limit = ServerOptions();
  small_limit.max_peer_segment_size = data.size() - 1;
  EXPECT_EQ(
      SendHello(GoodHello(data.size()), {data.fd()}, small_limit).reply.refusal,
      static_cast<uint16_t>(Refusal::kBadParameters));
}

TEST(HandshakeTest, ClientTimesOutOnSilentServer) {
  SocketPair pair;
  const auto start = steady_clock::now();
  absl::StatusOr<Established> client = ClientHandshake(
      std::move(pair.client), ClientOptions(), In(milliseconds(100)));
  const auto took = steady_clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(client.status())) << client.status();
  EXPECT_GE(took, milliseconds(100));
  EXPECT_LT(took, milliseconds(2000));
}

// A server may refuse a client before reading its hello (too many
// handshakes from its process, out of fds) and close at once; the client's
// hello then meets a closed socket, but the refusal is still there to read.
TEST(HandshakeTest, ClientReportsRefusalSentBeforeItsHello) {
  SocketPair pair;
  SendRefusal(pair.server.get(), Refusal::kResourceExhausted,
              "too many handshakes in progress from pid 7", ServerOptions());
  pair.server.reset();
  absl::StatusOr<Established> client = ClientHandshake(
      std::move(pair.client), ClientOptions(), In(milliseconds(5000)));
  EXPECT_TRUE(absl::IsResourceExhausted(client.status())) << client.status();
  EXPECT_THAT(client.status().message(), HasSubstr("from pid 7"));
}

TEST(HandshakeTest, ClientReportsServerHangingUp) {
  SocketPair pair;
  std::thread hangup([&] {
    absl::StatusOr<Record> hello = RecvRecord(
        pair.server.get(), sizeof(ClientHello) + 1, 2, In(milliseconds(5000)));
    EXPECT_TRUE(hello.ok());
    pair.server.reset();
  });
  absl::StatusOr<Established> client = ClientHandshake(
      std::move(pair.client), ClientOptions(), In(milliseconds(5000)));
  hangup.join();
  EXPECT_TRUE(absl::IsUnavailable(client.status())) << client.status();
}

// A fake server that accepts with whatever ServerHello and fds `tamper`
// produces from a genuine acceptance.
absl::Status ClientAgainstTamperedServer(
    const std::function<void(ServerHello*, std::vector<int>*, Established*)>&
        tamper) {
  SocketPair pair;
  SocketPair inner;  // a genuine server runs on this pair
  std::thread fake([&] {
    // Relay the client's hello to a genuine server, then tamper with the
    // answer before passing it on.
    absl::StatusOr<Record> hello = RecvRecord(
        pair.server.get(), sizeof(ClientHello) + 1, 2, In(milliseconds(5000)));
    ASSERT_TRUE(hello.ok());
    std::vector<int> fds;
    for (auto& fd : hello->fds) fds.push_back(fd.get());
    ASSERT_TRUE(SendRecord(inner.client.get(), hello->bytes, fds).ok());
    absl::StatusOr<Established> genuine =
        Serve(std::move(inner.server), ServerOptions());
    ASSERT_TRUE(genuine.ok()) << genuine.status();
    absl::StatusOr<Record> reply = RecvRecord(
        inner.client.get(), sizeof(ServerHello) + 1, 2, In(milliseconds(5000)));
    ASSERT_TRUE(reply.ok());
    ServerHello h;
    std::memcpy(&h, reply->bytes.data(), sizeof(h));
    std::vector<int> reply_fds;
    for (auto& fd : reply->fds) reply_fds.push_back(fd.get());
    tamper(&h, &reply_fds, &*genuine);
    ASSERT_TRUE(SendRecord(pair.server.get(),
                           {reinterpret_cast<uint8_t*>(&h), sizeof(h)},
                           reply_fds)
                    .ok());
  });
  absl::StatusOr<Established> client = ClientHandshake(
      std::move(pair.client), ClientOptions(), In(milliseconds(5000)));
  fake.join();
  return client.status();
}

TEST(HandshakeTest, ClientValidatesWhatTheServerChose) {
  EXPECT_TRUE(ClientAgainstTamperedServer([](auto*, auto*, auto*) {}).ok());

  absl::Status features = ClientAgainstTamperedServer(
      [](ServerHello* h, auto*, auto*) { h->features |= uint64_t{1} << 40; });
  EXPECT_TRUE(absl::IsFailedPrecondition(features)) << features;
  EXPECT_THAT(features.message(), HasSubstr("did not offer"));

  absl::Status version = ClientAgainstTamperedServer(
      [](ServerHello* h, auto*, auto*) { h->version = 0; });
  EXPECT_TRUE(absl::IsFailedPrecondition(version)) << version;

  absl::Status params = ClientAgainstTamperedServer(
      [](ServerHello* h, auto*, auto*) { h->params.stream_capacity = 3; });
  EXPECT_THAT(params.message(), HasSubstr("bad ring sizes"));

  absl::Status returns =
      ClientAgainstTamperedServer([](ServerHello* h, auto*, auto*) {
        h->params.client_return_capacity = 2;
      });
  EXPECT_THAT(returns.message(), HasSubstr("cannot hold our"));

  absl::Status size = ClientAgainstTamperedServer(
      [](ServerHello* h, auto*, auto*) { h->control_segment_size += 4096; });
  EXPECT_THAT(size.message(), HasSubstr("does not match its layout"));

  absl::Status fds = ClientAgainstTamperedServer(
      [](auto*, std::vector<int>* f, auto*) { f->pop_back(); });
  EXPECT_THAT(fds.message(), HasSubstr("expected 2"));

  absl::Status header =
      ClientAgainstTamperedServer([](auto*, auto*, Established* genuine) {
        reinterpret_cast<ControlHeader*>(genuine->control.data())->magic = 0;
      });
  EXPECT_THAT(header.message(), HasSubstr("header does not match"));

  // An unsealed control segment in place of the real one.
  UniqueFd unsealed(::memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  absl::Status seals = ClientAgainstTamperedServer(
      [&](ServerHello* h, std::vector<int>* f, auto*) {
        ASSERT_EQ(::ftruncate(unsealed.get(),
                              static_cast<off_t>(h->control_segment_size)),
                  0);
        (*f)[0] = unsealed.get();
      });
  EXPECT_THAT(seals.message(), HasSubstr("not sealed"));
}

// Replaces the genuine control segment of a tampered ServerHello with one
// laid out for `params`, consistent in every other respect (size, header),
// as a hostile server would make it. `keep` holds the new segment.
void ForgeControl(ServerHello* h, std::vector<int>* fds,
                  const ControlParams& params, std::optional<Segment>* keep) {
  absl::StatusOr<ControlLayout> layout = ControlLayout::Compute(params);
  ASSERT_TRUE(layout.ok()) << layout.status();
  absl::StatusOr<Segment> control =
      Segment::Create("forged-control", layout->size, SealMode::kShared);
  ASSERT_TRUE(control.ok()) << control.status();
  auto* header = reinterpret_cast<ControlHeader*>(control->data());
  header->magic = kControlMagic;
  header->version = h->version;
  header->header_size = sizeof(ControlHeader);
  header->segment_size = layout->size;
  header->features = h->features;
  header->params = params;
  h->params = params;
  h->control_segment_size = layout->size;
  (*fds)[0] = control->fd();
  keep->emplace(std::move(*control));
}

// A server may grant less than the client asked for, never more: rings the
// client did not ask for cost it memory, mappings and wake-ups.
TEST(HandshakeTest, ClientRefusesGrantsBeyondWhatItAskedFor) {
  // What ClientOptions() asks: 8 streams of 8 entries, 1024 requests; 12
  // chunks (client_returns: 16). The genuine server grants exactly that.
  std::optional<Segment> keep;
  auto forged = [&](std::function<void(ControlParams*)> change) {
    return ClientAgainstTamperedServer(
        [&](ServerHello* h, std::vector<int>* fds, auto*) {
          ControlParams p = h->params;
          change(&p);
          ForgeControl(h, fds, p, &keep);
        });
  };
  // The forgery itself is sound: unchanged params are accepted.
  EXPECT_TRUE(forged([](ControlParams*) {}).ok());

  absl::Status streams = forged([](ControlParams* p) {
    p->stream_count = 16;
    p->notify_capacity = 16;
  });
  EXPECT_TRUE(absl::IsFailedPrecondition(streams)) << streams;
  EXPECT_THAT(streams.message(), HasSubstr("stream_count 16"));

  absl::Status depth =
      forged([](ControlParams* p) { p->stream_capacity = 16; });
  EXPECT_TRUE(absl::IsFailedPrecondition(depth)) << depth;
  EXPECT_THAT(depth.message(), HasSubstr("stream_capacity 16"));

  absl::Status requests =
      forged([](ControlParams* p) { p->request_capacity = 2048; });
  EXPECT_TRUE(absl::IsFailedPrecondition(requests)) << requests;
  EXPECT_THAT(requests.message(), HasSubstr("request_capacity 2048"));

  absl::Status client_returns =
      forged([](ControlParams* p) { p->client_return_capacity = 1024; });
  EXPECT_TRUE(absl::IsFailedPrecondition(client_returns)) << client_returns;
  EXPECT_THAT(client_returns.message(),
              HasSubstr("client_return_capacity 1024"));

  absl::Status notify =
      forged([](ControlParams* p) { p->notify_capacity = 4096; });
  EXPECT_TRUE(absl::IsFailedPrecondition(notify)) << notify;
  EXPECT_THAT(notify.message(), HasSubstr("notify_capacity 4096"));

  // The server's small pool (8 x 256 B, 4 x 4 KiB) fits in a few pages: it
  // can never lend 65536 chunks.
  absl::Status server_returns =
      forged([](ControlParams* p) { p->server_return_capacity = 65536; });
  EXPECT_TRUE(absl::IsFailedPrecondition(server_returns)) << server_returns;
  EXPECT_THAT(server_returns.message(),
              HasSubstr("server_return_capacity 65536"));
}

TEST(HandshakeTest, CheckServerHelloRefusesMalformedRecords) {
  ClientHandshakeOptions co = ClientOptions();
  ServerHello reply{};
  auto check = [&](size_t size, bool truncated) {
    return CheckServerHello({reinterpret_cast<const uint8_t*>(&reply), size},
                            truncated, 2, false, 12, co)
        .status();
  };
  EXPECT_TRUE(absl::IsDataLoss(check(sizeof(reply), false)));  // magic 0
  EXPECT_TRUE(absl::IsDataLoss(check(10, false)));
  reply.header.magic = kHandshakeMagic;
  reply.header.type = static_cast<uint16_t>(WireType::kServerHello);
  reply.header.length = sizeof(ServerHello);
  EXPECT_TRUE(absl::IsDataLoss(check(sizeof(reply), true)));
  // A refusal with a message that is not NUL-terminated.
  reply.refusal = static_cast<uint16_t>(Refusal::kShuttingDown);
  std::memset(reply.message, 'x', sizeof(reply.message));
  absl::Status refused = check(sizeof(reply), false);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr(std::string(255, 'x')));
  // An unknown refusal code.
  reply.refusal = 999;
  EXPECT_TRUE(absl::IsUnknown(check(sizeof(reply), false)));
}

}  // namespace
}  // namespace shmrpc::transport
