// The service that //bench:rpc_latency and //bench:rpc_throughput call
// (shmrpc.bench.LatencyBench in proto/bench.proto), its payload pattern, the
// server process both benchmarks fork, and one checked call.
//
// Every payload is a sequence of 64-bit words; word i is
// seed + i * kPatternStep (mod 2^64). The client writes every byte of the
// request with a seed that differs from call to call; the server checks
// every byte (DATA_LOSS on a mismatch) and answers with a payload of the same
// size written with ResponseSeed(seed, arrived over shared memory), which the
// client checks in full. So a call proves, byte by byte, that its data made
// the trip, and which path (shared memory or gRPC) it took.
#ifndef SHMRPC_BENCH_LATENCY_SERVICE_H_
#define SHMRPC_BENCH_LATENCY_SERVICE_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/bench.pb.h"
#include "proto/bench.shmrpc.h"
#include "shmrpc/shmrpc.h"

namespace shmrpc::bench {

// Golden-ratio step between consecutive words of a payload.
inline constexpr uint64_t kPatternStep = 0x9e3779b97f4a7c15ull;

// The splitmix64 finalizer: spreads call numbers into unrelated seeds.
uint64_t Mix64(uint64_t x);

// The seed of the response to a request with `request_seed`; it also says
// whether the call arrived at the server over shared memory.
uint64_t ResponseSeed(uint64_t request_seed, bool shared_memory);

// The seed of message `index` of a Download stream started with `seed`; it
// also says whether the call arrived at the server over shared memory.
uint64_t DownloadSeed(uint64_t seed, uint64_t index, bool shared_memory);

// Writes EVERY byte of [data, data + bytes) (bytes a multiple of 8) with the
// pattern for `seed`, with ordinary stores.
void WritePayload(char* data, size_t bytes, uint64_t seed);

// Reads EVERY byte of [data, data + bytes) and returns the OR of the XOR of
// every word with the word expected for `seed`: 0 only if every byte is as
// expected.
uint64_t CheckPayload(const char* data, size_t bytes, uint64_t seed);

// FlatBench (bench.proto) on flat messages: checks every byte of the
// request's payload where it lies and writes every byte of each response's
// where it will be read, answering as LatencyService's methods do.
// Thread-safe (stateless).
class FlatLatencyService final : public ShmFlatBench::FlatService {
 public:
  grpc::Status RoundTrip(ServerContext* context,
                         flat::LatencyRequestView request,
                         flat::LatencyResponseBuilder response) override;
  // As LatencyService::Download, each message built in place.
  grpc::Status Download(
      ServerContext* context, flat::DownloadRequestView request,
      FlatServerWriter<flat::LatencyResponseBuilder>* writer) override;
};

// Registered with grpc::ServerBuilder and shmrpc::ServerBuilder alike; the
// same handler serves every transport. Checks the request's payload and
// answers as described above. Thread-safe (stateless).
class LatencyService final : public ShmLatencyBench::Service {
 public:
  grpc::Status RoundTrip(ServerContext* context, const LatencyRequest* request,
                         LatencyResponse* response) override;
  grpc::Status PingPong(
      ServerContext* context,
      grpc::ServerReaderWriterInterface<LatencyResponse, LatencyRequest>*
          stream) override;
  grpc::Status Download(
      ServerContext* context, const DownloadRequest* request,
      grpc::ServerWriterInterface<LatencyResponse>* writer) override;
};

// How the benchmark's server process serves.
struct BenchServerConfig {
  // gRPC listens on 127.0.0.1:0 (the port is reported) and on unix:uds_path;
  // shmrpc on the endpoint of 127.0.0.1:PORT (under $SHMRPC_DIR).
  std::string uds_path;
  // Pin the process to this CPU first; -1: do not pin.
  int cpu = -1;
  // gRPC's send and receive limits on the server; 0: gRPC's defaults.
  int max_message_bytes = 0;
  // The shmrpc server's options (waiting, thread caps, ...).
  ServerOptions shm_options;
  // If set, the server process's main thread runs it once both servers are
  // up (instead of idling); it must not return. For a floor that has to be
  // measured as part of the server process (rpc_throughput's wake-floor).
  std::function<void()> also_serve;
};

// The body of the forked server process: never returns. Dies with `parent`
// (PR_SET_PDEATHSIG; exits at once if `parent` is already gone), starts both
// servers, writes "port N\n" (or "error: ...\n") to `report_fd`, closes it
// and serves until killed. Call it in a child forked before the parent
// created any thread or gRPC object.
[[noreturn]] void RunBenchServerProcess(pid_t parent, int report_fd,
                                        const BenchServerConfig& config);

// Reads the server process's one-line report from `fd` (and closes it):
// the port, or an error saying why the server did not start.
absl::StatusOr<int> ReadBenchServerPort(int fd);

// One call of RoundTrip on `stub` (a generated gRPC or shmrpc stub) with a
// fresh ClientContext: writes every byte of the request's `bytes`-byte
// payload for `seed` into `request` (whose payload string keeps its
// capacity), calls, and checks the status, the response's seed (which says
// whether the server saw the call over shared memory: it must be
// `expect_shm`) and every byte of the response's payload. An error says
// which check failed.
template <class Stub>
absl::Status CheckedRoundTrip(Stub& stub, LatencyRequest& request,
                              LatencyResponse& response, uint32_t bytes,
                              uint64_t seed, bool expect_shm) {
  std::string* payload = request.mutable_payload();
  if (payload->size() != bytes) payload->resize(bytes);
  WritePayload(payload->data(), bytes, seed);
  request.set_seed(seed);

  grpc::ClientContext context;
  const grpc::Status status = stub.RoundTrip(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        "call failed: " + status.error_message());
  }
  const uint64_t expected = ResponseSeed(seed, expect_shm);
  if (response.seed() != expected) {
    if (response.seed() == ResponseSeed(seed, !expect_shm)) {
      return absl::FailedPreconditionError(
          std::string("the server saw this call arrive over ") +
          (expect_shm ? "gRPC, not shared memory" : "shared memory, not gRPC"));
    }
    return absl::DataLossError("response seed does not match the request");
  }
  const std::string& in = response.payload();
  if (in.size() != bytes || CheckPayload(in.data(), in.size(), expected) != 0) {
    return absl::DataLossError("response of " + std::to_string(in.size()) +
                               " bytes (expected " + std::to_string(bytes) +
                               ") does not match its pattern");
  }
  return absl::OkStatus();
}

}  // namespace shmrpc::bench

#endif  // SHMRPC_BENCH_LATENCY_SERVICE_H_
