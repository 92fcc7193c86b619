// Fuzz target: both hellos' pure checks (CheckClientHello on the server,
// CheckServerHello on the client) on any record, fd count and options.
//
// Input: byte 0 selects the side (bit 0: 0 = server judges a ClientHello,
// 1 = client judges a ServerHello), the attached fd count (bits 1-2) and the
// truncation flags (bits 3, 4); for a ServerHello, bit 5 first makes the
// record consistent where the fuzzer would otherwise have to solve for it
// (notify and client_returns sized as the protocol says, the control segment
// size that of the params' layout), so that it reaches the checks behind
// those; bytes 1-16 are the judging side's options
// (three u32 stream/ring sizes, a u16 chunk count, a feature mask); the rest
// is the record. Invariants: no undefined behaviour for any value (UBSan),
// and what is accepted is sound: granted sizes within the server's limits
// and never more than was asked for, a layout that ControlLayout::Compute
// accepts, features and versions both sides offer; and a grant the server
// makes is accepted by a client that asked for what the hello asked.
//
// Run under libFuzzer by tools/fuzz.sh; replayed on its corpus
// (fuzz/handshake_corpus) by //transport:handshake_fuzzer_test.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/numeric/bits.h"
#include "shmrpc/transport/handshake.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace shmrpc::transport;  // NOLINT: a fuzz target's own file

constexpr size_t kPrefix = 17;

struct Knobs {
  uint32_t a, b, c;
  uint16_t chunks;
  uint8_t features;
};

Knobs ReadKnobs(const uint8_t* p) {
  Knobs k;
  std::memcpy(&k.a, p, 4);
  std::memcpy(&k.b, p + 4, 4);
  std::memcpy(&k.c, p + 8, 4);
  std::memcpy(&k.chunks, p + 12, 2);
  k.features = p[14];
  return k;
}

bool PowerOfTwo(uint32_t v) { return absl::has_single_bit(v); }

// The most a server with limit `limit` grants for a ring.
uint32_t RingCap(uint32_t limit, uint32_t protocol_max) {
  return std::max(kMinRingCapacity,
                  absl::bit_floor(std::min(limit, protocol_max)));
}

// The most a client asking for `asked` entries accepts.
uint64_t Asked(uint32_t asked) {
  return absl::bit_ceil(uint64_t{std::max(asked, kMinRingCapacity)});
}

void JudgeClientHello(uint8_t control, const Knobs& k, const uint8_t* record,
                      size_t size) {
  ServerHandshakeOptions options;
  options.max_stream_count = k.a;
  options.max_stream_capacity = k.b;
  options.max_request_capacity = k.c;
  options.features = k.features & kAllFeatures;
  const size_t fd_count = (control >> 1) & 3;
  const bool truncated = (control & 8) != 0;
  const bool fds_truncated = (control & 16) != 0;
  ClientHelloVerdict v = CheckClientHello({record, size}, truncated, fd_count,
                                          fds_truncated, k.chunks, options);
  if (!v.accepted()) {
    FUZZ_CHECK(!v.message.empty());
    return;
  }
  FUZZ_CHECK(size == sizeof(ClientHello) && !truncated);
  FUZZ_CHECK(fd_count == 1 && !fds_truncated);
  ClientHello in;
  std::memcpy(&in, record, sizeof(in));
  const ControlParams& p = v.terms.layout.params;
  absl::StatusOr<ControlLayout> layout = ControlLayout::Compute(p);
  FUZZ_CHECK(layout.ok() && layout->size == v.terms.layout.size);

  // Within the server's limits, never more than asked.
  const uint32_t stream_cap =
      std::clamp<uint32_t>(options.max_stream_count, 1, kMaxStreamCount);
  FUZZ_CHECK(p.stream_count >= 1 && p.stream_count <= stream_cap);
  FUZZ_CHECK(p.stream_count <=
             (in.stream_count == 0 ? kDefaultStreamCount : in.stream_count));
  FUZZ_CHECK(PowerOfTwo(p.stream_capacity) &&
             p.stream_capacity <=
                 RingCap(options.max_stream_capacity, kMaxStreamCapacity) &&
             p.stream_capacity <= Asked(in.stream_capacity));
  FUZZ_CHECK(PowerOfTwo(p.request_capacity) &&
             p.request_capacity <=
                 RingCap(options.max_request_capacity, kMaxRingCapacity) &&
             p.request_capacity <= Asked(in.request_capacity));
  FUZZ_CHECK(p.client_return_capacity >= in.chunk_count);
  FUZZ_CHECK(p.server_return_capacity >= k.chunks);
  FUZZ_CHECK(p.notify_capacity >= p.stream_count);
  FUZZ_CHECK((v.terms.features & ~(in.features & options.features)) == 0);
  FUZZ_CHECK(v.terms.version >= std::max(in.min_version, options.min_version));
  FUZZ_CHECK(v.terms.version <= std::min(in.max_version, options.max_version));
  FUZZ_CHECK(v.terms.peer_segment_size == in.data_segment_size &&
             in.data_segment_size <= options.max_peer_segment_size);

  // The reply this grant makes is accepted by a client that asked for
  // exactly what the hello asked for.
  ServerHello reply{};
  reply.header.magic = kHandshakeMagic;
  reply.header.type = static_cast<uint16_t>(WireType::kServerHello);
  reply.header.length = sizeof(ServerHello);
  reply.version = v.terms.version;
  reply.min_version = options.min_version;
  reply.max_version = options.max_version;
  reply.features = v.terms.features;
  reply.control_segment_size = v.terms.layout.size;
  reply.data_segment_size =
      kDataHeaderSize +
      uint64_t{kChunkAlignment} * std::max<uint32_t>(k.chunks, 1);
  reply.params = p;
  ClientHandshakeOptions asked;
  asked.min_version = in.min_version;
  asked.max_version = in.max_version;
  asked.features = in.features;
  asked.stream_count = in.stream_count;
  asked.stream_capacity = in.stream_capacity;
  asked.request_capacity = in.request_capacity;
  absl::StatusOr<NegotiatedTerms> terms = CheckServerHello(
      {reinterpret_cast<const uint8_t*>(&reply), sizeof(reply)}, false, 2,
      false, in.chunk_count, asked);
  if (!terms.ok()) {
    std::fprintf(stderr, "client refused the server's grant: %s\n",
                 std::string(terms.status().message()).c_str());
  }
  FUZZ_CHECK(terms.ok());
  FUZZ_CHECK(std::memcmp(&terms->layout.params, &p, sizeof(p)) == 0);
}

void JudgeServerHello(uint8_t control, const Knobs& k, const uint8_t* record,
                      size_t size) {
  ClientHandshakeOptions options;
  options.stream_count = k.a;
  options.stream_capacity = k.b;
  options.request_capacity = k.c;
  options.features = k.features & kAllFeatures;
  const size_t fd_count = (control >> 1) & 3;
  const bool truncated = (control & 8) != 0;
  const bool fds_truncated = (control & 16) != 0;
  ServerHello fixed;
  if ((control & 32) != 0 && size == sizeof(ServerHello)) {
    std::memcpy(&fixed, record, sizeof(fixed));
    ControlParams& p = fixed.params;
    p.notify_capacity =
        static_cast<uint32_t>(Asked(std::min(p.stream_count, kMaxStreamCount)));
    p.client_return_capacity = static_cast<uint32_t>(Asked(k.chunks));
    if (absl::StatusOr<ControlLayout> l = ControlLayout::Compute(p); l.ok()) {
      fixed.control_segment_size = l->size;
    }
    record = reinterpret_cast<const uint8_t*>(&fixed);
  }
  absl::StatusOr<NegotiatedTerms> terms = CheckServerHello(
      {record, size}, truncated, fd_count, fds_truncated, k.chunks, options);
  if (!terms.ok()) return;
  FUZZ_CHECK(size == sizeof(ServerHello) && !truncated);
  FUZZ_CHECK(fd_count == 2 && !fds_truncated);
  const ControlParams& p = terms->layout.params;
  absl::StatusOr<ControlLayout> layout = ControlLayout::Compute(p);
  FUZZ_CHECK(layout.ok() && layout->size == terms->layout.size);
  FUZZ_CHECK(
      p.stream_count <=
      (options.stream_count == 0 ? kDefaultStreamCount : options.stream_count));
  FUZZ_CHECK(p.stream_capacity <= Asked(options.stream_capacity));
  FUZZ_CHECK(p.request_capacity <= Asked(options.request_capacity));
  FUZZ_CHECK(p.client_return_capacity >= k.chunks);
  FUZZ_CHECK(p.client_return_capacity <= Asked(k.chunks));
  FUZZ_CHECK((terms->features & ~options.features) == 0);
  FUZZ_CHECK(terms->version >= options.min_version &&
             terms->version <= options.max_version);
  FUZZ_CHECK(terms->peer_segment_size >= kDataHeaderSize + kChunkAlignment &&
             terms->peer_segment_size <= options.max_peer_segment_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kPrefix) return 0;
  const uint8_t control = data[0];
  const Knobs knobs = ReadKnobs(data + 1);
  if ((control & 1) == 0) {
    JudgeClientHello(control, knobs, data + kPrefix, size - kPrefix);
  } else {
    JudgeServerHello(control, knobs, data + kPrefix, size - kPrefix);
  }
  return 0;
}
