#include "shmrpc/transport/segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "shmrpc/transport/internal/posix.h"

namespace shmrpc::transport {
namespace {

#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

constexpr size_t kPage = 4096;

// Seals besides the ones under test that a kernel may add on its own
// (vm.memfd_noexec makes memfds carry F_SEAL_EXEC).
constexpr int kIgnoredSeals = F_SEAL_EXEC;

int SealsOf(int fd) { return ::fcntl(fd, F_GET_SEALS); }

bool FdIsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

// True if any page of [addr, addr + len) is mapped in this process.
bool IsMapped(const void* addr, size_t len) {
  std::vector<unsigned char> vec((len + kPage - 1) / kPage);
  return ::mincore(const_cast<void*>(addr), len, vec.data()) == 0;
}

int CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (::readdir(dir) != nullptr) ++n;
  ::closedir(dir);
  return n;
}

std::set<std::string> DevShmEntries() {
  std::set<std::string> names;
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return names;
  while (dirent* e = ::readdir(dir)) names.insert(e->d_name);
  ::closedir(dir);
  return names;
}

// A memfd of `size` bytes carrying exactly `seals` (on top of whatever the
// kernel adds by itself).
UniqueFd MakeMemfd(size_t size, int seals, bool allow_sealing = true) {
  UniqueFd fd(::memfd_create(
      "segment-test", MFD_CLOEXEC | (allow_sealing ? MFD_ALLOW_SEALING : 0)));
  if (!fd.valid()) return fd;
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return UniqueFd();
  if (seals != 0 && ::fcntl(fd.get(), F_ADD_SEALS, seals) != 0) {
    return UniqueFd();
  }
  return fd;
}

UniqueFd Dup(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

// Create() rounds to whole pages, maps read-write and starts zeroed.
TEST(SegmentTest, CreateGivesZeroedWritablePageRoundedMemory) {
  for (auto [asked, expected] :
       std::vector<std::pair<size_t, size_t>>{{1, kPage},
                                              {kPage, kPage},
                                              {kPage + 1, 2 * kPage},
                                              {5 * kPage - 7, 5 * kPage},
                                              {1 << 20, 1 << 20}}) {
    absl::StatusOr<Segment> s =
        Segment::Create("shmrpc-test", asked, SealMode::kShared);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->size(), expected) << asked;
    EXPECT_EQ(s->access(), Access::kReadWrite);
    ASSERT_NE(s->data(), nullptr);
    EXPECT_GE(s->fd(), 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(s->data()) % kPage, 0u);
    struct stat st;
    ASSERT_EQ(::fstat(s->fd(), &st), 0);
    EXPECT_EQ(static_cast<size_t>(st.st_size), expected);
    for (size_t i = 0; i < s->size(); ++i) {
      ASSERT_EQ(s->data()[i], 0) << "byte " << i;
    }
    // Every byte, including the last one, is writable.
    std::memset(s->data(), 0xa5, s->size());
    EXPECT_EQ(s->data()[s->size() - 1], 0xa5);
  }
}

// A zero size is refused.
TEST(SegmentTest, CreateRejectsZeroSize) {
  absl::StatusOr<Segment> s =
      Segment::Create("shmrpc-test", 0, SealMode::kShared);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

// kShared carries exactly the size seals: the size cannot change, seals cannot
// be added, but writes through the fd are still allowed.
TEST(SegmentTest, SharedSegmentIsSealedAgainstResizing) {
  absl::StatusOr<Segment> s =
      Segment::Create("shmrpc-test", 2 * kPage, SealMode::kShared);
  ASSERT_TRUE(s.ok()) << s.status();
  const int seals = SealsOf(s->fd());
  ASSERT_GE(seals, 0);
  EXPECT_EQ(seals & ~kIgnoredSeals, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW);
  EXPECT_EQ(seals & kRequiredSeals, kRequiredSeals);

  EXPECT_NE(::ftruncate(s->fd(), kPage), 0);                  // shrink
  EXPECT_NE(::ftruncate(s->fd(), 4 * kPage), 0);              // grow
  EXPECT_NE(::fcntl(s->fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);  // sealed seals
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(s->size(), 2 * kPage);

  // Writes through the fd land in the mapping (no write seal).
  const char msg[] = "through-the-fd";
  ASSERT_EQ(::pwrite(s->fd(), msg, sizeof(msg), 100),
            static_cast<ssize_t>(sizeof(msg)));
  EXPECT_EQ(std::memcmp(s->data() + 100, msg, sizeof(msg)), 0);
  // And a second writable shared mapping of the fd is allowed.
  void* p = ::mmap(nullptr, s->size(), PROT_READ | PROT_WRITE, MAP_SHARED,
                   s->fd(), 0);
  ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
  static_cast<uint8_t*>(p)[7] = 42;
  EXPECT_EQ(s->data()[7], 42);
  ::munmap(p, s->size());
}

// kOwnerWritesOnly adds F_SEAL_FUTURE_WRITE: nobody can obtain a new writable
// mapping (or write(2)), a read-only shared mapping cannot be made writable,
// yet the creator's own mapping stays writable.
TEST(SegmentTest, OwnerWritesOnlyRefusesWritableMappingsToOthers) {
  absl::StatusOr<Segment> s =
      Segment::Create("shmrpc-test", 3 * kPage, SealMode::kOwnerWritesOnly);
  ASSERT_TRUE(s.ok()) << s.status();
  const int seals = SealsOf(s->fd());
  ASSERT_GE(seals, 0);
  EXPECT_EQ(seals & ~kIgnoredSeals,
            F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE);
  EXPECT_EQ(seals & F_SEAL_WRITE, 0);

  // Writable shared mapping through the same fd: refused.
  errno = 0;
  void* w = ::mmap(nullptr, s->size(), PROT_READ | PROT_WRITE, MAP_SHARED,
                   s->fd(), 0);
  EXPECT_EQ(w, MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  if (w != MAP_FAILED) ::munmap(w, s->size());

  // Same through a fresh O_RDWR open of the file (anyone holding a path).
  const std::string path = "/proc/self/fd/" + std::to_string(s->fd());
  UniqueFd reopened(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(reopened.valid()) << std::strerror(errno);
  w = ::mmap(nullptr, s->size(), PROT_READ | PROT_WRITE, MAP_SHARED,
             reopened.get(), 0);
  EXPECT_EQ(w, MAP_FAILED);
  if (w != MAP_FAILED) ::munmap(w, s->size());

  // write(2) is refused too.
  const char byte = 1;
  EXPECT_EQ(::pwrite(s->fd(), &byte, 1, 0), -1);
  EXPECT_EQ(errno, EPERM);

  // A read-only shared mapping is fine but cannot be upgraded.
  void* r = ::mmap(nullptr, s->size(), PROT_READ, MAP_SHARED, s->fd(), 0);
  ASSERT_NE(r, MAP_FAILED) << std::strerror(errno);
  EXPECT_NE(::mprotect(r, s->size(), PROT_READ | PROT_WRITE), 0);

  // The creator's mapping still writes, and the reader sees it.
  s->data()[0] = 0x11;
  s->data()[s->size() - 1] = 0x22;
  EXPECT_EQ(static_cast<uint8_t*>(r)[0], 0x11);
  EXPECT_EQ(static_cast<uint8_t*>(r)[s->size() - 1], 0x22);
  ::munmap(r, s->size());
}

// Segments have no name in any file system: /dev/shm stays unchanged and the
// fd is an anonymous memfd.
TEST(SegmentTest, NothingAppearsInDevShm) {
  const std::set<std::string> before = DevShmEntries();
  absl::StatusOr<Segment> a =
      Segment::Create("shmrpc-visible?", kPage, SealMode::kShared);
  absl::StatusOr<Segment> b =
      Segment::Create("shmrpc-visible?", kPage, SealMode::kOwnerWritesOnly);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(DevShmEntries(), before);

  char target[256] = {};
  const std::string link = "/proc/self/fd/" + std::to_string(a->fd());
  ASSERT_GT(::readlink(link.c_str(), target, sizeof(target) - 1), 0);
  EXPECT_EQ(std::string(target).rfind("/memfd:shmrpc-visible?", 0), 0u)
      << target;
  // Created with close-on-exec.
  EXPECT_TRUE(::fcntl(a->fd(), F_GETFD) & FD_CLOEXEC);
}

// Adopt() maps a properly sealed segment read-only; the reader sees the
// owner's writes, and the mapping cannot be made writable.
TEST(SegmentTest, AdoptReadOnlySeesOwnerWrites) {
  absl::StatusOr<Segment> owner =
      Segment::Create("shmrpc-test", 2 * kPage, SealMode::kOwnerWritesOnly);
  ASSERT_TRUE(owner.ok()) << owner.status();
  absl::StatusOr<Segment> peer =
      Segment::Adopt(Dup(owner->fd()), owner->size(), Access::kReadOnly);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->size(), owner->size());
  EXPECT_EQ(peer->access(), Access::kReadOnly);
  EXPECT_NE(peer->data(), owner->data());
  EXPECT_NE(peer->fd(), owner->fd());

  std::memcpy(owner->data() + kPage + 3, "payload", 7);
  EXPECT_EQ(std::memcmp(peer->data() + kPage + 3, "payload", 7), 0);
  EXPECT_NE(::mprotect(peer->data(), peer->size(), PROT_READ | PROT_WRITE), 0);
}

// A kOwnerWritesOnly segment cannot be adopted read-write by the peer.
TEST(SegmentTest, AdoptReadWriteOfOwnerWritesOnlyFails) {
  absl::StatusOr<Segment> owner =
      Segment::Create("shmrpc-test", kPage, SealMode::kOwnerWritesOnly);
  ASSERT_TRUE(owner.ok()) << owner.status();
  absl::StatusOr<Segment> peer =
      Segment::Adopt(Dup(owner->fd()), owner->size(), Access::kReadWrite);
  EXPECT_FALSE(peer.ok());
}

// Two read-write mappings of a kShared segment see each other's writes in
// both directions.
TEST(SegmentTest, AdoptReadWriteOfSharedSegment) {
  absl::StatusOr<Segment> a =
      Segment::Create("shmrpc-test", 4 * kPage, SealMode::kShared);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<Segment> b =
      Segment::Adopt(Dup(a->fd()), a->size(), Access::kReadWrite);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->access(), Access::kReadWrite);
  for (size_t i = 0; i < a->size(); i += 512) {
    a->data()[i] = static_cast<uint8_t>(i / 512 + 1);
  }
  for (size_t i = 0; i < a->size(); i += 512) {
    ASSERT_EQ(b->data()[i], static_cast<uint8_t>(i / 512 + 1)) << i;
  }
  b->data()[a->size() - 1] = 0x77;
  EXPECT_EQ(a->data()[a->size() - 1], 0x77);
}

// An unsealed memfd is refused with kFailedPrecondition and the fd is closed.
TEST(SegmentTest, AdoptRefusesUnsealedMemfd) {
  UniqueFd fd = MakeMemfd(kPage, 0);
  ASSERT_TRUE(fd.valid());
  const int raw = fd.get();
  absl::StatusOr<Segment> s =
      Segment::Adopt(std::move(fd), kPage, Access::kReadOnly);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
      << s.status();
  EXPECT_FALSE(FdIsOpen(raw));
}

// A memfd created without MFD_ALLOW_SEALING (it carries only F_SEAL_SEAL) is
// refused.
TEST(SegmentTest, AdoptRefusesMemfdThatCannotBeSealed) {
  UniqueFd fd = MakeMemfd(kPage, 0, /*allow_sealing=*/false);
  ASSERT_TRUE(fd.valid());
  absl::StatusOr<Segment> s =
      Segment::Adopt(std::move(fd), kPage, Access::kReadOnly);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
      << s.status();
}

// Every proper subset of the required seals is refused.
TEST(SegmentTest, AdoptRefusesPartialSeals) {
  for (int seals :
       {F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SHRINK | F_SEAL_GROW,
        F_SEAL_SEAL | F_SEAL_SHRINK, F_SEAL_SEAL | F_SEAL_GROW,
        F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE}) {
    UniqueFd fd = MakeMemfd(kPage, seals);
    ASSERT_TRUE(fd.valid()) << seals;
    absl::StatusOr<Segment> s =
        Segment::Adopt(std::move(fd), kPage, Access::kReadOnly);
    ASSERT_FALSE(s.ok()) << "seals 0x" << std::hex << seals;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
        << s.status();
  }
}

// A properly sealed memfd of the wrong size is refused with kInvalidArgument
// and the fd is closed.
TEST(SegmentTest, AdoptRefusesWrongSize) {
  absl::StatusOr<Segment> owner =
      Segment::Create("shmrpc-test", 2 * kPage, SealMode::kShared);
  ASSERT_TRUE(owner.ok()) << owner.status();
  for (size_t wrong : {size_t{0}, size_t{1}, kPage, 2 * kPage - 1,
                       2 * kPage + 1, 3 * kPage, size_t{1} << 40}) {
    UniqueFd fd = Dup(owner->fd());
    ASSERT_TRUE(fd.valid());
    const int raw = fd.get();
    absl::StatusOr<Segment> s =
        Segment::Adopt(std::move(fd), wrong, Access::kReadOnly);
    ASSERT_FALSE(s.ok()) << wrong;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument)
        << wrong << ": " << s.status();
    EXPECT_FALSE(FdIsOpen(raw)) << wrong;
  }
  // The right size still works afterwards.
  EXPECT_TRUE(
      Segment::Adopt(Dup(owner->fd()), 2 * kPage, Access::kReadOnly).ok());
}

// fds that are not memfds are refused: a pipe, a regular file on disk, and an
// (unsealable) tmpfs file.
TEST(SegmentTest, AdoptRefusesNonMemfd) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd write_end(p[1]);
  absl::StatusOr<Segment> s =
      Segment::Adopt(UniqueFd(p[0]), kPage, Access::kReadOnly);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
      << s.status();
  EXPECT_FALSE(FdIsOpen(p[0]));

  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string templ =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/segment_test_XXXXXX";
  UniqueFd file(::mkstemp(templ.data()));
  ASSERT_TRUE(file.valid()) << std::strerror(errno);
  ::unlink(templ.c_str());
  ASSERT_EQ(::ftruncate(file.get(), kPage), 0);
  s = Segment::Adopt(std::move(file), kPage, Access::kReadOnly);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
      << s.status();

  // A tmpfs file is shmem like a memfd, but it can never carry seals.
  UniqueFd shm(::open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (shm.valid()) {
    ASSERT_EQ(::ftruncate(shm.get(), kPage), 0);
    s = Segment::Adopt(std::move(shm), kPage, Access::kReadOnly);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
        << s.status();
  }

  s = Segment::Adopt(UniqueFd(), kPage, Access::kReadOnly);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

// A memfd sealed by someone else (not via Create) is accepted when it carries
// the required seals; F_SEAL_WRITE on top still allows a read-only mapping.
TEST(SegmentTest, AdoptAcceptsForeignSealedMemfd) {
  UniqueFd fd = MakeMemfd(2 * kPage, kRequiredSeals);
  ASSERT_TRUE(fd.valid());
  absl::StatusOr<Segment> s =
      Segment::Adopt(std::move(fd), 2 * kPage, Access::kReadWrite);
  ASSERT_TRUE(s.ok()) << s.status();
  s->data()[2 * kPage - 1] = 9;

  UniqueFd ro = MakeMemfd(kPage, kRequiredSeals | F_SEAL_WRITE);
  ASSERT_TRUE(ro.valid());
  UniqueFd ro2 = Dup(ro.get());
  absl::StatusOr<Segment> r =
      Segment::Adopt(std::move(ro), kPage, Access::kReadOnly);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data()[0], 0);
  // ...but not a writable one.
  EXPECT_FALSE(Segment::Adopt(std::move(ro2), kPage, Access::kReadWrite).ok());
}

// Moving transfers the fd and mapping and leaves the source empty.
TEST(SegmentTest, MoveConstructionAndAssignment) {
  Segment empty;
  EXPECT_EQ(empty.fd(), -1);
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);

  absl::StatusOr<Segment> made =
      Segment::Create("shmrpc-test", kPage, SealMode::kShared);
  ASSERT_TRUE(made.ok()) << made.status();
  const int fd = made->fd();
  uint8_t* const base = made->data();
  base[10] = 10;

  Segment a(std::move(*made));
  EXPECT_EQ(made->fd(), -1);
  EXPECT_EQ(made->data(), nullptr);
  EXPECT_EQ(made->size(), 0u);
  EXPECT_EQ(a.fd(), fd);
  EXPECT_EQ(a.data(), base);
  EXPECT_EQ(a.size(), kPage);
  EXPECT_EQ(a.access(), Access::kReadWrite);
  EXPECT_EQ(a.data()[10], 10);

  // Assigning over a live segment releases its fd and mapping.
  absl::StatusOr<Segment> other =
      Segment::Create("shmrpc-test", 2 * kPage, SealMode::kShared);
  ASSERT_TRUE(other.ok()) << other.status();
  const int other_fd = other->fd();
  uint8_t* const other_base = other->data();
  Segment b = std::move(*other);
  ASSERT_EQ(b.fd(), other_fd);
  b = std::move(a);
  EXPECT_FALSE(FdIsOpen(other_fd));
  EXPECT_FALSE(IsMapped(other_base, 2 * kPage));
  EXPECT_EQ(b.fd(), fd);
  EXPECT_EQ(b.data(), base);
  EXPECT_EQ(b.size(), kPage);
  EXPECT_EQ(a.fd(), -1);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data()[10], 10);

  // Self-assignment keeps everything.
  Segment& alias = b;
  b = std::move(alias);
  EXPECT_EQ(b.fd(), fd);
  EXPECT_EQ(b.data(), base);
  EXPECT_TRUE(IsMapped(base, kPage));

  // Moving an adopted read-only segment keeps its access mode.
  absl::StatusOr<Segment> ro =
      Segment::Adopt(Dup(fd), kPage, Access::kReadOnly);
  ASSERT_TRUE(ro.ok()) << ro.status();
  Segment c(std::move(*ro));
  EXPECT_EQ(c.access(), Access::kReadOnly);
  EXPECT_EQ(c.data()[10], 10);
}

// Destruction closes the fd and unmaps the memory.
TEST(SegmentTest, DestructionClosesFdAndUnmaps) {
  int fd = -1;
  uint8_t* base = nullptr;
  {
    absl::StatusOr<Segment> s =
        Segment::Create("shmrpc-test", 3 * kPage, SealMode::kOwnerWritesOnly);
    ASSERT_TRUE(s.ok()) << s.status();
    fd = s->fd();
    base = s->data();
    ASSERT_TRUE(FdIsOpen(fd));
    ASSERT_TRUE(IsMapped(base, 3 * kPage));
  }
  EXPECT_FALSE(FdIsOpen(fd));
  EXPECT_FALSE(IsMapped(base, 3 * kPage));
}

// Many create/adopt/destroy cycles (including failed adoptions) leak no fds.
TEST(SegmentTest, NoFdLeakOverManyCycles) {
  const int before = CountOpenFds();
  ASSERT_GT(before, 0);
  for (int i = 0; i < 300; ++i) {
    absl::StatusOr<Segment> s = Segment::Create(
        "shmrpc-test", kPage * (1 + i % 3),
        i % 2 == 0 ? SealMode::kShared : SealMode::kOwnerWritesOnly);
    ASSERT_TRUE(s.ok()) << s.status();
    absl::StatusOr<Segment> peer =
        Segment::Adopt(Dup(s->fd()), s->size(), Access::kReadOnly);
    ASSERT_TRUE(peer.ok()) << peer.status();
    // Failures must close the fd they were given.
    ASSERT_FALSE(
        Segment::Adopt(Dup(s->fd()), s->size() + kPage, Access::kReadOnly)
            .ok());
    ASSERT_FALSE(
        Segment::Adopt(MakeMemfd(kPage, 0), kPage, Access::kReadOnly).ok());
    Segment moved = std::move(*peer);
  }
  EXPECT_EQ(CountOpenFds(), before);
}

}  // namespace
}  // namespace shmrpc::transport
