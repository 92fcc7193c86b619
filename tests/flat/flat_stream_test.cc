// Flat-message streaming calls end to end, client and server in separate
// processes (tests/flat/blob_server.cc), all three kinds: the generated
// stub's flat forms against a flat service over shared memory (every
// message built in place, every message read in place) and over gRPC, the
// flat forms against a protobuf service, and protobuf clients (gRPC's own
// stub, on ShmChannelCredentials too, and the generated stub's protobuf
// form) against the flat service. The same messages, statuses and metadata
// on every path; flow control, cancellation, deadlines and limits as on the
// protobuf streams; and a client that sends corrupt flat messages gets a
// clean answer from a server that keeps serving.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "blobs.grpc.pb.h"
#include "blobs.shmrpc.h"
#include "shmrpc/message/flat_layout.h"
#include "shmrpc/shmrpc.h"
#include "tests/flat/blob_servers.h"
#include "tests/flat/blob_service.h"

namespace shmrpc::flatcall {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class FlatStreamTest : public BlobServers {
 protected:
  // A flat client's path: the channel and whether calls on it go over
  // shared memory.
  struct Path {
    const char* name;
    std::shared_ptr<grpc::Channel> channel;
    bool shared_memory;
    bool in_place;  // messages built and read in shared memory
  };
  // Every path a flat client can take: in place to the flat service, over
  // gRPC to it, and to the protobuf service over shared memory and gRPC.
  std::vector<Path> FlatClientPaths() {
    return {
        {"flat service, shared memory", flat_->ShmChannel(), true, true},
        {"flat service, gRPC", flat_->GrpcChannel(), false, false},
        {"protobuf service, shared memory", proto_->ShmChannel(), true, false},
        {"protobuf service, gRPC", proto_->GrpcChannel(), false, false}};
  }
};

// A request for Split: `count` blobs of `bytes` for `seed` on.
FlatRequest<flat::BlobBuilder> SplitRequest(ShmBlobs::Stub& stub, size_t bytes,
                                            uint64_t seed, uint32_t count,
                                            const std::string& note = "") {
  FlatRequest<flat::BlobBuilder> request = stub.NewSplitRequest(bytes + 64);
  FillBlob(request->mutable_data(bytes).data(), bytes, seed);
  request->set_seed(seed);
  request->set_count(count);
  request->set_note(note);
  return request;
}

// Fills a blob to write on a flat stream: `bytes` of data for `seed`.
template <class Stream>
FlatMessageBuilder<flat::BlobBuilder> NewBlob(Stream& stream, size_t bytes,
                                              uint64_t seed,
                                              const std::string& note = "") {
  FlatMessageBuilder<flat::BlobBuilder> blob = stream.NewMessage(bytes + 64);
  absl::Span<uint8_t> data = blob->mutable_data(bytes);
  EXPECT_EQ(data.size(), bytes);
  FillBlob(data.data(), data.size(), seed);  // written once, in place
  blob->set_seed(seed);
  blob->add_weights(1.5f);
  blob->set_note(note);
  return blob;
}

bool IsBlob(const FlatMessage<flat::BlobView>& blob, size_t bytes,
            uint64_t seed) {
  const absl::string_view data = blob->data();
  return blob->seed() == seed && data.size() == bytes &&
         CheckBlob(data.data(), data.size(), seed);
}

// Server streaming: every message of every size, read in place, on every
// path; the status and the trailing metadata as gRPC's.
TEST_F(FlatStreamTest, ServerStreamingOnEveryPath) {
  for (const Path& path : FlatClientPaths()) {
    SCOPED_TRACE(path.name);
    ShmBlobs::Stub stub(path.channel);
    for (size_t bytes :
         {size_t{0}, size_t{64}, size_t{4096}, size_t{1} << 20}) {
      SCOPED_TRACE(bytes);
      auto context = Context();
      auto reader =
          stub.Split(context.get(), SplitRequest(stub, bytes, 100, 5));
      FlatMessage<flat::BlobView> blob;
      int n = 0;
      while (reader->Read(&blob)) {
        EXPECT_TRUE(IsBlob(blob, bytes, 100 + n)) << n;
        EXPECT_EQ(blob->shared_memory(), path.shared_memory);
        // Read where the server built it, only from the flat service
        // over shared memory (the protobuf service's messages are
        // converted).
        EXPECT_EQ(blob.in_place(), path.in_place) << n;
        ++n;
      }
      const grpc::Status status = reader->Finish();
      EXPECT_TRUE(status.ok())
          << status.error_code() << " " << status.error_message();
      EXPECT_EQ(n, 5);
      EXPECT_EQ(Tag(*context), "tagged");
    }
  }
}

// Client streaming: messages built in place, the response read in place.
TEST_F(FlatStreamTest, ClientStreamingOnEveryPath) {
  for (const Path& path : FlatClientPaths()) {
    SCOPED_TRACE(path.name);
    ShmBlobs::Stub stub(path.channel);
    auto context = Context();
    FlatResponse<flat::BlobView> response;
    auto writer = stub.Count(context.get(), &response);
    const size_t sizes[] = {0, 64, 4096, 1 << 20, 8, 200000};
    uint64_t total = 0;
    for (size_t i = 0; i < 6; ++i) {
      ASSERT_TRUE(writer->Write(NewBlob(*writer, sizes[i], 7 * i))) << i;
      total += sizes[i];
    }
    ASSERT_TRUE(writer->WritesDone());
    const grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok())
        << status.error_code() << " " << status.error_message();
    EXPECT_EQ(response->seed(), total);
    EXPECT_EQ(response->count(), 6u);
    // Every message read by the server where the client built it, and the
    // response read here where the server built it.
    EXPECT_EQ(response->in_place(), path.in_place);
    EXPECT_EQ(response.in_place(), path.in_place);
    EXPECT_EQ(response->shared_memory(), path.shared_memory);
    EXPECT_EQ(Tag(*context), "tagged");
  }
}

// Bidirectional: each message answered in order; a half-close ends it.
TEST_F(FlatStreamTest, BidiOnEveryPath) {
  for (const Path& path : FlatClientPaths()) {
    SCOPED_TRACE(path.name);
    ShmBlobs::Stub stub(path.channel);
    auto context = Context();
    auto stream = stub.Chat(context.get(), kFlat);
    const size_t sizes[] = {0, 64, 5000, 300000};
    FlatMessage<flat::BlobView> answer;
    for (int i = 0; i < 12; ++i) {
      const size_t bytes = sizes[i % 4];
      ASSERT_TRUE(stream->Write(NewBlob(*stream, bytes, 1000 * i))) << i;
      ASSERT_TRUE(stream->Read(&answer)) << i;
      EXPECT_TRUE(IsBlob(answer, bytes, 1000 * i + 1)) << i;
      EXPECT_EQ(answer->weights().size(), 1);
      EXPECT_EQ(answer->shared_memory(), path.shared_memory);
      EXPECT_EQ(answer->in_place(), path.in_place);
      EXPECT_EQ(answer.in_place(), path.in_place);
    }
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_FALSE(stream->Read(&answer));
    const grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok())
        << status.error_code() << " " << status.error_message();
    EXPECT_EQ(Tag(*context), "tagged");
  }
}

// Both sides writing large messages at once (a writer thread, the reader on
// this one): flow control holds each side to its window, and nothing
// deadlocks.
TEST_F(FlatStreamTest, FullDuplexLargeMessages) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  auto context = Context();
  auto stream = stub.Chat(context.get(), kFlat);
  constexpr int kMessages = 40;
  constexpr size_t kBytes = 512 * 1024;
  std::thread writer([&] {
    for (int i = 0; i < kMessages; ++i) {
      if (!stream->Write(NewBlob(*stream, kBytes, i * 10000))) return;
    }
    stream->WritesDone();
  });
  FlatMessage<flat::BlobView> answer;
  int n = 0;
  while (stream->Read(&answer)) {
    EXPECT_TRUE(IsBlob(answer, kBytes, n * 10000 + 1)) << n;
    ++n;
  }
  writer.join();
  EXPECT_EQ(n, kMessages);
  EXPECT_TRUE(stream->Finish().ok());
}

// Several threads streaming at once on one channel, over shared memory:
// each runs bidirectional round trips of mixed sizes and a server stream,
// and every byte of every message is right and read in place. (Several
// reading streams on one connection also exercise the server's hand-over of
// ring polling between their handlers.)
TEST_F(FlatStreamTest, ConcurrentFlatStreamsOnOneChannel) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int& bad = failures[t];
      auto context = Context();
      auto stream = stub.Chat(context.get(), kFlat);
      FlatMessage<flat::BlobView> answer;
      for (int i = 0; i < 200; ++i) {
        const size_t bytes = (i % 5 == 0) ? 100000 : 8 * (1 + (i * 37) % 500);
        const uint64_t seed = uint64_t{static_cast<uint64_t>(t)} << 32 | i;
        if (!stream->Write(NewBlob(*stream, bytes, seed)) ||
            !stream->Read(&answer) || !IsBlob(answer, bytes, seed + 1) ||
            !answer.in_place() || !answer->in_place()) {
          ++bad;
          break;
        }
      }
      stream->WritesDone();
      if (stream->Read(&answer) || !stream->Finish().ok()) ++bad;
      auto split_context = Context();
      auto reader = stub.Split(split_context.get(),
                               SplitRequest(stub, 8192, 1000 * t, 20));
      FlatMessage<flat::BlobView> blob;
      int n = 0;
      while (reader->Read(&blob)) {
        if (!IsBlob(blob, 8192, 1000 * t + n) || !blob.in_place()) ++bad;
        ++n;
      }
      if (n != 20 || !reader->Finish().ok()) ++bad;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << t;
}

// Protobuf clients of the flat service's streams: gRPC's stub over gRPC and
// on ShmChannelCredentials, and the generated stub's protobuf form.
TEST_F(FlatStreamTest, ProtobufClientsOfFlatStreams) {
  auto split = [](auto& stub, bool shared_memory) {
    Blob request;
    request.mutable_data()->resize(4096);
    FillBlob(reinterpret_cast<uint8_t*>(request.mutable_data()->data()), 4096,
             5);
    request.set_seed(5);
    request.set_count(3);
    auto context = Context();
    auto reader = stub.Split(context.get(), request);
    Blob blob;
    int n = 0;
    while (reader->Read(&blob)) {
      EXPECT_EQ(blob.seed(), 5u + n);
      EXPECT_TRUE(CheckBlob(blob.data().data(), blob.data().size(), 5 + n));
      EXPECT_EQ(blob.shared_memory(), shared_memory);
      ++n;
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(n, 3);
    EXPECT_EQ(Tag(*context), "tagged");
  };
  auto chat = [](auto& stub, bool shared_memory) {
    auto context = Context();
    auto stream = stub.Chat(context.get());
    for (int i = 0; i < 4; ++i) {
      Blob out;
      out.mutable_data()->resize(64 << i);
      FillBlob(reinterpret_cast<uint8_t*>(out.mutable_data()->data()), 64 << i,
               i);
      out.set_seed(i);
      ASSERT_TRUE(stream->Write(out));
      Blob in;
      ASSERT_TRUE(stream->Read(&in));
      EXPECT_EQ(in.seed(), i + 1u);
      EXPECT_TRUE(CheckBlob(in.data().data(), in.data().size(), i + 1));
      EXPECT_EQ(in.shared_memory(), shared_memory);
    }
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_TRUE(stream->Finish().ok());
  };
  {
    auto stub = Blobs::NewStub(flat_->GrpcChannel());
    split(*stub, false);
    chat(*stub, false);
  }
  {
    auto stub = Blobs::NewStub(flat_->CredsChannel());
    split(*stub, true);
    chat(*stub, true);
  }
  {
    ShmBlobs::Stub stub(flat_->ShmChannel());
    split(stub, true);
    chat(stub, true);
  }
}

// A handler's error status after messages, on every path: the messages
// sent before it arrive, then the status.
TEST_F(FlatStreamTest, ErrorStatusIsTheSameOnEveryPath) {
  for (const Path& path : FlatClientPaths()) {
    SCOPED_TRACE(path.name);
    ShmBlobs::Stub stub(path.channel);
    {
      auto context = Context();
      auto reader =
          stub.Split(context.get(), SplitRequest(stub, 64, 1, 3, "fail"));
      FlatMessage<flat::BlobView> blob;
      int n = 0;
      while (reader->Read(&blob)) ++n;
      const grpc::Status status = reader->Finish();
      EXPECT_EQ(n, 3);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_EQ(status.error_message(), "asked to fail");
    }
    {
      auto context = Context();
      auto stream = stub.Chat(context.get(), kFlat);
      FlatMessage<flat::BlobView> answer;
      ASSERT_TRUE(stream->Write(NewBlob(*stream, 64, 1)));
      ASSERT_TRUE(stream->Read(&answer));
      stream->Write(NewBlob(*stream, 64, 2, "fail"));
      EXPECT_FALSE(stream->Read(&answer));
      const grpc::Status status = stream->Finish();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_EQ(status.error_message(), "asked to fail");
    }
    {
      // A blob whose data does not match its seed.
      auto context = Context();
      FlatResponse<flat::BlobView> response;
      auto writer = stub.Count(context.get(), &response);
      FlatMessageBuilder<flat::BlobBuilder> bad = NewBlob(*writer, 64, 3);
      bad->set_seed(4);
      writer->Write(std::move(bad));
      writer->WritesDone();
      EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::DATA_LOSS);
    }
  }
}

// Messages read in place stay valid (their chunks lent to us) while held,
// several at once, until released.
TEST_F(FlatStreamTest, HeldMessagesStayValidUntilReleased) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  for (int round = 0; round < 3; ++round) {
    auto context = Context();
    auto reader = stub.Split(context.get(), SplitRequest(stub, 65536, 50, 6));
    std::vector<FlatMessage<flat::BlobView>> held(6);
    for (auto& blob : held) ASSERT_TRUE(reader->Read(&blob));
    for (int i = 0; i < 6; ++i) {
      EXPECT_TRUE(IsBlob(held[i], 65536, 50 + i)) << i;
      EXPECT_TRUE(held[i]->shared_memory());
      EXPECT_TRUE(held[i].in_place());
    }
    FlatMessage<flat::BlobView> none;
    EXPECT_FALSE(reader->Read(&none));
    EXPECT_TRUE(reader->Finish().ok());
    // Still there after the call ended.
    EXPECT_TRUE(IsBlob(held[5], 65536, 55));
    for (auto& blob : held) blob.Release();
    EXPECT_TRUE(held[0]->data().empty());
  }
}

// Holding more messages than the server's pool has chunks applies
// backpressure: the server's Write waits for a chunk, the client's Read for
// a message, and the call ends by its deadline (never growth, never a hang
// past it); releasing them lets the next call stream again.
TEST_F(FlatStreamTest, HoardingMessagesAppliesBackpressure) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(1500));
  auto reader = stub.Split(&context, SplitRequest(stub, 65536, 0, 400));
  std::vector<FlatMessage<flat::BlobView>> hoard(400);
  const auto start = std::chrono::steady_clock::now();
  size_t n = 0;
  while (n < hoard.size() && reader->Read(&hoard[n])) ++n;
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, hoard.size());  // the pool (a few dozen chunks) ran out
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
  for (size_t i = 0; i < n; ++i) EXPECT_TRUE(IsBlob(hoard[i], 65536, i)) << i;
  for (auto& blob : hoard) blob.Release();
  auto again = Context();
  auto next = stub.Split(again.get(), SplitRequest(stub, 65536, 0, 50));
  FlatMessage<flat::BlobView> blob;
  int read = 0;
  while (next->Read(&blob)) ++read;
  EXPECT_TRUE(next->Finish().ok());
  EXPECT_EQ(read, 50);
}

// TryCancel mid-stream and a deadline that passes mid-stream end the call
// as on the protobuf streams, on both transports.
TEST_F(FlatStreamTest, CancellationAndDeadlineMidStream) {
  for (bool shm : {true, false}) {
    SCOPED_TRACE(shm);
    ShmBlobs::Stub stub(shm ? flat_->ShmChannel() : flat_->GrpcChannel());
    {
      auto context = Context();
      auto reader =
          stub.Split(context.get(), SplitRequest(stub, 4096, 0, 1000000));
      FlatMessage<flat::BlobView> blob;
      for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&blob));
      context->TryCancel();
      int after = 0;
      while (reader->Read(&blob) && after < 100000) ++after;
      EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
    }
    {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           milliseconds(300));
      auto reader = stub.Split(&context, SplitRequest(stub, 64, 0, 100000000));
      FlatMessage<flat::BlobView> blob;
      const auto start = std::chrono::steady_clock::now();
      while (reader->Read(&blob)) {
      }
      EXPECT_EQ(reader->Finish().error_code(),
                grpc::StatusCode::DEADLINE_EXCEEDED);
      EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
    }
  }
}

// gRPC's receive limit applies to every streamed flat message.
TEST_F(FlatStreamTest, MessageAboveTheReceiveLimitIsRefused) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  auto context = Context();
  auto reader = stub.Split(context.get(), SplitRequest(stub, 5 << 20, 0, 2));
  FlatMessage<flat::BlobView> blob;
  EXPECT_FALSE(reader->Read(&blob));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// A client that corrupts its flat messages after building them (every
// byte of the body, the header still valid) gets an answer or a clean
// error status from every flat method, and the server keeps serving.
TEST_F(FlatStreamTest, CorruptFlatMessagesGetACleanAnswer) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  std::mt19937_64 random(42);
  // Overwrites `flips` random bytes of the message body (past the header
  // that sealing writes) with random values.
  auto corrupt = [&](rpc::ChunkArena* arena, int flips) {
    const absl::Span<uint8_t> buffer = arena->buffer();
    const uint32_t used = arena->used();
    if (used <= ::shmrpc::flat::kFirstMessageOffset) return;
    for (int i = 0; i < flips; ++i) {
      const size_t at = ::shmrpc::flat::kFirstMessageOffset +
                        random() % (used - ::shmrpc::flat::kFirstMessageOffset);
      buffer[at] = static_cast<uint8_t>(random());
    }
  };
  auto clean = [](const grpc::Status& s) {
    return s.ok() || s.error_code() == grpc::StatusCode::INTERNAL ||
           s.error_code() == grpc::StatusCode::DATA_LOSS ||
           s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
           s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  };
  for (int round = 0; round < 150; ++round) {
    SCOPED_TRACE(round);
    const size_t bytes = 8 * (round % 40);
    const int flips = 1 + round % 16;
    {
      FlatRequest<flat::BlobBuilder> request = stub.NewEchoRequest(bytes + 64);
      FillBlob(request->mutable_data(bytes).data(), bytes, round);
      request->set_seed(round);
      request->add_weights(1);
      request->set_note("x");
      corrupt(request.arena(), flips);
      FlatResponse<flat::BlobView> response;
      auto context = Context();
      const grpc::Status s =
          stub.Echo(context.get(), std::move(request), &response);
      EXPECT_TRUE(clean(s)) << s.error_code() << " " << s.error_message();
    }
    {
      FlatRequest<flat::BlobBuilder> request = SplitRequest(stub, bytes, 1, 2);
      corrupt(request.arena(), flips);
      auto context = Context();
      auto reader = stub.Split(context.get(), std::move(request));
      FlatMessage<flat::BlobView> blob;
      int n = 0;
      while (n < 1000 && reader->Read(&blob)) ++n;
      // A count that came out huge: enough.
      if (n == 1000) context->TryCancel();
      const grpc::Status s = reader->Finish();
      EXPECT_TRUE(clean(s) || s.error_code() == grpc::StatusCode::CANCELLED)
          << s.error_code() << " " << s.error_message();
    }
    {
      auto context = Context();
      FlatResponse<flat::BlobView> response;
      auto writer = stub.Count(context.get(), &response);
      FlatMessageBuilder<flat::BlobBuilder> blob = NewBlob(*writer, bytes, 9);
      corrupt(blob.arena(), flips);
      writer->Write(std::move(blob));
      writer->WritesDone();
      const grpc::Status s = writer->Finish();
      EXPECT_TRUE(clean(s)) << s.error_code() << " " << s.error_message();
    }
  }
  // Still serving, in place.
  auto context = Context();
  auto reader = stub.Split(context.get(), SplitRequest(stub, 4096, 77, 4));
  FlatMessage<flat::BlobView> blob;
  int n = 0;
  while (reader->Read(&blob)) {
    EXPECT_TRUE(IsBlob(blob, 4096, 77 + n));
    EXPECT_TRUE(blob->shared_memory());
    ++n;
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(n, 4);
}

}  // namespace
}  // namespace shmrpc::flatcall
