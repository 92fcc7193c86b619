// protoc-gen-shmrpc: the protoc plugin that writes dir/x.shmrpc.h and
// dir/x.shmrpc.cc for every dir/x.proto (see cpp_generator.h). protoc runs it
// for --shmrpc_out=DIR when it is on the PATH or given with
// --plugin=protoc-gen-shmrpc=PATH; options come with --shmrpc_opt=key=value.
#include <google/protobuf/compiler/code_generator.h>
#include <google/protobuf/compiler/plugin.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include <cstdint>
#include <memory>
#include <string>

#include "shmrpc/codegen/cpp_generator.h"
#include "shmrpc/codegen/flat_generator.h"

namespace shmrpc::codegen {
namespace {

// Writes `contents` to the output file `name` of this protoc run.
void WriteFile(google::protobuf::compiler::GeneratorContext* context,
               const std::string& name, const std::string& contents) {
  std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> output(
      context->Open(name));
  google::protobuf::io::CodedOutputStream coded(output.get());
  coded.WriteRaw(contents.data(), static_cast<int>(contents.size()));
}

// The plugin: one header and one source for every file protoc asks for,
// with or without services.
class ShmrpcGenerator final : public google::protobuf::compiler::CodeGenerator {
 public:
  bool Generate(const google::protobuf::FileDescriptor* file,
                const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override {
    Parameters parameters;
    if (!ParseParameters(parameter, &parameters, error)) return false;
    WriteFile(context, HeaderFileName(file), GenerateHeader(file, parameters));
    WriteFile(context, SourceFileName(file), GenerateSource(file, parameters));
    if (parameters.flat) {
      if (!CheckFlatSupport(file, error)) return false;
      WriteFile(context, FlatHeaderFileName(file),
                GenerateFlatHeader(file, parameters.message_header_extension));
      WriteFile(context, FlatSourceFileName(file), GenerateFlatSource(file));
    }
    return true;
  }

  // The generated code does not depend on how fields are declared, so
  // proto3 `optional` fields need nothing special.
  uint64_t GetSupportedFeatures() const override {
    return FEATURE_PROTO3_OPTIONAL;
  }
};

}  // namespace
}  // namespace shmrpc::codegen

int main(int argc, char* argv[]) {
  shmrpc::codegen::ShmrpcGenerator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
