#include "shmrpc/rpc/limits.h"

#include "absl/strings/str_cat.h"

namespace shmrpc::rpc {

absl::Status CheckReceivedMessageSize(size_t size, int64_t limit) {
  if (limit < 0 || size <= static_cast<uint64_t>(limit)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "Received message larger than max (", size, " vs. ", limit, ")"));
}

absl::Status CheckSentMessageSize(size_t size, int64_t limit) {
  if (limit < 0 || size <= static_cast<uint64_t>(limit)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "Sent message larger than max (", size, " vs. ", limit, ")"));
}

size_t MetadataSize(absl::Span<const MetadataEntry> entries) {
  size_t n = 0;
  for (const MetadataEntry& e : entries) {
    n += e.first.size() + e.second.size() + 32;
  }
  return n;
}

absl::Status CheckReceivedMetadataSize(size_t size, int64_t limit,
                                       absl::string_view what) {
  if (limit < 0 || size <= static_cast<uint64_t>(limit)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "received ", what, " size exceeds limit (", size, " vs. ", limit, ")"));
}

}  // namespace shmrpc::rpc
