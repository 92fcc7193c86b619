#include "shmrpc/rpc/flat_frames.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace shmrpc::rpc {
namespace {

absl::Span<uint8_t> WordsAsBytes(std::vector<uint64_t>* words) {
  return absl::Span<uint8_t>(reinterpret_cast<uint8_t*>(words->data()),
                             words->size() * 8);
}

// Room for the buffer's header and a small root message at least.
size_t AtLeastAHeader(size_t size) { return std::max<size_t>(size, 256); }

}  // namespace

ChunkArena::ChunkArena(transport::Connection* conn, std::shared_ptr<void> owner,
                       std::optional<transport::Chunk> chunk,
                       absl::Span<uint8_t> memory)
    : flat::Arena(
          memory,
          [this](absl::Span<uint8_t> old, uint32_t used, uint64_t min_size) {
            return Grow(old, used, min_size);
          }),
      conn_(conn),
      owner_(std::move(owner)),
      chunk_(chunk) {}

std::unique_ptr<ChunkArena> ChunkArena::OnHeap(size_t size) {
  std::vector<uint64_t> words((AtLeastAHeader(size) + 7) / 8);
  const absl::Span<uint8_t> memory = WordsAsBytes(&words);
  std::unique_ptr<ChunkArena> arena(
      new ChunkArena(nullptr, nullptr, std::nullopt, memory));
  arena->heap_ = std::move(words);  // the memory moves with the vector
  return arena;
}

std::unique_ptr<ChunkArena> ChunkArena::InChunk(transport::Connection* conn,
                                                std::shared_ptr<void> owner,
                                                size_t size) {
  size = AtLeastAHeader(size);
  if (conn == nullptr || size > conn->max_chunk_size()) return OnHeap(size);
  absl::StatusOr<transport::Chunk> chunk =
      conn->AllocateChunk(size, transport::Deadline{});
  if (!chunk.ok()) return OnHeap(size);
  return std::unique_ptr<ChunkArena>(
      new ChunkArena(conn, std::move(owner), *chunk,
                     absl::Span<uint8_t>(chunk->data, chunk->capacity)));
}

ChunkArena::~ChunkArena() {
  if (chunk_) conn_->DiscardChunk(*chunk_);
}

absl::StatusOr<absl::Span<uint8_t>> ChunkArena::Grow(absl::Span<uint8_t> old,
                                                     uint32_t used,
                                                     uint64_t min_size) {
  if (chunk_ && min_size <= conn_->max_chunk_size()) {
    absl::StatusOr<transport::Chunk> bigger =
        conn_->AllocateChunk(min_size, transport::Deadline{});
    if (bigger.ok()) {
      std::memcpy(bigger->data, old.data(), used);
      conn_->DiscardChunk(*chunk_);
      chunk_ = *bigger;
      return absl::Span<uint8_t>(bigger->data, bigger->capacity);
    }
  }
  // Memory of our own (the call then copies the message into a chunk, or
  // converts it for gRPC).
  std::vector<uint64_t> words((min_size + 7) / 8);
  std::memcpy(words.data(), old.data(), used);
  if (chunk_) {
    conn_->DiscardChunk(*chunk_);
    chunk_.reset();
  }
  heap_ = std::move(words);
  return WordsAsBytes(&heap_);
}

bool ChunkArena::TakeChunk(const transport::Connection& t, size_t extra,
                           transport::Chunk* chunk) {
  if (!chunk_ || !status().ok() || conn_ != &t ||
      uint64_t{used()} + extra > chunk_->capacity) {
    return false;
  }
  *chunk = *chunk_;
  chunk_.reset();
  return true;
}

void HeldMessage::Adopt(transport::InboundMessage* m, size_t offset,
                        size_t size) {
  Release();
  frame_ = std::move(*m);
  const absl::Span<const uint8_t> payload = frame_.payload();
  offset_ = std::min(offset, payload.size());
  size_ = std::min(size, payload.size() - offset_);
  in_copy_ = reinterpret_cast<uintptr_t>(payload.data() + offset_) % 8 != 0;
  if (in_copy_) {
    // A small inline payload: copied out, aligned.
    copy_.assign((size_ + 7) / 8, 0);
    std::memcpy(copy_.data(), payload.data() + offset_, size_);
    frame_.Release();
    offset_ = 0;
  }
}

void HeldMessage::AdoptCopy(absl::Span<const uint8_t> bytes) {
  Release();
  copy_.assign((bytes.size() + 7) / 8, 0);
  std::memcpy(copy_.data(), bytes.data(), bytes.size());
  size_ = bytes.size();
  in_copy_ = true;
}

absl::Span<const uint8_t> HeldMessage::bytes() const {
  if (in_copy_) {
    return absl::Span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(copy_.data()), size_);
  }
  if (frame_.empty()) return {};
  return frame_.payload().subspan(offset_, size_);
}

void HeldMessage::Release() {
  frame_.Release();
  frame_ = transport::InboundMessage();
  copy_.clear();
  offset_ = size_ = 0;
  in_copy_ = false;
}

}  // namespace shmrpc::rpc
