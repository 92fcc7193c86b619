// What generated flat services (ShmS::FlatService, from
// cc_shm_grpc_library(..., flat = True)) are made of: a unary method whose
// handler reads its request in place through a flat view and builds its
// response in place with a flat builder (shmrpc/message/flat.h).
//
// Over shared memory the request view reads the client's chunk where it
// lies, and the response builder writes into a chunk of the server's own
// segment that is then sent as it is: no serialize, no parse, no copy of the
// payload. Over gRPC (remote clients, fallback) the same handler runs on a
// view of the protobuf request converted to a flat message, and its
// response is converted back to protobuf, so a flat service serves every
// gRPC client.
#ifndef SHMRPC_SERVER_FLAT_SERVICE_H_
#define SHMRPC_SERVER_FLAT_SERVICE_H_
// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "shmrpc/message/flat.h"
#include "shmrpc/server/server_context.h"
#include "shmrpc/server/service.h"

namespace shmrpc::internal {

// The arena of an in-place response: chunks of the server's segment that
// the call hands out (ServerUnaryCall::ResponseBuffer), larger ones as the
// response grows.
struct ResponseArenaStatus {
  absl::Status first_status;  // constructed before the arena that sets it
};

class ResponseArena final : private ResponseArenaStatus, public flat::Arena {
 public:
  // Starts with a chunk of `initial` bytes; fails (as any arena: setters do
  // nothing, Finish says why) if the call has none.
  ResponseArena(ServerUnaryCall* call, size_t initial)
      : ResponseArenaStatus(),
        flat::Arena(
            First(call, initial,
                  &static_cast<ResponseArenaStatus&>(*this).first_status),
            [call](absl::Span<uint8_t>, uint32_t used,
                   uint64_t min_size) -> absl::StatusOr<absl::Span<uint8_t>> {
              return call->ResponseBuffer(min_size, used);
            }) {}

  // Why the first chunk could not be had (OK if it was).
  const absl::Status& first_status() const {
    return ResponseArenaStatus::first_status;
  }

 private:
  static absl::Span<uint8_t> First(ServerUnaryCall* call, size_t initial,
                                   absl::Status* status) {
    absl::StatusOr<absl::Span<uint8_t>> buffer =
        call->ResponseBuffer(initial, 0);
    if (!buffer.ok()) {
      *status = buffer.status();
      return {};
    }
    return *buffer;
  }
};

// The first chunk of an in-place response: most responses fit it, and a
// larger field (mutable_x(size)) grows the arena to its size at once.
inline constexpr size_t kFirstResponseBufferBytes = 4096;

// A request's bytes as flat::Reader needs them: in place when 8-aligned (a
// chunk always is), else copied into `*copy` (a small inline payload).
inline absl::Span<const uint8_t> AlignedRequest(absl::Span<const uint8_t> bytes,
                                                std::vector<uint64_t>* copy) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % 8 == 0) return bytes;
  copy->assign((bytes.size() + 7) / 8, 0);
  std::memcpy(copy->data(), bytes.data(), bytes.size());
  return absl::Span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(copy->data()), bytes.size());
}

// Converts the flat message of type `View` in `bytes` to protobuf.
template <class View, class Proto>
absl::Status FlatToProto(absl::Span<const uint8_t> bytes, Proto* proto) {
  const flat::Reader reader(bytes);
  absl::StatusOr<View> view = reader.Root<View>();
  if (!view.ok()) {
    return absl::InternalError(std::string(view.status().message()));
  }
  return view->ToProto(proto);
}

// A unary method of a flat service: `Method` reads a RequestView and builds
// its response with a ResponseBuilder (generated types). Thread-safe.
template <class ServiceT, class RequestView, class ResponseBuilder>
class FlatUnaryMethodHandler final : public ShmMethodHandler {
 public:
  using Method = grpc::Status (*)(ServiceT*, ServerContext*, RequestView,
                                  ResponseBuilder);

  FlatUnaryMethodHandler(Method method, ServiceT* service)
      : method_(method), service_(service) {}

  void RunUnary(ServerUnaryCall* call) override {
    std::vector<uint64_t> copy;
    const flat::Reader reader(AlignedRequest(call->request(), &copy));
    absl::StatusOr<RequestView> request = reader.Root<RequestView>();
    if (!request.ok()) {
      call->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                "Failed to read the flat request: " +
                                    std::string(request.status().message())),
                   nullptr);
      return;
    }
    ResponseArena arena(call, kFirstResponseBufferBytes);
    if (!arena.first_status().ok()) {
      call->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                std::string(arena.first_status().message())),
                   nullptr);
      return;
    }
    ResponseBuilder response = ResponseBuilder::New(&arena);
    grpc::Status status =
        method_(service_, call->context(), *request, response);
    if (status.ok()) {
      if (absl::Status finished = arena.Finish(response); !finished.ok()) {
        status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              std::string(finished.message()));
      }
    }
    call->FinishInPlace(status, status.ok() ? arena.used() : 0);
  }

 private:
  const Method method_;
  ServiceT* const service_;
};

// A flat unary method called with protobuf messages (over gRPC, and over
// shared memory by clients that send protobuf: gRPC's stub on
// ShmChannelCredentials, the protobuf form of the generated stub): converts
// the request to a flat message, runs `method` on its view, and converts
// the response it built back to protobuf. So every client can call a flat
// service.
template <class ServiceT, class RequestView, class ResponseBuilder,
          class Request, class Response>
grpc::Status RunFlatOnProtobuf(grpc::Status (*method)(ServiceT*, ServerContext*,
                                                      RequestView,
                                                      ResponseBuilder),
                               ServiceT* service, ServerContext* context,
                               const Request& request, Response* response) {
  using RequestBuilder = typename RequestView::Builder;
  flat::HeapArena in(request.ByteSizeLong() + 256);
  RequestBuilder in_builder = RequestBuilder::New(&in);
  in_builder.CopyFrom(request);
  if (absl::Status s = in.Finish(in_builder); !s.ok()) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        std::string(s.message()));
  }
  const flat::Reader reader(in.written());
  absl::StatusOr<RequestView> view = reader.Root<RequestView>();
  if (!view.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        std::string(view.status().message()));
  }
  flat::HeapArena out;
  ResponseBuilder out_builder = ResponseBuilder::New(&out);
  grpc::Status status = method(service, context, *view, out_builder);
  if (!status.ok()) return status;
  if (absl::Status s = out.Finish(out_builder); !s.ok()) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        std::string(s.message()));
  }
  if (absl::Status s =
          FlatToProto<typename ResponseBuilder::View>(out.written(), response);
      !s.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
  }
  return grpc::Status::OK;
}

}  // namespace shmrpc::internal

#endif  // SHMRPC_SERVER_FLAT_SERVICE_H_
