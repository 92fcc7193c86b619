// Segment: a sealed memfd mapped into this process.
//
// A Segment is created once at its final size and sealed so that nobody can
// change its size afterwards (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL). A
// mapped segment therefore can never shrink under us, which is what would make
// an access raise SIGBUS. Segments have no name in any file system (nothing
// appears in /dev/shm); the memory is freed when the last fd and mapping of it
// are gone, including when the processes holding them are killed.
//
//   // Owner side: create, then seal against writable mappings by others.
//   absl::StatusOr<Segment> mine = Segment::Create("shmrpc-data", 1 << 20,
//                                                  SealMode::kOwnerWritesOnly);
//   // ... pass mine->fd() to the peer with SCM_RIGHTS ...
//
//   // Peer side: adopt a received fd; seals and size are checked first.
//   absl::StatusOr<Segment> theirs =
//       Segment::Adopt(std::move(fd), expected_size, Access::kReadOnly);
#ifndef SHMRPC_TRANSPORT_SEGMENT_H_
#define SHMRPC_TRANSPORT_SEGMENT_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shmrpc/transport/internal/posix.h"

namespace shmrpc::transport {

// How a segment is mapped into this process.
enum class Access { kReadOnly, kReadWrite };

// Which seals Create() applies beyond the size seals.
enum class SealMode {
  // Both sides may map it writable (the control segment).
  kShared,
  // Adds F_SEAL_FUTURE_WRITE after the creator's own writable mapping exists:
  // from then on the kernel refuses every new writable mapping (and write(2)),
  // whoever holds the fd. Used for data segments, which only their owner
  // writes.
  kOwnerWritesOnly,
};

// The seals every received segment must carry.
inline constexpr int kRequiredSeals =
    0x0001 /*F_SEAL_SEAL*/ | 0x0002 /*F_SEAL_SHRINK*/ | 0x0004 /*F_SEAL_GROW*/;

// An fd plus a mapping of the whole segment. Move-only; unmaps and closes on
// destruction. Thread-compatible: const methods may be called concurrently.
class Segment {
 public:
  // Creates a memfd named `name` (visible only in /proc/<pid>/fd and maps),
  // sizes it to `size` bytes (rounded up to whole pages), maps it read-write,
  // and seals it as `seal`. The contents start zeroed.
  static absl::StatusOr<Segment> Create(absl::string_view name, size_t size,
                                        SealMode seal);

  // Takes ownership of `fd`, a segment received from a peer. Before mapping,
  // checks that it is a memfd carrying kRequiredSeals and that its size is
  // exactly `expected_size`; on failure returns kFailedPrecondition (bad
  // seals) or kInvalidArgument (bad size) and closes the fd.
  static absl::StatusOr<Segment> Adopt(UniqueFd fd, size_t expected_size,
                                       Access access);

  // An empty segment (no fd, no mapping).
  Segment() = default;
  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&& other) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  // The segment's fd (for passing to a peer); owned by this object.
  int fd() const { return fd_.get(); }
  size_t size() const { return size_; }
  Access access() const { return access_; }

  // Start of the mapping. Writable only for Access::kReadWrite segments.
  uint8_t* data() const { return base_; }

 private:
  Segment(UniqueFd fd, uint8_t* base, size_t size, Access access)
      : fd_(std::move(fd)), base_(base), size_(size), access_(access) {}
  void Unmap();

  UniqueFd fd_;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  Access access_ = Access::kReadOnly;
};

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_SEGMENT_H_
