// The blob server processes (tests/flat/blob_server.cc) the flat-call tests
// run against, one of each kind for a test suite, and what their calls
// share.
#ifndef SHMRPC_TESTS_FLAT_BLOB_SERVERS_H_
#define SHMRPC_TESTS_FLAT_BLOB_SERVERS_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "shmrpc/shmrpc.h"
#include "tests/util/subprocess.h"
#include "tests/util/temp_dir.h"

namespace shmrpc::flatcall {

// A blob server process of `kind` ("flat" or "proto"), and channels to it.
class Server {
 public:
  explicit Server(const std::string& kind)
      : process_({std::string(std::getenv("TEST_SRCDIR")) + "/" +
                      std::getenv("TEST_WORKSPACE") + "/tests/flat/blob_server",
                  kind}) {
    const std::optional<std::string> port =
        process_.WaitForPrefix("ready ", std::chrono::seconds(20));
    EXPECT_TRUE(port.has_value());
    target_ = "127.0.0.1:" + port.value_or("0");
  }
  // shmrpc's channel (the generated stub over shared memory).
  std::shared_ptr<grpc::Channel> ShmChannel() const {
    auto channel = shmrpc::CreateChannel(
        target_, grpc::InsecureChannelCredentials(), ShmChannelOptions());
    return channel;
  }
  // A plain gRPC channel (no shared memory).
  std::shared_ptr<grpc::Channel> GrpcChannel() const {
    return grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  }
  // gRPC's channel on ShmChannelCredentials.
  std::shared_ptr<grpc::Channel> CredsChannel() const {
    return grpc::CreateChannel(
        target_, ShmChannelCredentials(grpc::InsecureChannelCredentials()));
  }

 private:
  testing::Subprocess process_;
  std::string target_;
};

// A context with a 20 s deadline and the "x-tag" metadata the services
// send back as trailing metadata.
inline std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(20));
  context->AddMetadata("x-tag", "tagged");
  return context;
}

inline std::string Tag(const grpc::ClientContext& context) {
  auto it = context.GetServerTrailingMetadata().find("x-tag");
  return it == context.GetServerTrailingMetadata().end()
             ? ""
             : std::string(it->second.data(), it->second.size());
}

// A flat server ("flat") and a protobuf one ("proto") for the suite, in a
// directory of endpoints of its own.
class BlobServers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    ::setenv("SHMRPC_DIR", dir_->path().c_str(), 1);
    flat_ = new Server("flat");
    proto_ = new Server("proto");
  }
  static void TearDownTestSuite() {
    delete flat_;
    delete proto_;
    delete dir_;
  }
  static inline testing::TempDir* dir_ = nullptr;
  static inline Server* flat_ = nullptr;
  static inline Server* proto_ = nullptr;
};

}  // namespace shmrpc::flatcall

#endif  // SHMRPC_TESTS_FLAT_BLOB_SERVERS_H_
