// cc_shm_grpc_library on a proto_library from another workspace: the
// messages of delivery.proto use those of another package (//places, under
// import_prefix), of the shmrpc repository (common/money.proto, under
// strip_import_prefix) and a well-known type (Duration), and the generated
// service serves them over shared memory.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/money.pb.h"
#include "delivery.shmrpc.h"
#include "shmrpc/shmrpc.h"
#include "user/places/place.pb.h"

namespace user {
namespace {

Delivery AcrossTown() {
  Delivery delivery;
  delivery.mutable_from()->set_name("depot");
  delivery.mutable_from()->set_latitude(52.52);
  delivery.mutable_to()->set_name("home");
  delivery.mutable_to()->set_longitude(13.40);
  delivery.mutable_fee()->set_currency_code("EUR");
  delivery.mutable_fee()->set_units(7);
  return delivery;
}

TEST(ProtoLibraryTest, ImportsResolveAcrossPackagesAndRepositories) {
  const google::protobuf::FileDescriptor* file = Delivery::descriptor()->file();
  EXPECT_EQ(file->name(), "delivery.proto");
  std::vector<std::string> imports;
  for (int i = 0; i < file->dependency_count(); ++i) {
    imports.push_back(file->dependency(i)->name());
  }
  EXPECT_EQ(imports, (std::vector<std::string>{"common/money.proto",
                                               "google/protobuf/duration.proto",
                                               "user/places/place.proto"}));
  EXPECT_EQ(Delivery::descriptor()->FindFieldByName("to")->message_type(),
            places::Place::descriptor());
  EXPECT_EQ(Quote::descriptor()->FindFieldByName("eta")->message_type(),
            google::protobuf::Duration::descriptor());

  const Delivery delivery = AcrossTown();
  Delivery parsed;
  ASSERT_TRUE(parsed.ParseFromString(delivery.SerializeAsString()));
  EXPECT_EQ(parsed.from().latitude(), 52.52);
  EXPECT_EQ(parsed.to().name(), "home");
  EXPECT_EQ(parsed.fee().units(), 7);
}

// Twice the fee; ten minutes.
class CourierImpl final : public ShmCourier::Service {
  grpc::Status Estimate(shmrpc::ServerContext* context,
                        const Delivery* delivery, Quote* quote) override {
    *quote->mutable_fee() = delivery->fee();
    quote->mutable_fee()->set_units(2 * delivery->fee().units());
    quote->mutable_eta()->set_seconds(600);
    quote->set_shared_memory(context->is_shared_memory());
    return grpc::Status::OK;
  }
};

TEST(ProtoLibraryTest, ServiceOverSharedMemory) {
  const std::string dir = "/tmp/shmrpc-user-pl-" + std::to_string(::getpid());
  ::setenv("SHMRPC_DIR", dir.c_str(), 1);
  CourierImpl service;
  std::string error;
  auto server = shmrpc::ServerBuilder()
                    .AddListeningAddress("localhost:40998")
                    .RegisterService(&service)
                    .BuildAndStart(&error);
  ASSERT_NE(server, nullptr) << error;
  shmrpc::ShmChannelOptions options;
  options.mode = shmrpc::ShmMode::kRequired;  // nothing serves plain gRPC here
  auto channel = grpc::CreateChannel(
      "localhost:40998", shmrpc::ShmChannelCredentials(
                             grpc::InsecureChannelCredentials(), options));
  grpc::ClientContext context;
  Quote quote;
  const grpc::Status status =
      ShmCourier::NewStub(channel)->Estimate(&context, AcrossTown(), &quote);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(quote.shared_memory());
  EXPECT_EQ(quote.fee().currency_code(), "EUR");
  EXPECT_EQ(quote.fee().units(), 14);
  EXPECT_EQ(quote.eta().seconds(), 600);
  server->Shutdown();
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace user
