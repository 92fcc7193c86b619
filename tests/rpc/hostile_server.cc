// A misbehaving shared-memory server for the client's hostile-peer tests
// (client_hostile_server_test.cc). It is built on the transport (Listener,
// Connection) and the call frames directly, not on shmrpc::Server, so that it
// can break the protocol on purpose. Usage:
//
//   hostile_server --socket=PATH --mode=MODE [--size=N]
//
// Listens at PATH (a shared-memory endpoint), prints "ready" and serves
// until killed. It offers shmrpc.testing.EchoService (proto/echo.proto) in
// its method table. MODE says how it answers:
//
//   echo                 honestly: Echo returns the request's payload, and
//                        its checksum field carries how many Echo calls this
//                        process has received so far (1 for the first)
//   huge_response        Echo answers OK with an EchoResponse whose payload
//                        is N bytes
//   big_initial          Echo answers OK with N bytes of initial metadata
//   big_trailing         Echo answers OK with N bytes of trailing metadata
//   big_details          Echo answers UNKNOWN with N bytes of status details
//   table_wrong_kind     the method table comes in a kMessage frame
//   table_wrong_gen      the method table comes with the wrong generation
//   table_huge           the method table is N bytes (one long name)
//   no_table             never answers the method-table request
//   silent_handshake     accepts connections and never says a word
//   never_answer         reads every call and never answers
//   hoard_chunks         reads every call, never answers, and never returns
//                        the request's chunk
//   stop_reading         answers the method table, then never reads again
//                        (the requests ring fills up)
//   close_after_call     answers each Echo honestly, then closes the
//                        connection
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/echo.pb.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/transport/connection.h"
#include "shmrpc/transport/event_loop.h"
#include "shmrpc/transport/listener.h"
#include "shmrpc/transport/unix_socket.h"

namespace shmrpc::testing {
namespace {

using Clock = std::chrono::steady_clock;
using transport::Connection;
using transport::InboundMessage;

std::string Flag(int argc, char** argv, const std::string& name,
                 const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return fallback;
}

struct Config {
  std::string mode;
  size_t size = 0;
};

std::atomic<uint32_t> g_echo_calls{0};

// Everything a response frame may carry.
struct Response {
  uint16_t kind = static_cast<uint16_t>(rpc::FrameKind::kResponse);
  uint32_t generation = 0;
  uint32_t code = 0;
  bool has_message = false;
  std::string message;
  std::vector<rpc::MetadataEntry> initial;
  std::string status_message;
  std::string status_details;
  std::vector<rpc::MetadataEntry> trailing;
};

// Sends `r` on `stream`, inline if it fits, else in a chunk.
void Send(Connection& c, uint32_t stream, const Response& r) {
  uint16_t flags = rpc::kHasStatus;
  if (r.has_message) flags |= rpc::kHasMessage;
  if (!r.initial.empty()) flags |= rpc::kHasMetadata;
  rpc::FrameExtras extras;
  extras.metadata = r.initial;
  extras.status_message = r.status_message;
  extras.status_details = r.status_details;
  extras.trailing = r.trailing;
  const size_t total = r.message.size() + rpc::ExtrasSize(flags, extras);
  transport::MessageHeader h;
  h.stream = stream;
  h.generation = r.generation;
  h.kind = r.kind;
  h.flags = flags;
  h.aux = r.code;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  if (c.inline_payloads() && total <= transport::kInlineCapacity) {
    uint8_t buffer[transport::kInlineCapacity];
    std::memcpy(buffer, r.message.data(), r.message.size());
    rpc::EncodeExtras(flags, extras, buffer + r.message.size());
    (void)c.Send(h, transport::OutgoingPayload::Inline({buffer, total}),
                 deadline);
    return;
  }
  absl::StatusOr<transport::Chunk> chunk = c.AllocateChunk(total, deadline);
  if (!chunk.ok()) {
    std::fprintf(stderr, "hostile_server: %s\n",
                 std::string(chunk.status().message()).c_str());
    return;
  }
  std::memcpy(chunk->data, r.message.data(), r.message.size());
  rpc::EncodeExtras(flags, extras, chunk->data + r.message.size());
  if (!c.Send(h,
              transport::OutgoingPayload::InChunk(*chunk,
                                                  static_cast<uint32_t>(total)),
              deadline)
           .ok()) {
    c.DiscardChunk(*chunk);
  }
}

void SendMethodTable(Connection& c, const Config& config,
                     const transport::Descriptor& call) {
  std::vector<std::string> names = {"/shmrpc.testing.EchoService/Echo",
                                    "/shmrpc.testing.EchoService/LastCall"};
  Response r;
  r.generation = call.generation;
  r.has_message = true;
  if (config.mode == "table_wrong_kind") {
    r.kind = static_cast<uint16_t>(rpc::FrameKind::kMessage);
  } else if (config.mode == "table_wrong_gen") {
    r.generation = call.generation + 7;
  } else if (config.mode == "table_huge") {
    names.push_back("/" + std::string(config.size, 'x'));
  }
  r.message = rpc::EncodeMethodTable(names);
  Send(c, call.stream, r);
}

void AnswerEcho(Connection& c, const Config& config,
                const transport::Descriptor& call, const InboundMessage& m) {
  const uint32_t calls = g_echo_calls.fetch_add(1) + 1;
  absl::StatusOr<rpc::DecodedFrame> f =
      rpc::DecodeFrame(call.flags, m.payload());
  EchoRequest request;
  if (!f.ok() || !request.ParseFromArray(f->message.data(),
                                         static_cast<int>(f->message.size()))) {
    std::fprintf(stderr, "hostile_server: bad request\n");
    return;
  }
  EchoResponse response;
  response.set_shared_memory(true);
  Response r;
  r.generation = call.generation;
  r.has_message = true;
  // Kept alive until sent: the entries below are views.
  const std::string big(config.size, 'v');
  if (config.mode == "huge_response") {
    response.set_payload(std::string(config.size, 'p'));
  } else if (config.mode == "big_initial") {
    r.initial.emplace_back("x-big", big);
  } else if (config.mode == "big_trailing") {
    r.trailing.emplace_back("x-big", big);
  } else if (config.mode == "big_details") {
    r.code = 2;  // UNKNOWN
    r.has_message = false;
    r.status_message = "big details";
    r.status_details = big;
  } else {
    response.set_payload(request.payload());
    response.set_checksum(calls);
  }
  if (r.has_message) r.message = response.SerializeAsString();
  Send(c, call.stream, r);
}

void Serve(std::shared_ptr<Connection> c, Config config) {
  std::vector<InboundMessage> hoard;
  bool table_sent = false;
  while (c->ok()) {
    if (config.mode == "stop_reading" && table_sent) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    absl::StatusOr<InboundMessage> m =
        c->ReceiveRequest(Clock::now() + std::chrono::milliseconds(200));
    if (!m.ok()) continue;
    const transport::Descriptor d = m->descriptor();
    if (d.kind != static_cast<uint16_t>(rpc::FrameKind::kCall)) continue;
    if (d.aux == rpc::kListMethodsId) {
      if (config.mode != "no_table") SendMethodTable(*c, config, d);
      table_sent = true;
      continue;
    }
    if (config.mode == "never_answer") continue;
    if (config.mode == "hoard_chunks") {
      hoard.push_back(std::move(*m));
      continue;
    }
    AnswerEcho(*c, config, d, *m);
    if (config.mode == "close_after_call") {
      m->Release();
      // Give the answer a moment to be read before the socket goes.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      c->Close(absl::UnavailableError("hostile_server closes after a call"));
      return;
    }
  }
}

int Main(int argc, char** argv) {
  const std::string path = Flag(argc, argv, "socket", "");
  Config config;
  config.mode = Flag(argc, argv, "mode", "echo");
  config.size =
      std::strtoull(Flag(argc, argv, "size", "0").c_str(), nullptr, 10);
  if (path.empty()) {
    std::fprintf(stderr, "usage: hostile_server --socket=PATH --mode=MODE\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (config.mode == "silent_handshake") {
    absl::StatusOr<transport::UniqueFd> listening =
        transport::ListenSeqpacket(path, 64, 0600);
    if (!listening.ok()) {
      std::fprintf(stderr, "hostile_server: %s\n",
                   std::string(listening.status().message()).c_str());
      return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    std::vector<int> held;  // accepted and never answered
    for (;;) {
      pollfd p{listening->get(), POLLIN, 0};
      (void)::poll(&p, 1, -1);  // the socket is non-blocking
      const int fd = ::accept(listening->get(), nullptr, nullptr);
      if (fd >= 0) held.push_back(fd);
    }
  }
  transport::EventLoop loop;
  transport::ListenerOptions options;
  options.path = path;
  std::mutex mu;
  std::vector<std::thread> threads;
  absl::StatusOr<std::unique_ptr<transport::Listener>> listener =
      transport::Listener::Start(
          options, &loop, [&](std::shared_ptr<Connection> c) {
            std::lock_guard<std::mutex> lock(mu);
            threads.emplace_back(Serve, std::move(c), config);
          });
  if (!listener.ok()) {
    std::fprintf(stderr, "hostile_server: %s\n",
                 std::string(listener.status().message()).c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) pause();
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) { return shmrpc::testing::Main(argc, argv); }
