#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (small, hand-made valid inputs).

The fuzzers (tools/fuzz.sh) start from these and the replay tests
(//rpc:*_fuzzer_test, //transport:*_fuzzer_test) run them and mutations of
them. Re-run after a format change:

    python3 tools/fuzz_seeds.py
"""
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(corpus, name, data):
    d = os.path.join(ROOT, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- rpc frames: u16 flags, then the payload (rpc/frame.h) ----------------
HAS_MESSAGE, HAS_METADATA, HAS_DEADLINE, HAS_STATUS, HALF_CLOSE = 1, 2, 4, 8, 16


def entries(pairs):
    return b"".join(struct.pack("<II", len(k), len(v)) + k + v for k, v in pairs)


def frame(flags, message=b"", metadata=(), deadline=0, status=None):
    body = message
    md = entries(metadata)
    st = b""
    if flags & HAS_METADATA:
        body += md
    if flags & HAS_STATUS:
        msg, details, trailing = status
        st = (struct.pack("<I", len(msg)) + msg + struct.pack("<I", len(details))
              + details + entries(trailing))
        body += st
    if flags & HAS_DEADLINE:
        body += struct.pack("<Q", deadline)
    if flags & HAS_METADATA:
        body += struct.pack("<I", len(md))
    if flags & HAS_STATUS:
        body += struct.pack("<I", len(st))
    return struct.pack("<H", flags) + body


FC = "rpc/fuzz/frame_corpus"
write(FC, "empty", frame(0))
write(FC, "message_only", frame(HAS_MESSAGE, b"\x0a\x05hello"))
write(FC, "unary_call", frame(
    HAS_MESSAGE | HAS_METADATA | HAS_DEADLINE | HALF_CLOSE, b"\x0a\x03abc",
    [(b"user-agent", b"shmrpc"), (b"x-trace", b"1234")], 1700000000123456789))
write(FC, "unary_response", frame(
    HAS_MESSAGE | HAS_STATUS, b"\x0a\x02ok",
    status=(b"", b"", [(b"trailer", b"t")])))
write(FC, "error_status", frame(
    HAS_STATUS, status=(b"deadline exceeded", b"\x08\x04", [])))
write(FC, "everything", frame(
    HAS_MESSAGE | HAS_METADATA | HAS_DEADLINE | HAS_STATUS, b"m" * 40,
    [(b"a", b""), (b"", b"b"), (b"key-bin", bytes(range(16)))], 1,
    (b"msg", b"details", [(b"t1", b"v1"), (b"t2", b"v2")])))

# ---- method tables: u32 count, then (u32 length, name)... ----------------
def table(names):
    return struct.pack("<I", len(names)) + b"".join(
        struct.pack("<I", len(n)) + n for n in names)


MC = "rpc/fuzz/method_table_corpus"
write(MC, "empty", table([]))
write(MC, "greeter", table([b"/helloworld.Greeter/SayHello"]))
write(MC, "several", table([b"/a.B/C", b"", b"/grpc.testing.TestService/UnaryCall",
                           b"/x/" + b"y" * 100]))

# ---- handshakes (transport/handshake_wire.h) -------------------------------
# Prefix: control byte (bit 0 side: 0 server judges a ClientHello, 1 client
# judges a ServerHello; bits 1-2 fd count; bit 3 truncated; bit 4 fds
# truncated; bit 5 make a ServerHello's derived sizes consistent), then u32 a,
# u32 b, u32 c, u16 chunks, u8 features, u8 zero.
MAGIC = 0x48524D53
VERSION = 2


def prefix(side, fds, a, b, c, chunks, features=3):
    return struct.pack("<BIIIHBB", side | fds << 1, a, b, c, chunks, features, 0)


def client_hello(size, chunks, streams, depth, requests, vmin=VERSION,
                 vmax=VERSION, features=3):
    return struct.pack("<IHHII", MAGIC, 1, 0, 64, 0) + struct.pack(
        "<HHIQQIIIIQ", vmin, vmax, 0, features, size, chunks, streams, depth,
        requests, 0)


def bit_ceil(n):
    return 1 << max(n - 1, 1).bit_length() if n > 1 else 2


def layout_size(requests, creturns, sreturns, notify, streams, depth):
    ring = lambda cap: 256 + cap * 128
    at = (256 + ring(requests) + ring(creturns) + ring(sreturns) + ring(notify)
          + streams * ring(depth))
    return (at + 4095) // 4096 * 4096


def server_hello(params, data_size, refusal=0, message=b"", features=3):
    requests, creturns, sreturns, notify, streams, depth = params
    size = layout_size(requests, creturns, sreturns, notify, streams, depth)
    head = struct.pack("<IHHII", MAGIC, 2, 0, 384, 0)
    body = struct.pack("<HHHHQQQ", VERSION if refusal == 0 else 0, refusal,
                       VERSION, VERSION, features if refusal == 0 else 0,
                       size if refusal == 0 else 0,
                       data_size if refusal == 0 else 0)
    body += struct.pack("<IIIIII", *(params if refusal == 0 else (0,) * 6))
    body += b"\0" * 56 + message.ljust(256, b"\0")
    return head + body


HC = "transport/fuzz/handshake_corpus"
write(HC, "client_hello_default",
      prefix(0, 1, 1024, 64, 4096, 683) + client_hello(59 << 20, 683, 256, 8, 1024))
write(HC, "client_hello_huge_requests",
      prefix(0, 1, 1024, 64, 4096, 683) + client_hello(
          59 << 20, 683, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
write(HC, "client_hello_small_limits",
      prefix(0, 1, 3, 5, 7, 12) + client_hello(1 << 20, 12, 0, 3, 100, 1, 9, 1))
write(HC, "client_hello_no_fd",
      prefix(0, 0, 1024, 64, 4096, 683) + client_hello(1 << 20, 12, 8, 8, 64))
params = (1024, 1024, 1024, 256, 256, 8)
write(HC, "server_hello_accept",
      prefix(1, 2, 256, 8, 1024, 683) + server_hello(params, 4096 + 64 * 1024))
write(HC, "server_hello_small",
      prefix(1, 2, 8, 8, 64, 12) + server_hello((64, 16, 16, 8, 8, 8), 24576))
write(HC, "server_hello_fixed_up",
      prefix(1 | 32, 2, 16, 4, 64, 12) + server_hello((64, 16, 16, 16, 16, 4), 24576))
write(HC, "server_hello_refusal",
      prefix(1, 0, 256, 8, 1024, 683) + server_hello(
          params, 0, 6, b"too many handshakes in progress from pid 1"))

# ---- descriptor acceptance (descriptor_fuzzer.cc) --------------------------
def desc(units, lend, length, stream, payload, segment=0):
    return struct.pack("<IIIIIIHHBBH", units, lend, length, stream, 0, 0, 0, 0,
                       payload, segment, 0)


# A descriptor, then u64 segment size, u8 stream count, u8 flags (bit 0:
# inline payloads, bit 1: check the stream id).
def judge(d, segment=1 << 20, streams=8, flags=3):
    return d + struct.pack("<QBB", segment, streams, flags)


DC = "transport/fuzz/descriptor_corpus"
write(DC, "chunk", judge(desc(64, 1, 100, 0, 2)))
write(DC, "chunk_at_end", judge(desc((1 << 20) // 64 - 1, 1, 64, 0, 2)))
write(DC, "chunk_in_header", judge(desc(63, 1, 1, 0, 2)))
write(DC, "chunk_other_segment", judge(desc(64, 1, 1, 0, 2, segment=1)))
write(DC, "inline", judge(desc(0, 0, 88, 3, 1)))
write(DC, "inline_not_negotiated", judge(desc(0, 0, 1, 3, 1), flags=2))
write(DC, "none", judge(desc(0, 0, 0, 7, 0)))
write(DC, "bad_stream", judge(desc(0, 0, 0, 9, 0)))
write(DC, "huge_segment", judge(desc(0xFFFFFFFF, 0, 0xFFFFFFFF, 0, 2),
                                segment=(1 << 64) - 1))

# ---- chunk lending and returns (chunk_pool_fuzzer.cc) ----------------------
# Ops: 0 allocate(u16 bytes, u8 larger) 1 free(u8 pick) 2 lend(pick)
# 3 cancel(pick) 4 return(pick) 5 duplicate(u8 index) 6 bogus(u64, u32)
# 7 reclaim 8 send-and-return(pick). pick k: chunk (k >> 3) % 14 in offset
# order (0-7: 64 B, 8-11: 256 B, 12-13: 4 KiB); k & 7 == 7 names a nearby
# offset.
def pick(i, near=False):
    return (i << 3) | (7 if near else 0)


def alloc(n, larger=0):
    return struct.pack("<BHB", 0, n, larger)


def op(code, *args):
    return bytes([code, *args])


PC = "transport/fuzz/chunk_pool_corpus"
write(PC, "lend_and_return",
      alloc(200) + op(2, pick(8)) + op(4, pick(8)) + alloc(10) + op(2, pick(0))
      + op(4, pick(0)))
write(PC, "duplicate_after_relend",
      alloc(200) + op(2, pick(8)) + op(4, pick(8)) + alloc(200) + op(2, pick(8))
      + op(5, 0) + op(4, pick(8)) + op(5, 0))
write(PC, "cancel_free_reclaim",
      alloc(1) + alloc(1) + alloc(4000) + op(2, pick(0)) + op(3, pick(0))
      + op(1, pick(0)) + op(2, pick(1)) + op(2, pick(12)) + op(7) + op(4, pick(1)))
write(PC, "bogus_returns",
      alloc(64) + op(2, pick(0)) + b"\x06" + struct.pack("<QI", 4096 + 32, 1)
      + b"\x06" + struct.pack("<QI", 1 << 40, 1) + op(4, pick(0, near=True))
      + op(4, pick(0)))
write(PC, "send_and_return",
      alloc(60) + op(8, pick(0)) + alloc(300) + op(8, pick(12)) + op(5, 0)
      + op(5, 1))
print("seed corpora written")
