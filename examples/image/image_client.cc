// The image client: renders a WIDTH x HEIGHT gradient straight into the
// request (in shared memory when the channel has it), asks the server for a
// summary, and reads the summary and its thumbnail in place.
//
//   bazel run //examples/image:image_client -- --target=127.0.0.1:50052 \
//       --width=4096 --height=4096
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "examples/image/image.shmrpc.h"
#include "shmrpc/shmrpc.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50052", "Server address");
ABSL_FLAG(int, width, 4096, "Image width");
ABSL_FLAG(int, height, 4096, "Image height");
ABSL_FLAG(int, calls, 5, "Calls to make (the time of the fastest is shown)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const uint32_t w = absl::GetFlag(FLAGS_width);
  const uint32_t h = absl::GetFlag(FLAGS_height);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  auto channel = shmrpc::CreateChannel(absl::GetFlag(FLAGS_target),
                                       grpc::InsecureChannelCredentials(),
                                       shmrpc::ShmChannelOptions(), args);
  imaging::ShmImaging::Stub stub(channel);

  double best_ms = 1e9;
  for (int call = 0; call < absl::GetFlag(FLAGS_calls); ++call) {
    const auto start = std::chrono::steady_clock::now();
    shmrpc::FlatRequest<imaging::flat::ImageBuilder> image =
        stub.NewSummarizeRequest(uint64_t{w} * h + 256);
    image->set_width(w);
    image->set_height(h);
    image->set_name("gradient");
    absl::Span<uint8_t> pixels = image->mutable_pixels(uint64_t{w} * h);
    if (pixels.size() != uint64_t{w} * h) {
      std::fprintf(stderr, "image_client: %s\n",
                   image.status().ToString().c_str());
      return 1;
    }
    for (uint32_t y = 0; y < h; ++y) {  // rendered in place, once
      for (uint32_t x = 0; x < w; ++x) {
        pixels[uint64_t{y} * w + x] = static_cast<uint8_t>((x + y) & 0xff);
      }
    }
    shmrpc::FlatResponse<imaging::flat::SummaryView> summary;
    grpc::ClientContext context;
    const grpc::Status status =
        stub.Summarize(&context, std::move(image), &summary);
    const double ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    if (!status.ok()) {
      std::fprintf(stderr, "image_client: %s\n",
                   status.error_message().c_str());
      return 1;
    }
    best_ms = std::min(best_ms, ms);
    if (call == 0) {
      const imaging::flat::ImageView thumb = summary->thumbnail();
      std::printf("summary: sum %llu, min %u, max %u, over %s\n",
                  static_cast<unsigned long long>(summary->sum()),
                  summary->min(), summary->max(),
                  summary->shared_memory() ? "shared memory" : "gRPC");
      std::printf("thumbnail: %ux%u \"%s\", %zu bytes, first pixel %u\n",
                  thumb.width(), thumb.height(),
                  std::string(thumb.name()).c_str(), thumb.pixels().size(),
                  thumb.pixels().empty()
                      ? 0u
                      : static_cast<uint8_t>(thumb.pixels()[0]));
    }
  }
  std::printf("%ux%u image: fastest call %.2f ms (rendering included)\n", w, h,
              best_ms);
  return 0;
}
