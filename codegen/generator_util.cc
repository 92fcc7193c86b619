#include "shmrpc/codegen/generator_util.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace shmrpc::codegen::internal {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::io::Printer;

std::string StripProto(absl::string_view file_name) {
  return std::string(absl::StripSuffix(file_name, ".proto"));
}

std::string DotsToColons(absl::string_view name) {
  return absl::StrReplaceAll(name, {{".", "::"}});
}

std::string QualifiedClassName(const Descriptor* message) {
  const Descriptor* outer = message;
  while (outer->containing_type() != nullptr) {
    outer = outer->containing_type();
  }
  const std::string& outer_name = outer->full_name();
  const std::string inner_name = message->full_name().substr(outer_name.size());
  return absl::StrCat("::", DotsToColons(outer_name),
                      absl::StrReplaceAll(inner_name, {{".", "_"}}));
}

std::string FlatName(const Descriptor* message) {
  const FileDescriptor* file = message->file();
  const std::string prefix =
      file->package().empty()
          ? "::"
          : absl::StrCat("::", DotsToColons(file->package()), "::");
  return absl::StrCat(
      prefix, "flat::", QualifiedClassName(message).substr(prefix.size()));
}

void PrintNamespaceOpen(const FileDescriptor* file, Printer* printer) {
  if (file->package().empty()) return;
  for (absl::string_view part : absl::StrSplit(file->package(), '.')) {
    printer->Print({{"part", std::string(part)}}, "namespace $part$ {\n");
  }
}

void PrintNamespaceClose(const FileDescriptor* file, Printer* printer) {
  if (file->package().empty()) return;
  std::vector<std::string> parts = absl::StrSplit(file->package(), '.');
  std::reverse(parts.begin(), parts.end());
  for (const std::string& part : parts) {
    printer->Print({{"part", part}}, "}  // namespace $part$\n");
  }
}

void PrintIncludeGroup(std::vector<std::string> includes, Printer* printer) {
  std::sort(includes.begin(), includes.end());
  includes.erase(std::unique(includes.begin(), includes.end()), includes.end());
  for (const std::string& include : includes) {
    printer->Print({{"include", include}}, "#include $include$\n");
  }
  printer->Print("\n");
}

std::string Quoted(absl::string_view path) {
  return absl::StrCat("\"", path, "\"");
}

}  // namespace shmrpc::codegen::internal
