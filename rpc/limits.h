// gRPC's limits on what a peer may send, applied to shared-memory calls
// exactly as gRPC applies them over HTTP/2, with gRPC's status codes and
// wording. No gRPC here: client/ and server/ read the limits from gRPC's
// channel arguments and server builder options and check every frame with
// these functions before parsing or allocating anything for it.
//
//   limit                         default          gRPC's knob
//   ---------------------------   -------------- ------------------------------
//   message received              4 MiB grpc.max_receive_message_length message
//   sent                  unlimited        grpc.max_send_message_length
//   metadata received (each set)  8 KiB            grpc.max_metadata_size
//
// A negative limit means "unlimited", as in gRPC's channel arguments.
#ifndef SHMRPC_RPC_LIMITS_H_
#define SHMRPC_RPC_LIMITS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "shmrpc/rpc/frame.h"

namespace shmrpc::rpc {

// gRPC's defaults (GRPC_DEFAULT_MAX_RECV_MESSAGE_LENGTH, ...).
inline constexpr int64_t kDefaultMaxReceiveMessageSize = 4 * 1024 * 1024;
inline constexpr int64_t kDefaultMaxSendMessageSize = -1;  // unlimited
inline constexpr int64_t kDefaultMaxMetadataSize = 8 * 1024;

// The limits one side of a call enforces. Plain value.
struct MessageLimits {
  int64_t max_receive_message_size = kDefaultMaxReceiveMessageSize;
  int64_t max_send_message_size = kDefaultMaxSendMessageSize;
  int64_t max_metadata_size = kDefaultMaxMetadataSize;
};

// OK if a received message of `size` bytes is within `limit`; otherwise
// RESOURCE_EXHAUSTED "Received message larger than max (N vs. L)", as gRPC.
absl::Status CheckReceivedMessageSize(size_t size, int64_t limit);

// OK if a message of `size` bytes may be sent under `limit`; otherwise
// RESOURCE_EXHAUSTED "Sent message larger than max (N vs. L)", as gRPC.
absl::Status CheckSentMessageSize(size_t size, int64_t limit);

// The size gRPC accounts for a metadata set: per entry, key and value bytes
// plus 32 (HPACK's entry overhead).
size_t MetadataSize(absl::Span<const MetadataEntry> entries);

// OK if received metadata (`what`: "initial metadata", "trailing metadata")
// of MetadataSize() `size` is within `limit`; otherwise RESOURCE_EXHAUSTED
// "received <what> size exceeds limit (N vs. L)".
absl::Status CheckReceivedMetadataSize(size_t size, int64_t limit,
                                       absl::string_view what);

}  // namespace shmrpc::rpc

#endif  // SHMRPC_RPC_LIMITS_H_
