// The code protoc-gen-shmrpc generates, compiled and linked through
// cc_shm_grpc_library: stubs construct on any channel; services override
// every method kind with the generated signatures, register their unary
// methods (only) for shared memory and their codecs, and serve every method
// over gRPC with a shmrpc::ServerContext wrapping gRPC's. Shared-memory
// calls themselves are tested with the client and server.
#include <google/protobuf/empty.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "no_package.shmrpc.h"
#include "no_service.shmrpc.h"
#include "proto/echo.shmrpc.h"
#include "shmrpc/client/generated_stub.h"
#include "shmrpc/server/server_context.h"
#include "streaming.shmrpc.h"

namespace shmrpc::codegen {
namespace {

using ::shmrpc::codegen_test::OnlyMessage;
using ::shmrpc::codegen_test::streaming::Mixed;
using ::shmrpc::codegen_test::streaming::Request;
using ::shmrpc::codegen_test::streaming::Response;
using ::shmrpc::codegen_test::streaming::Response_Part;
using ::shmrpc::codegen_test::streaming::ShmMixed;
using ::shmrpc::codegen_test::streaming::ShmNoMethods;
using ::shmrpc::codegen_test::streaming::ShmStreamOnly;
using ::shmrpc::codegen_test::streaming::StreamOnly;
using ::shmrpc::testing::EchoRequest;
using ::shmrpc::testing::EchoResponse;
using ::shmrpc::testing::ShmEchoService;

// How a handler saw its call: "grpc" if the context wraps a gRPC call,
// something else otherwise.
std::string Transport(const ServerContext* context) {
  if (context->is_shared_memory()) return "shm";
  return context->grpc_context() != nullptr ? "grpc" : "none";
}

// Every method of Mixed, each saying how it was called.
class MixedImpl final : public ShmMixed::Service {
 public:
  grpc::Status Unary(ServerContext* context, const Request* request,
                     Response* response) override {
    response->set_text("unary " + request->text() + " " + Transport(context));
    return grpc::Status::OK;
  }

  grpc::Status Upload(ServerContext* context,
                      grpc::ServerReaderInterface<Request>* reader,
                      Response* response) override {
    std::string text = "upload";
    Request request;
    while (reader->Read(&request)) text += " " + request.text();
    response->set_text(text + " " + Transport(context));
    return grpc::Status::OK;
  }

  grpc::Status Download(
      ServerContext* context, const Request* request,
      grpc::ServerWriterInterface<Response_Part>* writer) override {
    if (Transport(context) != "grpc") {
      return grpc::Status(grpc::StatusCode::INTERNAL, Transport(context));
    }
    for (int i = 0; i < static_cast<int>(request->text().size()); ++i) {
      Response_Part part;
      part.set_index(i);
      writer->Write(part);
    }
    return grpc::Status::OK;
  }

  grpc::Status Chat(
      ServerContext* context,
      grpc::ServerReaderWriterInterface<Response, Request>* stream) override {
    Request request;
    while (stream->Read(&request)) {
      Response response;
      response.set_text("chat " + request.text() + " " + Transport(context));
      stream->Write(response);
    }
    return grpc::Status::OK;
  }

  grpc::Status Ping(ServerContext* context,
                    const google::protobuf::Empty* request,
                    OnlyMessage* response) override {
    response->set_name("ping " + Transport(context));
    response->set_count(1);
    return grpc::Status::OK;
  }
};

// StreamOnly's methods, overridden (signatures only).
class StreamOnlyImpl final : public ShmStreamOnly::Service {
 public:
  grpc::Status Chat(
      ServerContext* context,
      grpc::ServerReaderWriterInterface<Response, Request>* stream) override {
    return grpc::Status::OK;
  }
  grpc::Status Watch(ServerContext* context, const Request* request,
                     grpc::ServerWriterInterface<Response>* writer) override {
    return grpc::Status::OK;
  }
};

// NoMethods has nothing to override.
class NoMethodsImpl final : public ShmNoMethods::Service {};

// The file without a package: classes in the global namespace.
class NoPackageImpl final : public ::ShmNoPackage::Service {
 public:
  grpc::Status Double(ServerContext* context, const ::NoPackageRequest* request,
                      ::NoPackageResponse* response) override {
    response->set_value(2 * request->value());
    return grpc::Status::OK;
  }
  grpc::Status Sum(ServerContext* context,
                   grpc::ServerReaderInterface<::NoPackageRequest>* reader,
                   ::NoPackageResponse* response) override {
    ::NoPackageRequest request;
    while (reader->Read(&request)) {
      response->set_value(response->value() + request.value());
    }
    return grpc::Status::OK;
  }
};

// The Echo test service (proto/echo.proto).
class EchoImpl final : public ShmEchoService::Service {
 public:
  grpc::Status Echo(ServerContext* context, const EchoRequest* request,
                    EchoResponse* response) override {
    response->set_payload(request->payload());
    response->set_shared_memory(context->is_shared_memory());
    return grpc::Status::OK;
  }
};

// The names of the methods `service` serves over shared memory.
std::vector<std::string> ShmMethodNames(const internal::ShmService& service) {
  std::vector<std::string> names;
  for (const auto& method : service.shm_methods()) {
    names.push_back(method.name);
    EXPECT_NE(method.handler, nullptr) << method.name;
  }
  return names;
}

TEST(GeneratedCodeTest, ServiceFullNames) {
  EXPECT_STREQ(ShmEchoService::service_full_name(),
               "shmrpc.testing.EchoService");
  EXPECT_STREQ(ShmMixed::service_full_name(),
               "shmrpc.codegen_test.streaming.Mixed");
  EXPECT_STREQ(ShmNoMethods::service_full_name(),
               "shmrpc.codegen_test.streaming.NoMethods");
  EXPECT_STREQ(::ShmNoPackage::service_full_name(), "NoPackage");
}

TEST(GeneratedCodeTest, StubsConstructOnAGrpcChannel) {
  const std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel("localhost:1", grpc::InsecureChannelCredentials());
  EXPECT_NE(ShmEchoService::NewStub(channel), nullptr);
  EXPECT_NE(ShmMixed::NewStub(channel), nullptr);
  EXPECT_NE(ShmStreamOnly::NewStub(channel), nullptr);
  EXPECT_NE(ShmNoMethods::NewStub(channel), nullptr);
  EXPECT_NE(::ShmNoPackage::NewStub(channel), nullptr);
  ShmMixed::Stub stub(channel, grpc::StubOptions());
  EXPECT_NE(stub.async(), nullptr);
}

TEST(GeneratedCodeTest, EveryMethodIsServedOverSharedMemory) {
  EXPECT_EQ(
      ShmMethodNames(EchoImpl()),
      (std::vector<std::string>{"/shmrpc.testing.EchoService/Echo",
                                "/shmrpc.testing.EchoService/LastCall",
                                "/shmrpc.testing.EchoService/Unimplemented"}));
  EXPECT_EQ(
      ShmMethodNames(MixedImpl()),
      (std::vector<std::string>{"/shmrpc.codegen_test.streaming.Mixed/Unary",
                                "/shmrpc.codegen_test.streaming.Mixed/Upload",
                                "/shmrpc.codegen_test.streaming.Mixed/Download",
                                "/shmrpc.codegen_test.streaming.Mixed/Chat",
                                "/shmrpc.codegen_test.streaming.Mixed/Ping"}));
  EXPECT_EQ(ShmMethodNames(StreamOnlyImpl()),
            (std::vector<std::string>{
                "/shmrpc.codegen_test.streaming.StreamOnly/Chat",
                "/shmrpc.codegen_test.streaming.StreamOnly/Watch"}));
  EXPECT_TRUE(ShmMethodNames(NoMethodsImpl()).empty());
  EXPECT_EQ(ShmMethodNames(NoPackageImpl()),
            (std::vector<std::string>{"/NoPackage/Double", "/NoPackage/Sum"}));
}

// Every method, unary and streaming (the credentials' interceptor runs
// both), and nothing else.
TEST(GeneratedCodeTest, CodecsAreRegisteredForEveryMethod) {
  for (const char* name :
       {"/shmrpc.testing.EchoService/Echo",
        "/shmrpc.testing.EchoService/Unimplemented",
        "/shmrpc.codegen_test.streaming.Mixed/Unary",
        "/shmrpc.codegen_test.streaming.Mixed/Ping", "/NoPackage/Double",
        "/shmrpc.codegen_test.streaming.Mixed/Upload",
        "/shmrpc.codegen_test.streaming.Mixed/Download",
        "/shmrpc.codegen_test.streaming.Mixed/Chat",
        "/shmrpc.codegen_test.streaming.StreamOnly/Watch", "/NoPackage/Sum"}) {
    EXPECT_NE(internal::FindMethodCodec(name), nullptr) << name;
  }
  EXPECT_EQ(internal::FindMethodCodec("/NoPackage/NoSuchMethod"), nullptr);
}

// A gRPC server in this process with the test services, and a channel to it.
class OverGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&mixed_);
    builder.RegisterService(&stream_only_);
    builder.RegisterService(&no_package_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  MixedImpl mixed_;
  ShmStreamOnly::Service stream_only_;  // Every method UNIMPLEMENTED.
  ::ShmNoPackage::Service no_package_;  // Every method UNIMPLEMENTED.
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(OverGrpcTest, UnaryThroughShmStubFallsBackToGrpc) {
  auto stub = ShmMixed::NewStub(channel_);
  grpc::ClientContext context;
  Request request;
  request.set_text("hi");
  Response response;
  const grpc::Status status = stub->Unary(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "unary hi grpc");

  grpc::ClientContext ping_context;
  OnlyMessage pong;
  ASSERT_TRUE(stub->Ping(&ping_context, google::protobuf::Empty(), &pong).ok());
  EXPECT_EQ(pong.name(), "ping grpc");
  EXPECT_TRUE(pong.has_count());
}

TEST_F(OverGrpcTest, AsyncUnaryThroughShmStub) {
  auto stub = ShmMixed::NewStub(channel_);
  grpc::ClientContext context;
  Request request;
  request.set_text("later");
  Response response;
  std::promise<grpc::Status> done;
  stub->async()->Unary(
      &context, &request, &response,
      [&done](grpc::Status status) { done.set_value(status); });
  const grpc::Status status = done.get_future().get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "unary later grpc");
}

TEST_F(OverGrpcTest, ClientStreaming) {
  auto stub = Mixed::NewStub(channel_);
  grpc::ClientContext context;
  Response response;
  auto writer = stub->Upload(&context, &response);
  for (const char* text : {"a", "b", "c"}) {
    Request request;
    request.set_text(text);
    ASSERT_TRUE(writer->Write(request));
  }
  ASSERT_TRUE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "upload a b c grpc");
}

TEST_F(OverGrpcTest, ServerStreaming) {
  auto stub = Mixed::NewStub(channel_);
  grpc::ClientContext context;
  Request request;
  request.set_text("xyz");
  auto reader = stub->Download(&context, request);
  std::vector<int> indexes;
  Response_Part part;
  while (reader->Read(&part)) indexes.push_back(part.index());
  const grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(indexes, (std::vector<int>{0, 1, 2}));
}

TEST_F(OverGrpcTest, BidiStreaming) {
  auto stub = Mixed::NewStub(channel_);
  grpc::ClientContext context;
  auto stream = stub->Chat(&context);
  for (const char* text : {"one", "two"}) {
    Request request;
    request.set_text(text);
    ASSERT_TRUE(stream->Write(request));
    Response response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.text(), std::string("chat ") + text + " grpc");
  }
  ASSERT_TRUE(stream->WritesDone());
  const grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
}

TEST_F(OverGrpcTest, DefaultImplementationsAreUnimplemented) {
  {
    auto stub = StreamOnly::NewStub(channel_);
    grpc::ClientContext context;
    auto reader = stub->Watch(&context, Request());
    Response response;
    EXPECT_FALSE(reader->Read(&response));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    auto stub = ::ShmNoPackage::NewStub(channel_);
    grpc::ClientContext context;
    ::NoPackageRequest request;
    ::NoPackageResponse response;
    EXPECT_EQ(stub->Double(&context, request, &response).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    auto stub = ::NoPackage::NewStub(channel_);
    grpc::ClientContext context;
    ::NoPackageResponse response;
    auto writer = stub->Sum(&context, &response);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
}

}  // namespace
}  // namespace shmrpc::codegen
