#include "shmrpc/transport/control_layout.h"

#include "absl/numeric/bits.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace shmrpc::transport {
namespace {

absl::Status CheckCapacity(const char* name, uint32_t capacity, uint32_t max) {
  if (capacity < kMinRingCapacity || capacity > max ||
      !absl::has_single_bit(capacity)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be a power of two in [", kMinRingCapacity,
                     ", ", max, "], got ", capacity));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ControlLayout> ControlLayout::Compute(
    const ControlParams& params) {
  for (const auto& [name, value] :
       {std::pair{"request_capacity", params.request_capacity},
        std::pair{"client_return_capacity", params.client_return_capacity},
        std::pair{"server_return_capacity", params.server_return_capacity},
        std::pair{"notify_capacity", params.notify_capacity}}) {
    if (absl::Status s = CheckCapacity(name, value, kMaxRingCapacity);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckCapacity("stream_capacity", params.stream_capacity,
                                     kMaxStreamCapacity);
      !s.ok()) {
    return s;
  }
  if (params.stream_count == 0 || params.stream_count > kMaxStreamCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream_count must be in [1, ", kMaxStreamCount, "], got ",
                     params.stream_count));
  }
  if (params.notify_capacity < params.stream_count) {
    // Notifications are coalesced per stream, so at most stream_count are
    // ever outstanding; a smaller notify ring could overflow.
    return absl::InvalidArgumentError(absl::StrCat(
        "notify_capacity (", params.notify_capacity,
        ") must be at least stream_count (", params.stream_count, ")"));
  }
  ControlLayout layout{};
  layout.params = params;
  uint64_t at = kControlHeaderSize;
  layout.requests_offset = at;
  at += RingBytes(params.request_capacity);
  layout.client_returns_offset = at;
  at += RingBytes(params.client_return_capacity);
  layout.server_returns_offset = at;
  at += RingBytes(params.server_return_capacity);
  layout.notify_offset = at;
  at += RingBytes(params.notify_capacity);
  layout.streams_offset = at;
  layout.stream_stride = RingBytes(params.stream_capacity);
  at += layout.stream_stride * params.stream_count;
  // Round the segment up to whole pages.
  constexpr uint64_t kPage = 4096;
  layout.size = (at + kPage - 1) / kPage * kPage;
  return layout;
}

uint64_t ControlLayout::RingOffset(RingId id) const {
  switch (id) {
    case RingId::kRequests:
      return requests_offset;
    case RingId::kClientReturns:
      return client_returns_offset;
    case RingId::kServerReturns:
      return server_returns_offset;
    case RingId::kNotify:
      return notify_offset;
  }
  return 0;
}

uint32_t ControlLayout::RingCapacity(RingId id) const {
  switch (id) {
    case RingId::kRequests:
      return params.request_capacity;
    case RingId::kClientReturns:
      return params.client_return_capacity;
    case RingId::kServerReturns:
      return params.server_return_capacity;
    case RingId::kNotify:
      return params.notify_capacity;
  }
  return 0;
}

}  // namespace shmrpc::transport
