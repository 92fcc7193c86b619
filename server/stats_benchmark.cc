// What recording a call costs the thread that serves it (server/stats.h):
//
//   bazel run -c opt //server:stats_benchmark
//
// BM_RecordUnaryCall is the whole of a shared-memory unary call's
// recording: Start (one relaxed add and a clock read) and FinishUnary (a
// clock read and five relaxed adds, the maximum checked); the threaded runs
// record the same method from several threads at once (the counters' cache
// lines then move between CPUs). BM_ClockRead is one StatsClock::Now().
#include <benchmark/benchmark.h>

#include "shmrpc/server/stats.h"

namespace shmrpc {
namespace {

void BM_ClockRead(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(internal::StatsClock::Now());
  }
}
BENCHMARK(BM_ClockRead);

MethodRecorder& Shared() {
  static MethodRecorder* recorder =
      new MethodRecorder("/bench.Service/Method", kTransportShm, true);
  return *recorder;
}

void BM_RecordUnaryCall(benchmark::State& state) {
  MethodRecorder& recorder = Shared();
  for (auto _ : state) {
    const uint64_t start = recorder.Start();
    recorder.FinishUnary(start, 0, 64, 64);
  }
}
BENCHMARK(BM_RecordUnaryCall)->Threads(1)->Threads(2);

}  // namespace
}  // namespace shmrpc

BENCHMARK_MAIN();
