#include "tests/rpc/probe_testing.h"

#include <dirent.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "shmrpc/rpc/endpoint.h"
#include "shmrpc/rpc/frame.h"
#include "shmrpc/transport/connector.h"

namespace shmrpc::testing {

std::string g_probe_server;

ProbeServer::ProbeServer(std::vector<std::string> flags) {
  std::vector<std::string> argv = {g_probe_server};
  argv.insert(argv.end(), flags.begin(), flags.end());
  process_ = std::make_unique<Subprocess>(argv);
  std::optional<std::string> port =
      process_->WaitForPrefix("ready ", std::chrono::milliseconds(30000));
  if (port.has_value()) port_ = std::atoi(port->c_str());
}

std::optional<Report> WaitForReport(ShmProbe::Stub& stub,
                                    const std::string& tag,
                                    std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  std::optional<Report> last;
  for (;;) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    ReportRequest request;
    request.set_tag(tag);
    Report report;
    if (stub.GetReport(&context, request, &report).ok()) {
      last = report;
      if (report.finished()) return last;
    }
    if (std::chrono::steady_clock::now() >= end) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

grpc::Status EchoProbe(const std::shared_ptr<grpc::Channel>& channel,
                       const std::string& text) {
  auto stub = ShmProbe::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  ProbeRequest request;
  request.set_payload(text);
  ProbeResponse response;
  grpc::Status status = stub->Call(&context, request, &response);
  if (status.ok() && response.payload() != text) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS, "wrong answer");
  }
  return status;
}

int64_t ProcStatusField(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size() + 1, name + ":") != 0) continue;
    std::istringstream fields(line.substr(name.size() + 1));
    int64_t value = -1;
    fields >> value;
    return value;
  }
  return -1;
}

int CountFds(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n;
}

absl::StatusOr<std::unique_ptr<RawClient>> RawClient::Connect(
    const std::string& target,
    const transport::ClientHandshakeOptions& handshake) {
  absl::StatusOr<std::string> path = rpc::ClientEndpoint(target);
  if (!path.ok()) return path.status();
  return ConnectToPath(*path, handshake);
}

absl::StatusOr<std::unique_ptr<RawClient>> RawClient::ConnectToPath(
    const std::string& path,
    const transport::ClientHandshakeOptions& handshake) {
  transport::ConnectOptions options;
  options.handshake = handshake;
  options.timeout = std::chrono::milliseconds(5000);
  absl::StatusOr<std::shared_ptr<transport::Connection>> c =
      transport::Connect(path, options);
  if (!c.ok()) return c.status();
  std::unique_ptr<RawClient> client(new RawClient(std::move(*c)));
  // The method table (method id 0).
  absl::StatusOr<Answer> table =
      client->Call(rpc::kListMethodsId, rpc::kHalfClose, 0, nullptr,
                   std::chrono::milliseconds(5000));
  if (!table.ok()) return table.status();
  if (table->code != 0) {
    return absl::InternalError(
        absl::StrCat("method table request failed: ", table->message));
  }
  absl::StatusOr<std::vector<std::string>> names = rpc::DecodeMethodTable(
      {reinterpret_cast<const uint8_t*>(table->response.data()),
       table->response.size()});
  if (!names.ok()) return names.status();
  client->methods_ = std::move(*names);
  return client;
}

uint32_t RawClient::MethodId(const std::string& name) const {
  for (size_t i = 0; i < methods_.size(); ++i) {
    if (methods_[i] == name) return static_cast<uint32_t>(i + 1);
  }
  return 0;
}

absl::StatusOr<RawClient::Answer> RawClient::Call(
    uint32_t method, uint16_t flags, size_t length,
    const std::function<void(uint8_t*)>& write,
    std::chrono::milliseconds timeout) {
  transport::Connection& c = *connection_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  absl::StatusOr<uint32_t> stream = c.OpenStream();
  if (!stream.ok()) return stream.status();
  transport::MessageHeader h;
  h.stream = *stream;
  h.generation = generation_.fetch_add(1);
  h.kind = static_cast<uint16_t>(rpc::FrameKind::kCall);
  h.flags = flags;
  h.aux = method;
  transport::OutgoingPayload payload = transport::OutgoingPayload::None();
  if (length > 0) {
    absl::StatusOr<transport::Chunk> chunk = c.AllocateChunk(length, deadline);
    if (!chunk.ok()) {
      c.CloseStream(*stream);
      return chunk.status();
    }
    if (write) write(chunk->data);
    payload = transport::OutgoingPayload::InChunk(
        *chunk, static_cast<uint32_t>(length));
  }
  return Exchange(*stream, h.generation, h, payload, timeout);
}

absl::StatusOr<RawClient::Answer> RawClient::CallWithMessage(
    uint32_t method, const std::string& message,
    std::chrono::milliseconds timeout) {
  return Call(
      method, rpc::kHasMessage | rpc::kHalfClose, message.size(),
      [&](uint8_t* out) { std::memcpy(out, message.data(), message.size()); },
      timeout);
}

absl::Status RawClient::Start(uint32_t method, const std::string& message,
                              std::chrono::system_clock::time_point deadline) {
  transport::Connection& c = *connection_;
  absl::StatusOr<uint32_t> stream = c.OpenStream();
  if (!stream.ok()) return stream.status();
  uint16_t flags = rpc::kHasMessage | rpc::kHalfClose;
  rpc::FrameExtras extras;
  if (deadline != std::chrono::system_clock::time_point::max()) {
    flags |= rpc::kHasDeadline;
    extras.deadline_unix_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            deadline.time_since_epoch())
            .count();
  }
  const size_t total = message.size() + rpc::ExtrasSize(flags, extras);
  absl::StatusOr<transport::Chunk> chunk = c.AllocateChunk(
      total, std::chrono::steady_clock::now() + std::chrono::seconds(5));
  if (!chunk.ok()) return chunk.status();
  std::memcpy(chunk->data, message.data(), message.size());
  rpc::EncodeExtras(flags, extras, chunk->data + message.size());
  transport::MessageHeader h;
  h.stream = *stream;
  h.generation = generation_.fetch_add(1);
  h.kind = static_cast<uint16_t>(rpc::FrameKind::kCall);
  h.flags = flags;
  h.aux = method;
  absl::Status s = c.Send(
      h,
      transport::OutgoingPayload::InChunk(*chunk, static_cast<uint32_t>(total)),
      std::chrono::steady_clock::now() + std::chrono::seconds(5));
  if (!s.ok()) c.DiscardChunk(*chunk);
  return s;
}

absl::StatusOr<RawClient::Answer> RawClient::Exchange(
    uint32_t stream, uint32_t generation,
    const transport::MessageHeader& header,
    const transport::OutgoingPayload& payload,
    std::chrono::milliseconds timeout) {
  transport::Connection& c = *connection_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (absl::Status s = c.Send(header, payload, deadline); !s.ok()) {
    if (payload.kind == transport::PayloadKind::kChunk) {
      c.DiscardChunk(payload.chunk);
    }
    c.CloseStream(stream);
    return s;
  }
  for (;;) {
    absl::StatusOr<transport::InboundMessage> m =
        c.ReceiveStream(stream, deadline);
    if (!m.ok()) {
      c.CloseStream(stream);
      return m.status();
    }
    const transport::Descriptor d = m->descriptor();
    if (d.generation != generation) continue;  // a late answer: not ours
    absl::StatusOr<rpc::DecodedFrame> f =
        rpc::DecodeFrame(d.flags, m->payload());
    Answer answer;
    if (!f.ok()) {
      c.CloseStream(stream);
      return f.status();
    }
    answer.code = static_cast<int>(d.aux);
    answer.message = std::string(f->status_message);
    answer.response.assign(reinterpret_cast<const char*>(f->message.data()),
                           f->message.size());
    m->Release();
    c.CloseStream(stream);
    return answer;
  }
}

}  // namespace shmrpc::testing
