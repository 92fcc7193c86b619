// A separate process for the cross-process transport tests. Usage:
//
//   transport_peer echo-server PATH
//       Serves echo on PATH; prints "ready"; runs until killed.
//   transport_peer holding-server PATH
//       Like echo-server, but never returns the client's request chunks.
//   transport_peer echo-client PATH THREADS CALLS
//       THREADS threads each make CALLS echo calls of assorted sizes; exits 0
//       if every answer was right, 1 otherwise.
//   transport_peer hold-client PATH N
//       Makes N echo calls with chunk payloads and keeps the N answers (so
//       the server's chunks stay lent); prints "ready"; waits to be killed.
//   transport_peer connect-as UID PATH
//       Switches to UID (needs root), connects, prints the status, and exits
//       with the status code (0 if the connection was accepted).
//   transport_peer silent-crowd PATH N
//       Holds N connections that never send a hello; each one the server
//       refuses or closes is opened again 50 ms later. Prints "ready" once
//       all N were connected the first time; runs until killed.
//   transport_peer knock PATH
//       Every 20 ms: connects, sends a malformed record and prints what came
//       back within 500 ms ("knock: refused CODE", "knock: no answer",
//       "knock: closed", "knock: connect failed"). Runs until killed.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "shmrpc/transport/connector.h"
#include "tests/transport/echo_peer.h"

namespace shmrpc::testing {
namespace {

using transport::Connection;
using transport::InboundMessage;
using transport::kNoDeadline;

constexpr size_t kSizes[] = {0, 1, 17, 88, 89, 256, 4000, 65536, 300000};

void Ready() {
  std::printf("ready\n");
  std::fflush(stdout);
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "transport_peer: %s\n", what.c_str());
  std::exit(1);
}

std::shared_ptr<Connection> MustConnect(const std::string& path) {
  auto c = transport::Connect(path);
  if (!c.ok()) Fail("connect: " + c.status().ToString());
  return std::move(*c);
}

int EchoClient(const std::string& path, int threads, int calls) {
  std::shared_ptr<Connection> c = MustConnect(path);
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        const size_t size = kSizes[(t + i) % std::size(kSizes)];
        absl::Status s = EchoCall(
            *c, size, static_cast<uint32_t>(t * 1000003 + i),
            std::chrono::steady_clock::now() + std::chrono::seconds(20));
        if (!s.ok()) {
          std::fprintf(stderr, "call %d/%d: %s\n", t, i, s.ToString().c_str());
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return failures.load() == 0 ? 0 : 1;
}

int HoldClient(const std::string& path, int n) {
  std::shared_ptr<Connection> c = MustConnect(path);
  std::vector<InboundMessage> held;
  for (int i = 0; i < n; ++i) {
    auto stream = c->OpenStream();
    if (!stream.ok()) Fail(stream.status().ToString());
    auto chunk = c->AllocateChunk(4096, kNoDeadline);
    if (!chunk.ok()) Fail(chunk.status().ToString());
    FillPattern(chunk->data, 4096, i);
    transport::MessageHeader h;
    h.stream = *stream;
    h.generation = i;
    h.kind = kEcho;
    if (!c->Send(h, transport::OutgoingPayload::InChunk(*chunk, 4096),
                 kNoDeadline)
             .ok()) {
      Fail("send");
    }
    auto reply = c->ReceiveStream(*stream, kNoDeadline);
    if (!reply.ok()) Fail(reply.status().ToString());
    held.push_back(std::move(*reply));  // keeps the server's chunk lent
  }
  Ready();
  for (;;) ::pause();
}

int HoldingServer(const std::string& path) {
  transport::EventLoop loop;
  std::vector<std::thread> threads;
  transport::ListenerOptions options;
  options.path = path;
  auto listener = transport::Listener::Start(
      options, &loop, [&](std::shared_ptr<Connection> c) {
        threads.emplace_back([c] {
          std::vector<InboundMessage> held;  // never returned
          for (;;) {
            auto request = c->ReceiveRequest(kNoDeadline);
            if (!request.ok()) return;
            transport::MessageHeader reply;
            reply.stream = request->descriptor().stream;
            reply.generation = request->descriptor().generation;
            reply.kind = request->descriptor().kind;
            reply.aux = Checksum(request->payload());
            const size_t size = request->payload().size();
            auto chunk = c->AllocateChunk(size, kNoDeadline);
            if (!chunk.ok()) return;
            std::memcpy(chunk->data, request->payload().data(), size);
            held.push_back(std::move(*request));
            if (!c->Send(reply,
                         transport::OutgoingPayload::InChunk(
                             *chunk, static_cast<uint32_t>(size)),
                         kNoDeadline)
                     .ok()) {
              return;
            }
          }
        });
      });
  if (!listener.ok()) Fail(listener.status().ToString());
  Ready();
  for (;;) ::pause();
}

int ConnectAs(uid_t uid, const std::string& path) {
  if (::setgid(uid) != 0 || ::setuid(uid) != 0) Fail("setuid");
  transport::ConnectOptions options;
  options.handshake.allow.allow_any = true;  // we only test the server's check
  auto c = transport::Connect(path, options);
  std::printf("%s\n", c.ok() ? "OK" : c.status().ToString().c_str());
  std::fflush(stdout);
  return c.ok() ? 0 : static_cast<int>(c.status().code());
}

int SilentCrowd(const std::string& path, int n) {
  using Clock = std::chrono::steady_clock;
  std::vector<transport::UniqueFd> fds(static_cast<size_t>(n));
  std::vector<Clock::time_point> reopen_at(fds.size(), Clock::now());
  bool ready = false;
  for (;;) {
    // (Re)connect every slot that is due.
    const Clock::time_point now = Clock::now();
    int open = 0;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!fds[i].valid() && now >= reopen_at[i]) {
        absl::StatusOr<transport::UniqueFd> fd =
            transport::ConnectSeqpacket(path);
        if (fd.ok()) {
          fds[i] = std::move(*fd);
        } else {
          reopen_at[i] = now + std::chrono::milliseconds(50);
        }
      }
      if (fds[i].valid()) ++open;
    }
    if (!ready && open == n) {
      Ready();
      ready = true;
    }
    // Wait for the server to refuse or close some of them.
    std::vector<pollfd> polls;
    std::vector<size_t> slots;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!fds[i].valid()) continue;
      polls.push_back(pollfd{fds[i].get(), POLLIN | POLLRDHUP, 0});
      slots.push_back(i);
    }
    ::poll(polls.data(), polls.size(), 10);
    for (size_t k = 0; k < polls.size(); ++k) {
      if (polls[k].revents != 0) {
        fds[slots[k]].reset();
        reopen_at[slots[k]] = Clock::now() + std::chrono::milliseconds(50);
      }
    }
  }
}

int Knock(const std::string& path) {
  for (;;) {
    absl::StatusOr<transport::UniqueFd> fd = transport::ConnectSeqpacket(path);
    if (!fd.ok()) {
      std::printf("knock: connect failed\n");
    } else {
      const uint8_t junk[16] = {1, 2, 3, 4};
      (void)transport::SendRecord(fd->get(), junk, {});
      absl::StatusOr<transport::Record> reply = transport::RecvRecord(
          fd->get(), sizeof(transport::ServerHello), 0,
          std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
      if (reply.ok() && reply->bytes.size() == sizeof(transport::ServerHello)) {
        transport::ServerHello h;
        std::memcpy(&h, reply->bytes.data(), sizeof(h));
        std::printf("knock: refused %d\n", static_cast<int>(h.refusal));
      } else if (absl::IsDeadlineExceeded(reply.status())) {
        std::printf("knock: no answer\n");
      } else {
        std::printf("knock: closed\n");
      }
    }
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace
}  // namespace shmrpc::testing

int main(int argc, char** argv) {
  using namespace shmrpc::testing;
  if (argc < 3) Fail("usage: transport_peer MODE PATH [ARGS...]");
  const std::string mode = argv[1];
  const std::string path = argv[2];
  if (mode == "echo-server") {
    EchoServer server(path);
    Ready();
    for (;;) ::pause();
  }
  if (mode == "holding-server") return HoldingServer(path);
  if (mode == "echo-client" && argc == 5) {
    return EchoClient(path, std::atoi(argv[3]), std::atoi(argv[4]));
  }
  if (mode == "hold-client" && argc == 4) {
    return HoldClient(path, std::atoi(argv[3]));
  }
  if (mode == "silent-crowd" && argc == 4) {
    return SilentCrowd(path, std::atoi(argv[3]));
  }
  if (mode == "knock") return Knock(path);
  if (mode == "connect-as" && argc == 4) {
    return ConnectAs(static_cast<uid_t>(std::atoi(argv[2])), argv[3]);
  }
  Fail("bad arguments");
}
