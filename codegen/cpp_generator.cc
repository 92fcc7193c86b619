#include "shmrpc/codegen/cpp_generator.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/printer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "shmrpc/codegen/generator_util.h"
#include "shmrpc/codegen/version.h"

namespace shmrpc::codegen {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::google::protobuf::SourceLocation;
using ::google::protobuf::io::Printer;
using internal::DotsToColons;
using internal::PrintIncludeGroup;
using internal::PrintNamespaceClose;
using internal::PrintNamespaceOpen;
using internal::PrintToString;
using internal::QualifiedClassName;
using internal::Quoted;
using internal::StripProto;
using internal::Vars;

constexpr char kMessageHeaderExtension[] = "message_header_extension";
constexpr char kGrpcHeaderExtension[] = "grpc_header_extension";
constexpr char kFlat[] = "flat";

// The name of the class generated for `service`.
std::string ShmClassName(const ServiceDescriptor* service) {
  return absl::StrCat("Shm", service->name());
}

// How a method sends and receives messages.
enum class MethodKind {
  kUnary,
  kClientStreaming,
  kServerStreaming,
  kBidiStreaming,
};

// The kind of `method`.
MethodKind KindOf(const MethodDescriptor* method) {
  if (method->client_streaming()) {
    return method->server_streaming() ? MethodKind::kBidiStreaming
                                      : MethodKind::kClientStreaming;
  }
  return method->server_streaming() ? MethodKind::kServerStreaming
                                    : MethodKind::kUnary;
}

// Whether `method` is unary.
bool IsUnary(const MethodDescriptor* method) {
  return KindOf(method) == MethodKind::kUnary;
}

// The shmrpc::internal handler class that serves `method` over shared
// memory (server/service.h).
std::string ShmHandlerOf(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case MethodKind::kUnary:
      return "UnaryMethodHandler";
    case MethodKind::kClientStreaming:
      return "ClientStreamingMethodHandler";
    case MethodKind::kServerStreaming:
      return "ServerStreamingMethodHandler";
    case MethodKind::kBidiStreaming:
      return "BidiStreamingMethodHandler";
  }
  return "";
}

// Whether `service` has a method for which `pred` holds.
template <typename Pred>
bool AnyMethod(const ServiceDescriptor* service, Pred pred) {
  for (int i = 0; i < service->method_count(); ++i) {
    if (pred(service->method(i))) return true;
  }
  return false;
}

// Whether some method of `file` streams.
bool HasStreamingMethods(const FileDescriptor* file) {
  for (int i = 0; i < file->service_count(); ++i) {
    if (AnyMethod(file->service(i),
                  [](const MethodDescriptor* m) { return !IsUnary(m); })) {
      return true;
    }
  }
  return false;
}

// One parameter of a generated function.
struct Param {
  std::string type;
  std::string name;
};

// Everything about a method's signatures that depends on its kind.
struct MethodShape {
  // grpc::internal::RpcMethod::RpcType enumerator.
  std::string rpc_type;
  // The grpc::internal handler class that serves it over gRPC.
  std::string grpc_handler;
  // The Service method's parameters after the shmrpc::ServerContext*.
  std::vector<Param> service_params;
  // The gRPC handler's function's parameters after the grpc::ServerContext*
  // (gRPC's concrete stream classes rather than their interfaces).
  std::vector<Param> grpc_params;
};

// The signatures of `method`.
MethodShape ShapeOf(const MethodDescriptor* method) {
  const std::string service =
      absl::StrCat(ShmClassName(method->service()), "::Service");
  const std::string request = QualifiedClassName(method->input_type());
  const std::string response = QualifiedClassName(method->output_type());
  const std::string types =
      absl::StrCat(service, ", ", request, ", ", response);
  MethodShape shape;
  switch (KindOf(method)) {
    case MethodKind::kUnary:
      shape.rpc_type = "NORMAL_RPC";
      shape.grpc_handler = absl::StrCat(
          "::grpc::internal::RpcMethodHandler< ", types,
          ", ::grpc::protobuf::MessageLite, ::grpc::protobuf::MessageLite>");
      shape.service_params = {{absl::StrCat("const ", request, "*"), "request"},
                              {absl::StrCat(response, "*"), "response"}};
      shape.grpc_params = shape.service_params;
      break;
    case MethodKind::kClientStreaming:
      shape.rpc_type = "CLIENT_STREAMING";
      shape.grpc_handler = absl::StrCat(
          "::grpc::internal::ClientStreamingHandler< ", types, ">");
      shape.service_params = {
          {absl::StrCat("::grpc::ServerReaderInterface< ", request, ">*"),
           "reader"},
          {absl::StrCat(response, "*"), "response"}};
      shape.grpc_params = {
          {absl::StrCat("::grpc::ServerReader< ", request, ">*"), "reader"},
          {absl::StrCat(response, "*"), "response"}};
      break;
    case MethodKind::kServerStreaming:
      shape.rpc_type = "SERVER_STREAMING";
      shape.grpc_handler = absl::StrCat(
          "::grpc::internal::ServerStreamingHandler< ", types, ">");
      shape.service_params = {
          {absl::StrCat("const ", request, "*"), "request"},
          {absl::StrCat("::grpc::ServerWriterInterface< ", response, ">*"),
           "writer"}};
      shape.grpc_params = {
          {absl::StrCat("const ", request, "*"), "request"},
          {absl::StrCat("::grpc::ServerWriter< ", response, ">*"), "writer"}};
      break;
    case MethodKind::kBidiStreaming:
      shape.rpc_type = "BIDI_STREAMING";
      shape.grpc_handler =
          absl::StrCat("::grpc::internal::BidiStreamingHandler< ", types, ">");
      shape.service_params = {
          {absl::StrCat("::grpc::ServerReaderWriterInterface< ", response, ", ",
                        request, ">*"),
           "stream"}};
      shape.grpc_params = {{absl::StrCat("::grpc::ServerReaderWriter< ",
                                         response, ", ", request, ">*"),
                            "stream"}};
      break;
  }
  return shape;
}

// Everything about a method's flat forms (flat=true) that depends on its
// kind.
struct FlatShape {
  // The FlatService method's parameters after the shmrpc::ServerContext*.
  std::vector<Param> service_params;
  // shmrpc::internal's handler over shared memory, in place.
  std::string shm_handler;
  // shmrpc::internal's function running the flat method on protobuf
  // messages.
  std::string run_on_protobuf;
};

FlatShape FlatShapeOf(const MethodDescriptor* method) {
  const std::string view = internal::FlatName(method->input_type()) + "View";
  const std::string builder =
      internal::FlatName(method->output_type()) + "Builder";
  FlatShape shape;
  switch (KindOf(method)) {
    case MethodKind::kUnary:
      shape.service_params = {{view, "request"}, {builder, "response"}};
      shape.shm_handler = "FlatUnaryMethodHandler";
      shape.run_on_protobuf = "RunFlatOnProtobuf";
      break;
    case MethodKind::kServerStreaming:
      shape.service_params = {
          {view, "request"},
          {absl::StrCat("::shmrpc::FlatServerWriter< ", builder, ">*"),
           "writer"}};
      shape.shm_handler = "FlatServerStreamingMethodHandler";
      shape.run_on_protobuf = "RunFlatServerStreamingOnProtobuf";
      break;
    case MethodKind::kClientStreaming:
      shape.service_params = {
          {absl::StrCat("::shmrpc::FlatServerReader< ", view, ">*"), "reader"},
          {builder, "response"}};
      shape.shm_handler = "FlatClientStreamingMethodHandler";
      shape.run_on_protobuf = "RunFlatClientStreamingOnProtobuf";
      break;
    case MethodKind::kBidiStreaming:
      shape.service_params = {
          {absl::StrCat("::shmrpc::FlatServerReaderWriter< ", builder, ", ",
                        view, ">*"),
           "stream"}};
      shape.shm_handler = "FlatBidiStreamingMethodHandler";
      shape.run_on_protobuf = "RunFlatBidiStreamingOnProtobuf";
      break;
  }
  return shape;
}

// "type name, type name".
std::string JoinParams(const std::vector<Param>& params) {
  return absl::StrJoin(params, ", ", [](std::string* out, const Param& p) {
    absl::StrAppend(out, p.type, " ", p.name);
  });
}

// "name, name".
std::string JoinNames(const std::vector<Param>& params) {
  return absl::StrJoin(params, ", ", [](std::string* out, const Param& p) {
    out->append(p.name);
  });
}

// The arguments that pass `params` (the protobuf handler's) on to a
// function taking the request by reference: "*request, response".
std::string ProtobufArgs(const std::vector<Param>& params) {
  return absl::StrJoin(params, ", ", [](std::string* out, const Param& p) {
    absl::StrAppend(out, p.name == "request" ? "*" : "", p.name);
  });
}

// The variables of every template that prints part of `service`.
Vars ServiceVars(const ServiceDescriptor* service) {
  return {
      {"Service", ShmClassName(service)},
      {"service_full_name", service->full_name()},
  };
}

// The variables of every template that prints part of `method`.
Vars MethodVars(const MethodDescriptor* method) {
  Vars vars = ServiceVars(method->service());
  const MethodShape shape = ShapeOf(method);
  vars["Method"] = method->name();
  vars["Request"] = QualifiedClassName(method->input_type());
  vars["Response"] = QualifiedClassName(method->output_type());
  vars["Idx"] = absl::StrCat(method->index());
  vars["RpcType"] = shape.rpc_type;
  vars["GrpcHandler"] = shape.grpc_handler;
  vars["ServiceParams"] = JoinParams(shape.service_params);
  vars["ServiceArgs"] = JoinNames(shape.service_params);
  // The name a flat service also serves a method under over shared memory,
  // for messages that are flat.
  vars["FlatName"] = absl::StrCat("/", method->service()->full_name(), "/",
                                  method->name(), "#flat");
  vars["RequestView"] = internal::FlatName(method->input_type()) + "View";
  vars["RequestBuilder"] = internal::FlatName(method->input_type()) + "Builder";
  vars["ResponseView"] = internal::FlatName(method->output_type()) + "View";
  vars["ResponseBuilder"] =
      internal::FlatName(method->output_type()) + "Builder";
  const FlatShape flat = FlatShapeOf(method);
  vars["FlatParams"] = JoinParams(flat.service_params);
  vars["FlatArgs"] = JoinNames(flat.service_params);
  vars["FlatHandler"] = flat.shm_handler;
  vars["RunFlatOnProtobuf"] = flat.run_on_protobuf;
  vars["ProtobufArgs"] = ProtobufArgs(shape.service_params);
  return vars;
}

// Appends the lines of `text` to `lines`; like std::getline, a final
// newline ends the last line rather than starting an empty one.
void AppendLines(absl::string_view text, std::vector<std::string>* lines) {
  if (text.empty()) return;
  std::vector<std::string> split = absl::StrSplit(text, '\n');
  if (split.back().empty()) split.pop_back();
  lines->insert(lines->end(), split.begin(), split.end());
}

// Prints the comments before `descriptor` in its .proto file as // lines,
// as gRPC's generator does: detached comments first, each followed by an
// empty comment line, then the attached leading comment.
template <typename DescriptorT>
void PrintLeadingComments(const DescriptorT* descriptor, Printer* printer) {
  SourceLocation location;
  if (!descriptor->GetSourceLocation(&location)) return;
  std::vector<std::string> lines;
  for (const std::string& detached : location.leading_detached_comments) {
    AppendLines(detached, &lines);
    lines.push_back("");
  }
  AppendLines(location.leading_comments, &lines);
  for (const std::string& line : lines) {
    // protoc keeps the space after "//"; add one where there was none
    // (block comments). Trailing whitespace is dropped.
    const absl::string_view text = absl::StripTrailingAsciiWhitespace(line);
    std::string comment = "//";
    if (!text.empty()) {
      absl::StrAppend(&comment, text[0] == ' ' ? "" : " ", text);
    }
    printer->Print({{"comment", comment}}, "$comment$\n");
  }
}

// What `print_service` prints for each service of `file`, separated by
// empty lines, inside the package's namespaces; "" if there are no services.
template <typename PrintServiceFn>
std::string PrintServicesInNamespaces(const FileDescriptor* file,
                                      PrintServiceFn print_service) {
  if (file->service_count() == 0) return "";
  return PrintToString([&](Printer* printer) {
    const bool has_package = !file->package().empty();
    PrintNamespaceOpen(file, printer);
    if (has_package) printer->Print("\n");
    for (int i = 0; i < file->service_count(); ++i) {
      if (i > 0) printer->Print("\n");
      print_service(file->service(i), printer);
    }
    if (has_package) printer->Print("\n");
    PrintNamespaceClose(file, printer);
  });
}

// ---- Header ---------------------------------------------------------------

// The Stub's blocking method `method`.
void PrintHeaderStubMethod(const MethodDescriptor* method, Printer* printer) {
  PrintLeadingComments(method, printer);
  printer->Print(MethodVars(method),
                 "::grpc::Status $Method$(::grpc::ClientContext* context, "
                 "const $Request$& request, $Response$* response);\n");
}

// The Stub's callback method `method`.
void PrintHeaderAsyncMethod(const MethodDescriptor* method, Printer* printer) {
  PrintLeadingComments(method, printer);
  printer->Print(MethodVars(method),
                 "void $Method$(::grpc::ClientContext* context, "
                 "const $Request$* request, $Response$* response, "
                 "std::function<void(::grpc::Status)> on_done);\n");
}

// The Stub's blocking method for streaming `method`, with gRPC's shape.
void PrintHeaderStubStreamMethod(const MethodDescriptor* method,
                                 Printer* printer) {
  PrintLeadingComments(method, printer);
  const Vars vars = MethodVars(method);
  switch (KindOf(method)) {
    case MethodKind::kServerStreaming:
      printer->Print(vars,
                     "std::unique_ptr< ::grpc::ClientReaderInterface< "
                     "$Response$>> $Method$(::grpc::ClientContext* context, "
                     "const $Request$& request);\n");
      break;
    case MethodKind::kClientStreaming:
      printer->Print(vars,
                     "std::unique_ptr< ::grpc::ClientWriterInterface< "
                     "$Request$>> $Method$(::grpc::ClientContext* context, "
                     "$Response$* response);\n");
      break;
    case MethodKind::kBidiStreaming:
      printer->Print(vars,
                     "std::unique_ptr< ::grpc::ClientReaderWriterInterface< "
                     "$Request$, $Response$>> $Method$(::grpc::ClientContext* "
                     "context);\n");
      break;
    case MethodKind::kUnary:
      break;
  }
}

// The Stub's callback method for streaming `method`, with gRPC's reactor
// shape.
void PrintHeaderAsyncStreamMethod(const MethodDescriptor* method,
                                  Printer* printer) {
  PrintLeadingComments(method, printer);
  const Vars vars = MethodVars(method);
  switch (KindOf(method)) {
    case MethodKind::kServerStreaming:
      printer->Print(vars,
                     "void $Method$(::grpc::ClientContext* context, "
                     "const $Request$* request, "
                     "::grpc::ClientReadReactor< $Response$>* reactor);\n");
      break;
    case MethodKind::kClientStreaming:
      printer->Print(vars,
                     "void $Method$(::grpc::ClientContext* context, "
                     "$Response$* response, "
                     "::grpc::ClientWriteReactor< $Request$>* reactor);\n");
      break;
    case MethodKind::kBidiStreaming:
      printer->Print(vars,
                     "void $Method$(::grpc::ClientContext* context, "
                     "::grpc::ClientBidiReactor< $Request$, $Response$>* "
                     "reactor);\n");
      break;
    case MethodKind::kUnary:
      break;
  }
}

// Class Stub of `service`: every method, with gRPC's blocking shapes and
// its callback (async()) shapes.
// The flat forms of `method` (flat=true): messages built and read in
// place.
void PrintHeaderStubFlatMethod(const MethodDescriptor* method,
                               Printer* printer) {
  const Vars vars = MethodVars(method);
  const MethodKind kind = KindOf(method);
  printer->Print(
      "// Flat form: messages built in place and read in place "
      "(shmrpc/client/flat_call.h, flat_stream.h).\n");
  if (kind == MethodKind::kUnary || kind == MethodKind::kServerStreaming) {
    printer->Print(vars,
                   "::shmrpc::FlatRequest< $RequestBuilder$> "
                   "New$Method$Request(size_t size_hint = 0);\n");
  }
  switch (kind) {
    case MethodKind::kUnary:
      printer->Print(vars,
                     "::grpc::Status $Method$(::grpc::ClientContext* context, "
                     "::shmrpc::FlatRequest< $RequestBuilder$> request, "
                     "::shmrpc::FlatResponse< $ResponseView$>* response);\n");
      break;
    case MethodKind::kServerStreaming:
      printer->Print(vars,
                     "std::unique_ptr< ::shmrpc::FlatClientReader< "
                     "$ResponseView$>> $Method$(::grpc::ClientContext* "
                     "context, ::shmrpc::FlatRequest< $RequestBuilder$> "
                     "request);\n");
      break;
    case MethodKind::kClientStreaming:
      printer->Print(vars,
                     "std::unique_ptr< ::shmrpc::FlatClientWriter< "
                     "$RequestBuilder$>> $Method$(::grpc::ClientContext* "
                     "context, ::shmrpc::FlatResponse< $ResponseView$>* "
                     "response);\n");
      break;
    case MethodKind::kBidiStreaming:
      printer->Print(vars,
                     "std::unique_ptr< ::shmrpc::FlatClientReaderWriter< "
                     "$RequestBuilder$, $ResponseView$>> "
                     "$Method$(::grpc::ClientContext* context, "
                     "::shmrpc::FlatTag);\n");
      break;
  }
}

void PrintHeaderStub(const ServiceDescriptor* service, bool flat,
                     Printer* printer) {
  std::vector<const MethodDescriptor*> unary, shm;
  for (int i = 0; i < service->method_count(); ++i) {
    if (IsUnary(service->method(i))) unary.push_back(service->method(i));
    shm.push_back(service->method(i));
  }

  printer->Print("class Stub final {\n public:\n");
  printer->Indent();
  printer->Print(
      "explicit Stub(const std::shared_ptr< ::grpc::ChannelInterface>& "
      "channel, const ::grpc::StubOptions& options = "
      "::grpc::StubOptions());\n\n");
  for (const MethodDescriptor* method : shm) {
    if (IsUnary(method)) {
      PrintHeaderStubMethod(method, printer);
    } else {
      PrintHeaderStubStreamMethod(method, printer);
    }
    if (flat) PrintHeaderStubFlatMethod(method, printer);
  }
  if (!shm.empty()) printer->Print("\n");

  printer->Print("class async final {\n");
  if (!shm.empty()) {
    printer->Print(" public:\n");
    printer->Indent();
    for (const MethodDescriptor* method : shm) {
      if (IsUnary(method)) {
        PrintHeaderAsyncMethod(method, printer);
      } else {
        PrintHeaderAsyncStreamMethod(method, printer);
      }
    }
    printer->Outdent();
    printer->Print("\n");
  }
  printer->Print(" private:\n");
  printer->Indent();
  printer->Print(
      "friend class Stub;\n"
      "explicit async(Stub* stub) : stub_(stub) {}\n"
      "Stub* stub_;\n");
  printer->Outdent();
  printer->Print(
      "};\n"
      "class async* async() { return &async_stub_; }\n\n");
  printer->Outdent();

  printer->Print(" private:\n");
  printer->Indent();
  printer->Print("::shmrpc::internal::StubCore core_;\n");
  for (const MethodDescriptor* method : shm) {
    printer->Print(
        MethodVars(method),
        "const ::shmrpc::internal::StubMethod rpcmethod_$Method$_;\n");
    if (flat) {
      printer->Print(
          MethodVars(method),
          "const ::shmrpc::internal::StubMethod rpcmethod_$Method$_flat_;\n");
    }
  }
  printer->Print("class async async_stub_{this};\n");
  printer->Outdent();
  printer->Print("};\n");
}

// Class Service of `service`: every method, with a shmrpc::ServerContext.
void PrintHeaderServerService(const ServiceDescriptor* service,
                              Printer* printer) {
  printer->Print(
      "class Service : public ::grpc::Service, "
      "public ::shmrpc::internal::ShmService {\n"
      " public:\n");
  printer->Indent();
  printer->Print("Service();\nvirtual ~Service();\n");

  for (int i = 0; i < service->method_count(); ++i) {
    const MethodDescriptor* method = service->method(i);
    PrintLeadingComments(method, printer);
    printer->Print(MethodVars(method),
                   "virtual ::grpc::Status $Method$(::shmrpc::ServerContext* "
                   "context, $ServiceParams$);\n");
  }
  printer->Outdent();
  printer->Print("};\n");
}

// Class ShmS of service S.
// Class FlatService (flat=true): as Service, but every method reads its
// requests through flat views and builds its responses in place.
void PrintHeaderFlatService(const ServiceDescriptor* service,
                            Printer* printer) {
  printer->Print(
      "// As Service, with methods on flat messages: requests read in "
      "place, responses\n"
      "// built in place (shmrpc/server/flat_service.h, flat_stream.h). Over "
      "gRPC the\n"
      "// messages are converted to and from protobuf.\n"
      "class FlatService : public ::grpc::Service, "
      "public ::shmrpc::internal::ShmService {\n"
      " public:\n");
  printer->Indent();
  printer->Print("FlatService();\nvirtual ~FlatService();\n");
  for (int i = 0; i < service->method_count(); ++i) {
    const MethodDescriptor* method = service->method(i);
    PrintLeadingComments(method, printer);
    printer->Print(MethodVars(method),
                   "virtual ::grpc::Status $Method$(::shmrpc::ServerContext* "
                   "context, $FlatParams$);\n");
  }
  printer->Outdent();
  printer->Print("};\n");
}

void PrintHeaderService(const ServiceDescriptor* service, bool flat,
                        Printer* printer) {
  const Vars vars = ServiceVars(service);
  PrintLeadingComments(service, printer);
  printer->Print(vars, "class $Service$ final {\n public:\n");
  printer->Indent();
  printer->Print(vars,
                 "static constexpr char const* service_full_name() {\n"
                 "  return \"$service_full_name$\";\n"
                 "}\n\n");
  PrintHeaderStub(service, flat, printer);
  printer->Print(
      "\n"
      "static std::unique_ptr<Stub> NewStub(const std::shared_ptr< "
      "::grpc::ChannelInterface>& channel, const ::grpc::StubOptions& "
      "options = ::grpc::StubOptions());\n\n");
  PrintHeaderServerService(service, printer);
  if (flat) PrintHeaderFlatService(service, printer);
  printer->Outdent();
  printer->Print("};\n");
}

// ---- Source ---------------------------------------------------------------

// The method-name array and the codec registrations of `service`.
void PrintSourceTables(const ServiceDescriptor* service, Printer* printer) {
  const Vars vars = ServiceVars(service);
  if (service->method_count() > 0) {
    printer->Print(vars, "static const char* $Service$_method_names[] = {\n");
    for (int i = 0; i < service->method_count(); ++i) {
      printer->Print(MethodVars(service->method(i)),
                     "  \"/$service_full_name$/$Method$\",\n");
    }
    printer->Print("};\n\n");
  }
  if (service->method_count() > 0) {
    printer->Print(vars,
                   "// How ShmChannelCredentials (de)serializes these methods' "
                   "messages.\n"
                   "static const ::shmrpc::internal::MethodCodecRegistration "
                   "$Service$_codecs[] = {\n");
    for (int i = 0; i < service->method_count(); ++i) {
      printer->Print(MethodVars(service->method(i)),
                     "  {$Service$_method_names[$Idx$], "
                     "::shmrpc::internal::CodecFor< $Request$, "
                     "$Response$>()},\n");
    }
    printer->Print("};\n\n");
  }
}

// NewStub and the Stub's constructor.
void PrintSourceStubConstruction(const ServiceDescriptor* service, bool flat,
                                 Printer* printer) {
  const Vars vars = ServiceVars(service);
  printer->Print(
      vars,
      "std::unique_ptr<$Service$::Stub> $Service$::NewStub(const "
      "std::shared_ptr< ::grpc::ChannelInterface>& channel, const "
      "::grpc::StubOptions& options) {\n"
      "  return std::make_unique<$Service$::Stub>(channel, options);\n"
      "}\n\n");
  printer->Print(
      vars,
      "$Service$::Stub::Stub(const std::shared_ptr< "
      "::grpc::ChannelInterface>& channel, const ::grpc::StubOptions& "
      "options)\n"
      "    : core_(channel)");
  for (int i = 0; i < service->method_count(); ++i) {
    printer->Print(MethodVars(service->method(i)),
                   ",\n"
                   "      rpcmethod_$Method$_($Service$_method_names[$Idx$], "
                   "::grpc::internal::RpcMethod::$RpcType$, channel)");
    if (flat) {
      printer->Print(MethodVars(service->method(i)),
                     ",\n"
                     "      rpcmethod_$Method$_flat_(\"$FlatName$\", "
                     "::grpc::internal::RpcMethod::$RpcType$, channel)");
    }
  }
  printer->Print(
      " {\n"
      "  (void)options;\n"
      "}\n\n");
}

// The Stub's blocking and callback definitions of unary `method`.
void PrintSourceStubMethod(const MethodDescriptor* method, Printer* printer) {
  const Vars vars = MethodVars(method);
  printer->Print(
      vars,
      "::grpc::Status $Service$::Stub::$Method$(::grpc::ClientContext* "
      "context, const $Request$& request, $Response$* response) {\n"
      "  ::grpc::Status status;\n"
      "  if (core_.TryUnary(rpcmethod_$Method$_, context, request, response, "
      "&status)) {\n"
      "    return status;\n"
      "  }\n"
      "  return ::grpc::internal::BlockingUnaryCall< $Request$, $Response$, "
      "::grpc::protobuf::MessageLite, ::grpc::protobuf::MessageLite>("
      "core_.channel().get(), rpcmethod_$Method$_.rpc_method(), context, "
      "request, response);\n"
      "}\n\n");
  printer->Print(
      vars,
      "void $Service$::Stub::async::$Method$(::grpc::ClientContext* context, "
      "const $Request$* request, $Response$* response, "
      "std::function<void(::grpc::Status)> on_done) {\n"
      "  if (stub_->core_.TryUnaryAsync(stub_->rpcmethod_$Method$_, context, "
      "request, response, &on_done)) {\n"
      "    return;\n"
      "  }\n"
      "  ::grpc::internal::CallbackUnaryCall< $Request$, $Response$, "
      "::grpc::protobuf::MessageLite, ::grpc::protobuf::MessageLite>("
      "stub_->core_.channel().get(), stub_->rpcmethod_$Method$_.rpc_method(), "
      "context, request, response, std::move(on_done));\n"
      "}\n\n");
}

// The Stub's callback definition of streaming `method`.
void PrintSourceAsyncStreamMethod(const MethodDescriptor* method,
                                  Printer* printer) {
  const Vars vars = MethodVars(method);
  switch (KindOf(method)) {
    case MethodKind::kServerStreaming:
      printer->Print(
          vars,
          "void $Service$::Stub::async::$Method$(::grpc::ClientContext* "
          "context, const $Request$* request, "
          "::grpc::ClientReadReactor< $Response$>* reactor) {\n"
          "  stub_->core_.ServerStreamingCallback< $Response$>("
          "stub_->rpcmethod_$Method$_, context, request, reactor);\n"
          "}\n\n");
      break;
    case MethodKind::kClientStreaming:
      printer->Print(
          vars,
          "void $Service$::Stub::async::$Method$(::grpc::ClientContext* "
          "context, $Response$* response, "
          "::grpc::ClientWriteReactor< $Request$>* reactor) {\n"
          "  stub_->core_.ClientStreamingCallback< $Request$>("
          "stub_->rpcmethod_$Method$_, context, response, reactor);\n"
          "}\n\n");
      break;
    case MethodKind::kBidiStreaming:
      printer->Print(
          vars,
          "void $Service$::Stub::async::$Method$(::grpc::ClientContext* "
          "context, ::grpc::ClientBidiReactor< $Request$, $Response$>* "
          "reactor) {\n"
          "  stub_->core_.BidiStreamingCallback< $Request$, $Response$>("
          "stub_->rpcmethod_$Method$_, context, reactor);\n"
          "}\n\n");
      break;
    case MethodKind::kUnary:
      break;
  }
}

// The Stub's blocking definition of streaming `method`.
void PrintSourceStubStreamMethod(const MethodDescriptor* method,
                                 Printer* printer) {
  const Vars vars = MethodVars(method);
  switch (KindOf(method)) {
    case MethodKind::kServerStreaming:
      printer->Print(
          vars,
          "std::unique_ptr< ::grpc::ClientReaderInterface< $Response$>> "
          "$Service$::Stub::$Method$(::grpc::ClientContext* context, const "
          "$Request$& request) {\n"
          "  return core_.ServerStreaming< $Response$>(rpcmethod_$Method$_, "
          "context, request);\n"
          "}\n\n");
      break;
    case MethodKind::kClientStreaming:
      printer->Print(
          vars,
          "std::unique_ptr< ::grpc::ClientWriterInterface< $Request$>> "
          "$Service$::Stub::$Method$(::grpc::ClientContext* context, "
          "$Response$* response) {\n"
          "  return core_.ClientStreaming< $Request$>(rpcmethod_$Method$_, "
          "context, response);\n"
          "}\n\n");
      break;
    case MethodKind::kBidiStreaming:
      printer->Print(
          vars,
          "std::unique_ptr< ::grpc::ClientReaderWriterInterface< $Request$, "
          "$Response$>> $Service$::Stub::$Method$(::grpc::ClientContext* "
          "context) {\n"
          "  return core_.BidiStreaming< $Request$, $Response$>("
          "rpcmethod_$Method$_, context);\n"
          "}\n\n");
      break;
    case MethodKind::kUnary:
      break;
  }
}

// Prints the parameter list of a handler lambda, one parameter a line.
void PrintLambdaParams(const std::vector<Param>& params, Printer* printer) {
  printer->Print("          [](");
  for (size_t i = 0; i < params.size(); ++i) {
    printer->Print({{"type", params[i].type}, {"name", params[i].name}},
                   i == 0 ? "$type$ $name$" : ",\n             $type$ $name$");
  }
  printer->Print(") {\n");
}

// Registers `method` of class `cls` ("Service" or "FlatService") with gRPC
// and shmrpc; in a FlatService, as a flat method.
void PrintSourceMethodRegistration(const MethodDescriptor* method,
                                   const std::string& cls, Printer* printer) {
  Vars vars = MethodVars(method);
  vars["Cls"] = cls;
  vars["GrpcHandler"] = absl::StrReplaceAll(
      vars["GrpcHandler"], {{"::Service,", absl::StrCat("::", cls, ",")}});
  const MethodShape shape = ShapeOf(method);
  const Param service_param = {vars.at("Service") + "::" + cls + "*",
                               "service"};
  // A FlatService serves gRPC, and over shared memory clients that send
  // protobuf, with the flat method on converted messages; flat clients over
  // shared memory in place, under the "#flat" name.
  const bool flat = cls == "FlatService";
  // The handler's body, given the shmrpc::ServerContext* expression `ctx`.
  auto print_body = [&](const char* ctx) {
    Vars body_vars = vars;
    body_vars["ctx"] = ctx;
    printer->Print(body_vars,
                   flat ? "            return ::shmrpc::internal::"
                          "$RunFlatOnProtobuf$(\n"
                          "                +[]($Service$::$Cls$* s, "
                          "::shmrpc::ServerContext* c, $FlatParams$) {\n"
                          "                  return s->$Method$(c, "
                          "$FlatArgs$);\n"
                          "                }, service, $ctx$, "
                          "$ProtobufArgs$);\n"
                        : "            return service->$Method$($ctx$, "
                          "$ServiceArgs$);\n");
  };

  printer->Print(vars,
                 "  AddMethod(new ::grpc::internal::RpcServiceMethod(\n"
                 "      $Service$_method_names[$Idx$],\n"
                 "      ::grpc::internal::RpcMethod::$RpcType$,\n"
                 "      new $GrpcHandler$(\n");
  std::vector<Param> grpc_params = {service_param,
                                    {"::grpc::ServerContext*", "grpc_context"}};
  grpc_params.insert(grpc_params.end(), shape.grpc_params.begin(),
                     shape.grpc_params.end());
  PrintLambdaParams(grpc_params, printer);
  printer->Print(
      "            ::shmrpc::ServerContext context(grpc_context);\n");
  print_body("&context");
  printer->Print("          }, this)));\n");

  Vars shm_vars = vars;
  shm_vars["Handler"] = ShmHandlerOf(method);
  printer->Print(shm_vars,
                 "  AddShmMethod(\n"
                 "      $Service$_method_names[$Idx$],\n"
                 "      std::make_unique< "
                 "::shmrpc::internal::$Handler$< $Service$::$Cls$, "
                 "$Request$, $Response$>>(\n");
  std::vector<Param> shm_params = {service_param,
                                   {"::shmrpc::ServerContext*", "context"}};
  shm_params.insert(shm_params.end(), shape.service_params.begin(),
                    shape.service_params.end());
  PrintLambdaParams(shm_params, printer);
  print_body("context");
  printer->Print("          }, this));\n");
  if (!flat) return;

  printer->Print(vars,
                 "  AddShmMethod(\n"
                 "      \"$FlatName$\",\n"
                 "      std::make_unique< ::shmrpc::internal::$FlatHandler$< "
                 "$Service$::$Cls$, $RequestView$, $ResponseBuilder$>>(\n");
  std::vector<Param> flat_params = {service_param,
                                    {"::shmrpc::ServerContext*", "context"}};
  const FlatShape flat_shape = FlatShapeOf(method);
  flat_params.insert(flat_params.end(), flat_shape.service_params.begin(),
                     flat_shape.service_params.end());
  PrintLambdaParams(flat_params, printer);
  printer->Print(vars,
                 "            return service->$Method$(context, "
                 "$FlatArgs$);\n"
                 "          }, this));\n");
}

// The Service's constructor, destructor and default method
// implementations.
void PrintSourceServerService(const ServiceDescriptor* service,
                              const std::string& cls, Printer* printer) {
  Vars vars = ServiceVars(service);
  vars["Cls"] = cls;
  printer->Print(vars, "$Service$::$Cls$::$Cls$() {\n");
  for (int i = 0; i < service->method_count(); ++i) {
    PrintSourceMethodRegistration(service->method(i), cls, printer);
  }
  printer->Print("}\n\n");
  printer->Print(vars, "$Service$::$Cls$::~$Cls$() {\n}\n");

  for (int i = 0; i < service->method_count(); ++i) {
    const MethodDescriptor* method = service->method(i);
    Vars mvars = MethodVars(method);
    mvars["Cls"] = cls;
    const bool flat = cls == "FlatService";
    printer->Print(mvars, flat ? "\n"
                                 "::grpc::Status $Service$::$Cls$::$Method$("
                                 "::shmrpc::ServerContext* context, "
                                 "$FlatParams$) {\n"
                                 "  (void) context;\n"
                               : "\n"
                                 "::grpc::Status $Service$::$Cls$::$Method$("
                                 "::shmrpc::ServerContext* context, "
                                 "$ServiceParams$) {\n"
                                 "  (void) context;\n");
    for (const Param& param : flat ? FlatShapeOf(method).service_params
                                   : ShapeOf(method).service_params) {
      printer->Print({{"name", param.name}}, "  (void) $name$;\n");
    }
    printer->Print(
        "  return ::grpc::Status(::grpc::StatusCode::UNIMPLEMENTED, \"\");\n"
        "}\n");
  }
}

// Every definition for service S.
// The flat forms of stub method `method` (flat=true): over shared memory in
// place when the server serves the flat form, else the protobuf form (over
// shared memory or gRPC) with the messages converted.
void PrintSourceStubFlatMethod(const MethodDescriptor* method,
                               Printer* printer) {
  const Vars vars = MethodVars(method);
  const MethodKind kind = KindOf(method);
  if (kind == MethodKind::kUnary || kind == MethodKind::kServerStreaming) {
    printer->Print(
        vars,
        "\n"
        "::shmrpc::FlatRequest< $RequestBuilder$> "
        "$Service$::Stub::New$Method$Request(size_t size_hint) {\n"
        "  return ::shmrpc::FlatRequest< $RequestBuilder$>(\n"
        "      core_.NewFlatArena(rpcmethod_$Method$_flat_, size_hint));\n"
        "}\n");
  }
  switch (kind) {
    case MethodKind::kUnary:
      printer->Print(
          vars,
          "\n"
          "::grpc::Status $Service$::Stub::$Method$(::grpc::ClientContext* "
          "context, ::shmrpc::FlatRequest< $RequestBuilder$> request, "
          "::shmrpc::FlatResponse< $ResponseView$>* response) {\n"
          "  if (absl::Status sealed = request.Seal(); !sealed.ok()) {\n"
          "    return ::shmrpc::internal::FlatStatus(sealed);\n"
          "  }\n"
          "  ::grpc::Status status;\n"
          "  if (core_.TryFlatUnary(rpcmethod_$Method$_flat_, context, "
          "request.arena(), response->holder(), &status)) {\n"
          "    return status.ok() ? "
          "::shmrpc::internal::FlatStatus(response->Bind()) : status;\n"
          "  }\n"
          "  $Request$ proto_request;\n"
          "  if (absl::Status s = request.view().ToProto(&proto_request); "
          "!s.ok()) {\n"
          "    return ::shmrpc::internal::FlatStatus(s);\n"
          "  }\n"
          "  $Response$ proto_response;\n"
          "  status = $Method$(context, proto_request, &proto_response);\n"
          "  if (!status.ok()) return status;\n"
          "  ::shmrpc::flat::HeapArena arena(proto_response.ByteSizeLong() + "
          "256);\n"
          "  $ResponseBuilder$ built = $ResponseBuilder$::New(&arena);\n"
          "  built.CopyFrom(proto_response);\n"
          "  if (absl::Status s = arena.Finish(built); !s.ok()) {\n"
          "    return ::shmrpc::internal::FlatStatus(s);\n"
          "  }\n"
          "  response->holder()->AdoptCopy(arena.written());\n"
          "  return ::shmrpc::internal::FlatStatus(response->Bind());\n"
          "}\n");
      break;
    case MethodKind::kServerStreaming:
      printer->Print(
          vars,
          "\n"
          "std::unique_ptr< ::shmrpc::FlatClientReader< $ResponseView$>> "
          "$Service$::Stub::$Method$(::grpc::ClientContext* context, "
          "::shmrpc::FlatRequest< $RequestBuilder$> request) {\n"
          "  using Reader = ::shmrpc::FlatClientReader< $ResponseView$>;\n"
          "  if (absl::Status sealed = request.Seal(); !sealed.ok()) {\n"
          "    return std::make_unique<Reader>(\n"
          "        ::shmrpc::internal::FailedFlatClientStream(\n"
          "            ::shmrpc::internal::FlatStatus(sealed)));\n"
          "  }\n"
          "  // The request goes out as the call starts.\n"
          "  if (auto port = core_.TryFlatStream(rpcmethod_$Method$_flat_, "
          "::shmrpc::internal::StreamKind::kServer, context, request.arena(), "
          "nullptr)) {\n"
          "    return std::make_unique<Reader>(std::move(port));\n"
          "  }\n"
          "  auto proto_request = std::make_shared<$Request$>();\n"
          "  if (absl::Status s = request.view().ToProto(proto_request.get()); "
          "!s.ok()) {\n"
          "    return std::make_unique<Reader>(\n"
          "        ::shmrpc::internal::FailedFlatClientStream(\n"
          "            ::shmrpc::internal::FlatStatus(s)));\n"
          "  }\n"
          "  auto stream = $Method$(context, *proto_request);\n"
          "  return std::make_unique<Reader>(std::make_unique< "
          "::shmrpc::internal::ProtobufFlatClientStream< "
          "::grpc::ClientReaderInterface< $Response$>, $Request$, $Response$, "
          "$RequestView$, $ResponseBuilder$>>(\n"
          "      context, proto_request, std::move(stream), nullptr, "
          "nullptr));\n"
          "}\n");
      break;
    case MethodKind::kClientStreaming:
      printer->Print(
          vars,
          "\n"
          "std::unique_ptr< ::shmrpc::FlatClientWriter< $RequestBuilder$>> "
          "$Service$::Stub::$Method$(::grpc::ClientContext* context, "
          "::shmrpc::FlatResponse< $ResponseView$>* response) {\n"
          "  using Writer = ::shmrpc::FlatClientWriter< $RequestBuilder$>;\n"
          "  ::shmrpc::rpc::HeldMessage* holder = response->holder();\n"
          "  auto bind = [response] {\n"
          "    return ::shmrpc::internal::FlatStatus(response->Bind());\n"
          "  };\n"
          "  if (auto port = core_.TryFlatStream(rpcmethod_$Method$_flat_, "
          "::shmrpc::internal::StreamKind::kClient, context, nullptr, "
          "holder)) {\n"
          "    return std::make_unique<Writer>(std::move(port), bind);\n"
          "  }\n"
          "  auto proto_response = std::make_shared<$Response$>();\n"
          "  auto stream = $Method$(context, proto_response.get());\n"
          "  return std::make_unique<Writer>(std::make_unique< "
          "::shmrpc::internal::ProtobufFlatClientStream< "
          "::grpc::ClientWriterInterface< $Request$>, $Request$, $Response$, "
          "$RequestView$, $ResponseBuilder$>>(\n"
          "      context, proto_response, std::move(stream), "
          "proto_response.get(), holder), bind);\n"
          "}\n");
      break;
    case MethodKind::kBidiStreaming:
      printer->Print(
          vars,
          "\n"
          "std::unique_ptr< ::shmrpc::FlatClientReaderWriter< "
          "$RequestBuilder$, $ResponseView$>> "
          "$Service$::Stub::$Method$(::grpc::ClientContext* context, "
          "::shmrpc::FlatTag) {\n"
          "  using Stream = ::shmrpc::FlatClientReaderWriter< "
          "$RequestBuilder$, $ResponseView$>;\n"
          "  if (auto port = core_.TryFlatStream(rpcmethod_$Method$_flat_, "
          "::shmrpc::internal::StreamKind::kBidi, context, nullptr, "
          "nullptr)) {\n"
          "    return std::make_unique<Stream>(std::move(port));\n"
          "  }\n"
          "  auto stream = $Method$(context);\n"
          "  return std::make_unique<Stream>(std::make_unique< "
          "::shmrpc::internal::ProtobufFlatClientStream< "
          "::grpc::ClientReaderWriterInterface< $Request$, $Response$>, "
          "$Request$, $Response$, $RequestView$, $ResponseBuilder$>>(\n"
          "      context, nullptr, std::move(stream), nullptr, nullptr));\n"
          "}\n");
      break;
  }
}

void PrintSourceService(const ServiceDescriptor* service, bool flat,
                        Printer* printer) {
  PrintSourceTables(service, printer);
  PrintSourceStubConstruction(service, flat, printer);
  for (int i = 0; i < service->method_count(); ++i) {
    const MethodDescriptor* method = service->method(i);
    if (IsUnary(method)) {
      PrintSourceStubMethod(method, printer);
    } else {
      PrintSourceStubStreamMethod(method, printer);
      PrintSourceAsyncStreamMethod(method, printer);
    }
    if (flat) PrintSourceStubFlatMethod(method, printer);
  }
  PrintSourceServerService(service, "Service", printer);
  if (flat) {
    printer->Print("\n");
    PrintSourceServerService(service, "FlatService", printer);
  }
}

}  // namespace

std::vector<std::string> ValidParameterNames() {
  return {kFlat, kGrpcHeaderExtension, kMessageHeaderExtension};
}

bool ParseParameters(absl::string_view parameter, Parameters* parameters,
                     std::string* error) {
  const std::string valid =
      absl::StrCat("valid options (key=value, separated by commas): ",
                   absl::StrJoin(ValidParameterNames(), ", "));
  Parameters parsed;
  std::vector<std::string> seen;
  for (absl::string_view item : absl::StrSplit(parameter, ',')) {
    if (item.empty()) continue;
    const size_t equals = item.find('=');
    if (equals == absl::string_view::npos) {
      *error = absl::StrCat("protoc-gen-shmrpc: option \"", item,
                            "\" has no value; ", valid);
      return false;
    }
    const absl::string_view key = item.substr(0, equals);
    const absl::string_view value = item.substr(equals + 1);
    std::string* field = nullptr;
    std::string flat_value;
    if (key == kFlat) {
      field = &flat_value;
    } else if (key == kMessageHeaderExtension) {
      field = &parsed.message_header_extension;
    } else if (key == kGrpcHeaderExtension) {
      field = &parsed.grpc_header_extension;
    } else {
      *error = absl::StrCat("protoc-gen-shmrpc: unknown option \"", key, "\"; ",
                            valid);
      return false;
    }
    if (value.empty()) {
      *error = absl::StrCat("protoc-gen-shmrpc: option \"", key,
                            "\" has an empty value; ", valid);
      return false;
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      *error = absl::StrCat("protoc-gen-shmrpc: option \"", key,
                            "\" is given more than once");
      return false;
    }
    seen.emplace_back(key);
    *field = std::string(value);
    if (key == kFlat) {
      if (value != "true" && value != "false") {
        *error = absl::StrCat(
            "protoc-gen-shmrpc: option \"flat\" must be "
            "true or false, not \"",
            value, "\"");
        return false;
      }
      parsed.flat = value == "true";
    }
  }
  *parameters = std::move(parsed);
  return true;
}

std::string HeaderFileName(const FileDescriptor* file) {
  return StripProto(file->name()) + ".shmrpc.h";
}

std::string SourceFileName(const FileDescriptor* file) {
  return StripProto(file->name()) + ".shmrpc.cc";
}

std::string HeaderGuard(absl::string_view proto_file_name) {
  std::string guard = "SHMRPC_";
  for (const char c : proto_file_name) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '_') {
      guard.push_back(c);
    } else {
      char hex[3];
      std::snprintf(hex, sizeof(hex), "%02x", static_cast<unsigned char>(c));
      absl::StrAppend(&guard, "_", hex);
    }
  }
  return guard + "__INCLUDED";
}

std::string GetHeaderPrologue(const FileDescriptor* file,
                              const Parameters& parameters) {
  return PrintToString([&](Printer* printer) {
    const Vars vars = {{"source", file->name()},
                       {"guard", HeaderGuard(file->name())}};
    printer->Print(vars,
                   "// Generated by protoc-gen-shmrpc. DO NOT EDIT!\n"
                   "// source: $source$\n"
                   "//\n");
    if (file->service_count() > 0) {
      printer->Print(
          "// For each service S of the file, class ShmS holds:\n"
          "//   ShmS::Stub     a client stub with gRPC's unary method shapes "
          "that calls\n"
          "//                  over shared memory when the channel (made "
          "with\n"
          "//                  shmrpc::ShmChannelCredentials) reaches a server "
          "on this\n"
          "//                  host, and over the channel's gRPC otherwise;\n"
          "//   ShmS::Service  a service base with gRPC's method shapes (the "
          "context is a\n"
          "//                  shmrpc::ServerContext) to register with "
          "grpc::ServerBuilder\n"
          "//                  and shmrpc::ServerBuilder alike.\n");
    } else {
      printer->Print(
          "// The file has no services, so there is nothing shmrpc-specific "
          "here: this\n"
          "// header only includes the protobuf and gRPC headers of the "
          "file.\n");
    }
    printer->Print(vars, "#ifndef $guard$\n#define $guard$\n\n");
  });
}

std::string GetHeaderIncludes(const FileDescriptor* file,
                              const Parameters& parameters) {
  return PrintToString([&](Printer* printer) {
    // Before anything else: a pre-C++17 build stops at one #error there.
    printer->Print("#include \"shmrpc/config.h\"\n\n");
    const std::string base = StripProto(file->name());
    std::vector<std::string> project = {
        Quoted("shmrpc/codegen/version.h"),
        Quoted(base + parameters.grpc_header_extension),
        Quoted(base + parameters.message_header_extension),
    };
    if (file->service_count() > 0) {
      PrintIncludeGroup({"<functional>", "<memory>"}, printer);
      std::vector<std::string> grpc = {
          "<grpcpp/client_context.h>",
          "<grpcpp/impl/codegen/channel_interface.h>",
          "<grpcpp/impl/service_type.h>",
          "<grpcpp/support/status.h>",
          "<grpcpp/support/stub_options.h>",
      };
      if (HasStreamingMethods(file)) {
        grpc.push_back("<grpcpp/support/sync_stream.h>");
      }
      PrintIncludeGroup(std::move(grpc), printer);
      project.push_back(Quoted("shmrpc/client/generated_stub.h"));
      project.push_back(Quoted("shmrpc/server/server_context.h"));
      project.push_back(Quoted("shmrpc/server/service.h"));
      if (parameters.flat) {
        project.push_back(Quoted("shmrpc/client/flat_call.h"));
        project.push_back(Quoted("shmrpc/client/flat_stream.h"));
        project.push_back(Quoted("shmrpc/server/flat_service.h"));
        project.push_back(Quoted("shmrpc/server/flat_stream.h"));
        // The flat views and builders of every request and response.
        for (int i = 0; i < file->service_count(); ++i) {
          const ServiceDescriptor* service = file->service(i);
          for (int j = 0; j < service->method_count(); ++j) {
            const MethodDescriptor* method = service->method(j);
            for (const Descriptor* m :
                 {method->input_type(), method->output_type()}) {
              project.push_back(
                  Quoted(StripProto(m->file()->name()) + ".flat.h"));
            }
          }
        }
      }
    }
    PrintIncludeGroup(std::move(project), printer);
  });
}

std::string GetHeaderVersionGuard(const FileDescriptor* file,
                                  const Parameters& parameters) {
  return PrintToString([&](Printer* printer) {
    const Vars vars = {
        {"version", absl::StrCat(SHMRPC_CODEGEN_VERSION)},
        {"header", absl::CEscape(HeaderFileName(file))},
    };
    printer->Print(vars,
                   "#if SHMRPC_CODEGEN_VERSION != $version$\n"
                   "#error \"$header$ was generated for shmrpc codegen "
                   "version $version$ but the shmrpc runtime is another "
                   "version: regenerate it.\"\n"
                   "#endif\n\n");
  });
}

std::string GetHeaderServices(const FileDescriptor* file,
                              const Parameters& parameters) {
  std::string services = PrintServicesInNamespaces(
      file, [&](const ServiceDescriptor* service, Printer* printer) {
        PrintHeaderService(service, parameters.flat, printer);
      });
  if (!services.empty()) services.append("\n");
  return services;
}

std::string GetHeaderEpilogue(const FileDescriptor* file,
                              const Parameters& parameters) {
  return PrintToString([&](Printer* printer) {
    printer->Print({{"guard", HeaderGuard(file->name())}},
                   "#endif  // $guard$\n");
  });
}

std::string GetSourcePrologue(const FileDescriptor* file,
                              const Parameters& parameters) {
  return PrintToString([&](Printer* printer) {
    printer->Print(
        {{"source", file->name()}, {"header", Quoted(HeaderFileName(file))}},
        "// Generated by protoc-gen-shmrpc. DO NOT EDIT!\n"
        "// source: $source$\n"
        "\n"
        "#include $header$\n");
  });
}

std::string GetSourceIncludes(const FileDescriptor* file,
                              const Parameters& parameters) {
  if (file->service_count() == 0) return "";
  return PrintToString([&](Printer* printer) {
    printer->Print("\n");
    std::vector<std::string> grpc = {
        "<grpcpp/impl/codegen/client_unary_call.h>",
        "<grpcpp/impl/rpc_service_method.h>",
        "<grpcpp/support/client_callback.h>",
        "<grpcpp/support/method_handler.h>",
    };
    if (HasStreamingMethods(file)) {
      grpc.push_back("<grpcpp/support/sync_stream.h>");
    }
    PrintIncludeGroup(std::move(grpc), printer);
  });
}

std::string GetSourceServices(const FileDescriptor* file,
                              const Parameters& parameters) {
  return PrintServicesInNamespaces(
      file, [&](const ServiceDescriptor* service, Printer* printer) {
        PrintSourceService(service, parameters.flat, printer);
      });
}

std::string GenerateHeader(const FileDescriptor* file,
                           const Parameters& parameters) {
  return absl::StrCat(
      GetHeaderPrologue(file, parameters), GetHeaderIncludes(file, parameters),
      GetHeaderVersionGuard(file, parameters),
      GetHeaderServices(file, parameters), GetHeaderEpilogue(file, parameters));
}

std::string GenerateSource(const FileDescriptor* file,
                           const Parameters& parameters) {
  return absl::StrCat(GetSourcePrologue(file, parameters),
                      GetSourceIncludes(file, parameters),
                      GetSourceServices(file, parameters));
}

}  // namespace shmrpc::codegen
