#include "shmrpc/transport/unix_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace shmrpc::transport {
namespace {

absl::StatusOr<sockaddr_un> MakeAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path must be 1..", sizeof(addr.sun_path) - 1,
                     " bytes: '", path, "'"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

int MillisUntil(Deadline deadline) {
  if (deadline == kNoDeadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
  // Round up so that we never spin on a 0 ms poll before the deadline.
  return static_cast<int>(std::clamp<int64_t>(left + 1, 0, 1 << 30));
}

}  // namespace

absl::StatusOr<PeerCredentials> GetPeerCredentials(int fd) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ErrnoToStatus(errno, "getsockopt(SO_PEERCRED)");
  }
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

absl::StatusOr<UniqueFd> ListenSeqpacket(const std::string& path, int backlog,
                                         mode_t mode) {
  absl::StatusOr<sockaddr_un> addr = MakeAddress(path);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(
      ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return ErrnoToStatus(errno, "socket(AF_UNIX)");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr),
             sizeof(*addr)) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("bind(", path, ")"));
  }
  if (::chmod(path.c_str(), mode) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return ErrnoToStatus(err, absl::StrCat("chmod(", path, ")"));
  }
  if (::listen(fd.get(), backlog) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return ErrnoToStatus(err, "listen");
  }
  return fd;
}

absl::StatusOr<UniqueFd> ConnectSeqpacket(const std::string& path) {
  absl::StatusOr<sockaddr_un> addr = MakeAddress(path);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoToStatus(errno, "socket(AF_UNIX)");
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr),
                   sizeof(*addr));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return ErrnoToStatus(errno, absl::StrCat("connect(", path, ")"));
  return fd;
}

absl::Status SendRecord(int fd, absl::Span<const uint8_t> bytes,
                        absl::Span<const int> fds) {
  struct iovec iov;
  iov.iov_base = const_cast<uint8_t*>(bytes.data());
  iov.iov_len = bytes.size();
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  if (!fds.empty()) {
    if (fds.size() > 8) return absl::InvalidArgumentError("too many fds");
    std::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoToStatus(errno, "sendmsg");
  if (static_cast<size_t>(n) != bytes.size()) {
    return absl::InternalError("sendmsg sent a partial record");
  }
  return absl::OkStatus();
}

absl::Status WaitReadable(int fd, Deadline deadline) {
  for (;;) {
    struct pollfd p {
      fd, POLLIN, 0
    };
    int rc = ::poll(&p, 1, MillisUntil(deadline));
    if (rc > 0) return absl::OkStatus();
    if (rc == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::DeadlineExceededError("timed out waiting for the peer");
      }
      continue;
    }
    if (errno != EINTR) return ErrnoToStatus(errno, "poll");
  }
}

absl::StatusOr<Record> RecvRecord(int fd, size_t max_bytes, size_t max_fds,
                                  Deadline deadline) {
  if (absl::Status s = WaitReadable(fd, deadline); !s.ok()) return s;
  Record record;
  record.bytes.resize(max_bytes);
  struct iovec iov;
  iov.iov_base = record.bytes.data();
  iov.iov_len = record.bytes.size();
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(
      CMSG_SPACE(sizeof(int) * std::max<size_t>(max_fds, 1)));
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  bool reset = false;
  for (;;) {
    n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n >= 0 || errno == EINTR) {
      if (n >= 0) break;
      continue;
    }
    // A peer that closed with our record unread resets the connection, and
    // the kernel reports that (once) before records still queued for us,
    // such as the refusal the peer sent before closing. Look once more.
    if (errno == ECONNRESET && !reset) {
      reset = true;
      continue;
    }
    if (errno == EAGAIN && reset) errno = ECONNRESET;
    return ErrnoToStatus(errno, "recvmsg");
  }
  // Take ownership of every fd first, so that any early return closes them.
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      record.fds.emplace_back(received);
    }
  }
  if (n == 0 && record.fds.empty()) {
    return absl::UnavailableError("the peer closed the connection");
  }
  record.bytes.resize(static_cast<size_t>(n));
  record.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  record.fds_truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  return record;
}

}  // namespace shmrpc::transport
