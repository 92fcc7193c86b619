// wake-floor: the least a transport that sleeps between calls can cost.
//
// At a low call rate a waiting thread cannot spin until the next message
// (that would be a whole CPU per waiter), so every call of any such
// transport pays at least: the server thread woken from its sleep, the
// payload written and read on both sides, and the caller woken from its
// sleep. The wake floor does exactly that and nothing else, with the same
// futex calls our transport uses (transport/futex.h): per caller a slot of
// one state word and two 64-byte-aligned payload areas, and one bell word
// the server sleeps on. No framing, no RPC, no protobuf, no limits or
// checks beyond the payload pattern: a bound, not a transport.
//
// A call may instead ask the server to poll for the next call (grpc+poll in
// rpc_throughput): the server then keeps its CPU while such calls come, and
// the caller looks for its response for a couple of microseconds before it
// sleeps. Either way a sleeping caller announces itself, and only an
// announced sleeper is woken (one system call per sleep, none otherwise).
//
// Layout, in one MAP_SHARED anonymous mapping made before the benchmark
// forks its processes (so every process maps it at the same place; it is
// never exposed to another program):
//
//   +---------------------------+  offset 0
//   | bell    (u32, own line)   |  the server sleeps here when idle
//   | sleeping (u32, own line)  |  1 while the server is (about to be) asleep
//   | sleeps  (u64)             |  times the server went to sleep
//   +---------------------------+  64 * 2
//   | slot 0: state (u32)       |  kIdle -> kRequest (caller) [-> kWaiting:
//   |         request[kMaxBytes]|  the caller sleeps] -> kResponse (server,
//   |                           |  waking a kWaiting caller) -> kIdle
//   |         response[...]     |
//   | slot 1 ...                |
//   +---------------------------+
//
// Thread safety: one caller thread per slot at a time; one server thread.
#ifndef SHMRPC_BENCH_WAKE_FLOOR_H_
#define SHMRPC_BENCH_WAKE_FLOOR_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace shmrpc::bench {

struct WakeFloor;

// Largest payload of a wake-floor call, each way.
inline constexpr uint32_t kWakeFloorMaxBytes = 4096;

// Maps a wake floor with `slots` caller slots (shared with children forked
// afterwards). Dies if the mapping fails. Never unmapped: it lives as long
// as the benchmark's processes.
WakeFloor* CreateWakeFloor(int slots);

// The server's loop: answers every request (reads and checks every byte,
// writes the response's every byte, wakes the caller) and sleeps on the bell
// when there is none. After answering a call made with `server_polls`, it
// polls instead (looks at the slots again and again, keeping its CPU) until
// no such call has come for `poll_for`, and only then sleeps: the floor of a
// server that polls for its next request while calls keep coming. Never
// returns; run it on a thread of its own.
[[noreturn]] void RunWakeFloorServer(
    WakeFloor* floor,
    std::chrono::nanoseconds poll_for = std::chrono::milliseconds(10));

// How many times the server has gone to sleep so far.
uint64_t WakeFloorSleeps(const WakeFloor* floor);

// One call from slot `slot`: writes the request's `bytes` (a multiple of 8,
// at most kWakeFloorMaxBytes) with the pattern for `seed`, wakes the server
// if it sleeps, sleeps until the response comes and checks its every byte.
// DataLoss if a payload does not match its pattern; InvalidArgument (and
// nothing sent) for a slot or a size outside this contract.
absl::Status WakeFloorCall(WakeFloor* floor, int slot, uint32_t bytes,
                           uint64_t seed, bool server_polls = false);

}  // namespace shmrpc::bench

#endif  // SHMRPC_BENCH_WAKE_FLOOR_H_
