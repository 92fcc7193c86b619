#include "shmrpc/codegen/cpp_generator.h"

#include <google/protobuf/compiler/parser.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "shmrpc/codegen/version.h"

namespace shmrpc::codegen {
namespace {

using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileDescriptorProto;

// ---- Parameters -----------------------------------------------------------

TEST(ParseParametersTest, EmptyGivesDefaults) {
  Parameters parameters;
  parameters.message_header_extension = "stale";
  std::string error;
  ASSERT_TRUE(ParseParameters("", &parameters, &error)) << error;
  EXPECT_EQ(parameters.message_header_extension, ".pb.h");
  EXPECT_EQ(parameters.grpc_header_extension, ".grpc.pb.h");
}

TEST(ParseParametersTest, MessageHeaderExtension) {
  Parameters parameters;
  std::string error;
  ASSERT_TRUE(
      ParseParameters("message_header_extension=.proto.h", &parameters, &error))
      << error;
  EXPECT_EQ(parameters.message_header_extension, ".proto.h");
  EXPECT_EQ(parameters.grpc_header_extension, ".grpc.pb.h");
}

TEST(ParseParametersTest, BothOptionsInEitherOrder) {
  for (const char* parameter :
       {"message_header_extension=.m.h,grpc_header_extension=.g.h",
        "grpc_header_extension=.g.h,message_header_extension=.m.h"}) {
    Parameters parameters;
    std::string error;
    ASSERT_TRUE(ParseParameters(parameter, &parameters, &error))
        << parameter << ": " << error;
    EXPECT_EQ(parameters.message_header_extension, ".m.h") << parameter;
    EXPECT_EQ(parameters.grpc_header_extension, ".g.h") << parameter;
  }
}

TEST(ParseParametersTest, SkipsEmptyItems) {
  Parameters parameters;
  std::string error;
  ASSERT_TRUE(
      ParseParameters(",grpc_header_extension=.g.h,,", &parameters, &error))
      << error;
  EXPECT_EQ(parameters.grpc_header_extension, ".g.h");
}

TEST(ParseParametersTest, RejectsUnknownOptionAndListsValidOnes) {
  Parameters parameters;
  std::string error;
  EXPECT_FALSE(
      ParseParameters("message_header_extension=.m.h,services_namespace=x",
                      &parameters, &error));
  EXPECT_TRUE(absl::StrContains(error, "unknown option \"services_namespace\""))
      << error;
  for (const std::string& name : ValidParameterNames()) {
    EXPECT_TRUE(absl::StrContains(error, name)) << error;
  }
  // Nothing is applied from a rejected parameter string.
  EXPECT_EQ(parameters.message_header_extension, ".pb.h");
}

TEST(ParseParametersTest, RejectsKeyWithoutValue) {
  Parameters parameters;
  std::string error;
  EXPECT_FALSE(
      ParseParameters("message_header_extension", &parameters, &error));
  EXPECT_TRUE(absl::StrContains(
      error, "option \"message_header_extension\" has no value"))
      << error;
  EXPECT_TRUE(absl::StrContains(error, "key=value")) << error;
}

TEST(ParseParametersTest, RejectsUnknownKeyWithoutValue) {
  Parameters parameters;
  std::string error;
  EXPECT_FALSE(ParseParameters("lite", &parameters, &error));
  EXPECT_TRUE(absl::StrContains(error, "\"lite\"")) << error;
}

TEST(ParseParametersTest, RejectsEmptyValue) {
  Parameters parameters;
  std::string error;
  EXPECT_FALSE(ParseParameters("grpc_header_extension=", &parameters, &error));
  EXPECT_TRUE(absl::StrContains(
      error, "option \"grpc_header_extension\" has an empty value"))
      << error;
}

TEST(ParseParametersTest, RejectsRepeatedOption) {
  Parameters parameters;
  std::string error;
  EXPECT_FALSE(
      ParseParameters("grpc_header_extension=.a.h,grpc_header_extension=.b.h",
                      &parameters, &error));
  EXPECT_TRUE(absl::StrContains(error, "more than once")) << error;
}

TEST(ValidParameterNamesTest, Sorted) {
  EXPECT_EQ(ValidParameterNames(),
            (std::vector<std::string>{"flat", "grpc_header_extension",
                                      "message_header_extension"}));
}

TEST(ParseParametersTest, FlatIsTrueOrFalse) {
  Parameters p;
  std::string error;
  ASSERT_TRUE(ParseParameters("flat=true", &p, &error)) << error;
  EXPECT_TRUE(p.flat);
  ASSERT_TRUE(ParseParameters("flat=false", &p, &error)) << error;
  EXPECT_FALSE(p.flat);
  ASSERT_TRUE(ParseParameters("", &p, &error)) << error;
  EXPECT_FALSE(p.flat);
  EXPECT_FALSE(ParseParameters("flat=yes", &p, &error));
  EXPECT_TRUE(absl::StrContains(error, "true or false")) << error;
}

// ---- Names ----------------------------------------------------------------

TEST(HeaderGuardTest, EscapesEveryOtherCharacterAsHex) {
  EXPECT_EQ(HeaderGuard("proto/echo.proto"),
            "SHMRPC_proto_2fecho_2eproto__INCLUDED");
  EXPECT_EQ(HeaderGuard("a_B-9/c d.proto"),
            "SHMRPC_a_B_2d9_2fc_20d_2eproto__INCLUDED");
  EXPECT_EQ(HeaderGuard("\xc3\xa9.proto"), "SHMRPC__c3_a9_2eproto__INCLUDED");
}

// ---- Generated code -------------------------------------------------------

// Collects the parser's errors, for test failure messages.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    absl::StrAppend(&errors_, line + 1, ":", column + 1, ": ", message, "\n");
  }
  const std::string& errors() const { return errors_; }

 private:
  std::string errors_;
};

// Parses .proto source `text` as file `name` (with its comments) into
// `pool`. Fails the test and returns nullptr on errors.
const FileDescriptor* BuildFile(DescriptorPool* pool, const std::string& name,
                                absl::string_view text) {
  google::protobuf::io::ArrayInputStream input(text.data(),
                                               static_cast<int>(text.size()));
  ErrorCollector errors;
  google::protobuf::io::Tokenizer tokenizer(&input, &errors);
  google::protobuf::compiler::Parser parser;
  parser.RecordErrorsTo(&errors);
  FileDescriptorProto proto;
  if (!parser.Parse(&tokenizer, &proto)) {
    ADD_FAILURE() << errors.errors();
    return nullptr;
  }
  proto.set_name(name);
  const FileDescriptor* file = pool->BuildFile(proto);
  EXPECT_NE(file, nullptr);
  return file;
}

constexpr absl::string_view kServiceProto = R"pb(
  syntax = "proto3"
  ;
package a.b;

message Req {}
message Resp {
  message Inner {}
}

// Costs $5 a call.
service Svc {
  // Says hello.
  // Twice.
  rpc Hello(Req) returns (Resp);
  /* Block
     comment */
  rpc Up(stream Req) returns (Resp.Inner);
  rpc Down(Req) returns (stream Resp);
  rpc Both(stream Req) returns (stream Resp);
}

service OnlyStreams {
  rpc Down(Req) returns (stream Resp);
}

service Nothing {}
)pb";

class GeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = BuildFile(&pool_, "dir/x-y.proto", kServiceProto);
    ASSERT_NE(file_, nullptr);
  }

  DescriptorPool pool_;
  const FileDescriptor* file_ = nullptr;
  Parameters parameters_;
};

TEST_F(GeneratorTest, FileNames) {
  EXPECT_EQ(HeaderFileName(file_), "dir/x-y.shmrpc.h");
  EXPECT_EQ(SourceFileName(file_), "dir/x-y.shmrpc.cc");
}

TEST_F(GeneratorTest, PiecesMakeTheFiles) {
  EXPECT_EQ(GenerateHeader(file_, parameters_),
            absl::StrCat(GetHeaderPrologue(file_, parameters_),
                         GetHeaderIncludes(file_, parameters_),
                         GetHeaderVersionGuard(file_, parameters_),
                         GetHeaderServices(file_, parameters_),
                         GetHeaderEpilogue(file_, parameters_)));
  EXPECT_EQ(GenerateSource(file_, parameters_),
            absl::StrCat(GetSourcePrologue(file_, parameters_),
                         GetSourceIncludes(file_, parameters_),
                         GetSourceServices(file_, parameters_)));
}

TEST_F(GeneratorTest, PrologueHasBannerAndGuard) {
  const std::string prologue = GetHeaderPrologue(file_, parameters_);
  EXPECT_TRUE(
      absl::StartsWith(prologue,
                       "// Generated by protoc-gen-shmrpc. DO NOT EDIT!\n"
                       "// source: dir/x-y.proto\n"))
      << prologue;
  EXPECT_TRUE(
      absl::EndsWith(prologue,
                     "#ifndef SHMRPC_dir_2fx_2dy_2eproto__INCLUDED\n"
                     "#define SHMRPC_dir_2fx_2dy_2eproto__INCLUDED\n\n"))
      << prologue;
  EXPECT_EQ(GetHeaderEpilogue(file_, parameters_),
            "#endif  // SHMRPC_dir_2fx_2dy_2eproto__INCLUDED\n");
}

TEST_F(GeneratorTest, DefaultIncludes) {
  const std::string includes = GetHeaderIncludes(file_, parameters_);
  EXPECT_TRUE(absl::StrContains(includes, "#include \"dir/x-y.pb.h\"\n"));
  EXPECT_TRUE(absl::StrContains(includes, "#include \"dir/x-y.grpc.pb.h\"\n"));
  EXPECT_TRUE(
      absl::StrContains(includes, "#include \"shmrpc/codegen/version.h\"\n"));
  // Streaming methods use gRPC's stream interfaces.
  EXPECT_TRUE(
      absl::StrContains(includes, "#include <grpcpp/support/sync_stream.h>\n"));
}

TEST_F(GeneratorTest, OptionsChangeIncludes) {
  parameters_.message_header_extension = ".proto.h";
  parameters_.grpc_header_extension = ".rpc.h";
  const std::string includes = GetHeaderIncludes(file_, parameters_);
  EXPECT_TRUE(absl::StrContains(includes, "#include \"dir/x-y.proto.h\"\n"))
      << includes;
  EXPECT_TRUE(absl::StrContains(includes, "#include \"dir/x-y.rpc.h\"\n"))
      << includes;
  EXPECT_FALSE(absl::StrContains(includes, ".pb.h")) << includes;
  // The source includes only the shmrpc header, whatever the options.
  EXPECT_TRUE(absl::StrContains(GetSourcePrologue(file_, parameters_),
                                "#include \"dir/x-y.shmrpc.h\"\n"));
}

TEST_F(GeneratorTest, VersionGuardUsesRuntimeVersion) {
  const std::string version = absl::StrCat(SHMRPC_CODEGEN_VERSION);
  EXPECT_EQ(GetHeaderVersionGuard(file_, parameters_),
            absl::StrCat("#if SHMRPC_CODEGEN_VERSION != ", version,
                         "\n#error \"dir/x-y.shmrpc.h was generated for shmrpc "
                         "codegen version ",
                         version,
                         " but the shmrpc runtime is another version: "
                         "regenerate it.\"\n#endif\n\n"));
}

TEST_F(GeneratorTest, CommentsAreCopiedVerbatim) {
  const std::string header = GetHeaderServices(file_, parameters_);
  EXPECT_TRUE(absl::StrContains(header, "// Costs $5 a call.\nclass ShmSvc "))
      << header;
  EXPECT_TRUE(absl::StrContains(
      header, "    // Says hello.\n    // Twice.\n    ::grpc::Status Hello("))
      << header;
  EXPECT_TRUE(absl::StrContains(
      header, "    // Block\n    // comment\n    virtual ::grpc::Status Up("))
      << header;
}

TEST_F(GeneratorTest, StreamingMethodSignatures) {
  const std::string header = GetHeaderServices(file_, parameters_);
  EXPECT_TRUE(absl::StrContains(
      header,
      "virtual ::grpc::Status Up(::shmrpc::ServerContext* context, "
      "::grpc::ServerReaderInterface< ::a::b::Req>* reader, "
      "::a::b::Resp_Inner* response);\n"))
      << header;
  EXPECT_TRUE(absl::StrContains(
      header,
      "virtual ::grpc::Status Down(::shmrpc::ServerContext* context, "
      "const ::a::b::Req* request, "
      "::grpc::ServerWriterInterface< ::a::b::Resp>* writer);\n"))
      << header;
  EXPECT_TRUE(absl::StrContains(
      header,
      "virtual ::grpc::Status Both(::shmrpc::ServerContext* context, "
      "::grpc::ServerReaderWriterInterface< ::a::b::Resp, ::a::b::Req>* "
      "stream);\n"))
      << header;
  EXPECT_FALSE(absl::StrContains(header, "served over gRPC only")) << header;
  // Stubs have every method, with gRPC's blocking shapes.
  EXPECT_TRUE(absl::StrContains(header, "rpcmethod_Hello_;")) << header;
  EXPECT_TRUE(absl::StrContains(header, "rpcmethod_Up_;")) << header;
  EXPECT_TRUE(absl::StrContains(header, "rpcmethod_Down_;")) << header;
  EXPECT_TRUE(absl::StrContains(header, "rpcmethod_Both_;")) << header;
  EXPECT_TRUE(absl::StrContains(
      header,
      "std::unique_ptr< ::grpc::ClientReaderInterface< ::a::b::Resp>> "
      "Down(::grpc::ClientContext* context, const ::a::b::Req& request);\n"))
      << header;
  EXPECT_TRUE(absl::StrContains(
      header,
      "std::unique_ptr< ::grpc::ClientWriterInterface< ::a::b::Req>> "
      "Up(::grpc::ClientContext* context, ::a::b::Resp_Inner* response);\n"))
      << header;
  EXPECT_TRUE(absl::StrContains(
      header,
      "std::unique_ptr< ::grpc::ClientReaderWriterInterface< ::a::b::Req, "
      "::a::b::Resp>> Both(::grpc::ClientContext* context);\n"))
      << header;
}

TEST_F(GeneratorTest, StreamingMethodsAreServedOverSharedMemoryToo) {
  const std::string source = GetSourceServices(file_, parameters_);
  EXPECT_TRUE(absl::StrContains(
      source,
      "std::make_unique< ::shmrpc::internal::ServerStreamingMethodHandler< "
      "ShmSvc::Service, ::a::b::Req, ::a::b::Resp>>("))
      << source;
  EXPECT_TRUE(absl::StrContains(
      source,
      "rpcmethod_Down_(ShmSvc_method_names[2], "
      "::grpc::internal::RpcMethod::SERVER_STREAMING, channel)"))
      << source;
  EXPECT_TRUE(absl::StrContains(
      source,
      "  return core_.ServerStreaming< ::a::b::Resp>(rpcmethod_Down_, "
      "context, request);\n"))
      << source;
}

TEST_F(GeneratorTest, StreamingMethodsAreRegisteredWithGrpc) {
  const std::string source = GetSourceServices(file_, parameters_);
  EXPECT_TRUE(absl::StrContains(
      source,
      "::grpc::internal::ClientStreamingHandler< ShmSvc::Service, "
      "::a::b::Req, ::a::b::Resp_Inner>("))
      << source;
  EXPECT_TRUE(absl::StrContains(
      source,
      "::grpc::internal::ServerStreamingHandler< ShmSvc::Service, "
      "::a::b::Req, ::a::b::Resp>("))
      << source;
  EXPECT_TRUE(absl::StrContains(
      source,
      "::grpc::internal::BidiStreamingHandler< ShmSvc::Service, "
      "::a::b::Req, ::a::b::Resp>("))
      << source;
  // Five AddShmMethod (Svc's four, OnlyStreams' Down) and five codecs.
  size_t shm_methods = 0;
  for (size_t at = source.find("AddShmMethod("); at != std::string::npos;
       at = source.find("AddShmMethod(", at + 1)) {
    ++shm_methods;
  }
  EXPECT_EQ(shm_methods, 5u);
  EXPECT_TRUE(absl::StrContains(
      source,
      "std::make_unique< ::shmrpc::internal::ClientStreamingMethodHandler< "
      "ShmSvc::Service, ::a::b::Req, ::a::b::Resp_Inner>>("))
      << source;
  EXPECT_TRUE(absl::StrContains(
      source,
      "std::make_unique< ::shmrpc::internal::BidiStreamingMethodHandler< "
      "ShmSvc::Service, ::a::b::Req, ::a::b::Resp>>("))
      << source;
  EXPECT_TRUE(absl::StrContains(
      source,
      "  {ShmSvc_method_names[0], ::shmrpc::internal::CodecFor< "
      "::a::b::Req, ::a::b::Resp>()},\n"))
      << source;
  // A codec for every method, streaming ones too (the credentials'
  // interceptor runs them).
  size_t codecs = 0;
  for (size_t at = source.find("CodecFor<"); at != std::string::npos;
       at = source.find("CodecFor<", at + 1)) {
    ++codecs;
  }
  EXPECT_EQ(codecs, 5u);
  // Default implementations: UNIMPLEMENTED.
  EXPECT_TRUE(absl::StrContains(
      source,
      "::grpc::Status ShmSvc::Service::Both(::shmrpc::ServerContext* context, "
      "::grpc::ServerReaderWriterInterface< ::a::b::Resp, ::a::b::Req>* "
      "stream) {\n  (void) context;\n  (void) stream;\n  return "
      "::grpc::Status(::grpc::StatusCode::UNIMPLEMENTED, \"\");\n}\n"))
      << source;
}

TEST_F(GeneratorTest, NoEmptyArrays) {
  const std::string source = GetSourceServices(file_, parameters_);
  // OnlyStreams: names and codecs; Nothing: neither.
  EXPECT_TRUE(absl::StrContains(source, "ShmOnlyStreams_method_names[] = {"));
  EXPECT_TRUE(absl::StrContains(source, "ShmOnlyStreams_codecs[] = {"));
  EXPECT_FALSE(absl::StrContains(source, "ShmNothing_method_names"));
  EXPECT_FALSE(absl::StrContains(source, "ShmNothing_codecs"));
  EXPECT_TRUE(
      absl::StrContains(source, "ShmNothing::Service::Service() {\n}\n"));
}

TEST_F(GeneratorTest, Namespaces) {
  const std::string header = GetHeaderServices(file_, parameters_);
  EXPECT_TRUE(absl::StartsWith(header, "namespace a {\nnamespace b {\n\n"))
      << header;
  EXPECT_TRUE(
      absl::EndsWith(header, "};\n\n}  // namespace b\n}  // namespace a\n\n"))
      << header;
}

TEST(GeneratorNoPackageTest, GlobalNamespace) {
  DescriptorPool pool;
  const FileDescriptor* file = BuildFile(&pool, "np.proto", R"pb(
    syntax = "proto3"
    ;
    message M {}
    service S { rpc Get(M) returns (M); }
  )pb");
  ASSERT_NE(file, nullptr);
  const std::string header = GetHeaderServices(file, Parameters());
  EXPECT_TRUE(absl::StartsWith(header, "class ShmS final {\n")) << header;
  EXPECT_FALSE(absl::StrContains(header, "namespace")) << header;
  EXPECT_TRUE(absl::StrContains(header, "const ::M& request, ::M* response"))
      << header;
  const std::string source = GetSourceServices(file, Parameters());
  EXPECT_TRUE(absl::StartsWith(source, "static const char* ShmS_method_names"))
      << source;
  EXPECT_TRUE(absl::EndsWith(source, "}\n")) << source;
  EXPECT_FALSE(absl::EndsWith(source, "\n\n")) << source;
}

TEST(GeneratorNoServiceTest, OnlyBannerIncludesAndGuards) {
  DescriptorPool pool;
  const FileDescriptor* file = BuildFile(&pool, "d/m.proto", R"pb(
    syntax = "proto3"
    ;
    package p;
    message M {}
  )pb");
  ASSERT_NE(file, nullptr);
  const Parameters parameters;
  EXPECT_EQ(GetHeaderServices(file, parameters), "");
  EXPECT_EQ(GetSourceIncludes(file, parameters), "");
  EXPECT_EQ(GetSourceServices(file, parameters), "");
  EXPECT_EQ(GenerateSource(file, parameters),
            "// Generated by protoc-gen-shmrpc. DO NOT EDIT!\n"
            "// source: d/m.proto\n"
            "\n"
            "#include \"d/m.shmrpc.h\"\n");
  EXPECT_EQ(GetHeaderIncludes(file, parameters),
            "#include \"shmrpc/config.h\"\n"
            "\n"
            "#include \"d/m.grpc.pb.h\"\n"
            "#include \"d/m.pb.h\"\n"
            "#include \"shmrpc/codegen/version.h\"\n"
            "\n");
  const std::string header = GenerateHeader(file, parameters);
  EXPECT_FALSE(absl::StrContains(header, "namespace")) << header;
  EXPECT_FALSE(absl::StrContains(header, "class")) << header;
  EXPECT_TRUE(absl::StrContains(header, "#if SHMRPC_CODEGEN_VERSION != "))
      << header;
}

}  // namespace
}  // namespace shmrpc::codegen
