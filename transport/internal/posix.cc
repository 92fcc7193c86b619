#include "shmrpc/transport/internal/posix.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace shmrpc::transport {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) {
    // close() must not be retried on EINTR on Linux: the fd is gone either way.
    ::close(fd_);
  }
  fd_ = fd;
}

absl::Status ErrnoToStatus(int err, absl::string_view what) {
  char buf[128];
  // GNU strerror_r returns the message pointer (possibly not `buf`).
  const char* text = strerror_r(err, buf, sizeof(buf));
  std::string message = absl::StrCat(what, ": ", text);
  switch (err) {
    case ETIMEDOUT:
      return absl::DeadlineExceededError(message);
    case EAGAIN:
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case ENOENT:
    case ENOTCONN:
      return absl::UnavailableError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case ENOSPC:
      return absl::ResourceExhaustedError(message);
    case EINVAL:
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace shmrpc::transport
