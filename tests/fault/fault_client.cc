// A client process for the fault matrix: it brings its connection to a
// victim_server into one phase, says so, and waits to be killed with
// SIGKILL. Usage:
//
//   fault_client --target=HOST:PORT --endpoint=PATH --phase=PHASE
//
// Phases ("phase PHASE" is printed once it is reached):
//   idle       a channel (ShmChannelCredentials, shared memory required)
//              that has made one call and now does nothing
//   handshake  a socket connected to the endpoint that has not sent its
//              ClientHello
//   queued     two calls running in handlers that sleep until cancelled,
//              and a third published behind them (the server is started
//              with --max-threads=2, so no thread takes it)
//   running    one call whose handler sleeps until cancelled; the server
//              holds its 100 KiB request chunk meanwhile
//   response   a response received whose chunk is never returned
//
// Exit status (if not killed): 2 if the phase could not be reached.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "proto/echo.shmrpc.h"
#include "shmrpc/shmrpc.h"
#include "shmrpc/transport/unix_socket.h"
#include "tests/hostile/raw_peer.h"

namespace shmrpc::testing {
namespace {

using std::chrono::milliseconds;

std::string Flag(int argc, char** argv, const std::string& name) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return "";
}

[[noreturn]] void Reached(const std::string& phase) {
  std::printf("phase %s\n", phase.c_str());
  std::fflush(stdout);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
}

int Fail(const std::string& why) {
  std::fprintf(stderr, "fault_client: %s\n", why.c_str());
  return 2;
}

RawCall Echo(uint32_t method, uint32_t stream, size_t size, int sleep_ms) {
  EchoRequest request;
  request.set_payload(std::string(size, 'p'));
  request.set_sleep_ms(sleep_ms);
  RawCall c;
  c.stream = stream;
  c.generation = 1;
  c.method = method;
  c.message = request.SerializeAsString();
  return c;
}

int Main(int argc, char** argv) {
  const std::string target = Flag(argc, argv, "target");
  const std::string endpoint = Flag(argc, argv, "endpoint");
  const std::string phase = Flag(argc, argv, "phase");
  if (phase == "idle") {
    ShmChannelOptions o;
    o.mode = ShmMode::kRequired;
    auto channel = grpc::CreateChannel(
        target, ShmChannelCredentials(grpc::InsecureChannelCredentials(), o));
    auto stub = ShmEchoService::NewStub(channel);
    grpc::ClientContext context;
    EchoRequest request;
    request.set_payload("hello");
    EchoResponse response;
    grpc::Status s = stub->Echo(&context, request, &response);
    if (!s.ok() || !response.shared_memory()) return Fail(s.error_message());
    Reached(phase);
  }
  if (phase == "handshake") {
    absl::StatusOr<transport::UniqueFd> s =
        transport::ConnectSeqpacket(endpoint);
    if (!s.ok()) return Fail(std::string(s.status().message()));
    Reached(phase);
  }
  absl::StatusOr<std::unique_ptr<RawPeer>> p = RawPeer::Connect(endpoint);
  if (!p.ok()) return Fail(std::string(p.status().message()));
  absl::StatusOr<EchoMethods> m = LookUpEchoMethods(**p, 0);
  if (!m.ok()) return Fail(std::string(m.status().message()));
  if (phase == "queued") {
    for (uint32_t s = 1; s <= 2; ++s) {
      if (!(*p)->SendCall(Echo(m->echo, s, 10, 60000), milliseconds(1000))) {
        return Fail("cannot publish");
      }
    }
    // Both handlers are running by the time the third call is published
    // (the test checks that the server reported two handler starts, and no
    // third).
    std::this_thread::sleep_for(milliseconds(300));
    if (!(*p)->SendCall(Echo(m->echo, 3, 100 << 10, 60000),
                        milliseconds(1000))) {
      return Fail("cannot publish");
    }
    Reached(phase);
  }
  if (phase == "running") {
    if (!(*p)->SendCall(Echo(m->echo, 1, 100 << 10, 60000),
                        milliseconds(1000))) {
      return Fail("cannot publish");
    }
    Reached(phase);
  }
  if (phase == "response") {
    if (!(*p)->SendCall(Echo(m->echo, 1, 100 << 10, 0), milliseconds(1000))) {
      return Fail("cannot publish");
    }
    std::optional<RawReceived> r = (*p)->Receive(1, milliseconds(5000));
    if (!r || r->desc.payload != 2 /* chunk */)
      return Fail("no chunk response");
    Reached(phase);  // never returned
  }
  return Fail("unknown phase '" + phase + "'");
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
