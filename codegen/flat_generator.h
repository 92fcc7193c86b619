// The flat-message generator behind protoc-gen-shmrpc's `flat=true` option
// (cc_shm_grpc_library(..., flat = True)).
//
// For every .proto file it writes, beside the other outputs:
//
//   dir/x.flat.h   for every message M of the file (nested ones as Outer_M),
//                  in namespace <package>::flat:
//                    MView     reads an M in place (message/flat.h): one
//                              accessor per field named as protobuf's
//                              (`name()`, `has_name()`, `values(i)`,
//                              `values_size()`, `values()`, `kind_case()`),
//                              ToProto(M*);
//                    MBuilder  writes an M in place on a flat::Arena:
//                              `set_name()`, `mutable_name(size)` (a span to
//                              write the bytes into), `mutable_child()`,
//                              `add_values()`, `mutable_values(n)`,
//                              `clear_name()`, CopyFrom(const M&), AsView();
//   dir/x.flat.cc  the message schemas (kinds of every field number) and
//                  ToProto/CopyFrom.
//
// Messages of other files come from their own dir/y.flat.h, so every file a
// flat library imports messages from must be generated with flat=true too.
#ifndef SHMRPC_CODEGEN_FLAT_GENERATOR_H_
#define SHMRPC_CODEGEN_FLAT_GENERATOR_H_

#include <google/protobuf/descriptor.h>

#include <string>

namespace shmrpc::codegen {

// "dir/x.proto" -> "dir/x.flat.h" and "dir/x.flat.cc".
std::string FlatHeaderFileName(const google::protobuf::FileDescriptor* file);
std::string FlatSourceFileName(const google::protobuf::FileDescriptor* file);

// Whether `file` can have flat messages: false, with `*error` naming the
// field, if a message uses a field number above flat::kMaxFieldNumber or
// an extension.
bool CheckFlatSupport(const google::protobuf::FileDescriptor* file,
                      std::string* error);

// The whole of FlatHeaderFileName(file) / FlatSourceFileName(file).
// `message_header_extension` is how protoc's --cpp_out headers end.
std::string GenerateFlatHeader(const google::protobuf::FileDescriptor* file,
                               const std::string& message_header_extension);
std::string GenerateFlatSource(const google::protobuf::FileDescriptor* file);

}  // namespace shmrpc::codegen

#endif  // SHMRPC_CODEGEN_FLAT_GENERATOR_H_
