// gRPC's rules for metadata keys and values, applied to calls over shared
// memory. gRPC's core refuses such metadata from an application
// (validate_metadata.cc; gRPC's C++ API then aborts the process as an API
// misuse), and its HTTP/2 transport never hands it to a handler. Over shared
// memory the client ends the call with INTERNAL before sending anything,
// and the server refuses a call that carries it (a hostile client) before
// its handler runs. No gRPC here.
//
//   key     1 or more bytes, each one of 0-9 a-z - _ .  (so no upper case,
//           no ':' pseudo-headers, no spaces)
//   value   any bytes if the key ends in "-bin"; otherwise printable ASCII
//           (0x20-0x7E) only
#ifndef SHMRPC_RPC_METADATA_CHECK_H_
#define SHMRPC_RPC_METADATA_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "shmrpc/rpc/frame.h"

namespace shmrpc::rpc {

// Whether `key` ends in "-bin" (its values are binary).
bool IsBinaryKey(absl::string_view key);

// OK if every entry follows the rules above; otherwise INTERNAL with gRPC's
// wording ("Metadata keys cannot be zero length", "Illegal header key",
// "Illegal header value") and the offending key. Thread-safe (pure).
absl::Status CheckMetadata(absl::Span<const MetadataEntry> entries);

}  // namespace shmrpc::rpc

#endif  // SHMRPC_RPC_METADATA_CHECK_H_
