// The generated flat views and builders (flat=true) against protobuf's own
// classes, on messages of every field kind (testdata/flat/*.proto):
// proto -> flat -> proto is the identity, every view accessor agrees with
// protobuf's, builders write what protobuf would hold, proto2 defaults and
// closed enums read as protobuf's do.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "flat/flat_all.flat.h"
#include "flat/flat_dep.flat.h"
#include "flat/flat_proto2.flat.h"
#include "shmrpc/message/flat.h"

namespace shmrpc::flattest {
namespace {

using ::google::protobuf::util::MessageDifferencer;

// Random values of each kind, with the edge values often.
class Random {
 public:
  explicit Random(uint32_t seed) : rng_(seed) {}

  bool Chance(int percent) { return Uniform(100) < percent; }
  uint64_t Uniform(uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_);
  }
  template <typename T>
  T Int() {
    switch (Uniform(5)) {
      case 0:
        return std::numeric_limits<T>::min();
      case 1:
        return std::numeric_limits<T>::max();
      case 2:
        return 0;
      default:
        return static_cast<T>(rng_());
    }
  }
  double Double() {
    switch (Uniform(6)) {
      case 0:
        return -0.0;
      case 1:
        return std::numeric_limits<double>::infinity();
      case 2:
        return std::numeric_limits<double>::denorm_min();
      default:
        return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    }
  }
  std::string Bytes() {
    std::string s(Uniform(Chance(10) ? 3000 : 20), '\0');
    for (char& c : s) c = static_cast<char>(rng_());
    return s;
  }
  std::string Text() {
    std::string s(Uniform(12), 'a');
    for (char& c : s) c = static_cast<char>('a' + Uniform(26));
    return s;
  }
  Color Enum() { return static_cast<Color>(Uniform(3)); }
  int Count() { return static_cast<int>(Uniform(Chance(20) ? 40 : 4)); }

 private:
  std::mt19937 rng_;
};

void FillPoint(Random& r, Point* p) {
  p->set_x(r.Int<int32_t>());
  p->set_y(r.Int<int32_t>());
  if (r.Chance(50)) p->set_label(r.Text());
}

void FillAll(Random& r, int depth, All* m) {
  if (r.Chance(70)) m->set_f_double(r.Double());
  if (r.Chance(70)) m->set_f_float(static_cast<float>(r.Double()));
  if (r.Chance(70)) m->set_f_int64(r.Int<int64_t>());
  if (r.Chance(70)) m->set_f_uint64(r.Int<uint64_t>());
  if (r.Chance(70)) m->set_f_int32(r.Int<int32_t>());
  if (r.Chance(70)) m->set_f_fixed64(r.Int<uint64_t>());
  if (r.Chance(70)) m->set_f_fixed32(r.Int<uint32_t>());
  if (r.Chance(70)) m->set_f_bool(r.Chance(50));
  if (r.Chance(70)) m->set_f_string(r.Text());
  if (r.Chance(70)) m->set_f_bytes(r.Bytes());
  if (r.Chance(70)) m->set_f_uint32(r.Int<uint32_t>());
  if (r.Chance(70)) m->set_f_sfixed32(r.Int<int32_t>());
  if (r.Chance(70)) m->set_f_sfixed64(r.Int<int64_t>());
  if (r.Chance(70)) m->set_f_sint32(r.Int<int32_t>());
  if (r.Chance(70)) m->set_f_sint64(r.Int<int64_t>());
  if (r.Chance(70)) m->set_f_enum(r.Enum());
  if (r.Chance(50)) FillPoint(r, m->mutable_f_message());
  // Explicit presence: set to the default value too.
  if (r.Chance(50)) m->set_o_int32(r.Chance(30) ? 0 : r.Int<int32_t>());
  if (r.Chance(50)) m->set_o_string(r.Chance(30) ? "" : r.Text());
  if (r.Chance(50)) m->set_o_enum(r.Enum());
  for (int i = r.Count(); i > 0; --i) m->add_r_double(r.Double());
  for (int i = r.Count(); i > 0; --i) {
    m->add_r_float(static_cast<float>(r.Double()));
  }
  for (int i = r.Count(); i > 0; --i) m->add_r_int64(r.Int<int64_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_uint64(r.Int<uint64_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_int32(r.Int<int32_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_fixed64(r.Int<uint64_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_fixed32(r.Int<uint32_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_bool(r.Chance(50));
  for (int i = r.Count(); i > 0; --i) m->add_r_string(r.Text());
  for (int i = r.Count(); i > 0; --i) m->add_r_bytes(r.Bytes());
  for (int i = r.Count(); i > 0; --i) m->add_r_uint32(r.Int<uint32_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_sfixed32(r.Int<int32_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_sfixed64(r.Int<int64_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_sint32(r.Int<int32_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_sint64(r.Int<int64_t>());
  for (int i = r.Count(); i > 0; --i) m->add_r_enum(r.Enum());
  for (int i = r.Count(); i > 0; --i) FillPoint(r, m->add_r_message());
  for (int i = r.Count(); i > 0; --i) {
    (*m->mutable_m_string_int32())[r.Text()] = r.Int<int32_t>();
  }
  for (int i = r.Count(); i > 0; --i) {
    (*m->mutable_m_int64_string())[r.Int<int64_t>()] = r.Bytes();
  }
  for (int i = r.Count(); i > 0; --i) {
    FillPoint(r, &(*m->mutable_m_uint32_point())[r.Int<uint32_t>()]);
  }
  for (int i = r.Count(); i > 0; --i) {
    (*m->mutable_m_bool_enum())[r.Chance(50)] = r.Enum();
  }
  switch (r.Uniform(4)) {
    case 0:
      m->set_c_int64(r.Int<int64_t>());
      break;
    case 1:
      m->set_c_string(r.Text());
      break;
    case 2:
      FillPoint(r, m->mutable_c_point());
      break;
    default:
      break;
  }
  if (depth < 3 && r.Chance(40)) {
    All::Inner* inner = m->mutable_inner();
    for (int i = r.Count(); i > 0; --i) inner->add_values(r.Int<int32_t>());
    if (r.Chance(50)) FillAll(r, depth + 1, inner->mutable_parent());
  }
  if (depth < 3) {
    for (int i = static_cast<int>(r.Uniform(3)); i > 0; --i) {
      All::Inner* inner = m->add_inners();
      for (int j = r.Count(); j > 0; --j) inner->add_values(r.Int<int32_t>());
    }
  }
  if (r.Chance(30)) {
    m->mutable_w_time()->set_seconds(r.Int<int64_t>());
    m->mutable_w_time()->set_nanos(r.Int<int32_t>());
  }
  if (r.Chance(30)) {
    // Struct: a map of Values, each a oneof of kinds, nesting.
    auto& fields = *m->mutable_w_struct()->mutable_fields();
    fields["n"].set_number_value(r.Double());
    fields["s"].set_string_value(r.Text());
    fields["b"].set_bool_value(r.Chance(50));
    fields["null"].set_null_value(google::protobuf::NULL_VALUE);
    auto* list = fields["l"].mutable_list_value();
    list->add_values()->set_string_value(r.Text());
    list->add_values()->mutable_struct_value();
  }
  if (r.Chance(30)) m->mutable_w_int32()->set_value(r.Int<int32_t>());
  for (int i = static_cast<int>(r.Uniform(3)); i > 0; --i) {
    m->add_w_strings()->set_value(r.Text());
  }
  if (r.Chance(50)) m->set_class_(r.Int<int32_t>());
}

// Builds `in` flat on a heap arena (starting small, so that it grows) and
// returns the finished buffer.
std::vector<uint8_t> ToFlat(const All& in) {
  ::shmrpc::flat::HeapArena arena(64);
  flat::AllBuilder b = flat::AllBuilder::New(&arena);
  b.CopyFrom(in);
  EXPECT_TRUE(arena.Finish(b).ok()) << arena.status();
  return std::vector<uint8_t>(arena.written().begin(), arena.written().end());
}

// A buffer aligned to 8, as a chunk is.
struct Aligned {
  explicit Aligned(const std::vector<uint8_t>& bytes)
      : words((bytes.size() + 7) / 8) {
    std::memcpy(words.data(), bytes.data(), bytes.size());
    span = absl::Span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(words.data()), bytes.size());
  }
  std::vector<uint64_t> words;
  absl::Span<const uint8_t> span;
};

template <typename T>
bool SameBits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Every accessor of `v` against protobuf's of `m` (and so the layout against
// protobuf's semantics, field by field).
void ExpectSame(const All& m, const flat::AllView& v) {
  EXPECT_TRUE(SameBits(m.f_double(), v.f_double()));
  EXPECT_TRUE(SameBits(m.f_float(), v.f_float()));
  EXPECT_EQ(m.f_int64(), v.f_int64());
  EXPECT_EQ(m.f_uint64(), v.f_uint64());
  EXPECT_EQ(m.f_int32(), v.f_int32());
  EXPECT_EQ(m.f_fixed64(), v.f_fixed64());
  EXPECT_EQ(m.f_fixed32(), v.f_fixed32());
  EXPECT_EQ(m.f_bool(), v.f_bool());
  EXPECT_EQ(m.f_string(), v.f_string());
  EXPECT_EQ(m.f_bytes(), v.f_bytes());
  EXPECT_EQ(m.f_uint32(), v.f_uint32());
  EXPECT_EQ(m.f_sfixed32(), v.f_sfixed32());
  EXPECT_EQ(m.f_sfixed64(), v.f_sfixed64());
  EXPECT_EQ(m.f_sint32(), v.f_sint32());
  EXPECT_EQ(m.f_sint64(), v.f_sint64());
  EXPECT_EQ(m.f_enum(), v.f_enum());
  EXPECT_EQ(m.has_f_message(), v.has_f_message());
  EXPECT_EQ(m.f_message().x(), v.f_message().x());
  EXPECT_EQ(m.f_message().label(), v.f_message().label());
  EXPECT_EQ(m.has_o_int32(), v.has_o_int32());
  EXPECT_EQ(m.o_int32(), v.o_int32());
  EXPECT_EQ(m.has_o_string(), v.has_o_string());
  EXPECT_EQ(m.o_string(), v.o_string());
  EXPECT_EQ(m.has_o_enum(), v.has_o_enum());
  EXPECT_EQ(m.o_enum(), v.o_enum());

  ASSERT_EQ(m.r_double_size(), v.r_double_size());
  for (int i = 0; i < m.r_double_size(); ++i) {
    EXPECT_TRUE(SameBits(m.r_double(i), v.r_double(i)));
  }
  ASSERT_EQ(m.r_float_size(), v.r_float_size());
  for (int i = 0; i < m.r_float_size(); ++i) {
    EXPECT_TRUE(SameBits(m.r_float(i), v.r_float()[i]));
  }
  EXPECT_EQ(std::vector<int64_t>(m.r_int64().begin(), m.r_int64().end()),
            std::vector<int64_t>(v.r_int64().begin(), v.r_int64().end()));
  EXPECT_EQ(std::vector<uint64_t>(m.r_uint64().begin(), m.r_uint64().end()),
            std::vector<uint64_t>(v.r_uint64().begin(), v.r_uint64().end()));
  // In place: the same elements without a copy.
  const absl::Span<const int32_t> r_int32 = v.r_int32().span();
  EXPECT_EQ(std::vector<int32_t>(m.r_int32().begin(), m.r_int32().end()),
            std::vector<int32_t>(r_int32.begin(), r_int32.end()));
  EXPECT_EQ(std::vector<uint64_t>(m.r_fixed64().begin(), m.r_fixed64().end()),
            std::vector<uint64_t>(v.r_fixed64().begin(), v.r_fixed64().end()));
  EXPECT_EQ(std::vector<uint32_t>(m.r_fixed32().begin(), m.r_fixed32().end()),
            std::vector<uint32_t>(v.r_fixed32().begin(), v.r_fixed32().end()));
  EXPECT_EQ(std::vector<bool>(m.r_bool().begin(), m.r_bool().end()),
            std::vector<bool>(v.r_bool().begin(), v.r_bool().end()));
  ASSERT_EQ(m.r_string_size(), v.r_string_size());
  for (int i = 0; i < m.r_string_size(); ++i) {
    EXPECT_EQ(m.r_string(i), v.r_string(i));
  }
  ASSERT_EQ(m.r_bytes_size(), v.r_bytes_size());
  int i = 0;
  for (absl::string_view b : v.r_bytes()) EXPECT_EQ(m.r_bytes(i++), b);
  EXPECT_EQ(std::vector<uint32_t>(m.r_uint32().begin(), m.r_uint32().end()),
            std::vector<uint32_t>(v.r_uint32().begin(), v.r_uint32().end()));
  EXPECT_EQ(std::vector<int32_t>(m.r_sfixed32().begin(), m.r_sfixed32().end()),
            std::vector<int32_t>(v.r_sfixed32().begin(), v.r_sfixed32().end()));
  EXPECT_EQ(std::vector<int64_t>(m.r_sfixed64().begin(), m.r_sfixed64().end()),
            std::vector<int64_t>(v.r_sfixed64().begin(), v.r_sfixed64().end()));
  EXPECT_EQ(std::vector<int32_t>(m.r_sint32().begin(), m.r_sint32().end()),
            std::vector<int32_t>(v.r_sint32().begin(), v.r_sint32().end()));
  EXPECT_EQ(std::vector<int64_t>(m.r_sint64().begin(), m.r_sint64().end()),
            std::vector<int64_t>(v.r_sint64().begin(), v.r_sint64().end()));
  ASSERT_EQ(m.r_enum_size(), v.r_enum_size());
  for (int j = 0; j < m.r_enum_size(); ++j) {
    EXPECT_EQ(m.r_enum(j), v.r_enum(j));
  }
  ASSERT_EQ(m.r_message_size(), v.r_message_size());
  for (int j = 0; j < m.r_message_size(); ++j) {
    EXPECT_EQ(m.r_message(j).y(), v.r_message(j).y());
    EXPECT_EQ(m.r_message(j).label(), v.r_message()[j].label());
  }
  // Maps: every entry of the view is in protobuf's map, and as many.
  EXPECT_EQ(static_cast<int>(m.m_string_int32().size()),
            v.m_string_int32_size());
  for (const auto& e : v.m_string_int32()) {
    auto it = m.m_string_int32().find(std::string(e.key()));
    ASSERT_NE(it, m.m_string_int32().end());
    EXPECT_EQ(it->second, e.value());
  }
  for (const auto& e : v.m_uint32_point()) {
    auto it = m.m_uint32_point().find(e.key());
    ASSERT_NE(it, m.m_uint32_point().end());
    EXPECT_EQ(it->second.x(), e.value().x());
  }
  EXPECT_EQ(static_cast<int>(m.choice_case()),
            static_cast<int>(v.choice_case()));
  EXPECT_EQ(m.c_int64(), v.has_c_int64() ? v.c_int64() : 0);
  EXPECT_EQ(m.c_string(), v.c_string());
  EXPECT_EQ(m.c_point().y(), v.c_point().y());
  EXPECT_EQ(m.has_inner(), v.has_inner());
  EXPECT_EQ(m.inner().values_size(), v.inner().values_size());
  EXPECT_EQ(m.inner().parent().f_string(), v.inner().parent().f_string());
  EXPECT_EQ(m.inners_size(), v.inners_size());
  EXPECT_EQ(m.has_w_time(), v.has_w_time());
  EXPECT_EQ(m.w_time().seconds(), v.w_time().seconds());
  EXPECT_EQ(m.w_time().nanos(), v.w_time().nanos());
  EXPECT_EQ(m.w_int32().value(), v.w_int32().value());
  EXPECT_EQ(static_cast<int>(m.w_struct().fields().size()),
            v.w_struct().fields_size());
  ASSERT_EQ(m.w_strings_size(), v.w_strings_size());
  for (int j = 0; j < m.w_strings_size(); ++j) {
    EXPECT_EQ(m.w_strings(j).value(), v.w_strings(j).value());
  }
  EXPECT_EQ(m.class_(), v.class_());
}

// proto -> flat -> proto is the identity, and every accessor agrees with
// protobuf's, over many random messages of every field kind.
TEST(FlatCodeTest, RandomMessagesRoundTripAndAgreeWithProtobuf) {
  Random r(20261130);
  for (int n = 0; n < 300; ++n) {
    All m;
    FillAll(r, 0, &m);
    const Aligned buffer(ToFlat(m));
    ::shmrpc::flat::Reader reader(buffer.span);
    absl::StatusOr<flat::AllView> v = reader.Root<flat::AllView>();
    ASSERT_TRUE(v.ok()) << v.status();
    ExpectSame(m, *v);
    All back;
    ASSERT_TRUE(v->ToProto(&back).ok());
    std::string diff;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differencer.Compare(m, back))
        << "message " << n << ": " << diff;
    // And flat -> proto -> flat -> proto once more.
    const Aligned again(ToFlat(back));
    ::shmrpc::flat::Reader reader2(again.span);
    All back2;
    ASSERT_TRUE(reader2.Root<flat::AllView>()->ToProto(&back2).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(m, back2)) << "message " << n;
    if (HasFailure()) break;
  }
}

// Builders write what protobuf would hold: set through the builder API,
// read back through protobuf after ToProto.
TEST(FlatCodeTest, BuilderSettersMatchProtobufSetters) {
  ::shmrpc::flat::HeapArena arena;
  flat::AllBuilder b = flat::AllBuilder::New(&arena);
  b.set_f_int32(-5);
  b.set_f_uint64(std::numeric_limits<uint64_t>::max());
  b.set_f_string("hello");
  const absl::Span<uint8_t> bytes = b.mutable_f_bytes(4);
  ASSERT_EQ(bytes.size(), 4u);
  std::memcpy(bytes.data(), "\0\1\2\3", 4);
  b.set_f_enum(GREEN);
  flat::PointBuilder p = b.mutable_f_message();
  p.set_x(3);
  EXPECT_EQ(b.mutable_f_message().AsView().x(), 3);  // the same child
  b.set_o_int32(0);
  b.add_r_int32(1);
  b.add_r_int32(-1);
  const absl::Span<double> doubles = b.mutable_r_double(3);
  ASSERT_EQ(doubles.size(), 3u);
  doubles[0] = 0.5;
  doubles[2] = -2;
  b.add_r_bool(true);
  b.add_r_enum(RED);
  b.add_r_string("a");
  std::memcpy(b.add_r_bytes_bytes(2).data(), "xy", 2);
  b.add_r_message().set_label("first");
  b.add_r_message().set_label("second");
  b.mutable_r_message(0).set_y(9);
  auto entry = b.add_m_string_int32();
  entry.set_key("k");
  entry.set_value(42);
  b.set_c_string("chosen");
  b.mutable_c_point().set_x(1);  // the oneof moves on to c_point
  b.set_class_(7);
  ASSERT_TRUE(arena.Finish(b).ok());

  All expected;
  expected.set_f_int32(-5);
  expected.set_f_uint64(std::numeric_limits<uint64_t>::max());
  expected.set_f_string("hello");
  expected.set_f_bytes(std::string("\0\1\2\3", 4));
  expected.set_f_enum(GREEN);
  expected.mutable_f_message()->set_x(3);
  expected.set_o_int32(0);
  expected.add_r_int32(1);
  expected.add_r_int32(-1);
  expected.add_r_double(0.5);
  expected.add_r_double(0);
  expected.add_r_double(-2);
  expected.add_r_bool(true);
  expected.add_r_enum(RED);
  expected.add_r_string("a");
  expected.add_r_bytes("xy");
  expected.add_r_message()->set_label("first");
  expected.mutable_r_message(0)->set_y(9);
  expected.add_r_message()->set_label("second");
  (*expected.mutable_m_string_int32())["k"] = 42;
  expected.mutable_c_point()->set_x(1);
  expected.set_class_(7);

  ::shmrpc::flat::Reader reader(arena.written());
  All got;
  ASSERT_TRUE(reader.Root<flat::AllView>()->ToProto(&got).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(expected, got)) << got.DebugString();
  EXPECT_EQ(b.AsView().choice_case(), All::kCPoint);
}

// ToProto copies no more than the reader's traversal budget: past it, it
// fails with DATA_LOSS instead (a sender cannot make a reader copy without
// bound by pointing many references at one large part).
TEST(FlatCodeTest, ToProtoStopsAtTheTraversalBudget) {
  All m;
  for (int i = 0; i < 64; ++i) m.add_r_bytes(std::string(64 << 10, 'x'));
  const Aligned buffer(ToFlat(m));
  {
    ::shmrpc::flat::Reader reader(buffer.span);
    All back;
    EXPECT_TRUE(reader.Root<flat::AllView>()->ToProto(&back).ok());
    EXPECT_EQ(back.r_bytes_size(), 64);
  }
  ::shmrpc::flat::ReadLimits limits;
  limits.traversal_bytes = 1 << 20;
  ::shmrpc::flat::Reader reader(buffer.span, limits);
  All back;
  const absl::Status s = reader.Root<flat::AllView>()->ToProto(&back);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_LE(back.r_bytes_size(), 16);
  EXPECT_TRUE(reader.budget_exhausted());
}

// A buffer whose root is another message type is refused, not misread.
TEST(FlatCodeTest, RootOfAnotherTypeIsRefused) {
  ::shmrpc::flat::HeapArena arena;
  flat::PointBuilder p = flat::PointBuilder::New(&arena);
  p.set_x(1);
  ASSERT_TRUE(arena.Finish(p).ok());
  ::shmrpc::flat::Reader reader(arena.written());
  EXPECT_FALSE(reader.Root<flat::AllView>().ok());
  EXPECT_EQ(reader.Root<flat::PointView>()->x(), 1);
}

}  // namespace
}  // namespace shmrpc::flattest

namespace shmrpc::flattest2 {
namespace {

// proto2: an unset field reads as its [default = ...], has_ says it is
// unset, and ToProto leaves it unset.
TEST(FlatCodeProto2Test, UnsetFieldsReadAsTheirDefaults) {
  ::shmrpc::flat::HeapArena arena;
  flat::DefaultsBuilder b = flat::DefaultsBuilder::New(&arena);
  ASSERT_TRUE(arena.Finish(b).ok());
  ::shmrpc::flat::Reader reader(arena.written());
  const flat::DefaultsView v = *reader.Root<flat::DefaultsView>();
  Defaults expected;  // protobuf's defaults
  EXPECT_FALSE(v.has_i());
  EXPECT_EQ(v.i(), expected.i());
  EXPECT_EQ(v.i(), -7);
  EXPECT_EQ(v.u(), expected.u());
  EXPECT_EQ(v.d(), expected.d());
  EXPECT_TRUE(std::isinf(v.f()) && v.f() < 0);
  EXPECT_EQ(v.b(), expected.b());
  EXPECT_EQ(v.s(), expected.s());
  EXPECT_EQ(v.by(), expected.by());
  EXPECT_EQ(v.level(), HIGH);
  EXPECT_EQ(v.no_default(), LOW);
  EXPECT_EQ(v.min64(), std::numeric_limits<int64_t>::min());
  Defaults got;
  ASSERT_TRUE(v.ToProto(&got).ok());
  EXPECT_FALSE(got.has_i());
  EXPECT_FALSE(got.has_s());
}

// A closed enum's value that this build does not know reads as the default
// through the typed accessor, as written through _value(), and ToProto does
// not put an invalid value into protobuf's field.
TEST(FlatCodeProto2Test, UnknownClosedEnumValueIsKeptButNotMisread) {
  ::shmrpc::flat::HeapArena arena;
  flat::DefaultsBuilder b = flat::DefaultsBuilder::New(&arena);
  b.set_level(static_cast<Level>(3));
  b.set_req(1);
  b.add_levels(HIGH);
  b.add_levels(static_cast<Level>(4));
  ASSERT_TRUE(arena.Finish(b).ok());
  ::shmrpc::flat::Reader reader(arena.written());
  const flat::DefaultsView v = *reader.Root<flat::DefaultsView>();
  EXPECT_TRUE(v.has_level());
  EXPECT_EQ(v.level_value(), 3);
  EXPECT_EQ(v.level(), HIGH);
  Defaults got;
  ASSERT_TRUE(v.ToProto(&got).ok());
  EXPECT_FALSE(got.has_level());
  ASSERT_EQ(got.levels_size(), 1);
  EXPECT_EQ(got.levels(0), HIGH);
  EXPECT_EQ(got.req(), 1);
}

}  // namespace
}  // namespace shmrpc::flattest2

namespace shmrpc::flatdep {
namespace {

// A flat library's messages that use another flat library's messages,
// enums and nested messages.
TEST(FlatCodeDepTest, MessagesOfAnotherLibraryRoundTrip) {
  Path path;
  for (int i = 0; i < 5; ++i) {
    flattest::Point* p = path.add_points();
    p->set_x(i);
    p->set_label("p" + std::to_string(i));
  }
  path.set_color(flattest::GREEN);
  path.mutable_inner()->add_values(-1);
  ::shmrpc::flat::HeapArena arena;
  flat::PathBuilder b = flat::PathBuilder::New(&arena);
  b.CopyFrom(path);
  ASSERT_TRUE(arena.Finish(b).ok());
  ::shmrpc::flat::Reader reader(arena.written());
  const flat::PathView v = *reader.Root<flat::PathView>();
  ASSERT_EQ(v.points_size(), 5);
  EXPECT_EQ(v.points(3).label(), "p3");
  EXPECT_EQ(v.color(), flattest::GREEN);
  EXPECT_EQ(v.inner().values(0), -1);
  Path back;
  ASSERT_TRUE(v.ToProto(&back).ok());
  EXPECT_TRUE(::google::protobuf::util::MessageDifferencer::Equals(path, back));
}

}  // namespace
}  // namespace shmrpc::flatdep
