#include "shmrpc/client/flat_call.h"

#include <algorithm>
#include <cstring>

#include "shmrpc/client/internal/shm_channel.h"

namespace shmrpc::internal {
namespace {

absl::Span<uint8_t> WordsAsBytes(std::vector<uint64_t>* words) {
  return absl::Span<uint8_t>(reinterpret_cast<uint8_t*>(words->data()),
                             words->size() * 8);
}

size_t AtLeastAHeader(size_t size) { return std::max<size_t>(size, 256); }

}  // namespace

FlatRequestBuffer::FlatRequestBuffer(std::shared_ptr<ClientConnection> conn,
                                     std::optional<transport::Chunk> chunk,
                                     absl::Span<uint8_t> memory)
    : flat::Arena(
          memory,
          [this](absl::Span<uint8_t> old, uint32_t used, uint64_t min_size) {
            return Grow(old, used, min_size);
          }),
      conn_(std::move(conn)),
      chunk_(chunk) {}

std::unique_ptr<FlatRequestBuffer> FlatRequestBuffer::OnHeap(size_t size) {
  std::vector<uint64_t> words((AtLeastAHeader(size) + 7) / 8);
  const absl::Span<uint8_t> memory = WordsAsBytes(&words);
  std::unique_ptr<FlatRequestBuffer> buffer(
      new FlatRequestBuffer(nullptr, std::nullopt, memory));
  buffer->heap_ = std::move(words);  // the memory moves with the vector
  return buffer;
}

std::unique_ptr<FlatRequestBuffer> FlatRequestBuffer::InChunk(
    std::shared_ptr<ClientConnection> conn, size_t size) {
  size = AtLeastAHeader(size);
  transport::Connection& t = conn->transport();
  if (size > t.max_chunk_size()) return OnHeap(size);
  absl::StatusOr<transport::Chunk> chunk =
      t.AllocateChunk(size, transport::Deadline{});
  if (!chunk.ok()) return OnHeap(size);
  return std::unique_ptr<FlatRequestBuffer>(
      new FlatRequestBuffer(std::move(conn), *chunk,
                            absl::Span<uint8_t>(chunk->data, chunk->capacity)));
}

FlatRequestBuffer::~FlatRequestBuffer() {
  if (chunk_) conn_->transport().DiscardChunk(*chunk_);
}

absl::StatusOr<absl::Span<uint8_t>> FlatRequestBuffer::Grow(
    absl::Span<uint8_t> old, uint32_t used, uint64_t min_size) {
  if (chunk_) {
    transport::Connection& t = conn_->transport();
    if (min_size <= t.max_chunk_size()) {
      absl::StatusOr<transport::Chunk> bigger =
          t.AllocateChunk(min_size, transport::Deadline{});
      if (bigger.ok()) {
        std::memcpy(bigger->data, old.data(), used);
        t.DiscardChunk(*chunk_);
        chunk_ = *bigger;
        return absl::Span<uint8_t>(bigger->data, bigger->capacity);
      }
    }
  }
  // Memory of our own (the call then copies the request into a chunk, or
  // converts it for gRPC).
  std::vector<uint64_t> words((min_size + 7) / 8);
  std::memcpy(words.data(), old.data(), used);
  if (chunk_) {
    conn_->transport().DiscardChunk(*chunk_);
    chunk_.reset();
  }
  heap_ = std::move(words);
  return WordsAsBytes(&heap_);
}

bool FlatRequestBuffer::TakeChunk(const transport::Connection& t, size_t extra,
                                  transport::Chunk* chunk) {
  if (!chunk_ || !status().ok() || &conn_->transport() != &t ||
      uint64_t{used()} + extra > chunk_->capacity) {
    return false;
  }
  *chunk = *chunk_;
  chunk_.reset();
  return true;
}

void FlatResponseHolder::Adopt(transport::InboundMessage* m, size_t size) {
  Release();
  message_ = std::move(*m);
  const absl::Span<const uint8_t> payload = message_.payload();
  size_ = std::min(size, payload.size());
  in_copy_ = reinterpret_cast<uintptr_t>(payload.data()) % 8 != 0;
  if (in_copy_) {
    // A small inline payload: copied out, aligned.
    copy_.assign((size_ + 7) / 8, 0);
    std::memcpy(copy_.data(), payload.data(), size_);
    message_.Release();
  }
}

void FlatResponseHolder::AdoptCopy(absl::Span<const uint8_t> bytes) {
  Release();
  copy_.assign((bytes.size() + 7) / 8, 0);
  std::memcpy(copy_.data(), bytes.data(), bytes.size());
  size_ = bytes.size();
  in_copy_ = true;
}

absl::Span<const uint8_t> FlatResponseHolder::bytes() const {
  if (in_copy_) {
    return absl::Span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(copy_.data()), size_);
  }
  if (message_.empty()) return {};
  return message_.payload().subspan(0, size_);
}

void FlatResponseHolder::Release() {
  message_.Release();
  message_ = transport::InboundMessage();
  copy_.clear();
  size_ = 0;
  in_copy_ = false;
}

}  // namespace shmrpc::internal
