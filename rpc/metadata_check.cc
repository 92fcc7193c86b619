#include "shmrpc/rpc/metadata_check.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace shmrpc::rpc {
namespace {

bool LegalKeyByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' ||
         c == '_' || c == '.';
}

bool LegalTextValueByte(unsigned char c) { return c >= 0x20 && c <= 0x7E; }

}  // namespace

bool IsBinaryKey(absl::string_view key) { return absl::EndsWith(key, "-bin"); }

absl::Status CheckMetadata(absl::Span<const MetadataEntry> entries) {
  for (const auto& [key, value] : entries) {
    if (key.empty()) {
      return absl::InternalError("Metadata keys cannot be zero length");
    }
    for (unsigned char c : key) {
      if (!LegalKeyByte(c)) {
        return absl::InternalError(
            absl::StrCat("Illegal header key '", absl::CHexEscape(key), "'"));
      }
    }
    if (IsBinaryKey(key)) continue;
    for (unsigned char c : value) {
      if (!LegalTextValueByte(c)) {
        return absl::InternalError(absl::StrCat(
            "Illegal header value for key '", absl::CHexEscape(key), "'"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace shmrpc::rpc
