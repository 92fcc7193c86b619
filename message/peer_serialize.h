// SerializeToPeer: writing a protobuf message into shared memory that the
// peer process parses next.
//
// Small messages are serialized in place with protobuf's array serializer.
// Large ones go through a CodedOutputStream with aliasing on, so that every
// large bytes/string field reaches the destination through
// transport::CopyToPeer (streaming stores; see transport/peer_copy.h for why)
// in one piece, while the small fields around it are written as usual. Either
// way the message is written exactly once, straight into the destination.
#ifndef SHMRPC_MESSAGE_PEER_SERIALIZE_H_
#define SHMRPC_MESSAGE_PEER_SERIALIZE_H_

#include <cstddef>
#include <cstdint>

#include "google/protobuf/message_lite.h"

namespace shmrpc::message {

// Serializes `message` into [out, out + size). `size` must be the value
// `message.ByteSizeLong()` returned just before (that call also caches the
// sizes of nested messages, which serialization relies on), and `message`
// must not change in between: as with protobuf's own
// SerializeWithCachedSizesToArray, a message changed in between is a caller
// bug. `out` needs no alignment.
//
// Returns true when exactly `size` bytes were written; false when `size` is
// over protobuf's 2 GiB limit (nothing written), or when the serialized
// message turned out larger or smaller than `size`. Messages of at least
// transport::kStreamingCopyMinBytes never write past `out + size`, even then.
//
// Thread-safety: as protobuf's const methods; `out` must be private to the
// caller until it is published.
bool SerializeToPeer(const google::protobuf::MessageLite& message, size_t size,
                     uint8_t* out);

}  // namespace shmrpc::message

#endif  // SHMRPC_MESSAGE_PEER_SERIALIZE_H_
