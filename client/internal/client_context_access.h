// Access to the parts of grpc::ClientContext that the generated stubs need
// when a call goes over shared memory instead of through gRPC's core.
//
// gRPC fills a ClientContext from its core call object; a shared-memory call
// has none, and gRPC 1.51 offers no public way to (a) read the metadata the
// application added, (b) deliver the server's initial and trailing metadata,
// or (c) see that TryCancel() was called. Without them the stubs could not
// keep gRPC's semantics with gRPC's own ClientContext type; nor (d) to make
// ClientContext::peer() name the shared-memory server. This file is the
// one place in shmrpc that touches gRPC's private members; it does so with
// explicit template instantiation (which C++ exempts from access checking)
// and refuses to compile against any gRPC but the one it was checked
// against. The credentials path (client/credentials.h) needs only (d): the
// rest goes through gRPC's public interceptor API.
#ifndef SHMRPC_CLIENT_INTERNAL_CLIENT_CONTEXT_ACCESS_H_
#define SHMRPC_CLIENT_INTERNAL_CLIENT_CONTEXT_ACCESS_H_

#include <grpcpp/client_context.h>

#include <map>
#include <string>

#include "shmrpc/client/internal/server_peer.h"
#include "shmrpc/rpc/frame.h"

namespace shmrpc::internal {

// The metadata added with ClientContext::AddMetadata.
const std::multimap<std::string, std::string>& SentMetadata(
    const grpc::ClientContext& context);

// True once ClientContext::TryCancel() was called. Thread-safe.
bool CancelRequested(grpc::ClientContext& context);

// Makes `entries` what GetServerInitialMetadata() / GetServerTrailingMetadata()
// return. Copies the bytes; the copies live as long as the context. Must be
// called at most once per context and call, before the application reads the
// metadata (as gRPC itself does).
void SetServerInitialMetadata(grpc::ClientContext& context,
                              const rpc::DecodedMetadata& entries);
void SetServerTrailingMetadata(grpc::ClientContext& context,
                               const rpc::DecodedMetadata& entries);

// Makes context.peer() name `peer` (server_peer.h) if the context has no
// core call (a generated stub's call over shared memory never has one);
// otherwise leaves it. Call it once the call can no longer be cancelled
// (its status came): while the context holds a core call, TryCancel()
// cancels that object instead of setting what CancelRequested() reads.
// Thread-safe against TryCancel().
void NamePeerOnce(grpc::ClientContext& context, const ServerPeer& peer);

// Makes context.peer() name `peer` in place of the core call gRPC made for
// the call (a call of gRPC's stub that an interceptor took over: TryCancel()
// then still reaches the interceptors, and cancels the shared object instead
// of the unused core call). Returns the context's former core call
// reference, which the caller now owns: gRPC's call objects keep using that
// core call, so the caller releases it (grpc_call_unref) only when the
// context's interceptors are destroyed. Null if the context had none, or if
// gRPC could not make the peer's object (the context is then unchanged).
// Thread-safe against TryCancel().
grpc_call* ReplaceCallWithPeer(grpc::ClientContext& context,
                               const ServerPeer& peer);

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CLIENT_CONTEXT_ACCESS_H_
