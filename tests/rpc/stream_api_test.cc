// gRPC's own stub (probe.grpc.pb.h, unchanged) on ShmChannelCredentials,
// and the generated shmrpc stub's callback forms, with the two asynchronous
// client APIs - callback reactors
// (ClientReadReactor, ClientWriteReactor, ClientBidiReactor) and the
// completion queue (PrepareAsync*/Async*) - for all three streaming kinds,
// with the server (probe_server) in another process. Every case runs over
// shared memory (the handler's report says so) and on a plain gRPC channel
// to the same server, asserting the same observable result. (The blocking
// API is stream_test's.)
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/probe_service.h"
#include "tests/rpc/probe_testing.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// kShmCreds: gRPC's stub on ShmChannelCredentials; kShmStub: the generated
// stub's callback forms (async()) on the same channel; kGrpc: gRPC's stub
// on a plain channel.
enum class Transport { kShmCreds, kShmStub, kGrpc };

std::string TransportName(const ::testing::TestParamInfo<Transport>& info) {
  switch (info.param) {
    case Transport::kShmCreds:
      return "ShmCreds";
    case Transport::kShmStub:
      return "ShmStub";
    default:
      return "Grpc";
  }
}

// Waits for a reactor's OnDone (30 s at most) and returns its status.
class Done {
 public:
  void Set(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    cv_.notify_all();
  }
  bool IsSet() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  grpc::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(30), [&] { return done_; })) {
      ADD_FAILURE() << "OnDone never came";
      return grpc::Status(grpc::StatusCode::INTERNAL, "test: no OnDone");
    }
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

class StreamApiTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ::setenv("SHMRPC_DIR", dir_.File("endpoints").c_str(), 1);
    ::unsetenv(kShmModeEnvVar);
    server_ = std::make_unique<ProbeServer>();
    ASSERT_NE(server_->port(), 0) << "server did not start";
    if (GetParam() == Transport::kGrpc) {
      channel_ = grpc::CreateChannel(server_->target(),
                                     grpc::InsecureChannelCredentials());
    } else {
      ShmChannelOptions options;
      options.mode = ShmMode::kRequired;
      channel_ = grpc::CreateChannel(
          server_->target(),
          ShmChannelCredentials(grpc::InsecureChannelCredentials(), options));
    }
    stub_ = Probe::NewStub(channel_);
    report_stub_ = ShmProbe::NewStub(channel_);
  }
  void TearDown() override { ::unsetenv("SHMRPC_DIR"); }

  static void WithDeadline(grpc::ClientContext* context,
                           milliseconds timeout = milliseconds(20000)) {
    context->set_deadline(system_clock::now() + timeout);
  }

  // The report on `tag` once its handler finished; checks which transport
  // carried the call.
  Report Finished(const std::string& tag) {
    std::optional<Report> r =
        WaitForReport(*report_stub_, tag, milliseconds(10000));
    EXPECT_TRUE(r.has_value() && r->finished()) << "handler of " << tag;
    if (r.has_value()) {
      EXPECT_EQ(r->shared_memory(), GetParam() != Transport::kGrpc) << tag;
    }
    return r.value_or(Report());
  }

  // Starts `client` (a reactor with a templated Start) on the stub under
  // test.
  template <class Client, class... Args>
  void StartOn(Client& client, Args... args) {
    if (GetParam() == Transport::kShmStub) {
      client.Start(report_stub_.get(), args...);
    } else {
      client.Start(stub_.get(), args...);
    }
  }

  TempDir dir_;
  std::unique_ptr<ProbeServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Probe::Stub> stub_;
  std::unique_ptr<ShmProbe::Stub> report_stub_;
};

// ---- callback API -----------------------------------------------------------

// Reads a Stream call to its end (or only `max_reads` messages, then
// stops reading), checking every byte.
class Reader final : public grpc::ClientReadReactor<StreamMessage> {
 public:
  Reader(std::vector<int32_t> sizes, int max_reads = -1)
      : sizes_(std::move(sizes)), max_reads_(max_reads) {}

  template <class Stub>
  void Start(Stub* stub, grpc::ClientContext* context,
             const StreamRequest& request) {
    stub->async()->Stream(context, &request, this);
    if (hold_) AddHold();
    StartRead(&message_);
    StartCall();
  }
  void OnReadInitialMetadataDone(bool ok) override { initial_ok_ = ok; }
  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(mu_);
      ended_ = true;
      cv_.notify_all();
      return;
    }
    const int32_t size = sizes_[static_cast<size_t>(n_) % sizes_.size()];
    if (message_.index() != n_ ||
        message_.payload() != StreamPayload(n_, size)) {
      ++bad_;
    }
    ++n_;
    if (max_reads_ < 0 || n_ < max_reads_) StartRead(&message_);
  }
  void OnDone(const grpc::Status& status) override { done_.Set(status); }

  grpc::Status Wait() { return done_.Wait(); }
  bool done() { return done_.IsSet(); }
  // Start with a hold (RemoveHold() lets OnDone come).
  void HoldAtStart() { hold_ = true; }
  // Waits (10 s at most) for the read that says the stream ended.
  bool WaitForEnd() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ended_; });
  }
  int count() const { return n_; }
  int bad() const { return bad_; }
  bool initial_ok() const { return initial_ok_; }

 private:
  const std::vector<int32_t> sizes_;
  const int max_reads_;
  StreamMessage message_;
  int n_ = 0;
  int bad_ = 0;
  bool initial_ok_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool ended_ = false;
  bool hold_ = false;
  Done done_;
};

TEST_P(StreamApiTest, CallbackServerStreamingCarriesEveryByteAndMetadata) {
  const std::vector<int32_t> sizes = {0, 64, 4000, 70000, 1 << 20};
  StreamRequest request;
  request.set_tag("cb-stream");
  for (int32_t s : sizes) request.add_sizes(s);
  request.set_rounds(4);
  grpc::ClientContext context;
  WithDeadline(&context);
  Reader reader(sizes);
  StartOn(reader, &context, request);
  const grpc::Status status = reader.Wait();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reader.count(), 20);
  EXPECT_EQ(reader.bad(), 0);
  EXPECT_TRUE(reader.initial_ok());
  EXPECT_EQ(
      MetadataValue(context.GetServerInitialMetadata(), kStreamInitialKey),
      kStreamInitialValue);
  EXPECT_EQ(
      MetadataValue(context.GetServerTrailingMetadata(), kStreamTrailingBinKey),
      std::string(kStreamTrailingBinValue, sizeof(kStreamTrailingBinValue)));
  Finished("cb-stream");
}

TEST_P(StreamApiTest, CallbackServerStreamingErrorStatusWithDetails) {
  StreamRequest request;
  request.set_tag("cb-error");
  request.add_sizes(10);
  request.set_rounds(3);
  request.set_status_code(grpc::StatusCode::FAILED_PRECONDITION);
  request.set_status_message("not now");
  request.set_status_details(std::string("\x01\0\x02", 3));
  grpc::ClientContext context;
  WithDeadline(&context);
  Reader reader({10});
  StartOn(reader, &context, request);
  const grpc::Status status = reader.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "not now");
  EXPECT_EQ(status.error_details(), std::string("\x01\0\x02", 3));
  EXPECT_EQ(reader.count(), 3);
  Finished("cb-error");
}

// A hold keeps OnDone back after the call ended until it is removed, and
// operations started before StartCall run once it is called.
TEST_P(StreamApiTest, CallbackHoldDelaysOnDone) {
  StreamRequest request;
  request.set_tag("cb-hold");
  request.add_sizes(100);
  request.set_rounds(5);
  grpc::ClientContext context;
  WithDeadline(&context);
  Reader reader({100});
  reader.HoldAtStart();
  StartOn(reader, &context, request);
  ASSERT_TRUE(reader.WaitForEnd());
  // The stream ended (OnReadDone(false)); OnDone waits for the hold.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(reader.done());
  reader.RemoveHold();
  const grpc::Status status = reader.Wait();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reader.count(), 5);
  Finished("cb-hold");
}

// A reactor that stops reading: the server is held up by flow control and
// the call ends at its deadline, on both sides.
TEST_P(StreamApiTest, CallbackReaderThatStopsReadingEndsAtTheDeadline) {
  StreamRequest request;
  request.set_tag("cb-stop-reading");
  request.add_sizes(64 << 10);
  request.set_rounds(100000);
  grpc::ClientContext context;
  WithDeadline(&context, milliseconds(500));
  Reader reader({64 << 10}, /*max_reads=*/1);
  StartOn(reader, &context, request);
  const grpc::Status status = reader.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  EXPECT_EQ(reader.count(), 1);
  const Report report = Finished("cb-stop-reading");
  EXPECT_TRUE(report.saw_cancel() || report.write_failed());
}

// Writes `count` messages, then half-closes.
class Writer final : public grpc::ClientWriteReactor<StreamMessage> {
 public:
  // Messages of `size` bytes, or of varied sizes if 0.
  explicit Writer(int count, int32_t size = 0) : count_(count), size_(size) {}

  template <class Stub>
  void Start(Stub* stub, grpc::ClientContext* context, UploadSummary* summary) {
    stub->async()->Upload(context, summary, this);
    Next();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return;
    ++written_;
    Next();
  }
  void OnDone(const grpc::Status& status) override { done_.Set(status); }

  grpc::Status Wait() { return done_.Wait(); }

 private:
  void Next() {
    if (sent_ == count_) {
      StartWritesDone();
      return;
    }
    message_ = Numbered(sent_, size_ > 0 ? size_ : 100 + 997 * (sent_ % 70));
    ++sent_;
    StartWrite(&message_);
  }

  const int count_;
  const int32_t size_;
  int sent_ = 0;
  int written_ = 0;
  StreamMessage message_;
  Done done_;
};

TEST_P(StreamApiTest, CallbackClientStreamingCarriesEveryByteAndTheResponse) {
  grpc::ClientContext context;
  WithDeadline(&context);
  context.AddMetadata("x-tag", "cb-upload");
  UploadSummary summary;
  Writer writer(200);
  StartOn(writer, &context, &summary);
  const grpc::Status status = writer.Wait();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(summary.messages(), 200);
  EXPECT_TRUE(summary.intact());
  Finished("cb-upload");
}

TEST_P(StreamApiTest, CallbackClientStreamingEndsAtTheDeadline) {
  grpc::ClientContext context;
  WithDeadline(&context, milliseconds(300));
  context.AddMetadata("x-tag", "cb-upload-deadline");
  context.AddMetadata("x-read-delay-ms", "1000");
  UploadSummary summary;
  Writer writer(1000);
  StartOn(writer, &context, &summary);
  const grpc::Status status = writer.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  Finished("cb-upload-deadline");
}

// Long streams through reactors that start each operation from the last
// one's reaction: every message arrives (a reaction that ran its next
// operation on the spot would recurse once per message, as deep as the
// stream is long).
TEST_P(StreamApiTest, CallbackLongStreamsBothWays) {
  constexpr int kMessages = 60000;
  StreamRequest request;
  request.set_tag("cb-long");
  request.add_sizes(16);
  request.set_rounds(kMessages);
  grpc::ClientContext read_context;
  WithDeadline(&read_context, milliseconds(120000));
  Reader reader({16});
  StartOn(reader, &read_context, request);
  const grpc::Status read_status = reader.Wait();
  EXPECT_TRUE(read_status.ok()) << read_status.error_message();
  EXPECT_EQ(reader.count(), kMessages);
  EXPECT_EQ(reader.bad(), 0);
  Finished("cb-long");

  grpc::ClientContext write_context;
  WithDeadline(&write_context, milliseconds(120000));
  write_context.AddMetadata("x-tag", "cb-long-upload");
  UploadSummary summary;
  Writer writer(kMessages, /*size=*/16);
  StartOn(writer, &write_context, &summary);
  const grpc::Status write_status = writer.Wait();
  EXPECT_TRUE(write_status.ok()) << write_status.error_message();
  EXPECT_EQ(summary.messages(), kMessages);
  EXPECT_TRUE(summary.intact());
  Finished("cb-long-upload");
}

// Ping-pong: one message each way per round (the next round starts once
// both the write and the read of this one are done), then half-close; or a
// TryCancel after `cancel_after` rounds.
class PingPong final
    : public grpc::ClientBidiReactor<StreamMessage, StreamMessage> {
 public:
  PingPong(int rounds, grpc::ClientContext* context, int cancel_after = -1)
      : rounds_(rounds), context_(context), cancel_after_(cancel_after) {}

  static int32_t Size(int n) { return 32 + 101 * (n % 50); }

  template <class Stub>
  void Start(Stub* stub) {
    stub->async()->Chat(context_, this);
    Round();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) RoundPartDone();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (in_.index() != n_ || in_.payload() != StreamPayload(n_, Size(n_))) {
        ++bad_;
      }
    }
    RoundPartDone();
  }
  void OnDone(const grpc::Status& status) override { done_.Set(status); }

  grpc::Status Wait() { return done_.Wait(); }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return n_;
  }
  int bad() {
    std::lock_guard<std::mutex> lock(mu_);
    return bad_;
  }

 private:
  void Round() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      parts_ = 0;
      out_ = Numbered(n_, Size(n_));
    }
    StartWrite(&out_);
    StartRead(&in_);
  }
  void RoundPartDone() {
    int n;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (++parts_ < 2) return;
      n = ++n_;
    }
    if (n == cancel_after_) {
      context_->TryCancel();
    } else if (n == rounds_) {
      StartWritesDone();
    } else {
      Round();
    }
  }

  const int rounds_;
  grpc::ClientContext* const context_;
  const int cancel_after_;
  std::mutex mu_;
  StreamMessage out_, in_;
  int parts_ = 0;
  int n_ = 0;
  int bad_ = 0;
  Done done_;
};

TEST_P(StreamApiTest, CallbackBidiPingPongInOrder) {
  grpc::ClientContext context;
  WithDeadline(&context);
  context.AddMetadata("x-tag", "cb-chat");
  PingPong chat(300, &context);
  StartOn(chat);
  const grpc::Status status = chat.Wait();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(chat.count(), 300);
  EXPECT_EQ(chat.bad(), 0);
  EXPECT_EQ(Finished("cb-chat").reads(), 300);
  // gRPC's peer() names the server on every path.
  const std::string peer = context.peer();
  if (GetParam() == Transport::kGrpc) {
    EXPECT_EQ(peer.rfind("ipv4:127.0.0.1:", 0), 0u) << peer;
  } else {
    EXPECT_EQ(peer, "shmrpc:pid=" + std::to_string(server_->pid()) +
                        ",uid=" + std::to_string(::getuid()));
  }
}

TEST_P(StreamApiTest, CallbackBidiTryCancelEndsBothSides) {
  grpc::ClientContext context;
  WithDeadline(&context);
  context.AddMetadata("x-tag", "cb-chat-cancel");
  PingPong chat(1000, &context, /*cancel_after=*/5);
  StartOn(chat);
  const grpc::Status status = chat.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED)
      << status.error_message();
  EXPECT_EQ(chat.count(), 5);
  EXPECT_TRUE(Finished("cb-chat-cancel").saw_cancel());
}

// ---- completion-queue API ---------------------------------------------------

// gRPC's stub only: the generated stub has no completion-queue API.
class StreamCqTest : public StreamApiTest {};

INSTANTIATE_TEST_SUITE_P(GrpcStub, StreamCqTest,
                         ::testing::Values(Transport::kShmCreds,
                                           Transport::kGrpc),
                         TransportName);

// The next event of `cq` (10 s at most): its tag and ok.
std::pair<void*, bool> NextEvent(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  const auto r =
      cq.AsyncNext(&tag, &ok, system_clock::now() + std::chrono::seconds(10));
  EXPECT_EQ(r, grpc::CompletionQueue::GOT_EVENT);
  return {tag, ok};
}

void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }

// Shuts `cq` down and takes what is left.
void Drain(grpc::CompletionQueue& cq) {
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

// Expects the next event to be `tag`; returns its ok.
bool Expect(grpc::CompletionQueue& cq, intptr_t tag) {
  const auto [got, ok] = NextEvent(cq);
  EXPECT_EQ(got, Tag(tag));
  return ok;
}

TEST_P(StreamCqTest, CompletionQueueServerStreaming) {
  const std::vector<int32_t> sizes = {1, 5000, 300000};
  StreamRequest request;
  request.set_tag("cq-stream");
  for (int32_t s : sizes) request.add_sizes(s);
  request.set_rounds(5);
  grpc::ClientContext context;
  WithDeadline(&context);
  grpc::CompletionQueue cq;
  auto reader = stub_->PrepareAsyncStream(&context, request, &cq);
  reader->StartCall(Tag(1));
  ASSERT_TRUE(Expect(cq, 1));
  reader->ReadInitialMetadata(Tag(2));
  ASSERT_TRUE(Expect(cq, 2));
  EXPECT_EQ(
      MetadataValue(context.GetServerInitialMetadata(), kStreamInitialKey),
      kStreamInitialValue);
  StreamMessage m;
  int n = 0;
  for (;;) {
    reader->Read(&m, Tag(3));
    if (!Expect(cq, 3)) break;
    const int32_t size = sizes[static_cast<size_t>(n) % sizes.size()];
    EXPECT_EQ(m.index(), n);
    EXPECT_TRUE(m.payload() == StreamPayload(n, size)) << "message " << n;
    ++n;
  }
  EXPECT_EQ(n, 15);
  grpc::Status status;
  reader->Finish(&status, Tag(4));
  EXPECT_TRUE(Expect(cq, 4));
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(
      MetadataValue(context.GetServerTrailingMetadata(), kStreamTrailingKey),
      kStreamTrailingValue);
  Finished("cq-stream");
  Drain(cq);
}

TEST_P(StreamCqTest, CompletionQueueClientStreaming) {
  grpc::ClientContext context;
  WithDeadline(&context);
  context.AddMetadata("x-tag", "cq-upload");
  grpc::CompletionQueue cq;
  UploadSummary summary;
  auto writer = stub_->AsyncUpload(&context, &summary, &cq, Tag(1));
  ASSERT_TRUE(Expect(cq, 1));
  for (int i = 0; i < 100; ++i) {
    const StreamMessage m = Numbered(i, 10 + 3001 * (i % 7));
    writer->Write(m, Tag(2));
    ASSERT_TRUE(Expect(cq, 2)) << "write " << i;
  }
  writer->WritesDone(Tag(3));
  EXPECT_TRUE(Expect(cq, 3));
  grpc::Status status;
  writer->Finish(&status, Tag(4));
  EXPECT_TRUE(Expect(cq, 4));
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(summary.messages(), 100);
  EXPECT_TRUE(summary.intact());
  Finished("cq-upload");
  Drain(cq);
}

TEST_P(StreamCqTest, CompletionQueueBidiPingPongAndServerStatus) {
  grpc::ClientContext context;
  WithDeadline(&context);
  context.AddMetadata("x-tag", "cq-chat");
  context.AddMetadata("x-stop-after", "20");
  grpc::CompletionQueue cq;
  auto stream = stub_->PrepareAsyncChat(&context, &cq);
  stream->StartCall(Tag(1));
  ASSERT_TRUE(Expect(cq, 1));
  StreamMessage in;
  int n = 0;
  for (; n < 50; ++n) {
    const StreamMessage out = Numbered(n, 700);
    stream->Write(out, Tag(2));
    if (!Expect(cq, 2)) break;
    stream->Read(&in, Tag(3));
    if (!Expect(cq, 3)) break;
    EXPECT_EQ(in.index(), n);
    EXPECT_TRUE(in.payload() == StreamPayload(n, 700));
  }
  // The server ended the call after 20 messages.
  EXPECT_EQ(n, 20);
  grpc::Status status;
  stream->Finish(&status, Tag(4));
  EXPECT_TRUE(Expect(cq, 4));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "stopped");
  Finished("cq-chat");
  Drain(cq);
}

INSTANTIATE_TEST_SUITE_P(BothTransports, StreamApiTest,
                         ::testing::Values(Transport::kShmCreds,
                                           Transport::kShmStub,
                                           Transport::kGrpc),
                         TransportName);

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
