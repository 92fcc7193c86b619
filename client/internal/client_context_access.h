// Access to the parts of grpc::ClientContext that the generated stubs need
// when a call goes over shared memory instead of through gRPC's core.
//
// gRPC fills a ClientContext from its core call object; a shared-memory call
// has none, and gRPC 1.51 offers no public way to (a) read the metadata the
// application added, (b) deliver the server's initial and trailing metadata,
// or (c) see that TryCancel() was called. Without them the stubs could not
// keep gRPC's semantics with gRPC's own ClientContext type. This file is the
// one place in shmrpc that touches gRPC's private members; it does so with
// explicit template instantiation (which C++ exempts from access checking)
// and refuses to compile against any gRPC but the one it was checked
// against. The credentials path (client/credentials.h) needs none of this: it
// goes through gRPC's public interceptor API.
#ifndef SHMRPC_CLIENT_INTERNAL_CLIENT_CONTEXT_ACCESS_H_
#define SHMRPC_CLIENT_INTERNAL_CLIENT_CONTEXT_ACCESS_H_

#include <grpcpp/client_context.h>

#include <map>
#include <string>

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

}  // namespace shmrpc::internal

#endif  // SHMRPC_CLIENT_INTERNAL_CLIENT_CONTEXT_ACCESS_H_
