#include "bench/latency_service.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <memory>

#include "bench/bench_util.h"

namespace shmrpc::bench {

uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t ResponseSeed(uint64_t request_seed, bool shared_memory) {
  return Mix64(request_seed ^
               (shared_memory ? 0x73686d2d73686d2dull : 0x677270632d677270ull));
}

void WritePayload(char* data, size_t bytes, uint64_t seed) {
  const size_t n = bytes / 8;
  uint64_t value = seed;
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(data + 8 * i, &value, 8);  // one unaligned-safe store
    value += kPatternStep;
  }
}

uint64_t CheckPayload(const char* data, size_t bytes, uint64_t seed) {
  const size_t n = bytes / 8;
  uint64_t value = seed;
  uint64_t diff = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t w;
    std::memcpy(&w, data + 8 * i, 8);
    diff |= w ^ value;
    value += kPatternStep;
  }
  return diff;
}

uint64_t DownloadSeed(uint64_t seed, uint64_t index, bool shared_memory) {
  return Mix64(seed ^ (index * kPatternStep) ^ (shared_memory ? 1 : 0));
}

grpc::Status LatencyService::PingPong(
    ServerContext* context,
    grpc::ServerReaderWriterInterface<LatencyResponse, LatencyRequest>*
        stream) {
  LatencyRequest request;
  LatencyResponse response;
  while (stream->Read(&request)) {
    const grpc::Status status = RoundTrip(context, &request, &response);
    if (!status.ok()) return status;
    if (!stream->Write(response)) break;
  }
  return grpc::Status::OK;
}

grpc::Status LatencyService::Download(
    ServerContext* context, const DownloadRequest* request,
    grpc::ServerWriterInterface<LatencyResponse>* writer) {
  if (request->bytes() % 8 != 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "payload size is not a multiple of 8");
  }
  LatencyResponse response;
  std::string* out = response.mutable_payload();
  out->resize(request->bytes());
  for (uint64_t i = 0; i < request->count(); ++i) {
    const uint64_t seed =
        DownloadSeed(request->seed(), i, context->is_shared_memory());
    WritePayload(out->data(), out->size(), seed);
    response.set_seed(seed);
    if (!writer->Write(response)) break;
  }
  return grpc::Status::OK;
}

grpc::Status LatencyService::RoundTrip(ServerContext* context,
                                       const LatencyRequest* request,
                                       LatencyResponse* response) {
  const std::string& in = request->payload();
  if (in.size() % 8 != 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "payload size is not a multiple of 8");
  }
  if (CheckPayload(in.data(), in.size(), request->seed()) != 0) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        "request payload of " + std::to_string(in.size()) +
                            " bytes does not match its seed");
  }
  const uint64_t seed =
      ResponseSeed(request->seed(), context->is_shared_memory());
  std::string* out = response->mutable_payload();
  out->resize(in.size());
  WritePayload(out->data(), out->size(), seed);
  response->set_seed(seed);
  return grpc::Status::OK;
}

grpc::Status FlatLatencyService::RoundTrip(
    ServerContext* context, flat::LatencyRequestView request,
    flat::LatencyResponseBuilder response) {
  const absl::string_view in = request.payload();
  if (in.size() % 8 != 0 ||
      CheckPayload(in.data(), in.size(), request.seed()) != 0) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        "request payload of " + std::to_string(in.size()) +
                            " bytes does not match its seed");
  }
  const uint64_t seed =
      ResponseSeed(request.seed(), context->is_shared_memory());
  const absl::Span<uint8_t> out = response.mutable_payload(in.size());
  if (out.size() != in.size()) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "no room for the response payload");
  }
  // Written where the client will read it: as touch-floor writes (streaming
  // stores from transport::kStreamingCopyMinBytes on).
  WritePatternForPeer(reinterpret_cast<char*>(out.data()), out.size(), seed,
                      kPatternStep);
  response.set_seed(seed);
  return grpc::Status::OK;
}

grpc::Status FlatLatencyService::Download(
    ServerContext* context, flat::DownloadRequestView request,
    FlatServerWriter<flat::LatencyResponseBuilder>* writer) {
  const uint64_t bytes = request.bytes();
  if (bytes % 8 != 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "payload size is not a multiple of 8");
  }
  for (uint64_t i = 0; i < request.count(); ++i) {
    const uint64_t seed =
        DownloadSeed(request.seed(), i, context->is_shared_memory());
    FlatMessageBuilder<flat::LatencyResponseBuilder> message =
        writer->NewMessage(bytes + 64);
    const absl::Span<uint8_t> out = message->mutable_payload(bytes);
    if (out.size() != bytes) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "no room for the message payload");
    }
    // Written where the client reads it, as LatencyService::Download and
    // stream-floor write theirs.
    WritePayload(reinterpret_cast<char*>(out.data()), out.size(), seed);
    message->set_seed(seed);
    if (!writer->Write(std::move(message))) break;
  }
  return grpc::Status::OK;
}

void RunBenchServerProcess(pid_t parent, int report_fd,
                           const BenchServerConfig& config) {
  // Die with the benchmark, however it dies.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(3);
  if (::getppid() != parent) _exit(3);  // the parent is already gone
  auto report = [&](const std::string& line) {
    const std::string text = line + "\n";
    if (!WriteFull(report_fd, text.data(), text.size()).ok()) _exit(4);
    ::close(report_fd);
  };
  if (config.cpu >= 0) {
    if (absl::Status s = PinCallingThread(config.cpu); !s.ok()) {
      report("error: " + std::string(s.message()));
      _exit(5);
    }
  }

  // Static: never destroyed, the process ends by SIGKILL.
  static LatencyService service;
  static FlatLatencyService flat_service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.AddListeningPort("unix:" + config.uds_path,
                           grpc::InsecureServerCredentials());
  if (config.max_message_bytes > 0) {
    builder.SetMaxReceiveMessageSize(config.max_message_bytes);
    builder.SetMaxSendMessageSize(config.max_message_bytes);
  }
  builder.RegisterService(&service);
  builder.RegisterService(&flat_service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || port == 0) {
    report("error: grpc::ServerBuilder::BuildAndStart failed");
    _exit(5);
  }

  shmrpc::ServerBuilder shm_builder;
  shm_builder.AddListeningAddress("127.0.0.1:" + std::to_string(port))
      .RegisterService(&service)
      .RegisterService(&flat_service)
      .SetOptions(config.shm_options);
  if (config.max_message_bytes > 0) {
    // The same limits as the gRPC server's (the default receive limit is
    // gRPC's 4 MiB on both).
    shm_builder.SetMaxReceiveMessageSize(config.max_message_bytes)
        .SetMaxSendMessageSize(config.max_message_bytes);
  }
  std::string error;
  std::unique_ptr<shmrpc::Server> shm_server =
      shm_builder.BuildAndStart(&error);
  if (shm_server == nullptr) {
    report("error: shmrpc::ServerBuilder::BuildAndStart: " + error);
    _exit(5);
  }
  report("port " + std::to_string(port));
  if (config.also_serve) config.also_serve();
  for (;;) ::pause();  // until the benchmark kills us
}

absl::StatusOr<int> ReadBenchServerPort(int fd) {
  std::string line;
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
    if (line.find('\n') != std::string::npos) break;
  }
  ::close(fd);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.rfind("port ", 0) != 0) {
    return absl::UnavailableError(
        "the server process did not start: " +
        (line.empty() ? std::string("it exited") : line));
  }
  const int port = std::atoi(line.c_str() + 5);
  if (port <= 0 || port > 65535) {
    return absl::InternalError("the server process reported '" + line + "'");
  }
  return port;
}

}  // namespace shmrpc::bench
