#include "shmrpc/transport/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace shmrpc::transport {
namespace {

constexpr size_t kPage = 4096;

uint8_t* MapWhole(int fd, size_t size, Access access) {
  int prot = access == Access::kReadWrite ? PROT_READ | PROT_WRITE : PROT_READ;
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

}  // namespace

absl::StatusOr<Segment> Segment::Create(absl::string_view name, size_t size,
                                        SealMode seal) {
  if (size == 0) return absl::InvalidArgumentError("segment size is zero");
  size = (size + kPage - 1) / kPage * kPage;
  std::string cname(name);
  UniqueFd fd(::memfd_create(cname.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return ErrnoToStatus(errno, "memfd_create");
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return ErrnoToStatus(errno, "ftruncate(memfd)");
  }
  uint8_t* base = MapWhole(fd.get(), size, Access::kReadWrite);
  if (base == nullptr) return ErrnoToStatus(errno, "mmap(memfd)");
  Segment segment(std::move(fd), base, size, Access::kReadWrite);
  int seals = kRequiredSeals;
  if (seal == SealMode::kOwnerWritesOnly) seals |= F_SEAL_FUTURE_WRITE;
  if (::fcntl(segment.fd(), F_ADD_SEALS, seals) != 0) {
    return ErrnoToStatus(errno, "fcntl(F_ADD_SEALS)");
  }
  return segment;
}

absl::StatusOr<Segment> Segment::Adopt(UniqueFd fd, size_t expected_size,
                                       Access access) {
  if (!fd.valid()) return absl::InvalidArgumentError("no segment fd");
  int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0) {
    // EINVAL: not a memfd (or a file system without sealing).
    return absl::FailedPreconditionError(
        absl::StrCat("segment fd is not a sealable memfd: ",
                     ErrnoToStatus(errno, "fcntl").message()));
  }
  if ((seals & kRequiredSeals) != kRequiredSeals) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "segment is not sealed: seals 0x%x, need 0x%x (seal, shrink, grow)",
        seals, kRequiredSeals));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, "fstat");
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError("segment fd is not a regular file");
  }
  if (expected_size == 0 ||
      static_cast<uint64_t>(st.st_size) != expected_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "segment is ", st.st_size, " bytes, expected ", expected_size));
  }
  uint8_t* base = MapWhole(fd.get(), expected_size, access);
  if (base == nullptr) return ErrnoToStatus(errno, "mmap(peer segment)");
  return Segment(std::move(fd), base, expected_size, access);
}

Segment::Segment(Segment&& other) noexcept
    : fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      access_(other.access_) {}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    Unmap();
    fd_ = std::move(other.fd_);
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    access_ = other.access_;
  }
  return *this;
}

Segment::~Segment() { Unmap(); }

void Segment::Unmap() {
  if (base_ != nullptr) ::munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

}  // namespace shmrpc::transport
