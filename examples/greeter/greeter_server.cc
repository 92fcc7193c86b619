// The greeter server: one service object served to remote clients over gRPC
// (HTTP/2) and to clients on this host over shared memory.
//
//   bazel run //examples/greeter:greeter_server -- [--port=50051] [--shm=false]
//
// Compared with gRPC's helloworld server, three things change (marked
// "shmrpc:" below): the service derives from helloworld::ShmGreeter::Service,
// its handler takes a shmrpc::ServerContext*, and shmrpc::ServerBuilder
// replaces grpc::ServerBuilder (same calls), serving the same object on the
// same address over both transports.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <string.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "examples/greeter/helloworld.shmrpc.h"
#include "shmrpc/shmrpc.h"

ABSL_FLAG(int, port, 50051,
          "Port to listen on (on all addresses, \"[::]:PORT\"); 0 picks a "
          "free one");
ABSL_FLAG(bool, shm, true,
          "Also serve local clients over shared memory; with --shm=false "
          "every client uses gRPC");

namespace {

// How long calls in flight may take to finish once shutdown begins.
constexpr std::chrono::seconds kShutdownGrace(5);

// shmrpc: the generated ShmGreeter::Service instead of Greeter::Service. It
// is a grpc::Service too, so grpc::ServerBuilder takes it unchanged.
class GreeterServiceImpl final : public helloworld::ShmGreeter::Service {
  // shmrpc: the context is a shmrpc::ServerContext (gRPC's API, plus
  // is_shared_memory()); the body is what it was with grpc::ServerContext.
  grpc::Status SayHello(shmrpc::ServerContext* context,
                        const helloworld::HelloRequest* request,
                        helloworld::HelloReply* reply) override {
    reply->set_message(absl::StrCat("Hello ", request->name(),
                                    context->is_shared_memory()
                                        ? " (over shared memory)"
                                        : " (over gRPC)"));

    // Metadata and deadlines work the same on both transports: echo the
    // client's request id and say how much of its deadline was left.
    const auto& metadata = context->client_metadata();
    if (auto it = metadata.find("x-request-id"); it != metadata.end()) {
      context->AddInitialMetadata(
          "x-request-id", std::string(it->second.data(), it->second.size()));
    }
    if (context->deadline() != std::chrono::system_clock::time_point::max()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          context->deadline() - std::chrono::system_clock::now());
      context->AddTrailingMetadata("x-deadline-left-ms",
                                   std::to_string(left.count()));
    }
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The greeter server: serves helloworld.Greeter over gRPC and, to "
      "clients on this host, over shared memory.\n  greeter_server "
      "[--port=50051] [--shm=false]");
  absl::ParseCommandLine(argc, argv);

  // Block SIGINT and SIGTERM before any thread exists: every thread that gRPC
  // and shmrpc start inherits the mask, so the signals stay pending until
  // sigwait() below takes them in this thread, where it is safe to call
  // Shutdown().
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (int err = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); err != 0) {
    std::cerr << "pthread_sigmask: " << strerror(err) << std::endl;
    return 1;
  }

  GreeterServiceImpl service;
  // As in gRPC's example: gRPC's health checking service, which shmrpc's
  // server answers over shared memory too (`shmrpc health localhost:PORT`).
  grpc::EnableDefaultHealthCheckService(true);

  // shmrpc: shmrpc::ServerBuilder instead of grpc::ServerBuilder; the calls
  // are gRPC's. It builds the gRPC server, for clients on other hosts (and
  // local ones that cannot or may not use shared memory), and serves the same
  // object on the same address over shared memory: local clients whose
  // target names this port ("localhost:PORT") find the endpoint socket on
  // their own.
  int port = 0;
  shmrpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("[::]:", absl::GetFlag(FLAGS_port)),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  shmrpc::ServerOptions options;
  options.shared_memory = absl::GetFlag(FLAGS_shm);
  builder.SetOptions(options);
  std::string error;
  std::unique_ptr<shmrpc::Server> server = builder.BuildAndStart(&error);
  if (server == nullptr || port == 0) {
    std::cerr << "Could not listen on port " << absl::GetFlag(FLAGS_port)
              << ": " << error << std::endl;
    return 1;
  }
  // The real port (the one gRPC picked if --port=0).
  std::cout << "gRPC server listening on [::]:" << port << std::endl;
  for (const std::string& endpoint : server->endpoints()) {
    std::cout << "Shared-memory server listening on " << endpoint << std::endl;
  }
  if (!options.shared_memory) {
    std::cout << "Shared-memory server off (--shm=false): every client uses "
                 "gRPC"
              << std::endl;
  }
  std::cout << "Ready; stop with Ctrl-C or SIGTERM" << std::endl;

  int signal_number = 0;
  if (int err = sigwait(&stop_signals, &signal_number); err != 0) {
    std::cerr << "sigwait: " << strerror(err) << std::endl;
    return 1;
  }
  std::cout << "Received " << strsignal(signal_number) << ", shutting down"
            << std::endl;

  // A graceful shutdown: no new calls, calls in flight may finish within
  // the grace period. Shared memory goes first (its endpoint socket is
  // removed), so that local clients that are still calling move to gRPC
  // rather than fail; gRPC stops last.
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  std::cout << "Server stopped" << std::endl;
  return 0;
}
