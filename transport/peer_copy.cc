#include "shmrpc/transport/peer_copy.h"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace shmrpc::transport {

void CopyToPeer(void* dst, const void* src, size_t n) {
  if (n == 0) return;  // memcpy wants valid pointers even for 0 bytes
#if defined(__SSE2__)
  if (n >= kStreamingCopyMinBytes) {
    auto* d = static_cast<uint8_t*>(dst);
    const auto* s = static_cast<const uint8_t*>(src);
    // A plain copy up to the first 64-byte boundary of the destination, so
    // that every streaming iteration fills one whole cache line.
    const size_t head = (64 - (reinterpret_cast<uintptr_t>(d) & 63)) & 63;
    std::memcpy(d, s, head);
    d += head;
    s += head;
    n -= head;
    const size_t body = n & ~size_t{63};
    for (size_t i = 0; i < body; i += 64) {
      const __m128i a =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
      const __m128i b =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 16));
      const __m128i c =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 32));
      const __m128i e =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 48));
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i), a);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 16), b);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 32), c);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 48), e);
    }
    std::memcpy(d + body, s + body, n - body);
    // Streaming stores are weakly ordered: without this fence a later
    // release store (the ring push that publishes the chunk) could become
    // visible before them.
    _mm_sfence();
    return;
  }
#endif
  std::memcpy(dst, src, n);
}

}  // namespace shmrpc::transport
