// Support for the client stubs that protoc-gen-shmrpc generates. Not for
// direct use.
//
// A generated unary method first offers the call to shared memory
// (StubCore::TryUnary); if the channel has no shared-memory connection to a
// server that serves the method, it makes the ordinary gRPC call on the same
// channel instead.
#ifndef SHMRPC_CLIENT_GENERATED_STUB_H_
#define SHMRPC_CLIENT_GENERATED_STUB_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <google/protobuf/message_lite.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/channel_interface.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/strings/string_view.h"
#include "shmrpc/codegen/version.h"
#include "shmrpc/message/peer_serialize.h"

namespace shmrpc::internal {

class ChannelState;
class ClientConnection;

// One method of a generated stub: its name, gRPC's description of it (for
// the fallback), and its id on the current shared-memory connection.
// Thread-safe.
class StubMethod {
 public:
  StubMethod(const char* name, grpc::internal::RpcMethod::RpcType type,
             const std::shared_ptr<grpc::ChannelInterface>& channel)
      : name_(name), rpc_method_(name, type, channel) {}

  const char* name() const { return name_; }
  const grpc::internal::RpcMethod& rpc_method() const { return rpc_method_; }

  // The method's id on `conn`, 0 if that server does not serve it. Cached
  // per connection.
  uint32_t IdOn(const ClientConnection& conn) const;

 private:
  const char* name_;
  grpc::internal::RpcMethod rpc_method_;
  mutable std::atomic<uint64_t> cached_{0};  // epoch << 32 | id
};

// What a generated stub shares between its methods. Thread-safe.
class StubCore {
 public:
  explicit StubCore(std::shared_ptr<grpc::ChannelInterface> channel);
  ~StubCore();

  const std::shared_ptr<grpc::ChannelInterface>& channel() const {
    return channel_;
  }

  // Runs the call over shared memory if the channel can; returns false
  // (doing nothing) if the caller should make the gRPC call instead.
  bool TryUnary(const StubMethod& method, grpc::ClientContext* context,
                const google::protobuf::MessageLite& request,
                google::protobuf::MessageLite* response, grpc::Status* status);

  // The asynchronous form: on true, `done` was taken and will be called
  // with the outcome; on false, it is untouched.
  bool TryUnaryAsync(const StubMethod& method, grpc::ClientContext* context,
                     const google::protobuf::MessageLite* request,
                     google::protobuf::MessageLite* response,
                     std::function<void(grpc::Status)>* done);

 private:
  std::shared_ptr<grpc::ChannelInterface> channel_;
  std::shared_ptr<ChannelState> state_;  // null: not a shmrpc channel
};

// How the interceptor (client/credentials.h) handles a method's messages,
// which it only sees as void*. Registered by generated code for every
// method, under its full name.
struct MethodCodec {
  size_t (*request_size)(const void* request);
  // Writes the request (whose request_size was just taken) for the server;
  // false if it did not come out at that size.
  bool (*write_request)(const void* request, size_t size, uint8_t* out);
  // False if the bytes do not parse (or exceed what protobuf can take).
  bool (*parse_response)(void* response, const uint8_t* bytes, size_t size);
};

template <class Request, class Response>
const MethodCodec* CodecFor() {
  static const MethodCodec codec = {
      [](const void* r) {
        return static_cast<const Request*>(r)->ByteSizeLong();
      },
      [](const void* r, size_t size, uint8_t* out) {
        return message::SerializeToPeer(*static_cast<const Request*>(r), size,
                                        out);
      },
      [](void* r, const uint8_t* bytes, size_t size) {
        // protobuf takes an int (and aborts on a negative one).
        if (size > static_cast<size_t>(INT_MAX)) return false;
        return static_cast<Response*>(r)->ParseFromArray(
            bytes, static_cast<int>(size));
      }};
  return &codec;
}

// Thread-safe; called from static initializers of generated code.
void RegisterMethodCodec(const char* name, const MethodCodec* codec);
const MethodCodec* FindMethodCodec(absl::string_view name);

// Registers a method's codec at static-initialization time.
struct MethodCodecRegistration {
  MethodCodecRegistration(const char* name, const MethodCodec* codec) {
    RegisterMethodCodec(name, codec);
  }
};

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_GENERATED_STUB_H_
