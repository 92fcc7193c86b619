#include "tests/transport/echo_peer.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace shmrpc::testing {

using transport::Chunk;
using transport::Connection;
using transport::Deadline;
using transport::InboundMessage;
using transport::kInlineCapacity;
using transport::kNoDeadline;
using transport::MessageHeader;
using transport::OutgoingPayload;

uint32_t Checksum(absl::Span<const uint8_t> bytes) {
  uint32_t h = 2166136261u;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 16777619u;
  }
  return h;
}

void FillPattern(uint8_t* out, size_t size, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<uint8_t>(x);
  }
}

namespace {

// Sends `bytes` with `header`, inline when it fits and is allowed, else in a
// fresh chunk.
absl::Status SendBytes(Connection& c, const MessageHeader& header,
                       absl::Span<const uint8_t> bytes, bool allow_inline,
                       Deadline deadline) {
  if (allow_inline && c.inline_payloads() && bytes.size() <= kInlineCapacity) {
    return c.Send(header, OutgoingPayload::Inline(bytes), deadline);
  }
  absl::StatusOr<Chunk> chunk = c.AllocateChunk(bytes.size(), deadline);
  if (!chunk.ok()) return chunk.status();
  if (!bytes.empty()) std::memcpy(chunk->data, bytes.data(), bytes.size());
  absl::Status s = c.Send(
      header,
      OutgoingPayload::InChunk(*chunk, static_cast<uint32_t>(bytes.size())),
      deadline);
  if (!s.ok()) c.DiscardChunk(*chunk);
  return s;
}

}  // namespace

void ServeEcho(const std::shared_ptr<Connection>& connection) {
  for (;;) {
    absl::StatusOr<InboundMessage> request =
        connection->ReceiveRequest(kNoDeadline);
    if (!request.ok()) return;  // closed
    MessageHeader reply;
    reply.stream = request->descriptor().stream;
    reply.generation = request->descriptor().generation;
    reply.kind = request->descriptor().kind;
    reply.aux = Checksum(request->payload());
    // Copy out, then give the request chunk back before answering.
    std::vector<uint8_t> copy(request->payload().begin(),
                              request->payload().end());
    const bool was_inline =
        request->descriptor().payload ==
        static_cast<uint8_t>(transport::PayloadKind::kInline);
    request->Release();
    if (!SendBytes(*connection, reply, copy, was_inline, kNoDeadline).ok()) {
      return;
    }
  }
}

absl::Status EchoCall(Connection& connection, size_t size, uint32_t seed,
                      Deadline deadline, bool allow_inline) {
  std::vector<uint8_t> payload(size);
  FillPattern(payload.data(), size, seed);
  absl::StatusOr<uint32_t> stream = connection.OpenStream();
  if (!stream.ok()) return stream.status();
  MessageHeader header;
  header.stream = *stream;
  header.generation = seed;
  header.kind = kEcho;
  absl::Status status =
      SendBytes(connection, header, payload, allow_inline, deadline);
  if (status.ok()) {
    absl::StatusOr<InboundMessage> reply =
        connection.ReceiveStream(*stream, deadline);
    if (!reply.ok()) {
      status = reply.status();
    } else if (reply->descriptor().generation != seed ||
               reply->descriptor().kind != kEcho) {
      status = absl::DataLossError("echo reply for another request");
    } else if (reply->descriptor().aux != Checksum(payload)) {
      status = absl::DataLossError(
          absl::StrCat("server checksum mismatch for ", size, " bytes"));
    } else if (reply->payload().size() != size ||
               (size > 0 && std::memcmp(reply->payload().data(), payload.data(),
                                        size) != 0)) {
      status = absl::DataLossError(
          absl::StrCat("echoed payload differs (", size, " bytes)"));
    }
  }
  connection.CloseStream(*stream);
  return status;
}

EchoServer::EchoServer(const std::string& path,
                       transport::ListenerOptions options) {
  options.path = path;
  auto listener = transport::Listener::Start(
      options, &loop_, [this](std::shared_ptr<Connection> c) {
        std::lock_guard<std::mutex> lock(mu_);
        connections_.push_back(c);
        threads_.emplace_back([c = std::move(c)]() mutable {
          ServeEcho(c);
          c.reset();  // the last reference, unless a test holds one
        });
      });
  if (!listener.ok()) {
    std::fprintf(stderr, "EchoServer: %s\n",
                 listener.status().ToString().c_str());
    std::abort();
  }
  listener_ = std::move(*listener);
}

EchoServer::~EchoServer() {
  listener_.reset();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& weak : connections_) {
      if (auto c = weak.lock()) {
        c->Close(absl::UnavailableError("echo server stopping"));
      }
    }
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

std::vector<std::shared_ptr<Connection>> EchoServer::connections() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Connection>> live;
  for (auto& weak : connections_) {
    if (auto c = weak.lock()) live.push_back(std::move(c));
  }
  return live;
}

}  // namespace shmrpc::testing
