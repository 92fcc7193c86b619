// Streaming calls of gRPC's own stubs on ShmChannelCredentials, over shared
// memory: a client interceptor (gRPC's public experimental API) that hijacks
// the call and answers every batch gRPC's stream objects issue - blocking
// (ClientReader, ClientWriter, ClientReaderWriter), callback (reactors) and
// completion-queue (AsyncMethod, PrepareAsyncMethod) alike - from a
// StreamCall (stream_call.h).
//
// How gRPC drives a hijacked stream (gRPC 1.51, interceptor_common.h): each
// stream operation is one batch, which reaches the interceptor up to three
// times: with its send ops (PRE_SEND_*), then with its receive ops
// (PRE_RECV_*), then once complete (POST_*). The first batch, which sends
// the initial metadata, is hijacked; after that each batch becomes an
// operation of the call's StreamDriver (stream_driver.h), which proceeds it
// when done:
//
//   Write / WritesDone  PRE_SEND_MESSAGE / PRE_SEND_CLOSE
//   Read, initial md    PRE_RECV_MESSAGE / PRE_RECV_INITIAL_METADATA
//   Finish              PRE_RECV_STATUS (the callback API issues it at the
//                       start and holds it all along)
//   TryCancel           PRE_SEND_CANCEL: ends the call at once
#ifndef SHMRPC_CLIENT_INTERNAL_STREAM_INTERCEPTOR_H_
#define SHMRPC_CLIENT_INTERNAL_STREAM_INTERCEPTOR_H_

#include <grpcpp/support/client_interceptor.h>

#include <cstdint>
#include <memory>

#include "shmrpc/client/generated_stub.h"
#include "shmrpc/client/internal/shm_channel.h"

namespace shmrpc::internal {

// An interceptor that runs the streaming call `info` (of `kind`) as call
// `method` (the connection's id) on `conn`, with `codec` for its messages.
// gRPC owns the result (it lives as long as the call's ClientContext).
grpc::experimental::Interceptor* NewStreamInterceptor(
    grpc::experimental::ClientRpcInfo* info,
    std::shared_ptr<ClientConnection> conn, uint32_t method,
    const MethodCodec* codec, StreamKind kind);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_STREAM_INTERCEPTOR_H_
