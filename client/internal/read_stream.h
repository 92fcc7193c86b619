// The client's side of a server-streaming call over shared memory (the
// protocol in rpc/frame.h, "Streaming"), for the generated stubs: the call
// starts as a unary one does, then every Read takes the call's next kMessage
// frame off its stream's ring (which is what lets the server send more: flow
// control needs nothing else from the reader), until the kResponse with the
// status.
#ifndef SHMRPC_CLIENT_INTERNAL_READ_STREAM_H_
#define SHMRPC_CLIENT_INTERNAL_READ_STREAM_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <memory>

#include "shmrpc/client/generated_stub.h"
#include "shmrpc/client/internal/shm_channel.h"

namespace shmrpc::internal {

// Starts call `method` (the connection's id of a server-streaming method)
// with `request` on `conn`. Never fails here: a call that cannot start (no
// free stream before its deadline, a request over the send limit, ...)
// reports its status through Finish(). `context` must outlive the stream
// and not be used for another call.
std::unique_ptr<ShmReadStream> StartReadStream(
    std::shared_ptr<ClientConnection> conn, uint32_t method,
    grpc::ClientContext* context, const google::protobuf::MessageLite& request);

// A stream that has already ended with `status` (a call whose connection
// could not be had, in ShmMode::kRequired or past its deadline).
std::unique_ptr<ShmReadStream> FailedReadStream(grpc::Status status);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_READ_STREAM_H_
