#include "shmrpc/rpc/frame.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace shmrpc::rpc {
namespace {

size_t EntriesSize(absl::Span<const MetadataEntry> entries) {
  size_t n = 0;
  for (const MetadataEntry& e : entries)
    n += 8 + e.first.size() + e.second.size();
  return n;
}

uint8_t* PutU32(uint8_t* out, uint32_t v) {
  std::memcpy(out, &v, 4);  // little-endian hosts only (static_assert below)
  return out + 4;
}

uint8_t* PutU64(uint8_t* out, uint64_t v) {
  std::memcpy(out, &v, 8);
  return out + 8;
}

uint8_t* PutBytes(uint8_t* out, absl::string_view s) {
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

uint8_t* PutEntries(uint8_t* out, absl::Span<const MetadataEntry> entries) {
  for (const MetadataEntry& e : entries) {
    out = PutU32(out, static_cast<uint32_t>(e.first.size()));
    out = PutU32(out, static_cast<uint32_t>(e.second.size()));
    out = PutBytes(out, e.first);
    out = PutBytes(out, e.second);
  }
  return out;
}

size_t StatusSize(const FrameExtras& x) {
  return 8 + x.status_message.size() + x.status_details.size() +
         EntriesSize(x.trailing);
}

size_t FooterSize(uint16_t flags) {
  return ((flags & kHasDeadline) ? 8 : 0) + ((flags & kHasMetadata) ? 4 : 0) +
         ((flags & kHasStatus) ? 4 : 0);
}

// Reads sequential fields from a span, refusing to run past its end. Each
// value is copied out of the (possibly shared) payload exactly once.
class Cursor {
 public:
  explicit Cursor(absl::Span<const uint8_t> bytes) : bytes_(bytes) {}
  bool U32(uint32_t* v) {
    if (bytes_.size() - at_ < 4) return false;
    std::memcpy(v, bytes_.data() + at_, 4);
    at_ += 4;
    return true;
  }
  bool Bytes(size_t n, absl::string_view* out) {
    if (bytes_.size() - at_ < n) return false;
    *out = absl::string_view(reinterpret_cast<const char*>(bytes_.data()) + at_,
                             n);
    at_ += n;
    return true;
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  absl::Span<const uint8_t> bytes_;
  size_t at_ = 0;
};

absl::Status DecodeEntries(Cursor& c, DecodedMetadata* out,
                           const char* section) {
  while (!c.done()) {
    if (out->size() >= kMaxMetadataEntries) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "more than ", kMaxMetadataEntries, " ", section, " entries"));
    }
    uint32_t key_len, value_len;
    absl::string_view key, value;
    if (!c.U32(&key_len) || !c.U32(&value_len) || !c.Bytes(key_len, &key) ||
        !c.Bytes(value_len, &value)) {
      return absl::DataLossError(
          absl::StrCat("malformed ", section, " entry in a frame"));
    }
    out->emplace_back(key, value);
  }
  return absl::OkStatus();
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the frame format is little-endian");

}  // namespace

size_t ExtrasSize(uint16_t flags, const FrameExtras& extras) {
  size_t n = FooterSize(flags);
  if (flags & kHasMetadata) n += EntriesSize(extras.metadata);
  if (flags & kHasStatus) n += StatusSize(extras);
  return n;
}

void EncodeExtras(uint16_t flags, const FrameExtras& extras, uint8_t* out) {
  if (flags & kHasMetadata) out = PutEntries(out, extras.metadata);
  if (flags & kHasStatus) {
    out = PutU32(out, static_cast<uint32_t>(extras.status_message.size()));
    out = PutBytes(out, extras.status_message);
    out = PutU32(out, static_cast<uint32_t>(extras.status_details.size()));
    out = PutBytes(out, extras.status_details);
    out = PutEntries(out, extras.trailing);
  }
  if (flags & kHasDeadline) {
    out = PutU64(out, static_cast<uint64_t>(extras.deadline_unix_ns));
  }
  if (flags & kHasMetadata) {
    out = PutU32(out, static_cast<uint32_t>(EntriesSize(extras.metadata)));
  }
  if (flags & kHasStatus) {
    out = PutU32(out, static_cast<uint32_t>(StatusSize(extras)));
  }
}

absl::StatusOr<DecodedFrame> DecodeFrame(uint16_t flags,
                                         absl::Span<const uint8_t> payload) {
  DecodedFrame f;
  if (absl::Status s = DecodeFrame(flags, payload, &f); !s.ok()) return s;
  return f;
}

absl::Status DecodeFrame(uint16_t flags, absl::Span<const uint8_t> payload,
                         DecodedFrame* out) {
  if ((flags & ~kKnownFlags) != 0) {
    return absl::DataLossError(
        absl::StrCat("frame has unknown flags 0x", absl::Hex(flags)));
  }
  DecodedFrame& f = *out;
  f.flags = flags;
  size_t end = payload.size();
  // Footer, read from the end backwards.
  auto take_u32 = [&](uint32_t* v) {
    if (end < 4) return false;
    end -= 4;
    std::memcpy(v, payload.data() + end, 4);
    return true;
  };
  uint32_t status_bytes = 0, metadata_bytes = 0;
  if ((flags & kHasStatus) && !take_u32(&status_bytes)) {
    return absl::DataLossError("frame too short for its status length");
  }
  if ((flags & kHasMetadata) && !take_u32(&metadata_bytes)) {
    return absl::DataLossError("frame too short for its metadata length");
  }
  if (flags & kHasDeadline) {
    if (end < 8) return absl::DataLossError("frame too short for a deadline");
    end -= 8;
    uint64_t d;
    std::memcpy(&d, payload.data() + end, 8);
    f.deadline_unix_ns = static_cast<int64_t>(d);
  }
  // Sections, also from the end backwards.
  if (status_bytes > end) {
    return absl::DataLossError("frame status section runs past its start");
  }
  end -= status_bytes;
  const absl::Span<const uint8_t> status_section =
      payload.subspan(end, status_bytes);
  if (metadata_bytes > end) {
    return absl::DataLossError("frame metadata section runs past its start");
  }
  end -= metadata_bytes;
  const absl::Span<const uint8_t> metadata_section =
      payload.subspan(end, metadata_bytes);
  if (!(flags & kHasMessage) && end != 0) {
    return absl::DataLossError(
        absl::StrCat("frame without a message has ", end, " extra bytes"));
  }
  f.message = payload.subspan(0, end);

  if (flags & kHasMetadata) {
    Cursor c(metadata_section);
    if (absl::Status s = DecodeEntries(c, &f.metadata, "metadata"); !s.ok()) {
      return s;
    }
  }
  if (flags & kHasStatus) {
    Cursor c(status_section);
    uint32_t n;
    if (!c.U32(&n) || !c.Bytes(n, &f.status_message) || !c.U32(&n) ||
        !c.Bytes(n, &f.status_details)) {
      return absl::DataLossError("malformed status section in a frame");
    }
    if (absl::Status s = DecodeEntries(c, &f.trailing, "trailing metadata");
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

std::string EncodeMethodTable(absl::Span<const std::string> names) {
  std::string out(4, '\0');
  uint32_t count = static_cast<uint32_t>(names.size());
  std::memcpy(out.data(), &count, 4);
  for (const std::string& name : names) {
    uint32_t len = static_cast<uint32_t>(name.size());
    out.append(reinterpret_cast<const char*>(&len), 4);
    out.append(name);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> DecodeMethodTable(
    absl::Span<const uint8_t> bytes) {
  Cursor c(bytes);
  uint32_t count;
  if (!c.U32(&count)) return absl::DataLossError("empty method table");
  if (count > (1u << 16)) {
    return absl::DataLossError(
        absl::StrCat("method table claims ", count, " methods"));
  }
  std::vector<std::string> names;
  // Each name takes at least its 4-byte length: a count the bytes cannot
  // hold must not make us allocate for it.
  names.reserve(std::min<size_t>(count, bytes.size() / 4));
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t len;
    absl::string_view name;
    if (!c.U32(&len) || !c.Bytes(len, &name)) {
      return absl::DataLossError("malformed method table");
    }
    names.emplace_back(name);
  }
  if (!c.done()) return absl::DataLossError("trailing bytes in method table");
  return names;
}

}  // namespace shmrpc::rpc
