// The generated stubs' streaming calls over shared memory: gRPC's stream
// shapes (ShmClientStream, generated_stub.h) over a StreamCall
// (stream_call.h), with the ClientContext as gRPC's own stubs use it.
#ifndef SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_
#define SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <memory>

#include "shmrpc/client/flat_stream.h"
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

// The flat form of StartClientStream (client/flat_stream.h): `request`
// (server streaming's, sealed: sent as its chunk when it is in one of
// `conn`'s) and `response` (client streaming's, kept where it arrives) must
// outlive the stream.
std::unique_ptr<FlatClientStreamPort> StartFlatClientStream(
    std::shared_ptr<ClientConnection> conn, uint32_t method, StreamKind kind,
    grpc::ClientContext* context, rpc::ChunkArena* request,
    rpc::HeldMessage* response);

// A stream that has already ended with `status` (a call whose connection
// could not be had, in ShmMode::kRequired or past its deadline).
std::unique_ptr<ShmClientStream> FailedClientStream(grpc::Status status);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CLIENT_STREAM_H_
