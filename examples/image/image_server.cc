// The image server: a FlatService, served over gRPC and shared memory on the
// same port. Its handler reads the request's pixels in place (a view into
// the client's shared memory) and writes the thumbnail in place (into the
// server's).
//
//   bazel run //examples/image:image_server -- [--port=50052]
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "examples/image/image.shmrpc.h"
#include "shmrpc/shmrpc.h"

ABSL_FLAG(int, port, 50052, "Port to listen on; 0 picks a free one");

namespace {

constexpr int kMaxMessageBytes = 64 << 20;  // images up to 64 MiB

class ImagingImpl final : public imaging::ShmImaging::FlatService {
  grpc::Status Summarize(shmrpc::ServerContext* context,
                         imaging::flat::ImageView image,
                         imaging::flat::SummaryBuilder summary) override {
    const uint32_t w = image.width(), h = image.height();
    const absl::string_view pixels = image.pixels();  // in place, no copy
    if (uint64_t{w} * h != pixels.size()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "pixels do not match width x height");
    }
    uint64_t sum = 0;
    uint8_t lo = 255, hi = 0;
    for (char c : pixels) {
      const uint8_t p = static_cast<uint8_t>(c);
      sum += p;
      lo = std::min(lo, p);
      hi = std::max(hi, p);
    }
    summary.set_sum(sum);
    summary.set_min(pixels.empty() ? 0 : lo);
    summary.set_max(pixels.empty() ? 0 : hi);
    // The thumbnail, written where the client will read it.
    const uint32_t tw = w / 8, th = h / 8;
    imaging::flat::ImageBuilder thumb = summary.mutable_thumbnail();
    thumb.set_width(tw);
    thumb.set_height(th);
    thumb.set_name(std::string(image.name()) + " (1/8)");
    absl::Span<uint8_t> out = thumb.mutable_pixels(uint64_t{tw} * th);
    for (uint32_t y = 0; y < th; ++y) {
      for (uint32_t x = 0; x < tw; ++x) {
        out[uint64_t{y} * tw + x] =
            static_cast<uint8_t>(pixels[uint64_t{y} * 8 * w + x * 8]);
      }
    }
    summary.set_shared_memory(context->is_shared_memory());
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  ImagingImpl service;
  int port = absl::GetFlag(FLAGS_port);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
                           grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  shmrpc::ServerBuilder shm_builder;
  shm_builder.AddListeningAddress("127.0.0.1:" + std::to_string(port))
      .SetMaxReceiveMessageSize(kMaxMessageBytes)
      .SetMaxSendMessageSize(kMaxMessageBytes)
      .RegisterService(&service);
  std::string error;
  std::unique_ptr<shmrpc::Server> shm_server =
      shm_builder.BuildAndStart(&error);
  if (shm_server == nullptr) {
    std::fprintf(stderr, "image_server: %s\n", error.c_str());
    return 1;
  }
  std::printf("Ready on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  shm_server->Shutdown();
  server->Shutdown();
  return 0;
}
