// Flat-message unary calls end to end, client and server in separate
// processes (tests/flat/blob_server.cc): the generated stub's flat form
// against a flat service over shared memory (request built in place, response
// read in place) and over gRPC, and every mix with protobuf clients and
// services: gRPC's own stub and the generated stub's protobuf form calling a
// flat service, the flat form calling a protobuf service. The same answers,
// statuses and metadata on every path.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "blobs.grpc.pb.h"
#include "blobs.shmrpc.h"
#include "shmrpc/shmrpc.h"
#include "tests/flat/blob_servers.h"
#include "tests/flat/blob_service.h"

namespace shmrpc::flatcall {
namespace {

using std::chrono::seconds;

struct Outcome {
  grpc::Status status;
  bool data_ok = false;
  size_t size = 0;
  std::vector<float> weights;
  std::string note;
  bool shared_memory = false;
  std::string tag;   // the trailing x-tag
  std::string peer;  // ClientContext::peer() after the call
};

// Echo through the generated stub's flat form.
Outcome FlatEcho(ShmBlobs::Stub& stub, size_t bytes, uint64_t seed,
                 const std::string& note = "") {
  FlatRequest<flat::BlobBuilder> request = stub.NewEchoRequest(bytes + 64);
  absl::Span<uint8_t> data = request->mutable_data(bytes);
  EXPECT_EQ(data.size(), bytes);
  FillBlob(data.data(), data.size(), seed);  // written once, in place
  request->set_seed(seed);
  request->add_weights(1.5f);
  request->add_weights(-2);
  request->set_note(note);
  FlatResponse<flat::BlobView> response;
  auto context = Context();
  Outcome o;
  o.status = stub.Echo(context.get(), std::move(request), &response);
  o.tag = Tag(*context);
  o.peer = context->peer();
  if (!o.status.ok()) return o;
  const absl::string_view out = response->data();
  o.size = out.size();
  o.data_ok = response->seed() == seed + 1 &&
              CheckBlob(out.data(), out.size(), seed + 1);
  for (float w : response->weights()) o.weights.push_back(w);
  o.note = std::string(response->note());
  o.shared_memory = response->shared_memory();
  return o;
}

// Echo through a protobuf stub (gRPC's, or the generated stub's protobuf
// form).
template <class Stub>
Outcome ProtoEcho(Stub& stub, size_t bytes, uint64_t seed,
                  const std::string& note = "") {
  Blob request;
  request.mutable_data()->resize(bytes);
  FillBlob(reinterpret_cast<uint8_t*>(request.mutable_data()->data()), bytes,
           seed);
  request.set_seed(seed);
  request.add_weights(1.5f);
  request.add_weights(-2);
  request.set_note(note);
  Blob response;
  auto context = Context();
  Outcome o;
  o.status = stub.Echo(context.get(), request, &response);
  o.tag = Tag(*context);
  o.peer = context->peer();
  if (!o.status.ok()) return o;
  o.size = response.data().size();
  o.data_ok =
      response.seed() == seed + 1 &&
      CheckBlob(response.data().data(), response.data().size(), seed + 1);
  o.weights.assign(response.weights().begin(), response.weights().end());
  o.note = response.note();
  o.shared_memory = response.shared_memory();
  return o;
}

void ExpectEchoed(const Outcome& o, size_t bytes, bool shared_memory) {
  ASSERT_TRUE(o.status.ok())
      << o.status.error_code() << " " << o.status.error_message();
  EXPECT_TRUE(o.data_ok);
  EXPECT_EQ(o.size, bytes);
  EXPECT_EQ(o.weights, (std::vector<float>{3, -4}));
  EXPECT_EQ(o.shared_memory, shared_memory);
  EXPECT_EQ(o.tag, "tagged");
  // gRPC's peer() names the server: over shared memory as shmrpc does.
  EXPECT_EQ(o.peer.rfind(shared_memory ? "shmrpc:pid=" : "ipv4:127.0.0.1:", 0),
            0u)
      << o.peer;
}

// Up to gRPC's default receive limit (4 MiB, the frame included).
const size_t kSizes[] = {0, 64, 4096, 1 << 20, 3 << 20};

class FlatCallTest : public BlobServers {};

// The flat form against a flat service over shared memory: the request
// built in place in a chunk, the response read in place; every size.
TEST_F(FlatCallTest, FlatClientFlatServiceOverSharedMemory) {
  auto channel = flat_->ShmChannel();
  ShmBlobs::Stub stub(channel);
  for (size_t bytes : kSizes) {
    SCOPED_TRACE(bytes);
    ExpectEchoed(FlatEcho(stub, bytes, 7 + bytes), bytes, true);
  }
  EXPECT_EQ(GetChannelPath(channel), ChannelPath::kSharedMemory);
}

// The same code over gRPC (a plain channel): protobuf on the wire.
TEST_F(FlatCallTest, FlatClientFlatServiceOverGrpc) {
  ShmBlobs::Stub stub(flat_->GrpcChannel());
  for (size_t bytes : {size_t{0}, size_t{4096}, size_t{1} << 20}) {
    SCOPED_TRACE(bytes);
    ExpectEchoed(FlatEcho(stub, bytes, 3), bytes, false);
  }
}

// Protobuf clients of a flat service: gRPC's own stub over gRPC and on
// ShmChannelCredentials (shared memory), and the generated stub's protobuf
// form over shared memory.
TEST_F(FlatCallTest, ProtobufClientsOfAFlatService) {
  {
    auto stub = Blobs::NewStub(flat_->GrpcChannel());
    ExpectEchoed(ProtoEcho(*stub, 4096, 11), 4096, false);
  }
  {
    auto stub = Blobs::NewStub(flat_->CredsChannel());
    ExpectEchoed(ProtoEcho(*stub, 4096, 12), 4096, true);
    ExpectEchoed(ProtoEcho(*stub, 1 << 20, 13), 1 << 20, true);
  }
  {
    ShmBlobs::Stub stub(flat_->ShmChannel());
    ExpectEchoed(ProtoEcho(stub, 64, 14), 64, true);
  }
}

// The flat form against a protobuf service: over shared memory it finds no
// flat method there and calls the protobuf one instead (still over shared
// memory); over gRPC as always.
TEST_F(FlatCallTest, FlatClientProtobufService) {
  {
    ShmBlobs::Stub stub(proto_->ShmChannel());
    ExpectEchoed(FlatEcho(stub, 4096, 21), 4096, true);
    ExpectEchoed(FlatEcho(stub, 1 << 20, 22), 1 << 20, true);
  }
  {
    ShmBlobs::Stub stub(proto_->GrpcChannel());
    ExpectEchoed(FlatEcho(stub, 4096, 23), 4096, false);
  }
}

// gRPC's receive limit applies to flat responses too: above it, the call
// fails as gRPC's would.
TEST_F(FlatCallTest, ResponseAboveTheReceiveLimitIsRefused) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  const Outcome o = FlatEcho(stub, 5 << 20, 1);
  EXPECT_EQ(o.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(o.status.error_message().find("larger than max"), std::string::npos)
      << o.status.error_message();
}

// A handler's error status reaches the flat client as gRPC's would, on
// every path.
TEST_F(FlatCallTest, ErrorStatusIsTheSameOnEveryPath) {
  ShmBlobs::Stub shm(flat_->ShmChannel());
  ShmBlobs::Stub grpc(flat_->GrpcChannel());
  for (ShmBlobs::Stub* stub : {&shm, &grpc}) {
    const Outcome o = FlatEcho(*stub, 64, 1, "fail");
    EXPECT_EQ(o.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(o.status.error_message(), "asked to fail");
  }
}

// Responses held at once stay valid (their chunks lent to the client) until
// released. Holding more than the server's pool has makes further calls
// fail cleanly by their deadline (the server waits for a chunk, never
// without bound), and releasing them lets calls succeed again.
TEST_F(FlatCallTest, HeldResponsesStayValidUntilReleased) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  auto echo = [&](uint64_t seed, FlatResponse<flat::BlobView>* response,
                  std::chrono::milliseconds timeout) {
    FlatRequest<flat::BlobBuilder> request = stub.NewEchoRequest(65536);
    FillBlob(request->mutable_data(65536).data(), 65536, seed);
    request->set_seed(seed);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub.Echo(&context, std::move(request), response);
  };
  std::vector<FlatResponse<flat::BlobView>> held(6);
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < held.size(); ++i) {
      const grpc::Status st = echo(i, &held[i], std::chrono::seconds(20));
      ASSERT_TRUE(st.ok()) << i << ": " << st.error_code() << " "
                           << st.error_message();
    }
    for (size_t i = 0; i < held.size(); ++i) {
      const absl::string_view data = held[i]->data();
      EXPECT_TRUE(CheckBlob(data.data(), data.size(), i + 1)) << i;
      EXPECT_TRUE(held[i]->shared_memory());
    }
    for (auto& response : held) response.Release();
    EXPECT_TRUE(held[0]->data().empty());
  }
  // Hold until the server's pool runs out.
  std::vector<FlatResponse<flat::BlobView>> hoard(40);
  int ok = 0;
  grpc::Status refused;
  const auto start = std::chrono::steady_clock::now();
  for (auto& response : hoard) {
    refused = echo(1, &response, std::chrono::milliseconds(500));
    if (!refused.ok()) break;
    ++ok;
  }
  EXPECT_LT(ok, 40);
  EXPECT_GT(ok, 0);
  EXPECT_TRUE(refused.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
              refused.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << refused.error_code() << " " << refused.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  for (auto& response : hoard) response.Release();
  FlatResponse<flat::BlobView> again;
  EXPECT_TRUE(echo(2, &again, std::chrono::seconds(20)).ok());
}

// Many threads making flat calls of mixed sizes at once on one channel,
// over shared memory: every byte of every answer is right.
TEST_F(FlatCallTest, ConcurrentFlatCallsOnOneChannel) {
  ShmBlobs::Stub stub(flat_->ShmChannel());
  constexpr int kThreads = 8;
  constexpr int kCalls = 150;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const size_t bytes = (i % 4 == 0) ? 200000 : 8 * (1 + (i * 37) % 600);
        const Outcome o = FlatEcho(stub, bytes, uint64_t{t} << 32 | i);
        if (!o.status.ok() || !o.data_ok || o.size != bytes ||
            !o.shared_memory) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << t;
}

// Protobuf clients of the flat service's client-streaming method, on both
// transports (tests/flat/flat_stream_test.cc has the rest).
TEST_F(FlatCallTest, StreamingMethodsOfAFlatService) {
  for (bool shm : {true, false}) {
    ShmBlobs::Stub stub(shm ? flat_->ShmChannel() : flat_->GrpcChannel());
    grpc::ClientContext context;
    Blob response;
    auto writer = stub.Count(&context, &response);
    Blob b;
    b.mutable_data()->resize(96);
    FillBlob(reinterpret_cast<uint8_t*>(b.mutable_data()->data()), 96, 4);
    b.set_seed(4);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer->Write(b));
    ASSERT_TRUE(writer->WritesDone());
    ASSERT_TRUE(writer->Finish().ok());
    EXPECT_EQ(response.seed(), 480u);
    EXPECT_EQ(response.count(), 5u);
    EXPECT_EQ(response.shared_memory(), shm);
  }
}

}  // namespace
}  // namespace shmrpc::flatcall
