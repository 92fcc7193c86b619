// Flat-message calls from the generated stubs (cc_shm_grpc_library(...,
// flat = True)): the request built in place and the response read in place
// (shmrpc/message/flat.h), through the handles of shmrpc/rpc/flat_message.h.
// Unary calls here; streaming ones in client/flat_stream.h.
//
//   ShmImages::Stub stub(channel);
//   shmrpc::FlatRequest<demo::flat::ImageBuilder> request =
//       stub.NewProcessRequest(/*size_hint=*/width * height + 1024);
//   request->set_width(width);
//   Render(request->mutable_pixels(width * height).data());  // in place
//   shmrpc::FlatResponse<demo::flat::SummaryView> response;
//   grpc::Status status = stub.Process(&context, std::move(request),
//   &response); if (status.ok()) Use(response->histogram());  // read in place
//   response.Release();  // or let it go out of scope
//
// Over shared memory a request's builder lives in a chunk of the client's
// own segment, which the call sends as it is; the response is the server's
// chunk, read where it lies until the FlatResponse releases it (holding
// many applies backpressure: the server waits for chunks, within its
// calls' deadlines, never without bound). Without shared memory (a remote
// server, fallback, SHMRPC_MODE=off) the same code works: the request is
// converted to protobuf for gRPC and the response back to a flat message.
//
// Thread-safety: a FlatRequest and a FlatResponse belong to one thread at a
// time; views read from a FlatResponse may be read from several.
#ifndef SHMRPC_CLIENT_FLAT_CALL_H_
#define SHMRPC_CLIENT_FLAT_CALL_H_
// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "shmrpc/rpc/flat_message.h"

namespace shmrpc {

// A request being built in place, of the generated builder type `Builder`
// (FooBuilder). Made by the stub (NewMethodRequest), used by one call.
template <class Builder>
using FlatRequest = FlatMessageBuilder<Builder>;

// A response read in place, of the generated view type `View` (FooView):
// valid from a call that returned OK until Release() or destruction.
template <class View>
using FlatResponse = FlatMessage<View>;

namespace internal {

// `s` (of building or reading a flat message) as the call's status:
// RESOURCE_EXHAUSTED and INTERNAL keep their code, with the message.
inline grpc::Status FlatStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

}  // namespace internal
}  // namespace shmrpc

#endif  // SHMRPC_CLIENT_FLAT_CALL_H_
