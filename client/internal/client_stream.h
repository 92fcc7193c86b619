// The client's side of a streaming call over shared memory (the protocol in
// rpc/frame.h, "Streaming"), for the generated stubs, all three kinds:
//
//   server streaming  the call starts as a unary one does (request,
//                     half-close); Read takes each kMessage frame off the
//                     stream's ring only when the application reads it,
//                     which is what lets the server send more
//   client streaming  the kCall carries metadata and deadline only; every
//                     Write sends a kMessage frame on the requests ring,
//                     WritesDone a half-close, and the kResponse brings the
//                     response message with the status
//   bidirectional     both
//
// A writer keeps at most the stream ring's capacity of messages that the
// server has not consumed (the credit word of the stream's ring control,
// transport/connection.h); the server marks that word closed when it ends
// the call, so a writer stops instead of waiting.
#ifndef SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_
#define SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <memory>

#include "shmrpc/client/generated_stub.h"
#include "shmrpc/client/internal/shm_channel.h"

namespace shmrpc::internal {

// Starts call `method` (the connection's id of a streaming method of
// `kind`) on `conn`: `request` for server streaming, `response` (parsed
// when the call ends OK) for client streaming, null otherwise. Never fails
// here: a call that cannot start (no free stream before its deadline, a
// request over the send limit, ...) reports its status through Finish().
// `context`, `request` and `response` must outlive the stream; `context`
// must not be used for another call.
std::unique_ptr<ShmClientStream> StartClientStream(
    std::shared_ptr<ClientConnection> conn, uint32_t method, StreamKind kind,
    grpc::ClientContext* context, const google::protobuf::MessageLite* request,
    google::protobuf::MessageLite* response);

// A stream that has already ended with `status` (a call whose connection
// could not be had, in ShmMode::kRequired or past its deadline).
std::unique_ptr<ShmClientStream> FailedClientStream(grpc::Status status);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_
