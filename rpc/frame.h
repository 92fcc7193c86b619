// The RPC call protocol over a transport connection: how one call's frames
// are laid out in a message payload (inline in a ring entry, or in a chunk of
// the sender's data segment). No gRPC or protobuf here: client/ and server/
// map these frames to gRPC calls.
//
// A call lives on one transport stream (the client opens it) and is named by
// (stream, generation): the client bumps the generation every time it reuses
// a stream, and every frame carries it in Descriptor::generation, so a late
// frame of an earlier call is recognised and dropped.
//
// Frame kinds (Descriptor::kind) and what Descriptor::aux carries:
//
//   kCall      client -> server   starts a call; aux = method id
//   kMessage   either way         one more message of an open call
//   kCancel    client -> server   the client gave up (deadline, TryCancel)
//   kResponse  server -> client   initial metadata and/or a message and/or
//                                 the final status; aux = status code when
//                                 kHasStatus is set
//
// A unary call is one kCall frame (message, metadata, deadline, half-close)
// and one kResponse frame (message, status, both metadata sets). Streaming
// calls use the same frames with fewer sections each.
//
// Streaming. A server-streaming call starts like a unary one (one kCall
// with the request, metadata, deadline and kHalfClose); the server then
// sends any number of kMessage frames on the call's stream, each with a
// message (kHasMessage), the first one it sends also carrying its initial
// metadata (kHasMetadata; a kMessage with kHasMetadata alone when the
// handler sends its initial metadata before any message), and ends the call
// with one kResponse that has the status and trailing metadata (kHasStatus)
// and no message (plus kHasMetadata if no initial metadata went out yet).
//
// Flow control, server to client. The client takes a stream's messages off
// its ring only as the application reads them, and the server learns from
// the ring's head (transport/connection.h, StreamTaken) how much it sent is
// still unread: at most the ring's capacity in messages, and at most the
// server's stream window in bytes (a message larger than the window goes
// alone). A reader that stops reading therefore holds a bounded part of the
// server's data segment, and a writer that waits for it holds only its own
// call's thread, until the call's deadline or cancellation.
//
// Client and bidirectional streaming. The kCall carries metadata and
// deadline only (no message, no kHalfClose); the client then sends kMessage
// frames on the requests ring (kHasMessage, and kHalfClose on the last, or a
// kMessage with kHalfClose alone for WritesDone). The server's kResponse
// carries the status and, for client streaming, the response message; in
// bidirectional streaming the server's messages travel as in server
// streaming.
//
// Flow control, client to server. The server publishes in the stream ring's
// control (Connection::GrantStreamCredit) how many of the call's messages
// its handler has consumed; the client keeps at most the ring's capacity of
// messages unconsumed (its window), and the server refuses a call whose
// client sends more (RESOURCE_EXHAUSTED). When the call ends, the server
// sets kCreditClosed in that word, and a writer stops instead of waiting.
//
// Giving up. A client that gives up on a streaming call (TryCancel, its
// deadline, its reader destroyed) sends kCancel as for a unary call and also
// marks the call abandoned in the stream ring's control
// (Connection::AbandonStream), which a server writer waiting for space sees
// without anyone reading the requests ring.
//
// Payload layout. The message comes first so that it starts at the
// (64-byte aligned) start of its chunk; the sections present (per the
// Descriptor::flags bits) follow it; a footer of fixed-size fields ends it:
//
//   0                                                              length
//   +---------------+----------------+---------------+----------------+
//   | message bytes | metadata       | status        | footer         |
//   | (kHasMessage) | (kHasMetadata) | (kHasStatus)  |                |
//   +---------------+----------------+---------------+----------------+
//
//   footer, each field present only with its flag, in this order:
//     u64 deadline, ns since the Unix epoch (CLOCK_REALTIME)  kHasDeadline
//     u32 bytes of the metadata section                       kHasMetadata
//     u32 bytes of the status section                         kHasStatus
//
//   metadata section: entries, each
//     u32 key length | u32 value length | key bytes | value bytes
//
//   status section:
//     u32 message length | message | u32 details length | details |
//     trailing metadata entries (as in the metadata section) to the end
//
// All integers are little-endian. The message length is what remains after
// the sections and the footer. A receiver reads each length once, checks it
// against what is left of the payload, and only then uses it; a frame that
// does not add up is rejected with kDataLoss.
#ifndef SHMRPC_RPC_FRAME_H_
#define SHMRPC_RPC_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace shmrpc::rpc {

// Descriptor::kind values.
enum class FrameKind : uint16_t {
  kCall = 1,
  kMessage = 2,
  kCancel = 3,
  kResponse = 4,
};

// Descriptor::flags bits.
inline constexpr uint16_t kHasMessage = 1 << 0;
inline constexpr uint16_t kHasMetadata = 1 << 1;
inline constexpr uint16_t kHasDeadline = 1 << 2;
inline constexpr uint16_t kHasStatus = 1 << 3;
inline constexpr uint16_t kHalfClose = 1 << 4;  // client: no more messages
inline constexpr uint16_t kKnownFlags =
    kHasMessage | kHasMetadata | kHasDeadline | kHasStatus | kHalfClose;

// The credit word's closed bit (see "Flow control, client to server"): the
// server ended the call and reads no more messages. The low bits count the
// messages its handler consumed.
inline constexpr uint32_t kCreditClosed = uint32_t{1} << 31;
inline constexpr uint32_t kCreditCountMask = kCreditClosed - 1;

// Method id 0 is built in: the server answers it with its method table
// (EncodeMethodTable). Real methods are numbered from 1.
inline constexpr uint32_t kListMethodsId = 0;

// Limits a receiver enforces on a frame.
inline constexpr uint32_t kMaxMetadataEntries = 1024;

// One metadata entry to send. Plain value; views must outlive the encoding.
using MetadataEntry = std::pair<absl::string_view, absl::string_view>;

// What follows the message in a frame. Plain value; views must outlive the
// encoding. Only the parts whose flag is passed to Encode are written.
struct FrameExtras {
  int64_t deadline_unix_ns = 0;              // kHasDeadline
  absl::Span<const MetadataEntry> metadata;  // kHasMetadata
  absl::string_view status_message;          // kHasStatus
  absl::string_view status_details;          // kHasStatus
  absl::Span<const MetadataEntry> trailing;  // kHasStatus
};

// Bytes that the sections and the footer selected by `flags` take after the
// message.
size_t ExtrasSize(uint16_t flags, const FrameExtras& extras);

// Writes the sections and the footer selected by `flags` at `out`, which
// must have ExtrasSize(flags, extras) bytes.
void EncodeExtras(uint16_t flags, const FrameExtras& extras, uint8_t* out);

// Metadata entries decoded from a frame: views into the payload. Small calls
// need no allocation.
using DecodedMetadata = absl::InlinedVector<MetadataEntry, 4>;

// A validated frame: every view lies inside the payload it was decoded from
// and stays valid as long as that payload does. Not thread-safe.
struct DecodedFrame {
  uint16_t flags = 0;
  absl::Span<const uint8_t> message;  // empty unless kHasMessage
  int64_t deadline_unix_ns = 0;       // 0 unless kHasDeadline
  DecodedMetadata metadata;
  absl::string_view status_message;
  absl::string_view status_details;
  DecodedMetadata trailing;
};

// Decodes `payload` according to `flags` (the descriptor's flags, read once
// by the caller). kDataLoss if a flag is unknown or the lengths do not add
// up; kResourceExhausted if a section holds more than kMaxMetadataEntries
// entries.
absl::StatusOr<DecodedFrame> DecodeFrame(uint16_t flags,
                                         absl::Span<const uint8_t> payload);
// The same into `*out`, which must be default-constructed (a caller's own
// DecodedFrame on its stack: the frame is not moved on a call's critical
// path). On error `*out` is left partly filled and must not be used.
absl::Status DecodeFrame(uint16_t flags, absl::Span<const uint8_t> payload,
                         DecodedFrame* out);

// The method table a server sends in answer to kListMethodsId: the names
// (e.g. "/helloworld.Greeter/SayHello") of the methods it serves, whose ids
// are their index + 1.
std::string EncodeMethodTable(absl::Span<const std::string> names);
absl::StatusOr<std::vector<std::string>> DecodeMethodTable(
    absl::Span<const uint8_t> bytes);

}  // namespace shmrpc::rpc

#endif  // SHMRPC_RPC_FRAME_H_
