// Small POSIX helpers shared by the transport: an owning file descriptor and
// errno-to-absl::Status conversion.
//
// Internal to //transport; not part of the public API.
#ifndef SHMRPC_TRANSPORT_INTERNAL_POSIX_H_
#define SHMRPC_TRANSPORT_INTERNAL_POSIX_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace shmrpc::transport {

// Owns one file descriptor and closes it on destruction. Move-only.
// Not thread-safe: one owner at a time.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  // The descriptor, or -1 if empty.
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Gives up ownership without closing.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }

  // Closes the current descriptor (if any) and takes `fd`.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A status for a failed system call: the code follows errno (EAGAIN and
// ETIMEDOUT map to kDeadlineExceeded / kUnavailable and so on), the message
// reads "<what>: <strerror>".
absl::Status ErrnoToStatus(int err, absl::string_view what);

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_INTERNAL_POSIX_H_
