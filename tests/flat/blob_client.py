"""Python's grpcio (a non-C++ gRPC client) calling the flat service of
blob_server over TCP: Echo of payloads of several sizes, every byte checked,
the handler's error status, and the three streaming methods (Split, Count,
Chat). Exits non-zero on any mismatch.

Usage: blob_client.py --port=PORT --pb2_root=DIR
"""
import argparse
import struct
import sys

import grpc


def fill(size, seed):
    return b"".join(struct.pack("<Q", (seed + i) & (2**64 - 1))
                    for i in range(size // 8))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", required=True)
    parser.add_argument("--pb2_root", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.pb2_root)
    import blobs_pb2  # noqa: E402 (generated into pb2_root)

    channel = grpc.insecure_channel("127.0.0.1:" + args.port)
    echo = channel.unary_unary(
        "/shmrpc.flatcall.Blobs/Echo",
        request_serializer=blobs_pb2.Blob.SerializeToString,
        response_deserializer=blobs_pb2.Blob.FromString)
    for size in (0, 64, 4096, 1 << 20):
        seed = 1000 + size
        request = blobs_pb2.Blob(data=fill(size, seed), seed=seed,
                                 weights=[1.5, -2.0], note="py")
        response = echo(request, timeout=20,
                        metadata=(("x-tag", "from-python"),))
        if response.seed != seed + 1 or response.data != fill(size, seed + 1):
            print("FAIL: Echo of %d bytes: wrong data" % size)
            return 1
        if list(response.weights) != [3.0, -4.0] or response.note != "py":
            print("FAIL: Echo of %d bytes: wrong fields" % size)
            return 1
        if response.shared_memory:
            print("FAIL: a TCP call said it came over shared memory")
            return 1
        print("PASS: Echo of %d bytes" % size)
    try:
        echo(blobs_pb2.Blob(note="fail"), timeout=20)
        print("FAIL: no error status")
        return 1
    except grpc.RpcError as e:
        if (e.code() != grpc.StatusCode.INVALID_ARGUMENT or
                e.details() != "asked to fail"):
            print("FAIL: status %s %s" % (e.code(), e.details()))
            return 1
    print("PASS: error status")

    def blob(size, seed, **fields):
        return blobs_pb2.Blob(data=fill(size, seed), seed=seed, **fields)

    split = channel.unary_stream(
        "/shmrpc.flatcall.Blobs/Split",
        request_serializer=blobs_pb2.Blob.SerializeToString,
        response_deserializer=blobs_pb2.Blob.FromString)
    got = list(split(blob(4096, 50, count=4), timeout=20))
    if [m.seed for m in got] != [50, 51, 52, 53] or any(
            m.data != fill(4096, 50 + i) for i, m in enumerate(got)):
        print("FAIL: Split: wrong messages")
        return 1
    print("PASS: Split (server streaming)")

    count = channel.stream_unary(
        "/shmrpc.flatcall.Blobs/Count",
        request_serializer=blobs_pb2.Blob.SerializeToString,
        response_deserializer=blobs_pb2.Blob.FromString)
    sizes = (0, 64, 65536, 8)
    response = count(iter([blob(n, 7 * n) for n in sizes]), timeout=20)
    if response.seed != sum(sizes) or response.count != len(sizes):
        print("FAIL: Count: seed %d count %d" % (response.seed,
                                                 response.count))
        return 1
    print("PASS: Count (client streaming)")

    chat = channel.stream_stream(
        "/shmrpc.flatcall.Blobs/Chat",
        request_serializer=blobs_pb2.Blob.SerializeToString,
        response_deserializer=blobs_pb2.Blob.FromString)
    answers = list(chat(iter([blob(64 << i, i) for i in range(5)]),
                        timeout=20))
    if [a.seed for a in answers] != [1, 2, 3, 4, 5] or any(
            a.data != fill(64 << i, i + 1) for i, a in enumerate(answers)):
        print("FAIL: Chat: wrong answers")
        return 1
    try:
        list(chat(iter([blob(64, 1), blob(64, 2, note="fail")]), timeout=20))
        print("FAIL: Chat: no error status")
        return 1
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
            print("FAIL: Chat: status %s %s" % (e.code(), e.details()))
            return 1
    print("PASS: Chat (bidirectional streaming)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
