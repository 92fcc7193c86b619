// Descriptor rings over the control segment (layout in control_layout.h).
//
// A ring has producers in one process and a consumer in the other. Producers
// are lock-free and may run on many threads at once; the consumer is one
// thread at a time (callers serialize consumers, e.g. with a try-lock).
//
// Producer side. The claim counter is private to the producing process, so
// the peer cannot corrupt it. A producer claims position p with a CAS on the
// claim counter after checking for space against its cached copy of the
// consumer's head; only when the cache says "full" does it reload the shared
// head (acquire). It then writes the entry and publishes it by storing
// seq = p + 1 (release), and rings the data bell (a load, plus a FUTEX_WAKE
// only if the consumer announced that it sleeps).
//
// Consumer side. The consumer keeps its position privately, loads the seq of
// the entry at that position (acquire), and accepts the entry only if seq is
// exactly position + 1. It copies the entry into a local RingMessage, checks
// the copy, advances the shared head (release) and rings the space bell. It
// never reads the producers' claim counter, so it needs no cached copy of it.
//
// What the peer can do to us. A hostile consumer can only move `head`: a head
// beyond what was ever published is detected (PushResult::kCorrupt); a head
// that lags makes the ring look full (we wait, then time out). A hostile
// producer can only write entries: a seq that does not match means "empty";
// an entry whose inline length exceeds kInlineCapacity is reported as
// PopResult::kCorrupt. Indices are always reduced modulo the capacity that
// this side computed, so no value from shared memory ever selects memory
// outside the ring.
#ifndef SHMRPC_TRANSPORT_RING_H_
#define SHMRPC_TRANSPORT_RING_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "shmrpc/transport/control_layout.h"
#include "shmrpc/transport/doorbell.h"

namespace shmrpc::transport {

// A message copied out of a ring entry. Plain value.
struct RingMessage {
  Descriptor desc;
  // The first desc.length bytes are valid when desc.payload is kInline.
  uint8_t inline_data[kInlineCapacity];
};

enum class PushResult {
  kOk,
  kFull,     // no space now
  kCorrupt,  // the consumer's head is impossible: protocol violation
};

enum class PopResult {
  kOk,
  kEmpty,
  kCorrupt,  // the entry was malformed; it was consumed and dropped
};

// The shared part of one ring, located by ControlLayout. Plain view.
struct RingView {
  RingControl* control = nullptr;
  RingEntry* entries = nullptr;
  uint32_t capacity = 0;  // power of two, computed by this side

  // The view of the ring at `offset` in a control segment mapped at `base`.
  static RingView At(uint8_t* base, uint64_t offset, uint32_t capacity) {
    return RingView{
        reinterpret_cast<RingControl*>(base + offset),
        reinterpret_cast<RingEntry*>(base + offset + kRingControlSize),
        capacity};
  }
};

// The producing end of a ring. Thread-safe and lock-free: any number of
// threads of this process may push concurrently. Not copyable (it owns the
// private claim counter); the ring's shared memory must outlive it.
class RingProducer {
 public:
  RingProducer() = default;
  explicit RingProducer(RingView view) { Attach(view); }
  RingProducer(const RingProducer&) = delete;
  RingProducer& operator=(const RingProducer&) = delete;

  // Points this producer at `view`, restarting at position 0. Not
  // thread-safe; call before any push.
  void Attach(RingView view) {
    view_ = view;
    mask_ = view.capacity - 1;
    claim_.store(0, std::memory_order_relaxed);
    cached_head_.store(0, std::memory_order_relaxed);
  }

  // Publishes one message if there is space. When desc.payload is kInline,
  // copies desc.length bytes from `inline_bytes` (at most kInlineCapacity:
  // a longer length is published as is, and the consumer rejects it).
  // Rings the data bell on success.
  // If `position` is not null, it receives the ring position the message
  // took (the consumer has taken it once head > position). If `woke` is not
  // null, it receives whether ringing the bell woke a sleeping consumer.
  PushResult TryPush(const Descriptor& desc, const void* inline_bytes,
                     uint64_t* position = nullptr, bool* woke = nullptr);

  // Like TryPush, but when the ring is full waits on the space bell per
  // `policy` until there is space, `stop()` returns true, or `deadline`
  // passes (then returns kFull).
  template <typename Stop>
  PushResult Push(const Descriptor& desc, const void* inline_bytes,
                  const WaitPolicy& policy, Deadline deadline, Stop&& stop,
                  uint64_t* position = nullptr, bool* woke = nullptr);

  // True if a push would find space right now (may reload the shared head).
  bool HasSpace();

  // True once the consumer has taken the message at `position` (as TryPush
  // reported it) off the ring. Reloads the shared head; sets *corrupt (and
  // returns false) if that head is beyond anything claimed.
  bool Taken(uint64_t position, bool* corrupt) {
    if (cached_head_.load(std::memory_order_acquire) > position) return true;
    uint64_t head;
    if (!ReloadHead(&head)) {
      *corrupt = true;
      return false;
    }
    return head > position;
  }

  // Bells of this ring: data (the consumer sleeps there) and space (producers
  // sleep there).
  Doorbell data_bell() const { return Doorbell(&view_.control->data_bell); }
  Doorbell space_bell() const { return Doorbell(&view_.control->space_bell); }

  const RingView& view() const { return view_; }

 private:
  // Refreshes the cached head from shared memory. Returns false if the
  // shared head is beyond anything claimed (corrupt).
  bool ReloadHead(uint64_t* head);

  RingView view_;
  uint32_t mask_ = 0;
  alignas(kCacheLine) std::atomic<uint64_t> claim_{0};
  std::atomic<uint64_t> cached_head_{0};
};

// The consuming end of a ring. Not thread-safe: one thread at a time.
class RingConsumer {
 public:
  RingConsumer() = default;
  explicit RingConsumer(RingView view) { Attach(view); }

  // Points this consumer at `view`, restarting at position 0.
  void Attach(RingView view) {
    view_ = view;
    mask_ = view.capacity - 1;
    position_.store(0, std::memory_order_relaxed);
  }

  // Copies out the next message into `out`, if one is published.
  PopResult TryPop(RingMessage* out);

  // True if the next entry is published (one acquire load; no side effects).
  // Unlike the other methods, may be called from any thread at any time (the
  // answer may be stale by the time it returns).
  bool HasData() const {
    const uint64_t pos = position_.load(std::memory_order_relaxed);
    const RingEntry& e = view_.entries[pos & mask_];
    if (e.seq.load(std::memory_order_acquire) == pos + 1) return true;
    __builtin_prefetch(e.inline_data + kInlineInFirstLine);
    return false;
  }

  Doorbell data_bell() const { return Doorbell(&view_.control->data_bell); }
  Doorbell space_bell() const { return Doorbell(&view_.control->space_bell); }

  // Messages consumed so far.
  uint64_t position() const {
    return position_.load(std::memory_order_relaxed);
  }
  const RingView& view() const { return view_; }

 private:
  RingView view_;
  uint32_t mask_ = 0;
  // Written only by the consuming thread; atomic so that HasData() may peek
  // from other threads.
  std::atomic<uint64_t> position_{0};
};

// ---- implementation -------------------------------------------------------

inline bool RingProducer::ReloadHead(uint64_t* head) {
  const uint64_t h = view_.control->head.load(std::memory_order_acquire);
  // Loaded after `h` (acquire above): covers every claim that led to an entry
  // the consumer could have consumed.
  const uint64_t claimed = claim_.load(std::memory_order_acquire);
  if (h > claimed) return false;
  uint64_t cached = cached_head_.load(std::memory_order_relaxed);
  while (cached < h &&
         !cached_head_.compare_exchange_weak(
             cached, h, std::memory_order_release, std::memory_order_relaxed)) {
  }
  *head = h;
  return true;
}

inline bool RingProducer::HasSpace() {
  for (;;) {
    const uint64_t pos = claim_.load(std::memory_order_relaxed);
    uint64_t head = cached_head_.load(std::memory_order_acquire);
    if (head <= pos && pos - head < view_.capacity) return true;
    if (!ReloadHead(&head)) return false;
    // As in TryPush: the head may be newer than `pos`; look again.
    if (head > pos) continue;
    return pos - head < view_.capacity;
  }
}

inline PushResult RingProducer::TryPush(const Descriptor& desc,
                                        const void* inline_bytes,
                                        uint64_t* position, bool* woke) {
  uint64_t pos = claim_.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t head = cached_head_.load(std::memory_order_acquire);
    if (pos - head >= view_.capacity) {
      if (!ReloadHead(&head)) return PushResult::kCorrupt;
      // The head may have been loaded for a newer claim than `pos`.
      if (head > pos) {
        pos = claim_.load(std::memory_order_relaxed);
        continue;
      }
      if (pos - head >= view_.capacity) return PushResult::kFull;
    }
    if (claim_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
      break;
    }
  }
  RingEntry& e = view_.entries[pos & mask_];
  if (desc.payload == static_cast<uint8_t>(PayloadKind::kInline) &&
      desc.length > 0) {
    // Never copy past the entry, whatever the caller claims; a consumer
    // rejects a length beyond kInlineCapacity.
    const uint32_t n = std::min<uint32_t>(desc.length, kInlineCapacity);
    const auto* bytes = static_cast<const uint8_t*>(inline_bytes);
    // The entry's second line first, so that its first line (where the
    // consumer spins on seq) is written in one go at the end: the consumer
    // can then take the second line over while the first is still being
    // written.
    if (n > kInlineInFirstLine) {
      std::memcpy(e.inline_data + kInlineInFirstLine,
                  bytes + kInlineInFirstLine, n - kInlineInFirstLine);
      std::atomic_signal_fence(std::memory_order_seq_cst);
    }
    std::memcpy(e.inline_data, bytes, std::min(n, kInlineInFirstLine));
  }
  std::memcpy(&e.desc, &desc, sizeof(Descriptor));
  e.seq.store(pos + 1, std::memory_order_release);
  const bool woken = data_bell().Notify();
  if (woke != nullptr) *woke = woken;
  if (position != nullptr) *position = pos;
  return PushResult::kOk;
}

template <typename Stop>
PushResult RingProducer::Push(const Descriptor& desc, const void* inline_bytes,
                              const WaitPolicy& policy, Deadline deadline,
                              Stop&& stop, uint64_t* position, bool* woke) {
  for (;;) {
    PushResult r = TryPush(desc, inline_bytes, position, woke);
    if (r != PushResult::kFull) return r;
    bool corrupt = false;
    WaitStatus w = space_bell().Wait(
        [&] {
          if (stop()) return true;
          uint64_t head;
          if (!ReloadHead(&head)) {
            corrupt = true;
            return true;
          }
          return claim_.load(std::memory_order_relaxed) - head < view_.capacity;
        },
        policy, deadline);
    if (corrupt) return PushResult::kCorrupt;
    if (w == WaitStatus::kTimedOut || stop()) return PushResult::kFull;
  }
}

inline PopResult RingConsumer::TryPop(RingMessage* out) {
  const uint64_t pos = position_.load(std::memory_order_relaxed);
  RingEntry& e = view_.entries[pos & mask_];
  if (e.seq.load(std::memory_order_acquire) != pos + 1) {
    // While waiting, keep the entry's second line (inline bytes, written
    // first by the producer) coming, so that it is here when seq is.
    __builtin_prefetch(e.inline_data + kInlineInFirstLine);
    return PopResult::kEmpty;
  }
  // Read the descriptor once into `out`, then check only the copy.
  std::memcpy(&out->desc, &e.desc, sizeof(Descriptor));
  PopResult result = PopResult::kOk;
  if (out->desc.payload == static_cast<uint8_t>(PayloadKind::kInline)) {
    if (out->desc.length > kInlineCapacity) {
      result = PopResult::kCorrupt;
    } else {
      std::memcpy(out->inline_data, e.inline_data, out->desc.length);
    }
  }
  position_.store(pos + 1, std::memory_order_relaxed);
  view_.control->head.store(pos + 1, std::memory_order_release);
  space_bell().Notify();
  return result;
}

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_RING_H_
