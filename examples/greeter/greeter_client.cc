// The greeter client: says hello over shared memory when the server is on
// this host, and over gRPC otherwise, then reports which path its channel
// took and how long a call takes.
//
//   bazel run //examples/greeter:greeter_client -- [--target=localhost:50051]
//       [--name=world] [--calls=3] [--creds] [--bench=2000]
//
// Compared with gRPC's helloworld client, one line changes (marked "shmrpc:"
// below): the channel's credentials. Then either keep gRPC's
// helloworld::Greeter::Stub (--creds) or use the generated
// helloworld::ShmGreeter::Stub (the default), which skips gRPC's call
// machinery on shared memory and is faster still.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "examples/greeter/helloworld.grpc.pb.h"
#include "examples/greeter/helloworld.shmrpc.h"
#include "shmrpc/shmrpc.h"

ABSL_FLAG(std::string, target, "localhost:50051", "Server address");
ABSL_FLAG(std::string, name, "world", "Name to greet");
ABSL_FLAG(int, calls, 3, "Greetings to ask for and print");
ABSL_FLAG(bool, creds, false,
          "Use gRPC's unchanged helloworld::Greeter::Stub on the shmrpc "
          "channel instead of the generated helloworld::ShmGreeter::Stub");
ABSL_FLAG(int, bench, 2000,
          "Time this many further SayHello calls and print a latency "
          "summary; 0: none");

namespace {

// The deadline of the first call (which also sets up the shared-memory
// connection).
constexpr std::chrono::seconds kDeadline(5);

std::string Describe(const grpc::Status& status) {
  return absl::StrCat("error ", status.error_code(), ": ",
                      status.error_message());
}

std::string Metadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
    const std::string& key) {
  auto it = metadata.find(key);
  return it == metadata.end()
             ? "(none)"
             : std::string(it->second.data(), it->second.size());
}

// The calls, the same for both stubs: helloworld::ShmGreeter::Stub has
// gRPC's unary method shapes, including the async() callback form.
template <typename Stub>
bool Greet(Stub& stub, const std::string& name, int calls, int bench) {
  helloworld::HelloRequest request;
  request.set_name(name);

  for (int i = 1; i <= calls; ++i) {
    grpc::ClientContext context;
    if (i == 1) {
      // A deadline and a metadata entry travel over shared memory as they
      // do over gRPC; the server echoes both back (see greeter_server.cc).
      context.set_deadline(std::chrono::system_clock::now() + kDeadline);
      context.AddMetadata("x-request-id", "greeter-client-1");
    }
    helloworld::HelloReply reply;
    grpc::Status status = stub.SayHello(&context, request, &reply);
    if (!status.ok()) {
      std::cerr << "SayHello failed: " << Describe(status) << std::endl;
      return false;
    }
    std::cout << "Greeter received: " << reply.message() << std::endl;
    if (i == 1) {
      std::cout << "  server echoed x-request-id="
                << Metadata(context.GetServerInitialMetadata(), "x-request-id")
                << ", saw x-deadline-left-ms="
                << Metadata(context.GetServerTrailingMetadata(),
                            "x-deadline-left-ms")
                << std::endl;
    }
  }

  // The callback form: on_done runs on another thread when the call ends.
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kDeadline);
    helloworld::HelloReply reply;
    std::promise<grpc::Status> done;
    stub.async()->SayHello(
        &context, &request, &reply,
        [&done](grpc::Status status) { done.set_value(std::move(status)); });
    grpc::Status status = done.get_future().get();
    if (!status.ok()) {
      std::cerr << "async SayHello failed: " << Describe(status) << std::endl;
      return false;
    }
    std::cout << "Greeter received (async): " << reply.message() << std::endl;
  }

  if (bench > 0) {
    std::vector<double> micros;
    micros.reserve(bench);
    helloworld::HelloReply reply;
    for (int i = 0; i < bench; ++i) {
      grpc::ClientContext context;
      const auto start = std::chrono::steady_clock::now();
      grpc::Status status = stub.SayHello(&context, request, &reply);
      const auto end = std::chrono::steady_clock::now();
      if (!status.ok()) {
        std::cerr << "SayHello failed: " << Describe(status) << std::endl;
        return false;
      }
      micros.push_back(
          std::chrono::duration<double, std::micro>(end - start).count());
    }
    std::sort(micros.begin(), micros.end());
    double sum = 0;
    for (double m : micros) sum += m;
    auto percentile = [&micros](double p) {
      return micros[std::min(micros.size() - 1,
                             static_cast<size_t>(p * micros.size()))];
    };
    std::cout << absl::StrFormat(
                     "Latency of %d SayHello calls: avg %.1f us, median %.1f "
                     "us, p99 %.1f us, min %.1f us",
                     bench, sum / bench, percentile(0.5), percentile(0.99),
                     micros.front())
              << std::endl;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The greeter client: calls helloworld.Greeter over shared memory "
      "when it can, over gRPC otherwise.\n  greeter_client "
      "[--target=localhost:50051] [--name=world] [--calls=3] [--creds] "
      "[--bench=2000]");
  absl::ParseCommandLine(argc, argv);
  const std::string target = absl::GetFlag(FLAGS_target);

  // shmrpc: the one changed line. The credentials wrap those the client used
  // before (here insecure): calls to a server on this host that offers shared
  // memory go over shared memory, all others through gRPC with the wrapped
  // credentials. SHMRPC_MODE=off in the environment turns shared memory off.
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      target,
      shmrpc::ShmChannelCredentials(grpc::InsecureChannelCredentials()));

  bool ok;
  if (absl::GetFlag(FLAGS_creds)) {
    // gRPC's own stub, unchanged: its calls pass through the channel's
    // interceptor, which answers them over shared memory.
    std::cout << "Stub: helloworld::Greeter::Stub (gRPC's, unchanged)"
              << std::endl;
    std::unique_ptr<helloworld::Greeter::Stub> stub =
        helloworld::Greeter::NewStub(channel);
    ok = Greet(*stub, absl::GetFlag(FLAGS_name), absl::GetFlag(FLAGS_calls),
               absl::GetFlag(FLAGS_bench));
  } else {
    // shmrpc: the generated stub goes straight to shared memory.
    std::cout << "Stub: helloworld::ShmGreeter::Stub (generated by shmrpc)"
              << std::endl;
    std::unique_ptr<helloworld::ShmGreeter::Stub> stub =
        helloworld::ShmGreeter::NewStub(channel);
    ok = Greet(*stub, absl::GetFlag(FLAGS_name), absl::GetFlag(FLAGS_calls),
               absl::GetFlag(FLAGS_bench));
  }

  // shmrpc: how this channel's calls traveled, e.g. "shared memory via
  // /run/user/1000/shmrpc/port-50051.sock" or "gRPC (<why not>)".
  std::cout << "Channel path: " << shmrpc::DescribeChannelPath(channel)
            << std::endl;
  return ok ? 0 : 1;
}
