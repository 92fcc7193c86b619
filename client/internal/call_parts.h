// Parts of a call over shared memory that unary calls (shm_channel.cc) and
// streaming calls (stream_call.cc) share: opening a stream, sending the kCall
// frame and a kCancel, and gRPC's statuses for the ways a wait ends. Private
// to client/.
#ifndef SHMRPC_CLIENT_INTERNAL_CALL_PARTS_H_
#define SHMRPC_CLIENT_INTERNAL_CALL_PARTS_H_

#include <grpcpp/support/status.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "shmrpc/client/internal/shm_channel.h"
#include "shmrpc/rpc/limits.h"
#include "shmrpc/transport/connection.h"

namespace shmrpc::internal {

// Where `part` (a view into `payload`, or empty) starts in it.
inline size_t OffsetIn(absl::Span<const uint8_t> payload,
                       absl::Span<const uint8_t> part) {
  return part.empty() ? 0 : static_cast<size_t>(part.data() - payload.data());
}

// `s` as a grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& s);

// The status of a call that ended while starting: DEADLINE_EXCEEDED with
// gRPC's wording, anything else as it is.
grpc::Status SendFailureStatus(const absl::Status& s);

// A call's deadline on the steady clock (transport::kNoDeadline for none).
transport::Deadline SteadyDeadlineOf(
    std::chrono::system_clock::time_point deadline);

// Opens a stream (without notifications) for a call, waiting while all are
// in use until `deadline` (kDeadlineExceeded) or io.CancelRequested()
// (kCancelled).
absl::StatusOr<uint32_t> OpenCallStream(transport::Connection& t,
                                        transport::Deadline deadline,
                                        UnaryIo& io);

// Encodes and sends the kCall frame of call (stream, generation) of
// `method`: io's request, metadata and `deadline`, with kHalfClose (without
// `with_request`: metadata and deadline only, for client and bidirectional
// streaming, whose messages follow as kMessage frames). Waits
// for a chunk or ring space until `send_deadline` or cancellation. A request
// over `limits`' send limit or metadata gRPC would refuse is not sent.
// `*position` receives the frame's position in the requests ring.
absl::Status SendCallFrame(transport::Connection& t, uint32_t stream,
                           uint32_t generation, uint32_t method,
                           std::chrono::system_clock::time_point deadline,
                           UnaryIo& io, const rpc::MessageLimits& limits,
                           transport::Deadline send_deadline,
                           uint64_t* position, bool with_request = true);

// Sends one kMessage frame of call (stream, generation) on the requests ring
// with `flags` (kHasMessage, kHalfClose): with kHasMessage, a message of
// `size` serialized bytes that `write` puts at `out` (false: it did not come
// out at that size, and the frame is not sent). Waits for a chunk or ring
// space until `deadline` or cancellation. Size limits are the caller's to
// check. `built` (a message built in place: a chunk of `t` holding the
// `size` bytes) is sent as it is instead, and owned by the call from then
// on; `write` is not used.
absl::Status SendStreamFrame(transport::Connection& t, uint32_t stream,
                             uint32_t generation, uint16_t flags, size_t size,
                             absl::FunctionRef<bool(uint8_t* out)> write,
                             transport::Deadline deadline, UnaryIo& io,
                             const transport::Chunk* built = nullptr);

// Tells the server to stop working on call (stream, generation) (best
// effort; wakes a standby server thread to read it).
void SendCallCancel(transport::Connection& t, uint32_t stream,
                    uint32_t generation);

// What gRPC counts for a status in the trailing metadata (grpc-status,
// grpc-message, grpc-status-details-bin entries), for the metadata limit.
size_t StatusTrailerBytes(uint32_t code, absl::string_view message,
                          absl::string_view details);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CALL_PARTS_H_
