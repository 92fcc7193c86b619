// The code cc_shm_grpc_library generates from proto_library targets: the
// messages of order.proto use those of another package's proto_library
// (imported at its stripped import path, "common/money.proto") and a
// well-known type (google/protobuf/timestamp.proto); they round-trip through
// protobuf and through their flat forms; the generated service has its
// methods and serves over shared memory; and refund.proto, a .proto file in
// srcs, imports the same proto of the other package.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codegen/tests/proto_library/order.flat.h"
#include "codegen/tests/proto_library/order.shmrpc.h"
#include "codegen/tests/proto_library/refund.shmrpc.h"
#include "common/money.pb.h"
#include "shmrpc/message/flat.h"
#include "shmrpc/shmrpc.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::pltest {
namespace {

using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::util::MessageDifferencer;

common::Money Dollars(int64_t units, int32_t nanos) {
  common::Money money;
  money.set_currency_code("USD");
  money.set_units(units);
  money.set_nanos(nanos);
  return money;
}

Order TwoLineOrder() {
  Order order;
  order.set_id("order-7");
  Line* line = order.add_lines();
  line->set_sku("pen");
  line->set_quantity(3);
  *line->mutable_unit_price() = Dollars(1, 250000000);
  line = order.add_lines();
  line->set_sku("pad");
  line->set_quantity(2);
  *line->mutable_unit_price() = Dollars(4, 0);
  order.mutable_placed_at()->set_seconds(1700000000);
  order.mutable_placed_at()->set_nanos(5);
  return order;
}

// The dependencies of a generated file, by import path.
std::vector<std::string> Imports(const FileDescriptor* file) {
  std::vector<std::string> names;
  for (int i = 0; i < file->dependency_count(); ++i) {
    names.push_back(file->dependency(i)->name());
  }
  return names;
}

TEST(ProtoLibraryTest, ImportPathsComeFromTheProtoLibraries) {
  const FileDescriptor* order = Order::descriptor()->file();
  EXPECT_EQ(order->name(), "codegen/tests/proto_library/order.proto");
  EXPECT_EQ(Imports(order),
            (std::vector<std::string>{"common/money.proto",
                                      "google/protobuf/timestamp.proto"}));
  // strip_import_prefix: the other package's proto is "common/money.proto".
  EXPECT_EQ(common::Money::descriptor()->file()->name(), "common/money.proto");
  EXPECT_EQ(Imports(Refund::descriptor()->file()),
            (std::vector<std::string>{"common/money.proto"}));

  const FieldDescriptor* price =
      Line::descriptor()->FindFieldByName("unit_price");
  ASSERT_NE(price, nullptr);
  EXPECT_EQ(price->message_type(), common::Money::descriptor());
  const FieldDescriptor* placed_at =
      Order::descriptor()->FindFieldByName("placed_at");
  ASSERT_NE(placed_at, nullptr);
  EXPECT_EQ(placed_at->message_type(),
            ::google::protobuf::Timestamp::descriptor());
}

TEST(ProtoLibraryTest, MessagesWithImportedTypesRoundTrip) {
  const Order order = TwoLineOrder();
  Order parsed;
  ASSERT_TRUE(parsed.ParseFromString(order.SerializeAsString()));
  EXPECT_TRUE(MessageDifferencer::Equals(order, parsed));
  EXPECT_EQ(parsed.lines(0).unit_price().nanos(), 250000000);
  EXPECT_EQ(parsed.placed_at().seconds(), 1700000000);

  Refund refund;
  refund.set_order_id("order-7");
  *refund.mutable_amount() = Dollars(2, 500000000);
  Refund parsed_refund;
  ASSERT_TRUE(parsed_refund.ParseFromString(refund.SerializeAsString()));
  EXPECT_TRUE(MessageDifferencer::Equals(refund, parsed_refund));
}

// flat = True on both libraries: order.flat.h uses common/money.flat.h of
// the other package's library and the well-known Timestamp's flat form.
TEST(ProtoLibraryTest, FlatFormsOfImportedTypes) {
  const Order order = TwoLineOrder();
  ::shmrpc::flat::HeapArena arena;
  flat::OrderBuilder builder = flat::OrderBuilder::New(&arena);
  builder.CopyFrom(order);
  ASSERT_TRUE(arena.Finish(builder).ok());
  ::shmrpc::flat::Reader reader(arena.written());
  const auto view = reader.Root<flat::OrderView>();
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_EQ(view->lines_size(), 2);
  EXPECT_EQ(view->lines(1).sku(), "pad");
  EXPECT_EQ(view->lines(0).unit_price().currency_code(), "USD");
  EXPECT_EQ(view->lines(0).unit_price().nanos(), 250000000);
  EXPECT_EQ(view->placed_at().seconds(), 1700000000);
  EXPECT_EQ(view->placed_at().nanos(), 5);
  Order back;
  ASSERT_TRUE(view->ToProto(&back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(order, back));
}

// Sums the order's lines; says whether the call came over shared memory.
class OrderDeskImpl final : public ShmOrderDesk::Service {
  grpc::Status Place(ServerContext* context, const Order* order,
                     Receipt* receipt) override {
    int64_t nanos = 0;
    for (const Line& line : order->lines()) {
      nanos += line.quantity() * (line.unit_price().units() * 1000000000 +
                                  line.unit_price().nanos());
    }
    receipt->set_order_id(order->id());
    *receipt->mutable_total() = Dollars(nanos / 1000000000, nanos % 1000000000);
    *receipt->mutable_placed_at() = order->placed_at();
    receipt->set_shared_memory(context->is_shared_memory());
    return grpc::Status::OK;
  }
};

TEST(ProtoLibraryTest, ServiceHasTheProtoLibrarysMethods) {
  EXPECT_STREQ(ShmOrderDesk::service_full_name(), "shmrpc.pltest.OrderDesk");
  OrderDeskImpl service;
  std::vector<std::string> names;
  for (const auto& method : service.shm_methods()) names.push_back(method.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"/shmrpc.pltest.OrderDesk/Place",
                                      "/shmrpc.pltest.OrderDesk/Track"}));
}

TEST(ProtoLibraryTest, CallOverSharedMemory) {
  const testing::TempDir dir;
  ::setenv("SHMRPC_DIR", dir.File("endpoints").c_str(), 1);
  OrderDeskImpl service;
  std::string error;
  auto server = ServerBuilder()
                    .AddListeningAddress("localhost:40971")
                    .RegisterService(&service)
                    .BuildAndStart(&error);
  ASSERT_NE(server, nullptr) << error;
  ShmChannelOptions options;
  options.mode = ShmMode::kRequired;  // nothing serves plain gRPC here
  auto channel = grpc::CreateChannel(
      "localhost:40971",
      ShmChannelCredentials(grpc::InsecureChannelCredentials(), options));

  grpc::ClientContext context;
  Receipt receipt;
  const grpc::Status status =
      ShmOrderDesk::NewStub(channel)->Place(&context, TwoLineOrder(), &receipt);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(receipt.shared_memory());
  EXPECT_EQ(receipt.order_id(), "order-7");
  // 3 x 1.25 + 2 x 4.00 = 11.75
  EXPECT_TRUE(
      MessageDifferencer::Equals(receipt.total(), Dollars(11, 750000000)))
      << receipt.total().DebugString();
  EXPECT_EQ(receipt.placed_at().seconds(), 1700000000);
  server->Shutdown();
  ::unsetenv("SHMRPC_DIR");
}

}  // namespace
}  // namespace shmrpc::pltest
