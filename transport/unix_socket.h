// Unix-domain SOCK_SEQPACKET helpers for the handshake: every send is one
// record that the receiver gets whole (or not at all), with file descriptors
// attached via SCM_RIGHTS, and the kernel-verified credentials of the peer
// via SO_PEERCRED.
#ifndef SHMRPC_TRANSPORT_UNIX_SOCKET_H_
#define SHMRPC_TRANSPORT_UNIX_SOCKET_H_

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "shmrpc/transport/futex.h"
#include "shmrpc/transport/internal/posix.h"

namespace shmrpc::transport {

// Who is at the other end of a connected Unix socket, as the kernel recorded
// it at connect()/listen() time. Plain value.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The credentials of the peer of connected socket `fd`.
absl::StatusOr<PeerCredentials> GetPeerCredentials(int fd);

// A bound, listening, non-blocking SOCK_SEQPACKET socket at `path` with file
// mode `mode`. Fails with kInvalidArgument if `path` does not fit in
// sockaddr_un, or with the bind/listen error.
absl::StatusOr<UniqueFd> ListenSeqpacket(const std::string& path, int backlog,
                                         mode_t mode);

// A blocking SOCK_SEQPACKET socket connected to `path`. kUnavailable if
// nobody listens there.
absl::StatusOr<UniqueFd> ConnectSeqpacket(const std::string& path);

// Sends `bytes` as one record with `fds` attached. Never blocks for long on a
// SEQPACKET socket with a free send buffer; uses MSG_NOSIGNAL (no SIGPIPE).
absl::Status SendRecord(int fd, absl::Span<const uint8_t> bytes,
                        absl::Span<const int> fds);

// One record received by RecvRecord.
struct Record {
  std::vector<uint8_t> bytes;  // what arrived (at most the buffer given)
  bool truncated = false;      // the record was longer than the buffer
  bool fds_truncated = false;  // more fds were attached than accepted
  std::vector<UniqueFd> fds;   // received fds, owned (close-on-exec)
};

// Waits until `fd` is readable or `deadline` passes (kDeadlineExceeded).
absl::Status WaitReadable(int fd, Deadline deadline);

// Receives one record of at most `max_bytes` bytes and `max_fds` fds,
// waiting until `deadline`. An orderly shutdown by the peer is kUnavailable,
// and so is a reset, unless a record the peer sent before it closed is still
// queued: then that record is returned.
// Fds beyond `max_fds` are closed by the kernel and flagged.
absl::StatusOr<Record> RecvRecord(int fd, size_t max_bytes, size_t max_fds,
                                  Deadline deadline);

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_UNIX_SOCKET_H_
