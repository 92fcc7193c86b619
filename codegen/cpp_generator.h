// The C++ code generator behind protoc-gen-shmrpc.
//
// For every .proto file it writes two files next to protoc's (--cpp_out) and
// grpc_cpp_plugin's (--grpc_out) output:
//
//   dir/x.shmrpc.h   for every service S, class ShmS with a Stub that calls
//                    over shared memory where it can and over gRPC otherwise,
//                    and a Service base to register with both
//                    grpc::ServerBuilder and shmrpc::ServerBuilder;
//   dir/x.shmrpc.cc  their definitions and the registration of the methods'
//                    codecs.
//
// Like gRPC's generator (src/compiler/cpp_generator.h), each file is
// assembled from named pieces (prologue, includes, version guard, services,
// epilogue), each returned as a string, so tests can check them one by one.
// codegen/testdata/proto/echo.shmrpc.{h,cc}.golden is the specification of
// the output.
#ifndef SHMRPC_CODEGEN_CPP_GENERATOR_H_
#define SHMRPC_CODEGEN_CPP_GENERATOR_H_

#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace shmrpc::codegen {

// The options of protoc-gen-shmrpc, given to protoc as
// --shmrpc_opt=key=value,key=value (or --shmrpc_out=key=value:dir).
struct Parameters {
  // How the headers of protoc's --cpp_out end: the generated code includes
  // "dir/x" + message_header_extension.
  std::string message_header_extension = ".pb.h";
  // How the headers of grpc_cpp_plugin end: the generated code includes
  // "dir/x" + grpc_header_extension.
  std::string grpc_header_extension = ".grpc.pb.h";
  // Also write flat views and builders of every message (dir/x.flat.h and
  // dir/x.flat.cc, see flat_generator.h): flat=true.
  bool flat = false;
};

// The names of the options Parameters holds, sorted (for error messages).
std::vector<std::string> ValidParameterNames();

// Parses protoc's parameter string for this plugin: comma-separated
// key=value pairs, each key one of ValidParameterNames(), each at most once,
// each value non-empty. Empty items (",,") are skipped, as protoc does. On
// success fills `*parameters` (options not given keep their defaults) and
// returns true; otherwise returns false and sets `*error` to a message that
// names the offending item and lists the valid options.
bool ParseParameters(absl::string_view parameter, Parameters* parameters,
                     std::string* error);

// "dir/x.proto" -> "dir/x.shmrpc.h": the header generated for `file`.
std::string HeaderFileName(const google::protobuf::FileDescriptor* file);

// "dir/x.proto" -> "dir/x.shmrpc.cc": the source generated for `file`.
std::string SourceFileName(const google::protobuf::FileDescriptor* file);

// The include guard of the header generated for the .proto file
// `proto_file_name`: "SHMRPC_" + the name with every character outside
// [A-Za-z0-9_] replaced by "_" and its two lowercase hex digits, +
// "__INCLUDED" ("proto/echo.proto" -> "SHMRPC_proto_2fecho_2eproto__INCLUDED").
std::string HeaderGuard(absl::string_view proto_file_name);

// The pieces of the header, in order. GenerateHeader() concatenates them.

// The banner (generated-file notice, source, what the file holds) and the
// opening of the include guard.
std::string GetHeaderPrologue(const google::protobuf::FileDescriptor* file,
                              const Parameters& parameters);
// The #include lines: standard, gRPC and project headers, each group sorted.
std::string GetHeaderIncludes(const google::protobuf::FileDescriptor* file,
                              const Parameters& parameters);
// The #if/#error check that the runtime has the codegen version
// (SHMRPC_CODEGEN_VERSION) this generator writes code for.
std::string GetHeaderVersionGuard(const google::protobuf::FileDescriptor* file,
                                  const Parameters& parameters);
// Class ShmS for every service S, inside the package's namespaces; empty if
// the file has no services.
std::string GetHeaderServices(const google::protobuf::FileDescriptor* file,
                              const Parameters& parameters);
// The end of the include guard.
std::string GetHeaderEpilogue(const google::protobuf::FileDescriptor* file,
                              const Parameters& parameters);

// The pieces of the source, in order. GenerateSource() concatenates them.

// The banner and the #include of the generated header.
std::string GetSourcePrologue(const google::protobuf::FileDescriptor* file,
                              const Parameters& parameters);
// The other #include lines the definitions need; empty if the file has no
// services.
std::string GetSourceIncludes(const google::protobuf::FileDescriptor* file,
                              const Parameters& parameters);
// The definitions for every service, inside the package's namespaces; empty
// if the file has no services.
std::string GetSourceServices(const google::protobuf::FileDescriptor* file,
                              const Parameters& parameters);

// The whole of HeaderFileName(file).
std::string GenerateHeader(const google::protobuf::FileDescriptor* file,
                           const Parameters& parameters);

// The whole of SourceFileName(file).
std::string GenerateSource(const google::protobuf::FileDescriptor* file,
                           const Parameters& parameters);

}  // namespace shmrpc::codegen

#endif  // SHMRPC_CODEGEN_CPP_GENERATOR_H_
