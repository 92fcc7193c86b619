// IndexStack: a lock-free LIFO of small integer indices (free chunks, free
// streams), for memory private to this process.
//
// The stack is a chain through a caller-owned array of links, one per index:
// links[i] holds the index below i while i is on the stack. Several stacks may
// share one array as long as each index is on at most one of them at a time.
// The head packs {tag:32 | top index:32}; the tag changes with every push and
// pop, so a pop that read a stale link fails its compare-and-swap instead of
// corrupting the chain (the ABA problem).
//
// LIFO on purpose: the index pushed last (the most recently used chunk or
// stream, still in cache) comes back first.
#ifndef SHMRPC_TRANSPORT_INDEX_STACK_H_
#define SHMRPC_TRANSPORT_INDEX_STACK_H_

#include <atomic>
#include <cstdint>
#include <optional>

namespace shmrpc::transport {

// Thread-safe: Push and Pop may run concurrently from any threads. Not
// copyable. Attach() must precede use and must not race with it.
class IndexStack {
 public:
  static constexpr uint32_t kNil = 0xffffffffu;

  IndexStack() = default;
  IndexStack(const IndexStack&) = delete;
  IndexStack& operator=(const IndexStack&) = delete;

  // Uses `links` (not owned; must outlive the stack and have an element for
  // every index that will be pushed). Starts empty.
  void Attach(std::atomic<uint32_t>* links) {
    links_ = links;
    head_.store(kNil, std::memory_order_relaxed);
  }

  // Pushes `index` (which must not be on any stack sharing the links).
  void Push(uint32_t index) {
    uint64_t h = head_.load(std::memory_order_relaxed);
    for (;;) {
      links_[index].store(static_cast<uint32_t>(h), std::memory_order_relaxed);
      const uint64_t tag = (h >> 32) + 1;
      // Release: a Pop that sees this head also sees the link above.
      if (head_.compare_exchange_weak(h, (tag << 32) | index,
                                      std::memory_order_release,
                                      std::memory_order_relaxed)) {
        return;
      }
    }
  }

  // Pops the index pushed last; nullopt if the stack is empty.
  std::optional<uint32_t> Pop() {
    uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      const uint32_t top = static_cast<uint32_t>(h);
      if (top == kNil) return std::nullopt;
      // May be stale if `top` was popped and pushed again meanwhile; then
      // the tag has moved on and the exchange below fails.
      const uint32_t below = links_[top].load(std::memory_order_relaxed);
      const uint64_t tag = (h >> 32) + 1;
      if (head_.compare_exchange_weak(h, (tag << 32) | below,
                                      std::memory_order_acquire,
                                      std::memory_order_acquire)) {
        return top;
      }
    }
  }

  // True if the stack was empty at the moment of the load.
  bool empty() const {
    return static_cast<uint32_t>(head_.load(std::memory_order_relaxed)) == kNil;
  }

 private:
  std::atomic<uint64_t> head_{kNil};
  std::atomic<uint32_t>* links_ = nullptr;
};

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_INDEX_STACK_H_
