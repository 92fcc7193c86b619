// Uses cc_shm_grpc_library and @shmrpc//:shmrpc from another workspace:
// serves a generated service over shared memory (only) and calls it with the
// generated stub and with gRPC's stub on shmrpc's credentials. Exits 0 on
// success.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "greeting.shmrpc.h"
#include "shmrpc/shmrpc.h"

namespace {

class GreeterImpl final : public user::ShmGreeter::Service {
  grpc::Status Greet(shmrpc::ServerContext* context, const user::Name* request,
                     user::Greeting* reply) override {
    reply->set_text("hello " + request->name());
    reply->set_shared_memory(context->is_shared_memory());
    return grpc::Status::OK;
  }
};

int Run() {
  const std::string dir = "/tmp/shmrpc-user-" + std::to_string(::getpid());
  ::setenv("SHMRPC_DIR", dir.c_str(), 1);
  GreeterImpl service;
  std::string error;
  auto server = shmrpc::ServerBuilder()
                    .AddListeningAddress("localhost:40999")
                    .RegisterService(&service)
                    .BuildAndStart(&error);
  if (server == nullptr) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  shmrpc::ShmChannelOptions options;
  options.mode = shmrpc::ShmMode::kRequired;  // nothing serves plain gRPC here
  auto channel = grpc::CreateChannel(
      "localhost:40999", shmrpc::ShmChannelCredentials(
                             grpc::InsecureChannelCredentials(), options));
  user::Name name;
  name.set_name("user");
  user::Greeting reply;
  {
    grpc::ClientContext context;
    if (!user::ShmGreeter::NewStub(channel)
             ->Greet(&context, name, &reply)
             .ok() ||
        !reply.shared_memory() || reply.text() != "hello user") {
      return 2;
    }
  }
  {
    grpc::ClientContext context;
    if (!user::Greeter::NewStub(channel)->Greet(&context, name, &reply).ok() ||
        !reply.shared_memory()) {
      return 3;
    }
  }
  std::printf("%s over %s\n", reply.text().c_str(),
              shmrpc::DescribeChannelPath(channel).c_str());
  server->Shutdown();
  ::rmdir(dir.c_str());
  return 0;
}

}  // namespace

int main() { return Run(); }
