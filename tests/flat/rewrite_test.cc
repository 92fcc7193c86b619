// A sender that keeps rewriting a flat message while the receiver reads it
// (shared memory lets a misbehaving peer do exactly that): the reader, in
// another process, walks every field of every message again and again,
// converts the whole message to protobuf, and never reads outside the
// buffer, crashes or hangs (run under ASan and UBSan in CI too).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "flat/flat_all.flat.h"
#include "shmrpc/message/flat.h"

namespace shmrpc::flattest {
namespace {

constexpr size_t kBufferSize = 1 << 16;
// The writer leaves the buffer's header alone (a reader refuses a bad one
// at once) and rewrites everything after it.
constexpr size_t kFirstWord = sizeof(::shmrpc::flat::BufferHeader);

// Whether [p, p + n) lies inside [base, base + size).
bool Inside(const void* p, size_t n, const uint8_t* base, size_t size) {
  const auto* b = static_cast<const uint8_t*>(p);
  return n == 0 || (b >= base && b + n <= base + size);
}

// Reads everything reachable from `v`; counts views outside the buffer.
int Walk(const flat::AllView& v, const uint8_t* base, int depth) {
  int outside = 0;
  auto check = [&](absl::string_view s) {
    if (!Inside(s.data(), s.size(), base, kBufferSize)) ++outside;
  };
  volatile double sink = v.f_double() + v.f_float() + v.f_int64() +
                         v.f_uint64() + v.f_int32() + v.o_int32() + v.class_() +
                         static_cast<int>(v.f_enum());
  (void)sink;
  check(v.f_string());
  check(v.f_bytes());
  check(v.o_string());
  check(v.c_string());
  for (absl::string_view s : v.r_string()) check(s);
  for (absl::string_view s : v.r_bytes()) check(s);
  for (int i = -1; i <= v.r_int32_size(); ++i) sink = v.r_int32(i);
  const auto span = v.r_double().span();
  if (!Inside(span.data(), span.size() * sizeof(double), base, kBufferSize)) {
    ++outside;
  }
  for (double d : v.r_double()) sink = d;
  for (const auto& p : v.r_message()) check(p.label());
  for (const auto& e : v.m_string_int32()) check(e.key());
  for (const auto& e : v.m_uint32_point()) check(e.value().label());
  check(v.f_message().label());
  if (depth < 80) {
    outside += Walk(v.inner().parent(), base, depth + 1);
    for (const auto& inner : v.inners()) {
      outside += Walk(inner.parent(), base, depth + 1);
    }
  }
  return outside;
}

TEST(FlatRewriteTest, ReaderSurvivesAWriterThatKeepsRewriting) {
  void* mem = ::mmap(nullptr, kBufferSize, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* base = static_cast<uint8_t*>(mem);
  {
    // A valid message filling much of the buffer, built in place.
    ::shmrpc::flat::HeapArena arena;
    flat::AllBuilder b = flat::AllBuilder::New(&arena);
    b.set_f_string("a string");
    for (int i = 0; i < 50; ++i) {
      b.add_r_string("element");
      b.add_r_int32(i);
      b.add_r_double(i);
      b.add_r_message().set_label("point");
      auto e = b.add_m_string_int32();
      e.set_key("k");
    }
    b.mutable_inner().mutable_parent().set_f_bytes("inner bytes");
    b.add_inners().mutable_parent().add_r_bytes("more");
    ASSERT_TRUE(arena.Finish(b).ok());
    ASSERT_LE(arena.written().size(), kBufferSize);
    std::memcpy(base, arena.written().data(), arena.written().size());
  }
  const size_t used =
      reinterpret_cast<::shmrpc::flat::BufferHeader*>(base)->used;
  const pid_t writer = ::fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    // Rewrites random bytes of the message, and now and then plants offsets
    // and lengths aimed at the buffer's end or at the message itself.
    std::mt19937 rng(::getpid());
    std::vector<uint8_t> original(base, base + used);
    for (uint64_t n = 0;; ++n) {
      if (n % 256 == 0) {
        // Back to the valid message now and then, so that the reader also
        // meets messages that are only partly rewritten.
        for (size_t i = kFirstWord; i < used; i += 4) {
          uint32_t word;
          std::memcpy(&word, original.data() + i, 4);
          __atomic_store_n(reinterpret_cast<uint32_t*>(base + i), word,
                           __ATOMIC_RELAXED);
        }
      }
      const size_t at = kFirstWord + (rng() % (used - kFirstWord) & ~size_t{3});
      uint32_t value = rng();
      switch (rng() % 4) {
        case 0:
          value = static_cast<uint32_t>(kBufferSize - (rng() % 64));
          break;
        case 1:
          value = static_cast<uint32_t>(rng() % used) & ~uint32_t{7};
          break;
        default:
          break;
      }
      __atomic_store_n(reinterpret_cast<uint32_t*>(base + at), value,
                       __ATOMIC_RELAXED);
    }
  }
  // The reader: as long as the writer writes, for a bounded time.
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  int reads = 0, roots = 0, outside = 0;
  while (std::chrono::steady_clock::now() < until) {
    ::shmrpc::flat::Reader reader(absl::Span<const uint8_t>(base, kBufferSize),
                                  ::shmrpc::flat::ReadLimits{64, 1 << 22});
    absl::StatusOr<flat::AllView> v = reader.Root<flat::AllView>();
    ++reads;
    if (!v.ok()) continue;
    ++roots;
    outside += Walk(*v, base, 0);
    All proto;
    (void)v->ToProto(&proto);  // may be cut short; must not crash
  }
  ::kill(writer, SIGKILL);
  ::waitpid(writer, nullptr, 0);
  ::munmap(mem, kBufferSize);
  EXPECT_EQ(outside, 0);
  EXPECT_GT(reads, 10);
  EXPECT_GT(roots, reads / 2);
  std::printf("%d reads, %d with a valid root\n", reads, roots);
}

}  // namespace
}  // namespace shmrpc::flattest
