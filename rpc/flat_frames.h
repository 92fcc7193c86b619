// Flat messages (shmrpc/message/flat.h) in the frames of a shared-memory
// connection, for both sides of a call:
//
//   ChunkArena   where a flat message is built: a chunk of the sender's
//                own segment (which a call then sends as it is, without a
//                copy), or memory of its own when there is no connection
//                or no chunk to be had at once
//   HeldMessage  where a received flat message is read from: the frame it
//                came in, held (its chunk stays lent to us) until Release,
//                or a copy of its bytes
//
// Knows nothing of gRPC or protobuf.
#ifndef SHMRPC_RPC_FLAT_FRAMES_H_
#define SHMRPC_RPC_FLAT_FRAMES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "shmrpc/message/flat.h"
#include "shmrpc/transport/connection.h"

namespace shmrpc::rpc {

// An arena (flat::Arena) in a chunk of a connection's segment, or on the
// heap. Not thread-safe: one builder's thread at a time. Never moved (held
// by a unique_ptr, as builders point at it).
class ChunkArena final : public flat::Arena {
 public:
  // Memory of its own, `size` bytes to start with.
  static std::unique_ptr<ChunkArena> OnHeap(size_t size);
  // A chunk of `conn` of at least `size` bytes (on the heap instead if none
  // can be had at once); `owner` keeps `conn` alive while the arena holds
  // one of its chunks (may be null if something else does).
  static std::unique_ptr<ChunkArena> InChunk(transport::Connection* conn,
                                             std::shared_ptr<void> owner,
                                             size_t size);
  // Gives back a chunk it still holds.
  ~ChunkArena() override;

  // For the call sending the message: the chunk holding it if it is one of
  // `t`'s with `extra` bytes free behind used() (for the rest of the frame);
  // the arena gives it up (the call sends or discards it). False (the arena
  // keeps everything) otherwise: the caller copies written() instead.
  bool TakeChunk(const transport::Connection& t, size_t extra,
                 transport::Chunk* chunk);

 private:
  ChunkArena(transport::Connection* conn, std::shared_ptr<void> owner,
             std::optional<transport::Chunk> chunk, absl::Span<uint8_t> memory);
  // The arena's growth: a larger chunk of the same connection, else heap
  // memory; the old one is given back.
  absl::StatusOr<absl::Span<uint8_t>> Grow(absl::Span<uint8_t> old,
                                           uint32_t used, uint64_t min_size);

  transport::Connection* conn_;
  std::shared_ptr<void> owner_;
  std::optional<transport::Chunk> chunk_;
  std::vector<uint64_t> heap_;
};

// A received flat message's bytes. Not thread-safe; the bytes may be read
// from several threads while nobody changes the holder.
class HeldMessage {
 public:
  HeldMessage() = default;
  HeldMessage(const HeldMessage&) = delete;
  HeldMessage& operator=(const HeldMessage&) = delete;

  // Takes the frame `m`, whose payload's bytes [offset, offset + size) are
  // the message: read in place when they are 8-aligned (a chunk's always
  // are), else copied out (a small inline payload). Bounds past the payload
  // are cut to it.
  void Adopt(transport::InboundMessage* m, size_t offset, size_t size);
  // Takes a copy of `bytes` (a message that did not come in a frame).
  void AdoptCopy(absl::Span<const uint8_t> bytes);
  // The message's bytes, 8-aligned (empty when there is none).
  absl::Span<const uint8_t> bytes() const;
  // Whether bytes() are read where they arrived, in the sender's shared
  // memory (false for a copy: a small inline payload, or a message that
  // came over gRPC).
  bool in_place() const { return !in_copy_ && !frame_.empty(); }
  // Gives the frame's chunk back to its sender; bytes() is empty after.
  void Release();

 private:
  transport::InboundMessage frame_;
  size_t offset_ = 0;
  size_t size_ = 0;
  std::vector<uint64_t> copy_;  // when the bytes are not the frame's
  bool in_copy_ = false;
};

}  // namespace shmrpc::rpc

#endif  // SHMRPC_RPC_FLAT_FRAMES_H_
