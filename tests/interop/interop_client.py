"""gRPC's interop cases from Python's grpcio, over TCP, against interop_server.

A real non-C++ gRPC client (Debian's python3-grpcio) checks that the server
that serves TestService over shared memory still speaks gRPC to everyone
else. Usage:

  python3 interop_client.py --port=N --pb2_root=DIR [--case=NAME]...

DIR holds grpc/testing/{empty,messages,test}_pb2.py (protoc --python_out).
Prints one line per case and exits 0 only if every case passed.
"""

import argparse
import os
import queue
import sys
import traceback

import grpc


def load_messages(pb2_root):
  # The generated modules import each other as grpc.testing.*, inside the
  # package name grpcio itself uses: add their directory to that package.
  grpc.__path__.append(os.path.join(pb2_root, "grpc"))
  from grpc.testing import empty_pb2  # pylint: disable=import-outside-toplevel
  from grpc.testing import messages_pb2  # pylint: disable=import-outside-toplevel
  return empty_pb2, messages_pb2


LARGE_REQUEST = 271828
LARGE_RESPONSE = 314159
STREAM_REQUESTS = (27182, 8, 1828, 45904)
STREAM_RESPONSES = (31415, 9, 2653, 58979)
INITIAL_KEY = "x-grpc-test-echo-initial"
INITIAL_VALUE = "test_initial_metadata_value"
TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
TRAILING_VALUE = b"\x0a\x0b\x0a\x0b\x0a\x0b"
SPECIAL_MESSAGE = ("\t\ntest with whitespace\r\nand Unicode BMP \u263a and "
                   "non-BMP \U0001f608\t\n")
TIMEOUT = 20


class Pipe:
  """A request iterator the test feeds one message at a time."""

  def __init__(self):
    self._queue = queue.Queue()

  def add(self, message):
    self._queue.put(message)

  def close(self):
    self._queue.put(None)

  def __iter__(self):
    return self

  def __next__(self):
    message = self._queue.get()
    if message is None:
      raise StopIteration()
    return message


def check(condition, what):
  if not condition:
    raise AssertionError(what)


def expect_code(call, code, what):
  try:
    call()
  except grpc.RpcError as e:
    check(e.code() == code, "%s: expected %s, got %s %r" %
          (what, code, e.code(), e.details()))
    return e
  raise AssertionError("%s: expected %s, got OK" % (what, code))


class Client:

  def __init__(self, channel, empty_pb2, messages_pb2):
    self.empty = empty_pb2
    self.m = messages_pb2
    svc = "/grpc.testing.TestService/"

    def uu(name, req, resp):
      return channel.unary_unary(svc + name, req.SerializeToString,
                                 resp.FromString)

    self.empty_call = uu("EmptyCall", empty_pb2.Empty, empty_pb2.Empty)
    self.unary_call = uu("UnaryCall", messages_pb2.SimpleRequest,
                         messages_pb2.SimpleResponse)
    self.unimplemented_call = uu("UnimplementedCall", empty_pb2.Empty,
                                 empty_pb2.Empty)
    self.other_service_call = channel.unary_unary(
        "/grpc.testing.UnimplementedService/UnimplementedCall",
        empty_pb2.Empty.SerializeToString, empty_pb2.Empty.FromString)
    self.streaming_input = channel.stream_unary(
        svc + "StreamingInputCall",
        messages_pb2.StreamingInputCallRequest.SerializeToString,
        messages_pb2.StreamingInputCallResponse.FromString)
    self.streaming_output = channel.unary_stream(
        svc + "StreamingOutputCall",
        messages_pb2.StreamingOutputCallRequest.SerializeToString,
        messages_pb2.StreamingOutputCallResponse.FromString)
    self.full_duplex = channel.stream_stream(
        svc + "FullDuplexCall",
        messages_pb2.StreamingOutputCallRequest.SerializeToString,
        messages_pb2.StreamingOutputCallResponse.FromString)

  def stream_request(self, request_bytes, response_bytes=None):
    request = self.m.StreamingOutputCallRequest(
        response_type=self.m.COMPRESSABLE,
        payload=self.m.Payload(body=b"\0" * request_bytes))
    if response_bytes is not None:
      request.response_parameters.add(size=response_bytes)
    return request

  def check_payload(self, payload, size):
    check(payload.type == self.m.COMPRESSABLE, "payload type %d" % payload.type)
    check(payload.body == b"\0" * size,
          "payload of %d bytes, expected %d zeros" % (len(payload.body), size))

  def large_request(self):
    return self.m.SimpleRequest(
        response_type=self.m.COMPRESSABLE,
        response_size=LARGE_RESPONSE,
        payload=self.m.Payload(body=b"\0" * LARGE_REQUEST))

  def empty_unary(self):
    response = self.empty_call(self.empty.Empty(), timeout=TIMEOUT)
    check(response.ByteSize() == 0, "non-empty response")

  def large_unary(self):
    response = self.unary_call(self.large_request(), timeout=TIMEOUT)
    self.check_payload(response.payload, LARGE_RESPONSE)

  def client_streaming(self):
    requests = [
        self.m.StreamingInputCallRequest(payload=self.m.Payload(body=b"\0" * n))
        for n in STREAM_REQUESTS
    ]
    response = self.streaming_input(iter(requests), timeout=TIMEOUT)
    check(response.aggregated_payload_size == 74922,
          "aggregated size %d" % response.aggregated_payload_size)

  def server_streaming(self):
    request = self.m.StreamingOutputCallRequest(
        response_type=self.m.COMPRESSABLE)
    for n in STREAM_RESPONSES:
      request.response_parameters.add(size=n)
    responses = list(self.streaming_output(request, timeout=TIMEOUT))
    check(len(responses) == len(STREAM_RESPONSES),
          "%d responses" % len(responses))
    for response, n in zip(responses, STREAM_RESPONSES):
      self.check_payload(response.payload, n)

  def ping_pong(self):
    pipe = Pipe()
    responses = self.full_duplex(pipe, timeout=TIMEOUT)
    for request_bytes, response_bytes in zip(STREAM_REQUESTS, STREAM_RESPONSES):
      pipe.add(self.stream_request(request_bytes, response_bytes))
      self.check_payload(next(responses).payload, response_bytes)
    pipe.close()
    check(not list(responses), "a response after the last")
    check(responses.code() == grpc.StatusCode.OK, "status %s" % responses.code())

  def empty_stream(self):
    responses = self.full_duplex(iter([]), timeout=TIMEOUT)
    check(not list(responses), "a response to no request")
    check(responses.code() == grpc.StatusCode.OK, "status %s" % responses.code())

  def check_echoed(self, initial, trailing):
    initial = dict(initial)
    trailing = dict(trailing)
    check(initial.get(INITIAL_KEY) == INITIAL_VALUE,
          "initial metadata %r" % initial.get(INITIAL_KEY))
    check(trailing.get(TRAILING_KEY) == TRAILING_VALUE,
          "trailing metadata %r" % trailing.get(TRAILING_KEY))

  def custom_metadata(self):
    metadata = ((INITIAL_KEY, INITIAL_VALUE), (TRAILING_KEY, TRAILING_VALUE))
    response, call = self.unary_call.with_call(
        self.large_request(), metadata=metadata, timeout=TIMEOUT)
    self.check_payload(response.payload, LARGE_RESPONSE)
    self.check_echoed(call.initial_metadata(), call.trailing_metadata())

    pipe = Pipe()
    responses = self.full_duplex(pipe, metadata=metadata, timeout=TIMEOUT)
    pipe.add(self.stream_request(LARGE_REQUEST, LARGE_RESPONSE))
    self.check_payload(next(responses).payload, LARGE_RESPONSE)
    pipe.close()
    check(not list(responses), "a response after the last")
    self.check_echoed(responses.initial_metadata(),
                      responses.trailing_metadata())

  def status_request(self, message):
    return self.m.EchoStatus(code=2, message=message)

  def status_code_and_message(self):
    message = "test status message"
    e = expect_code(
        lambda: self.unary_call(
            self.m.SimpleRequest(response_status=self.status_request(message)),
            timeout=TIMEOUT), grpc.StatusCode.UNKNOWN, "UnaryCall")
    check(e.details() == message, "message %r" % e.details())

    pipe = Pipe()
    responses = self.full_duplex(pipe, timeout=TIMEOUT)
    pipe.add(
        self.m.StreamingOutputCallRequest(
            response_status=self.status_request(message)))
    pipe.close()
    e = expect_code(lambda: list(responses), grpc.StatusCode.UNKNOWN,
                    "FullDuplexCall")
    check(e.details() == message, "message %r" % e.details())

  def special_status_message(self):
    e = expect_code(
        lambda: self.unary_call(
            self.m.SimpleRequest(
                response_status=self.status_request(SPECIAL_MESSAGE)),
            timeout=TIMEOUT), grpc.StatusCode.UNKNOWN, "UnaryCall")
    check(e.details() == SPECIAL_MESSAGE, "message %r" % e.details())

  def unimplemented_method(self):
    expect_code(
        lambda: self.unimplemented_call(self.empty.Empty(), timeout=TIMEOUT),
        grpc.StatusCode.UNIMPLEMENTED, "UnimplementedCall")

  def unimplemented_service(self):
    expect_code(
        lambda: self.other_service_call(self.empty.Empty(), timeout=TIMEOUT),
        grpc.StatusCode.UNIMPLEMENTED, "UnimplementedService")

  def cancel_after_begin(self):
    pipe = Pipe()
    future = self.streaming_input.future(pipe, timeout=TIMEOUT)
    future.cancel()
    check(future.cancelled(), "the call was not cancelled")
    check(future.code() == grpc.StatusCode.CANCELLED,
          "status %s" % future.code())
    pipe.close()

  def cancel_after_first_response(self):
    pipe = Pipe()
    responses = self.full_duplex(pipe, timeout=TIMEOUT)
    pipe.add(self.stream_request(STREAM_REQUESTS[0], STREAM_RESPONSES[0]))
    self.check_payload(next(responses).payload, STREAM_RESPONSES[0])
    responses.cancel()
    expect_code(lambda: next(responses), grpc.StatusCode.CANCELLED,
                "FullDuplexCall")
    pipe.close()

  def timeout_on_sleeping_server(self):
    pipe = Pipe()
    responses = self.full_duplex(pipe, timeout=0.001)
    pipe.add(self.stream_request(STREAM_REQUESTS[0]))
    expect_code(lambda: next(responses), grpc.StatusCode.DEADLINE_EXCEEDED,
                "FullDuplexCall")
    pipe.close()


CASES = (
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--port", type=int, required=True)
  parser.add_argument("--pb2_root", required=True)
  parser.add_argument("--case", action="append", choices=CASES)
  args = parser.parse_args()
  empty_pb2, messages_pb2 = load_messages(args.pb2_root)
  failed = 0
  # The channel is never closed: grpcio's Channel.close() now and then
  # deadlocks after streaming calls that ended early (grpc/grpc#20026; here
  # about one run in 50, every case already passed). The process ends with
  # os._exit below instead, which also skips grpcio's teardown.
  channel = grpc.insecure_channel("127.0.0.1:%d" % args.port)
  client = Client(channel, empty_pb2, messages_pb2)
  for name in args.case or CASES:
    try:
      getattr(client, name)()
      print("PASS %s" % name)
    except Exception:  # pylint: disable=broad-except
      failed += 1
      print("FAIL %s" % name)
      traceback.print_exc(file=sys.stdout)
  sys.stdout.flush()
  return 1 if failed else 0


if __name__ == "__main__":
  code = main()
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)
