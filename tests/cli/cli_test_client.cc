// The client process of the `shmrpc` tool's tests (shmrpc_cli_test.sh).
// Usage:
//
//   cli_test_client --target=TARGET [--ok=N] [--payload=BYTES]
//                   [--fail=CODE] [--failures=N] [--hold]
//
// Over shared memory only (ShmMode::kRequired), with the generated stub of
// shmrpc.testing.EchoService: makes N Echo calls that succeed, each with a
// payload of BYTES, then --failures calls that the server fails with status
// CODE, and prints "requests N BYTES": the calls made and the serialized
// bytes of their requests. With --hold, instead connects, prints "holding"
// and keeps the connection until its stdin closes. Exits 0 if every call
// ended as asked, 1 otherwise (saying why on stderr).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "proto/echo.shmrpc.h"
#include "shmrpc/shmrpc.h"
#include "tests/rpc/echo_service.h"
#include "tests/util/flags.h"

namespace shmrpc::testing {
namespace {

int Main(int argc, char** argv) {
  const char* target = Flag(argc, argv, "target");
  if (target == nullptr) {
    std::fprintf(stderr, "cli_test_client: --target is required\n");
    return 2;
  }
  ShmChannelOptions options;
  options.mode = ShmMode::kRequired;
  auto channel =
      CreateChannel(target, grpc::InsecureChannelCredentials(), options);
  bool hold = false;
  Flag(argc, argv, "hold", &hold);
  if (hold) {
    if (ConnectSharedMemory(channel) != ChannelPath::kSharedMemory) {
      std::fprintf(stderr, "cli_test_client: %s\n",
                   DescribeChannelPath(channel).c_str());
      return 1;
    }
    std::printf("holding\n");
    std::fflush(stdout);
    char buffer[64];
    while (::read(STDIN_FILENO, buffer, sizeof(buffer)) > 0) {
    }
    return 0;
  }
  const char* ok = Flag(argc, argv, "ok");
  const char* payload = Flag(argc, argv, "payload");
  const char* fail = Flag(argc, argv, "fail");
  const char* failures = Flag(argc, argv, "failures");
  auto stub = ShmEchoService::NewStub(channel);
  long calls = 0;
  long bytes = 0;
  auto call = [&](int fail_code) {
    grpc::ClientContext context;
    EchoRequest request;
    if (fail_code == 0) {
      request.set_payload(
          std::string(payload != nullptr ? std::atoi(payload) : 0, 'p'));
      request.set_checksum(PayloadChecksum(request.payload()));
    } else {
      request.set_fail_code(fail_code);
    }
    EchoResponse response;
    const grpc::Status status = stub->Echo(&context, request, &response);
    ++calls;
    bytes += static_cast<long>(request.ByteSizeLong());
    if (status.error_code() != fail_code) {
      std::fprintf(stderr, "cli_test_client: call %ld ended %d (%s), not %d\n",
                   calls, status.error_code(), status.error_message().c_str(),
                   fail_code);
      return false;
    }
    return true;
  };
  for (int i = 0; i < (ok != nullptr ? std::atoi(ok) : 0); ++i) {
    if (!call(0)) return 1;
  }
  for (int i = 0; i < (failures != nullptr ? std::atoi(failures) : 0); ++i) {
    if (!call(fail != nullptr ? std::atoi(fail) : 2)) return 1;
  }
  std::printf("requests %ld %ld\n", calls, bytes);
  return 0;
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
