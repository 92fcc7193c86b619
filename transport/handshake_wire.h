// The handshake's wire format: two records on a Unix SOCK_SEQPACKET socket.
// Little-endian, fixed layout, no pointers. Every field the peer sends is
// checked by handshake.cc before use.
//
//   client                                         server
//     |  connect(path)                                |
//     |---------------------------------------------->|  SO_PEERCRED: uid
//     |  ClientHello + SCM_RIGHTS[client data seg]    |  allowed? versions,
//     |---------------------------------------------->|  features, sizes,
//     |                                               |  seals ok?
//     |  ServerHello + SCM_RIGHTS[control, srv data]  |
//     |<----------------------------------------------|  (or a ServerHello
//     |  SO_PEERCRED: uid allowed? grants within what |   with a refusal
//     |  we asked? seals, sizes, header of the        |   code + message,
//     |  control segment ok?                          |   no fds, close)
//     |                                               |
//     |  ... the socket stays open: its hang-up is    |
//     |      how either side learns the other is gone |
//
// Every record starts with a WireHeader:
//
//   0        4        6        8                 12               16
//   +--------+--------+--------+-----------------+----------------+
//   | magic  | type   | zero   | length (bytes)  | zero           |
//   +--------+--------+--------+-----------------+----------------+
//
// ClientHello (type 1, 64 bytes, carries exactly one fd):
//
//   16  min_version u16, max_version u16, zero u32
//   24  features u64                offered feature bits
//   32  data_segment_size u64       size of the attached client data segment
//   40  chunk_count u32             chunks in that segment (sizes the
//                                   client_returns ring)
//   44  stream_count u32            wished-for stream rings
//   48  stream_capacity u32         wished-for entries per stream ring
//   52  request_capacity u32        wished-for entries in the requests ring
//   56  zero u64
//
// ServerHello (type 2, 384 bytes, carries two fds on success, none on a
// refusal):
//
//   16  version u16 (chosen), refusal u16 (0 = accepted), min_version u16,
//       max_version u16 (the server's supported range)
//   24  features u64                chosen feature bits
//   32  control_segment_size u64    size of fd #0
//   40  data_segment_size u64       size of fd #1 (server data segment)
//   48  ControlParams (24 bytes)    the layout both sides compute from
//   72  zero (56 bytes)
//   128 message char[256]           NUL-terminated reason for a refusal
#ifndef SHMRPC_TRANSPORT_HANDSHAKE_WIRE_H_
#define SHMRPC_TRANSPORT_HANDSHAKE_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmrpc/transport/control_layout.h"

namespace shmrpc::transport {

// "SMRH" read as a little-endian u32: starts every handshake record.
inline constexpr uint32_t kHandshakeMagic = 0x48524d53;

// The oldest protocol version this build can speak (version 1 descriptors
// carried no lend generation; see control_layout.h).
inline constexpr uint16_t kMinProtocolVersion = 2;

enum class WireType : uint16_t { kClientHello = 1, kServerHello = 2 };

// Feature bits. A feature is used only if both sides offer it.
// Small payloads (<= kInlineCapacity bytes) may travel inside ring entries.
inline constexpr uint64_t kFeatureInlinePayload = uint64_t{1} << 0;
// Stream rings may ask for notifications on the notify ring (async clients).
inline constexpr uint64_t kFeatureNotifyRing = uint64_t{1} << 1;
inline constexpr uint64_t kAllFeatures =
    kFeatureInlinePayload | kFeatureNotifyRing;

// Why a server refused a client (ServerHello::refusal).
enum class Refusal : uint16_t {
  kAccepted = 0,
  kMalformed = 1,          // not a well-formed ClientHello (garbage, size)
  kVersionMismatch = 2,    // no protocol version in common
  kPermissionDenied = 3,   // peer uid/gid not on the allow-list
  kBadSegment = 4,         // client data segment unsealed/short/not a memfd
  kBadParameters = 5,      // sizes out of bounds
  kResourceExhausted = 6,  // server could not create segments
  kTimeout = 7,            // ClientHello did not arrive in time
  kShuttingDown = 8,       // server is closing
};

struct WireHeader {
  uint32_t magic;
  uint16_t type;
  uint16_t zero0;
  uint32_t length;
  uint32_t zero1;
};
static_assert(sizeof(WireHeader) == 16);

struct ClientHello {
  WireHeader header;
  uint16_t min_version;
  uint16_t max_version;
  uint32_t zero0;
  uint64_t features;
  uint64_t data_segment_size;
  uint32_t chunk_count;
  uint32_t stream_count;
  uint32_t stream_capacity;
  uint32_t request_capacity;
  uint64_t zero1;
};
static_assert(sizeof(ClientHello) == 64);
static_assert(offsetof(ClientHello, features) == 24);
static_assert(offsetof(ClientHello, request_capacity) == 52);

inline constexpr size_t kRefusalMessageSize = 256;

struct ServerHello {
  WireHeader header;
  uint16_t version;
  uint16_t refusal;
  uint16_t min_version;
  uint16_t max_version;
  uint64_t features;
  uint64_t control_segment_size;
  uint64_t data_segment_size;
  ControlParams params;
  uint8_t zero[56];
  char message[kRefusalMessageSize];
};
static_assert(sizeof(ServerHello) == 384);
static_assert(offsetof(ServerHello, params) == 48);
static_assert(offsetof(ServerHello, message) == 128);
static_assert(std::is_trivially_copyable_v<ClientHello> &&
              std::is_trivially_copyable_v<ServerHello>);

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_HANDSHAKE_WIRE_H_
