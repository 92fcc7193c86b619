#include "shmrpc/codegen/flat_generator.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/printer.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "shmrpc/codegen/cpp_generator.h"
#include "shmrpc/codegen/generator_util.h"
#include "shmrpc/message/flat_layout.h"

namespace shmrpc::codegen {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileOptions;
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

// Every message of `file`, outer ones before their nested ones (map entries
// included), in declaration order.
void CollectMessages(const Descriptor* m, std::vector<const Descriptor*>* out) {
  out->push_back(m);
  for (int i = 0; i < m->nested_type_count(); ++i) {
    CollectMessages(m->nested_type(i), out);
  }
}

std::vector<const Descriptor*> AllMessages(const FileDescriptor* file) {
  std::vector<const Descriptor*> out;
  for (int i = 0; i < file->message_type_count(); ++i) {
    CollectMessages(file->message_type(i), &out);
  }
  return out;
}

std::string PackagePrefix(const FileDescriptor* file) {
  return file->package().empty()
             ? "::"
             : absl::StrCat("::", DotsToColons(file->package()), "::");
}

std::string FlatBase(const Descriptor* m) { return internal::FlatName(m); }

// The unqualified names, for declarations inside namespace <pkg>::flat.
std::string LocalName(const Descriptor* m) {
  const std::string prefix = PackagePrefix(m->file());
  return QualifiedClassName(m).substr(prefix.size());
}

std::string ViewName(const Descriptor* m) { return FlatBase(m) + "View"; }
std::string BuilderName(const Descriptor* m) { return FlatBase(m) + "Builder"; }

// The C++ name protoc gives an enum: "::pkg::Outer_Color".
std::string EnumName(const EnumDescriptor* e) {
  const std::string prefix = PackagePrefix(e->file());
  std::string name = e->name();
  for (const Descriptor* outer = e->containing_type(); outer != nullptr;
       outer = outer->containing_type()) {
    name = outer->name() + "_" + name;
  }
  return prefix + name;
}

// protobuf's UnderscoresToCamelCase with the first letter capitalized:
// "test_oneof" -> "TestOneof" (the name of its oneof case enum, + "Case").
std::string ToCamel(const std::string& name) {
  std::string out;
  bool cap_next = true;
  for (char c : name) {
    if (c >= 'a' && c <= 'z') {
      out.push_back(cap_next ? static_cast<char>(c - 'a' + 'A') : c);
      cap_next = false;
    } else if (c >= 'A' && c <= 'Z') {
      out.push_back(c);
      cap_next = false;
    } else if (c >= '0' && c <= '9') {
      out.push_back(c);
      cap_next = true;
    } else {
      cap_next = true;
    }
  }
  return out;
}

bool IsClosed(const EnumDescriptor* e) {
  return e->file()->syntax() == FileDescriptor::SYNTAX_PROTO2;
}

const std::set<std::string>& Keywords() {
  static const auto* keywords = new std::set<std::string>{
      "alignas",   "alignof",  "and",       "and_eq",  "asm",       "auto",
      "bitand",    "bitor",    "bool",      "break",   "case",      "catch",
      "char",      "class",    "compl",     "const",   "constexpr", "continue",
      "decltype",  "default",  "delete",    "do",      "double",    "else",
      "enum",      "explicit", "export",    "extern",  "false",     "float",
      "for",       "friend",   "goto",      "if",      "inline",    "int",
      "long",      "mutable",  "namespace", "new",     "noexcept",  "not",
      "not_eq",    "nullptr",  "operator",  "or",      "or_eq",     "private",
      "protected", "public",   "register",  "return",  "short",     "signed",
      "sizeof",    "static",   "struct",    "switch",  "template",  "this",
      "throw",     "true",     "try",       "typedef", "typeid",    "typename",
      "union",     "unsigned", "using",     "virtual", "void",      "volatile",
      "wchar_t",   "while",    "xor",       "xor_eq"};
  return *keywords;
}

// The accessor name protobuf gives `field` (lowercase, a keyword gets "_").
std::string FieldName(const FieldDescriptor* field) {
  std::string name = field->lowercase_name();
  if (Keywords().count(name) > 0) name += "_";
  return name;
}

bool IsMessage(const FieldDescriptor* f) {
  return f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
}
bool IsBytes(const FieldDescriptor* f) {
  return f->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
}

// How a scalar field (or an element of a repeated one) is held and read.
struct Scalar {
  std::string type;      // the C++ type of the value
  std::string kind;      // FieldKind of a singular field
  std::string rep_kind;  // FieldKind of a repeated one
  std::string element;   // flat::element:: reader of a repeated element
  std::string read;      // expression reading slot N from `ref_` as `type`
  std::string write;     // statement writing `value` to slot N, presence P
  std::string stored;    // C++ type of a repeated element in memory
};

Scalar ScalarOf(const FieldDescriptor* f) {
  switch (f->type()) {
    case FieldDescriptor::TYPE_DOUBLE:
      return {"double", "kDouble",          "kRepDouble",
              "Double", "ref_.Double($n$)", "b_.SetDouble($n$, value, $p$)",
              "double"};
    case FieldDescriptor::TYPE_FLOAT:
      return {"float", "kFloat",          "kRepFloat",
              "Float", "ref_.Float($n$)", "b_.SetFloat($n$, value, $p$)",
              "float"};
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_SINT64:
      return {"int64_t", "kVarint",          "kRepInt64",
              "Int64",   "ref_.Varint($n$)", "b_.SetVarint($n$, value, $p$)",
              "int64_t"};
    case FieldDescriptor::TYPE_UINT64:
      return {"uint64_t",
              "kVarint",
              "kRepUInt64",
              "UInt64",
              "static_cast<uint64_t>(ref_.Varint($n$))",
              "b_.SetVarint($n$, static_cast<int64_t>(value), $p$)",
              "uint64_t"};
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_SINT32:
      return {"int32_t",
              "kVarint",
              "kRepInt32",
              "Int32",
              "static_cast<int32_t>(ref_.Varint($n$))",
              "b_.SetVarint($n$, value, $p$)",
              "int32_t"};
    case FieldDescriptor::TYPE_UINT32:
      return {"uint32_t",
              "kVarint",
              "kRepUInt32",
              "UInt32",
              "static_cast<uint32_t>(ref_.Varint($n$))",
              "b_.SetVarint($n$, static_cast<int64_t>(value), $p$)",
              "uint32_t"};
    case FieldDescriptor::TYPE_FIXED64:
      return {"uint64_t", "kFixed64",          "kRepFixed64",
              "Fixed64",  "ref_.Fixed64($n$)", "b_.SetFixed64($n$, value, $p$)",
              "uint64_t"};
    case FieldDescriptor::TYPE_SFIXED64:
      return {"int64_t",
              "kFixed64",
              "kRepFixed64",
              "SFixed64",
              "static_cast<int64_t>(ref_.Fixed64($n$))",
              "b_.SetFixed64($n$, static_cast<uint64_t>(value), $p$)",
              "int64_t"};
    case FieldDescriptor::TYPE_FIXED32:
      return {"uint32_t", "kFixed32",          "kRepFixed32",
              "Fixed32",  "ref_.Fixed32($n$)", "b_.SetFixed32($n$, value, $p$)",
              "uint32_t"};
    case FieldDescriptor::TYPE_SFIXED32:
      return {"int32_t",
              "kFixed32",
              "kRepFixed32",
              "SFixed32",
              "static_cast<int32_t>(ref_.Fixed32($n$))",
              "b_.SetFixed32($n$, static_cast<uint32_t>(value), $p$)",
              "int32_t"};
    case FieldDescriptor::TYPE_BOOL:
      return {"bool",
              "kVarint",
              "kRepBool",
              "Bool",
              "(ref_.Varint($n$) != 0)",
              "b_.SetVarint($n$, value ? 1 : 0, $p$)",
              "bool"};
    case FieldDescriptor::TYPE_ENUM: {
      const std::string e = EnumName(f->enum_type());
      return {e,
              "kVarint",
              "kRepInt32",
              absl::StrCat("Enum<", e, ">"),
              absl::StrCat("static_cast<", e,
                           ">(static_cast<int32_t>(ref_.Varint($n$)))"),
              "b_.SetVarint($n$, static_cast<int32_t>(value), $p$)",
              "int32_t"};
    }
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
      return {"absl::string_view",
              "kBytes",
              "kRepBytes",
              "",
              "ref_.Bytes($n$)",
              "b_.SetBytes($n$, value, $p$)",
              ""};
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      return {"", "kMessage", "kRepMessage", "", "", "", ""};
  }
  return {};
}

std::string KindOf(const FieldDescriptor* f) {
  const Scalar s = ScalarOf(f);
  return f->is_repeated() ? s.rep_kind : s.kind;
}

std::string DoubleLiteral(double v, bool is_float) {
  if (std::isnan(v)) {
    return is_float ? "std::numeric_limits<float>::quiet_NaN()"
                    : "std::numeric_limits<double>::quiet_NaN()";
  }
  if (std::isinf(v)) {
    return absl::StrCat(v < 0 ? "-" : "", "std::numeric_limits<",
                        is_float ? "float" : "double", ">::infinity()");
  }
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), is_float ? "%.9g" : "%.17g", v);
  std::string s = buffer;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return is_float ? s + "f" : s;
}

// The value a reader sees for `f` when it is not set: protobuf's default
// (proto2's [default = ...] included), as a C++ expression.
std::string DefaultValue(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat("static_cast<int32_t>(", f->default_value_int32(),
                          "LL)");
    case FieldDescriptor::CPPTYPE_INT64: {
      const int64_t v = f->default_value_int64();
      if (v == std::numeric_limits<int64_t>::min()) {
        return "std::numeric_limits<int64_t>::min()";
      }
      return absl::StrCat("static_cast<int64_t>(", v, "LL)");
    }
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat("static_cast<uint32_t>(", f->default_value_uint32(),
                          "U)");
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat("static_cast<uint64_t>(", f->default_value_uint64(),
                          "ULL)");
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return DoubleLiteral(f->default_value_double(), false);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return DoubleLiteral(f->default_value_float(), true);
    case FieldDescriptor::CPPTYPE_BOOL:
      return f->default_value_bool() ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return absl::StrCat("static_cast<", EnumName(f->enum_type()), ">(",
                          f->default_value_enum()->number(), ")");
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string& v = f->default_value_string();
      return absl::StrCat("absl::string_view(\"", absl::CEscape(v), "\", ",
                          v.size(), ")");
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return "";
  }
  return "";
}

Vars FieldVars(const FieldDescriptor* f) {
  Vars v;
  v["name"] = FieldName(f);
  v["n"] = absl::StrCat(f->number());
  v["p"] = f->has_presence() ? "true" : "false";
  if (IsMessage(f)) {
    v["view"] = ViewName(f->message_type());
    v["builder"] = BuilderName(f->message_type());
  } else {
    const Scalar s = ScalarOf(f);
    v["type"] = s.type;
    v["kind"] = s.kind;
    v["rep_kind"] = s.rep_kind;
    v["element"] = s.element;
    v["stored"] = s.stored;
    v["default"] = DefaultValue(f);
  }
  return v;
}

// The other members of the real oneof `f` is in ({} if none).
std::vector<const FieldDescriptor*> OtherMembers(const FieldDescriptor* f) {
  std::vector<const FieldDescriptor*> out;
  const auto* oneof = f->real_containing_oneof();
  if (oneof == nullptr) return out;
  for (int i = 0; i < oneof->field_count(); ++i) {
    if (oneof->field(i) != f) out.push_back(oneof->field(i));
  }
  return out;
}

// "b_.Clear(3);\n" for each other member of f's oneof.
std::string ClearOthers(const FieldDescriptor* f) {
  std::string out;
  for (const FieldDescriptor* other : OtherMembers(f)) {
    absl::StrAppend(&out, "  b_.Clear(", other->number(), ");\n");
  }
  return out;
}

uint32_t MaxFieldNumber(const Descriptor* m) {
  uint32_t max = 0;
  for (int i = 0; i < m->field_count(); ++i) {
    max = std::max<uint32_t>(max, m->field(i)->number());
  }
  return max;
}

// ---- Header: class bodies --------------------------------------------------

void PrintViewFieldDecls(const FieldDescriptor* f, Printer* p) {
  Vars v = FieldVars(f);
  if (f->is_map()) {
    v["entry"] = ViewName(f->message_type());
    p->Print(v,
             "// map field $name$ = $n$: its entries (key(), value()); a key "
             "written twice\n"
             "// counts as in protobuf's parser: the last one wins.\n"
             "int $name$_size() const;\n"
             "$entry$ $name$(int i) const;\n"
             "::shmrpc::flat::RepeatedMessageView<$entry$> $name$() const;\n");
    return;
  }
  if (f->is_repeated()) {
    if (IsMessage(f)) {
      p->Print(v,
               "int $name$_size() const;\n"
               "$view$ $name$(int i) const;\n"
               "::shmrpc::flat::RepeatedMessageView<$view$> $name$() const;\n");
    } else if (IsBytes(f)) {
      p->Print(v,
               "int $name$_size() const;\n"
               "absl::string_view $name$(int i) const;\n"
               "::shmrpc::flat::RepeatedBytesView $name$() const;\n");
    } else {
      p->Print(v,
               "int $name$_size() const;\n"
               "$type$ $name$(int i) const;\n"
               "::shmrpc::flat::RepeatedScalarView<$type$, "
               "&::shmrpc::flat::element::$element$, "
               "::shmrpc::flat::$rep_kind$>\n"
               "$name$() const;\n");
    }
    return;
  }
  if (f->has_presence()) p->Print(v, "bool has_$name$() const;\n");
  if (IsMessage(f)) {
    p->Print(v, "$view$ $name$() const;\n");
  } else {
    p->Print(v, "$type$ $name$() const;\n");
    if (f->enum_type() != nullptr && IsClosed(f->enum_type())) {
      p->Print(v,
               "// The value as written, also one this build's enum does "
               "not know.\n"
               "int32_t $name$_value() const;\n");
    }
  }
}

void PrintBuilderFieldDecls(const FieldDescriptor* f, Printer* p) {
  Vars v = FieldVars(f);
  if (f->is_repeated()) {
    p->Print(v, "int $name$_size() const;\nvoid clear_$name$();\n");
    if (IsMessage(f)) {
      p->Print(v,
               "$builder$ add_$name$();\n"
               "$builder$ mutable_$name$(int i);\n");
    } else if (IsBytes(f)) {
      p->Print(v,
               "void add_$name$(absl::string_view value);\n"
               "// Appends an element of `size` bytes and returns them to be "
               "written.\n"
               "absl::Span<uint8_t> add_$name$_bytes(size_t size);\n");
    } else {
      p->Print(v,
               "void add_$name$($type$ value);\n"
               "// Makes the field `count` elements (the first ones kept, "
               "the rest 0)\n"
               "// and returns them to be written in place.\n"
               "absl::Span<$stored$> mutable_$name$(size_t count);\n");
    }
    return;
  }
  if (f->has_presence()) p->Print(v, "bool has_$name$() const;\n");
  p->Print(v, "void clear_$name$();\n");
  if (IsMessage(f)) {
    p->Print(v, "$builder$ mutable_$name$();\n");
  } else if (IsBytes(f)) {
    p->Print(v,
             "void set_$name$(absl::string_view value);\n"
             "// Makes the field `size` bytes and returns them to be "
             "written in place.\n"
             "absl::Span<uint8_t> mutable_$name$(size_t size);\n");
  } else {
    p->Print(v, "void set_$name$($type$ value);\n");
  }
}

void PrintOneofCaseDecl(const Descriptor* m, Printer* p) {
  for (int i = 0; i < m->real_oneof_decl_count(); ++i) {
    const auto* oneof = m->oneof_decl(i);
    p->Print({{"name", oneof->name()},
              {"case", absl::StrCat(QualifiedClassName(m),
                                    "::", ToCamel(oneof->name()), "Case")}},
             "$case$ $name$_case() const;\n");
  }
}

void PrintViewClass(const Descriptor* m, Printer* p) {
  const Vars v = {{"name", LocalName(m)},
                  {"full", m->full_name()},
                  {"proto", QualifiedClassName(m)}};
  const bool entry = m->options().map_entry();
  p->Print(v,
           "// Reads a $full$ in place (shmrpc/message/flat.h). A value; the "
           "default one\n"
           "// is the empty message.\n"
           "class $name$View {\n"
           " public:\n");
  p->Indent();
  p->Print(v,
           "static constexpr uint64_t kTypeId =\n"
           "    ::shmrpc::flat::TypeId(\"$full$\");\n"
           "using Builder = $name$Builder;\n\n"
           "$name$View() = default;\n"
           "explicit $name$View(::shmrpc::flat::internal::MessageRef ref) "
           ": ref_(ref) {}\n"
           "// Whether nothing was read (no such message, or it failed its "
           "checks).\n"
           "bool IsEmpty() const { return ref_.empty(); }\n");
  if (!entry) {
    p->Print(v,
             "// The message as protobuf's class (every field copied).\n"
             "absl::Status ToProto($proto$* out) const;\n");
  }
  for (int i = 0; i < m->field_count(); ++i) {
    p->Print("\n");
    PrintViewFieldDecls(m->field(i), p);
  }
  if (m->real_oneof_decl_count() > 0) p->Print("\n");
  PrintOneofCaseDecl(m, p);
  p->Outdent();
  p->Print(
      "\n private:\n"
      "  ::shmrpc::flat::internal::MessageRef ref_;\n"
      "};\n\n");
}

void PrintBuilderClass(const Descriptor* m, Printer* p) {
  const Vars v = {{"name", LocalName(m)},
                  {"full", m->full_name()},
                  {"proto", QualifiedClassName(m)}};
  const bool entry = m->options().map_entry();
  p->Print(v,
           "// Writes a $full$ in place on a flat::Arena. A value; copies "
           "write the same\n"
           "// message. Spans it returns are valid until the next setter on "
           "the arena.\n"
           "class $name$Builder {\n"
           " public:\n");
  p->Indent();
  p->Print(v,
           "using View = $name$View;\n"
           "static const ::shmrpc::flat::MessageSchema& Schema();\n"
           "// A new, empty message on `arena` (detached if the arena has "
           "failed).\n"
           "static $name$Builder New(::shmrpc::flat::Arena* arena) {\n"
           "  return $name$Builder(::shmrpc::flat::MessageBuilder::New(arena, "
           "Schema()));\n"
           "}\n\n"
           "$name$Builder() = default;\n"
           "explicit $name$Builder(::shmrpc::flat::MessageBuilder b) : b_(b) "
           "{}\n"
           "// For flat::Arena::Finish(builder).\n"
           "operator const ::shmrpc::flat::MessageBuilder&() const { return "
           "b_; }\n"
           "// False for a builder whose arena failed.\n"
           "bool IsAttached() const { return !b_.detached(); }\n"
           "// What has been written so far, read back.\n"
           "$name$View AsView() const { return $name$View(b_.Read()); }\n");
  if (!entry) {
    p->Print(v,
             "// Writes every field of `in` (into a new message: fields "
             "already set here\n"
             "// and absent from `in` stay).\n"
             "void CopyFrom(const $proto$& in);\n");
  }
  for (int i = 0; i < m->field_count(); ++i) {
    p->Print("\n");
    PrintBuilderFieldDecls(m->field(i), p);
  }
  for (int i = 0; i < m->real_oneof_decl_count(); ++i) {
    p->Print({{"oneof", m->oneof_decl(i)->name()}},
             "\nvoid clear_$oneof$();\n");
  }
  p->Outdent();
  p->Print(
      "\n private:\n"
      "  ::shmrpc::flat::MessageBuilder b_;\n"
      "};\n\n");
}

// ---- Header: inline definitions -------------------------------------------

void PrintViewFieldDefs(const Descriptor* m, const FieldDescriptor* f,
                        Printer* p) {
  Vars v = FieldVars(f);
  v["cls"] = LocalName(m) + "View";
  if (f->is_repeated()) {
    if (IsMessage(f)) {
      p->Print(v,
               "inline int $cls$::$name$_size() const {\n"
               "  return ref_.Repeated($n$).size();\n}\n"
               "inline $view$ $cls$::$name$(int i) const {\n"
               "  return $view$(ref_.Repeated($n$).MessageAt(i));\n}\n"
               "inline ::shmrpc::flat::RepeatedMessageView<$view$> "
               "$cls$::$name$() const {\n"
               "  return ::shmrpc::flat::RepeatedMessageView<$view$>(\n"
               "      ref_.Repeated($n$));\n}\n");
    } else if (IsBytes(f)) {
      p->Print(v,
               "inline int $cls$::$name$_size() const {\n"
               "  return ref_.Repeated($n$).size();\n}\n"
               "inline absl::string_view $cls$::$name$(int i) const {\n"
               "  return ref_.Repeated($n$).BytesAt(i);\n}\n"
               "inline ::shmrpc::flat::RepeatedBytesView $cls$::$name$() "
               "const {\n"
               "  return ::shmrpc::flat::RepeatedBytesView(ref_.Repeated($n$))"
               ";\n}\n");
    } else {
      p->Print(v,
               "inline int $cls$::$name$_size() const {\n"
               "  return ref_.Repeated($n$).size();\n}\n"
               "inline $type$ $cls$::$name$(int i) const {\n"
               "  return ::shmrpc::flat::element::$element$(ref_.Repeated($n$)"
               ", i);\n}\n"
               "inline ::shmrpc::flat::RepeatedScalarView<$type$, "
               "&::shmrpc::flat::element::$element$, "
               "::shmrpc::flat::$rep_kind$>\n"
               "$cls$::$name$() const {\n"
               "  return ::shmrpc::flat::RepeatedScalarView<\n"
               "      $type$, &::shmrpc::flat::element::$element$,\n"
               "      ::shmrpc::flat::$rep_kind$>(ref_.Repeated($n$));\n}\n");
    }
    return;
  }
  if (f->has_presence()) {
    p->Print(v,
             "inline bool $cls$::has_$name$() const { return ref_.Has($n$); "
             "}\n");
  }
  if (IsMessage(f)) {
    p->Print(v,
             "inline $view$ $cls$::$name$() const {\n"
             "  return $view$(ref_.Message($n$));\n}\n");
    return;
  }
  const Scalar s = ScalarOf(f);
  std::string read = absl::StrReplaceAll(s.read, {{"$n$", v["n"]}});
  v["read"] = read;
  const bool closed = f->enum_type() != nullptr && IsClosed(f->enum_type());
  if (closed) {
    p->Print(v,
             "inline int32_t $cls$::$name$_value() const {\n"
             "  return ref_.Has($n$) ? static_cast<int32_t>(ref_.Varint($n$))\n"
             "                       : static_cast<int32_t>($default$);\n}\n"
             "inline $type$ $cls$::$name$() const {\n"
             "  const int32_t value = $name$_value();\n"
             "  return $type$_IsValid(value) ? static_cast<$type$>(value) : "
             "$default$;\n}\n");
  } else if (f->has_presence()) {
    p->Print(v,
             "inline $type$ $cls$::$name$() const {\n"
             "  return ref_.Has($n$) ? $read$ : $default$;\n}\n");
  } else {
    p->Print(v,
             "inline $type$ $cls$::$name$() const {\n"
             "  return $read$;\n}\n");
  }
}

void PrintBuilderFieldDefs(const Descriptor* m, const FieldDescriptor* f,
                           Printer* p) {
  Vars v = FieldVars(f);
  v["cls"] = LocalName(m) + "Builder";
  v["clear_others"] = ClearOthers(f);
  if (f->is_repeated()) {
    p->Print(v,
             "inline int $cls$::$name$_size() const { return "
             "b_.RepeatedSize($n$); }\n"
             "inline void $cls$::clear_$name$() { b_.Clear($n$); }\n");
    if (IsMessage(f)) {
      p->Print(v,
               "inline $builder$ $cls$::add_$name$() {\n"
               "  return $builder$(b_.AddMessage($n$, $builder$::Schema()));"
               "\n}\n"
               "inline $builder$ $cls$::mutable_$name$(int i) {\n"
               "  return $builder$(b_.MessageAt($n$, i, $builder$::Schema()));"
               "\n}\n");
    } else if (IsBytes(f)) {
      p->Print(v,
               "inline void $cls$::add_$name$(absl::string_view value) {\n"
               "  b_.AddBytes($n$, value);\n}\n"
               "inline absl::Span<uint8_t> $cls$::add_$name$_bytes(size_t "
               "size) {\n"
               "  return b_.AddBytes($n$, static_cast<uint64_t>(size));\n}\n");
    } else {
      const bool is_bool = f->type() == FieldDescriptor::TYPE_BOOL;
      const bool is_enum = f->type() == FieldDescriptor::TYPE_ENUM;
      v["convert"] = is_bool   ? "static_cast<bool>(value)"
                     : is_enum ? "static_cast<int32_t>(value)"
                               : "value";
      p->Print(v,
               "inline void $cls$::add_$name$($type$ value) {\n"
               "  const $stored$ element = $convert$;\n"
               "  b_.AddScalar($n$, &element);\n}\n"
               "inline absl::Span<$stored$> $cls$::mutable_$name$(size_t "
               "count) {\n"
               "  const absl::Span<uint8_t> bytes = b_.ResizeRepeated($n$, "
               "count);\n"
               "  return absl::Span<$stored$>(reinterpret_cast<$stored$*>"
               "(bytes.data()),\n"
               "                          bytes.size() / sizeof($stored$));\n"
               "}\n");
    }
    return;
  }
  if (f->has_presence()) {
    p->Print(v,
             "inline bool $cls$::has_$name$() const { return b_.Has($n$); }\n");
  }
  p->Print(v, "inline void $cls$::clear_$name$() { b_.Clear($n$); }\n");
  if (IsMessage(f)) {
    p->Print(v,
             "inline $builder$ $cls$::mutable_$name$() {\n"
             "$clear_others$"
             "  return $builder$(b_.MutableMessage($n$, $builder$::Schema()));"
             "\n}\n");
  } else if (IsBytes(f)) {
    p->Print(v,
             "inline void $cls$::set_$name$(absl::string_view value) {\n"
             "$clear_others$"
             "  b_.SetBytes($n$, value, $p$);\n}\n"
             "inline absl::Span<uint8_t> $cls$::mutable_$name$(size_t size) "
             "{\n"
             "$clear_others$"
             "  return b_.ResizeBytes($n$, static_cast<uint64_t>(size), $p$);"
             "\n}\n");
  } else {
    const Scalar s = ScalarOf(f);
    v["write"] =
        absl::StrReplaceAll(s.write, {{"$n$", v["n"]}, {"$p$", v["p"]}});
    p->Print(v,
             "inline void $cls$::set_$name$($type$ value) {\n"
             "$clear_others$"
             "  $write$;\n}\n");
  }
}

void PrintOneofDefs(const Descriptor* m, Printer* p) {
  for (int i = 0; i < m->real_oneof_decl_count(); ++i) {
    const auto* oneof = m->oneof_decl(i);
    const std::string case_type = absl::StrCat(
        QualifiedClassName(m), "::", ToCamel(oneof->name()), "Case");
    Vars v = {{"view", LocalName(m) + "View"},
              {"builder", LocalName(m) + "Builder"},
              {"oneof", oneof->name()},
              {"case", case_type}};
    p->Print(v, "inline $case$ $view$::$oneof$_case() const {\n");
    for (int j = 0; j < oneof->field_count(); ++j) {
      p->Print(
          {{"n", absl::StrCat(oneof->field(j)->number())}, {"case", case_type}},
          "  if (ref_.Has($n$)) return static_cast<$case$>($n$);\n");
    }
    p->Print(v, "  return static_cast<$case$>(0);\n}\n");
    p->Print(v, "inline void $builder$::clear_$oneof$() {\n");
    for (int j = 0; j < oneof->field_count(); ++j) {
      p->Print({{"n", absl::StrCat(oneof->field(j)->number())}},
               "  b_.Clear($n$);\n");
    }
    p->Print("}\n");
  }
}

// ---- Source ---------------------------------------------------------------

void PrintToProtoField(const FieldDescriptor* f, Printer* p) {
  Vars v = FieldVars(f);
  if (f->is_map()) {
    const FieldDescriptor* key = f->message_type()->map_key();
    const FieldDescriptor* value = f->message_type()->map_value();
    v["key"] = IsBytes(key) ? "std::string(shmrpc_e.key())" : "shmrpc_e.key()";
    p->Print(v, "for (const auto& shmrpc_e : $name$()) {\n");
    if (IsBytes(key)) {
      p->Print(
          "  if (!ref_.Charge(shmrpc_e.key().size())) {\n"
          "    return ::shmrpc::flat::TraversalExhausted();\n"
          "  }\n");
    }
    if (IsMessage(value)) {
      p->Print(v,
               "  absl::Status shmrpc_s = "
               "shmrpc_e.value().ToProto(&(*shmrpc_out->mutable_$name$())"
               "[$key$]);\n"
               "  if (!shmrpc_s.ok()) return shmrpc_s;\n");
    } else if (IsBytes(value)) {
      p->Print(v,
               "  if (!ref_.Charge(shmrpc_e.value().size())) {\n"
               "    return ::shmrpc::flat::TraversalExhausted();\n"
               "  }\n"
               "  (*shmrpc_out->mutable_$name$())[$key$] = "
               "std::string(shmrpc_e.value());\n");
    } else {
      p->Print(
          v, "  (*shmrpc_out->mutable_$name$())[$key$] = shmrpc_e.value();\n");
    }
    p->Print("}\n");
    return;
  }
  if (f->is_repeated()) {
    if (IsMessage(f)) {
      p->Print(v,
               "for (const auto& shmrpc_e : $name$()) {\n"
               "  absl::Status shmrpc_s = "
               "shmrpc_e.ToProto(shmrpc_out->add_$name$());\n"
               "  if (!shmrpc_s.ok()) return shmrpc_s;\n"
               "}\n");
    } else if (IsBytes(f)) {
      p->Print(v,
               "for (absl::string_view shmrpc_e : $name$()) {\n"
               "  if (!ref_.Charge(shmrpc_e.size())) {\n"
               "    return ::shmrpc::flat::TraversalExhausted();\n"
               "  }\n"
               "  shmrpc_out->add_$name$(std::string(shmrpc_e));\n"
               "}\n");
    } else if (f->enum_type() != nullptr && IsClosed(f->enum_type())) {
      v["enum"] = EnumName(f->enum_type());
      p->Print(v,
               "if (!ref_.Charge(uint64_t{8} * $name$_size())) {\n"
               "  return ::shmrpc::flat::TraversalExhausted();\n"
               "}\n"
               "for (auto shmrpc_e : $name$()) {\n"
               "  if ($enum$_IsValid(static_cast<int32_t>(shmrpc_e))) "
               "shmrpc_out->add_$name$(shmrpc_e);\n"
               "}\n");
    } else {
      p->Print(
          v,
          "if (!ref_.Charge(uint64_t{8} * $name$_size())) {\n"
          "  return ::shmrpc::flat::TraversalExhausted();\n"
          "}\n"
          "for (auto shmrpc_e : $name$()) shmrpc_out->add_$name$(shmrpc_e);\n");
    }
    return;
  }
  const std::string guard = f->has_presence() ? "if (has_$name$()) " : "";
  if (IsMessage(f)) {
    p->Print(v,
             "if (has_$name$()) {\n"
             "  absl::Status shmrpc_s = "
             "$name$().ToProto(shmrpc_out->mutable_$name$());\n"
             "  if (!shmrpc_s.ok()) return shmrpc_s;\n"
             "}\n");
  } else if (IsBytes(f)) {
    p->Print(v, (guard + "{\n"
                         "  const absl::string_view shmrpc_v = $name$();\n"
                         "  if (!ref_.Charge(shmrpc_v.size())) {\n"
                         "    return ::shmrpc::flat::TraversalExhausted();\n"
                         "  }\n"
                         "  shmrpc_out->set_$name$(std::string(shmrpc_v));\n"
                         "}\n")
                    .c_str());
  } else if (f->enum_type() != nullptr && IsClosed(f->enum_type())) {
    v["enum"] = EnumName(f->enum_type());
    p->Print(
        v,
        "if (has_$name$()) {\n"
        "  if ($enum$_IsValid($name$_value())) {\n"
        "    shmrpc_out->set_$name$(static_cast<$enum$>($name$_value()));\n"
        "  }\n"
        "}\n");
  } else {
    p->Print(v, (guard + "shmrpc_out->set_$name$($name$());\n").c_str());
  }
}

void PrintCopyFromField(const FieldDescriptor* f, Printer* p) {
  Vars v = FieldVars(f);
  if (f->is_map()) {
    const FieldDescriptor* value = f->message_type()->map_value();
    p->Print(v,
             "for (const auto& shmrpc_kv : shmrpc_in.$name$()) {\n"
             "  auto shmrpc_entry = add_$name$();\n"
             "  shmrpc_entry.set_key(shmrpc_kv.first);\n");
    if (IsMessage(value)) {
      p->Print("  shmrpc_entry.mutable_value().CopyFrom(shmrpc_kv.second);\n");
    } else {
      p->Print("  shmrpc_entry.set_value(shmrpc_kv.second);\n");
    }
    p->Print("}\n");
    return;
  }
  if (f->is_repeated()) {
    if (IsMessage(f)) {
      p->Print(v,
               "for (const auto& shmrpc_e : shmrpc_in.$name$()) "
               "add_$name$().CopyFrom(shmrpc_e);\n");
    } else if (IsBytes(f)) {
      p->Print(v,
               "for (const auto& shmrpc_e : shmrpc_in.$name$()) "
               "add_$name$(shmrpc_e);\n");
    } else {
      p->Print(
          v,
          "if (shmrpc_in.$name$_size() > 0) {\n"
          "  const absl::Span<$stored$> out = "
          "mutable_$name$(static_cast<size_t>(shmrpc_in.$name$_size()));\n"
          "  for (size_t i = 0; i < out.size(); ++i) {\n"
          "    out[i] = static_cast<$stored$>(shmrpc_in.$name$(static_cast<int>"
          "(i)));\n"
          "  }\n"
          "}\n");
    }
    return;
  }
  if (IsMessage(f)) {
    p->Print(v,
             "if (shmrpc_in.has_$name$()) "
             "mutable_$name$().CopyFrom(shmrpc_in.$name$());\n");
  } else if (f->has_presence()) {
    p->Print(v,
             "if (shmrpc_in.has_$name$()) set_$name$(shmrpc_in.$name$());\n");
  } else if (IsBytes(f)) {
    p->Print(
        v,
        "if (!shmrpc_in.$name$().empty()) set_$name$(shmrpc_in.$name$());\n");
  } else {
    p->Print(v, "set_$name$(shmrpc_in.$name$());\n");
  }
}

void PrintSourceMessage(const Descriptor* m, Printer* p) {
  const uint32_t count = MaxFieldNumber(m);
  std::vector<std::string> kinds(count, "::shmrpc::flat::kNone");
  for (int i = 0; i < m->field_count(); ++i) {
    kinds[m->field(i)->number() - 1] = "::shmrpc::flat::" + KindOf(m->field(i));
  }
  Vars v = {{"name", LocalName(m)},
            {"full", m->full_name()},
            {"proto", QualifiedClassName(m)},
            {"count", absl::StrCat(count)}};
  if (count == 0) {
    // An empty message still has a header: one field number, no field.
    kinds.push_back("::shmrpc::flat::kNone");
    v["count"] = "1";
  }
  p->Print(v,
           "const ::shmrpc::flat::MessageSchema& $name$Builder::Schema() {\n"
           "  static constexpr uint8_t kKinds[] = {\n");
  for (const std::string& kind : kinds) {
    p->Print({{"kind", kind}}, "      $kind$,\n");
  }
  p->Print(v,
           "  };\n"
           "  static const ::shmrpc::flat::MessageSchema schema = {\n"
           "      \"$full$\", $name$View::kTypeId, $count$, kKinds};\n"
           "  return schema;\n"
           "}\n\n");
  if (m->options().map_entry()) return;
  p->Print(v,
           "absl::Status $name$View::ToProto($proto$* shmrpc_out) const {\n");
  p->Indent();
  p->Print("shmrpc_out->Clear();\n");
  for (int i = 0; i < m->field_count(); ++i) PrintToProtoField(m->field(i), p);
  p->Print("return absl::OkStatus();\n");
  p->Outdent();
  p->Print("}\n\n");
  p->Print(v, "void $name$Builder::CopyFrom(const $proto$& shmrpc_in) {\n");
  p->Indent();
  for (int i = 0; i < m->field_count(); ++i) {
    PrintCopyFromField(m->field(i), p);
  }
  p->Outdent();
  p->Print("}\n\n");
}

}  // namespace

std::string FlatHeaderFileName(const FileDescriptor* file) {
  return StripProto(file->name()) + ".flat.h";
}

std::string FlatSourceFileName(const FileDescriptor* file) {
  return StripProto(file->name()) + ".flat.cc";
}

bool CheckFlatSupport(const FileDescriptor* file, std::string* error) {
  for (const Descriptor* m : AllMessages(file)) {
    for (int i = 0; i < m->field_count(); ++i) {
      const FieldDescriptor* f = m->field(i);
      if (static_cast<uint32_t>(f->number()) > flat::kMaxFieldNumber) {
        *error = absl::StrCat(
            "protoc-gen-shmrpc: flat messages have field "
            "numbers up to ",
            flat::kMaxFieldNumber, "; ", f->full_name(), " is ", f->number());
        return false;
      }
    }
  }
  return true;
}

std::string GenerateFlatHeader(const FileDescriptor* file,
                               const std::string& message_header_extension) {
  const std::vector<const Descriptor*> messages = AllMessages(file);
  return PrintToString([&](Printer* p) {
    const std::string guard = HeaderGuard(FlatHeaderFileName(file));
    p->Print({{"source", file->name()}, {"guard", guard}},
             "// Generated by protoc-gen-shmrpc (flat=true). DO NOT EDIT!\n"
             "// source: $source$\n"
             "//\n"
             "// Flat views and builders of the file's messages "
             "(shmrpc/message/flat.h).\n"
             "#ifndef $guard$\n#define $guard$\n\n");
    PrintIncludeGroup({"<cstddef>", "<cstdint>", "<limits>", "<string>"}, p);
    std::vector<std::string> project = {
        Quoted("absl/status/status.h"),
        Quoted("absl/strings/string_view.h"),
        Quoted("absl/types/span.h"),
        Quoted("shmrpc/message/flat.h"),
        Quoted("shmrpc/message/flat_view.h"),
        Quoted(StripProto(file->name()) + message_header_extension),
    };
    for (const Descriptor* m : messages) {
      for (int i = 0; i < m->field_count(); ++i) {
        const Descriptor* t = m->field(i)->message_type();
        if (t != nullptr && t->file() != file) {
          project.push_back(Quoted(StripProto(t->file()->name()) + ".flat.h"));
        }
      }
    }
    PrintIncludeGroup(std::move(project), p);
    PrintNamespaceOpen(file, p);
    p->Print("namespace flat {\n\n");
    for (const Descriptor* m : messages) {
      p->Print({{"name", LocalName(m)}},
               "class $name$View;\nclass $name$Builder;\n");
    }
    p->Print("\n");
    for (const Descriptor* m : messages) {
      PrintViewClass(m, p);
      PrintBuilderClass(m, p);
    }
    for (const Descriptor* m : messages) {
      for (int i = 0; i < m->field_count(); ++i) {
        PrintViewFieldDefs(m, m->field(i), p);
      }
      for (int i = 0; i < m->field_count(); ++i) {
        PrintBuilderFieldDefs(m, m->field(i), p);
      }
      PrintOneofDefs(m, p);
      p->Print("\n");
    }
    p->Print("}  // namespace flat\n");
    PrintNamespaceClose(file, p);
    p->Print({{"guard", guard}}, "\n#endif  // $guard$\n");
  });
}

std::string GenerateFlatSource(const FileDescriptor* file) {
  return PrintToString([&](Printer* p) {
    p->Print({{"source", file->name()}, {"header", FlatHeaderFileName(file)}},
             "// Generated by protoc-gen-shmrpc (flat=true). DO NOT EDIT!\n"
             "// source: $source$\n\n"
             "#include \"$header$\"\n\n");
    PrintNamespaceOpen(file, p);
    p->Print("namespace flat {\n\n");
    for (const Descriptor* m : AllMessages(file)) PrintSourceMessage(m, p);
    p->Print("}  // namespace flat\n");
    PrintNamespaceClose(file, p);
  });
}

}  // namespace shmrpc::codegen
