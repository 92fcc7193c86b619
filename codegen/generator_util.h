// Helpers shared by the generators of protoc-gen-shmrpc (cpp_generator.cc for
// services, flat_generator.cc for flat messages): names, namespaces, include
// groups and printing to a string.
#ifndef SHMRPC_CODEGEN_GENERATOR_UTIL_H_
#define SHMRPC_CODEGEN_GENERATOR_UTIL_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/printer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace shmrpc::codegen::internal {

// Substitutions for a Printer template.
using Vars = std::map<std::string, std::string>;

// Runs `print` with a Printer ('$' delimits variables) and returns what it
// printed.
template <typename PrintFn>
std::string PrintToString(PrintFn print) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::Printer printer(&stream, '$');
    print(&printer);
  }  // The Printer flushes into `out` when destroyed.
  return out;
}

// "dir/x.proto" -> "dir/x" (names without ".proto" are kept whole).
std::string StripProto(absl::string_view file_name);

// "a.b.C" -> "a::b::C".
std::string DotsToColons(absl::string_view name);

// The C++ name protoc gives `message`, fully qualified, as gRPC's generator
// spells it: "::pkg::Outer_Inner" for pkg.Outer.Inner.
std::string QualifiedClassName(const google::protobuf::Descriptor* message);

// The fully qualified name, less "View"/"Builder", of `message`'s flat view
// and builder: "::pkg::flat::Outer_Inner" for pkg.Outer.Inner.
std::string FlatName(const google::protobuf::Descriptor* message);

// Prints "namespace a {\nnamespace b {\n" for package "a.b".
void PrintNamespaceOpen(const google::protobuf::FileDescriptor* file,
                        google::protobuf::io::Printer* printer);

// Prints "}  // namespace b\n}  // namespace a\n" for package "a.b".
void PrintNamespaceClose(const google::protobuf::FileDescriptor* file,
                         google::protobuf::io::Printer* printer);

// Prints one group of #include lines (`<name>` or `"name"` as given),
// sorted, without duplicates, followed by an empty line.
void PrintIncludeGroup(std::vector<std::string> includes,
                       google::protobuf::io::Printer* printer);

// `path` in double quotes.
std::string Quoted(absl::string_view path);

}  // namespace shmrpc::codegen::internal

#endif  // SHMRPC_CODEGEN_GENERATOR_UTIL_H_
