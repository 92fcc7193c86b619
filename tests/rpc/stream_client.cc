// A client process for stream_test's kill -9 case: against a probe_server
// (shared memory required) it opens a bidirectional stream tagged
// "killed-chat" (two messages written, one answer read) and a server stream
// tagged "killed-stream" that it never reads, prints "streaming", and waits
// to be killed. Usage:
//
//   stream_client --target=HOST:PORT
//
// Exit status (if not killed): 2 if the streams could not be opened.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "shmrpc/shmrpc.h"
#include "tests/rpc/probe.shmrpc.h"
#include "tests/rpc/probe_service.h"

namespace shmrpc::testing {
namespace {

int Main(int argc, char** argv) {
  std::string target;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--target=", 9) == 0) target = argv[i] + 9;
  }
  if (target.empty()) {
    std::fprintf(stderr, "usage: stream_client --target=HOST:PORT\n");
    return 2;
  }
  ShmChannelOptions options;
  options.mode = ShmMode::kRequired;
  auto channel = grpc::CreateChannel(
      target,
      ShmChannelCredentials(grpc::InsecureChannelCredentials(), options));
  auto stub = ShmProbe::NewStub(channel);

  grpc::ClientContext chat_context;
  chat_context.AddMetadata("x-tag", "killed-chat");
  auto chat = stub->Chat(&chat_context);
  StreamMessage m;
  for (int i = 0; i < 2; ++i) {
    m.set_index(i);
    m.set_payload(StreamPayload(i, 100 << 10));
    if (!chat->Write(m)) {
      std::fprintf(stderr, "stream_client: write failed\n");
      return 2;
    }
  }
  if (!chat->Read(&m)) {
    std::fprintf(stderr, "stream_client: read failed\n");
    return 2;
  }

  grpc::ClientContext stream_context;
  StreamRequest request;
  request.set_tag("killed-stream");
  request.add_sizes(64 << 10);
  request.set_rounds(1000000);
  auto reader = stub->Stream(&stream_context, request);
  reader->WaitForInitialMetadata();

  std::printf("streaming\n");
  std::fflush(stdout);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
