// Swap one line in an existing gRPC client and its calls to a server on the
// same host go over shared memory:
//
//   auto channel = grpc::CreateChannel(
//       "localhost:50051",
//       shmrpc::ShmChannelCredentials(grpc::InsecureChannelCredentials()));
//   auto stub = helloworld::Greeter::NewStub(channel);  // unchanged
//
// The channel is an ordinary grpc::Channel whose calls pass through an
// interceptor. When the server is on this host and serves the method over
// shared memory (see server/server.h), the interceptor answers the call
// itself over shared memory; otherwise the call proceeds through gRPC as
// usual, with `fallback` credentials. Methods must come from a library built
// with cc_shm_grpc_library (which registers how to (de)serialize them);
// others, and streaming methods, always use gRPC.
//
// Generated shmrpc stubs (helloworld::ShmGreeter::Stub) on such a channel
// skip gRPC's call machinery entirely and are faster still.
#ifndef SHMRPC_CLIENT_CREDENTIALS_H_
#define SHMRPC_CLIENT_CREDENTIALS_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>

#include "shmrpc/client/options.h"

namespace shmrpc {

// Credentials for grpc::CreateChannel (and CreateCustomChannel) that use
// shared memory when they can and `fallback` otherwise. Every channel made
// with them gets its own shared-memory connection, made on its first call.
// To add call credentials, compose them into `fallback` first.
//
// Calls over shared memory honour the channel's gRPC size limits, read from
// the grpc::ChannelArguments the channel is made with:
// grpc.max_receive_message_length (default 4 MiB),
// grpc.max_send_message_length (default unlimited) and
// grpc.max_metadata_size (default 8 KiB), as gRPC applies them
// (RESOURCE_EXHAUSTED with gRPC's wording). Other channel arguments apply
// to the gRPC fallback only; see docs/rpc.md, "gRPC channel arguments over
// shared memory".
std::shared_ptr<grpc::ChannelCredentials> ShmChannelCredentials(
    std::shared_ptr<grpc::ChannelCredentials> fallback,
    const ShmChannelOptions& options = {});

// grpc::CreateCustomChannel(target, ShmChannelCredentials(fallback, options),
// args).
std::shared_ptr<grpc::Channel> CreateChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> fallback,
    const ShmChannelOptions& options = {},
    const grpc::ChannelArguments& args = {});

// How `channel`'s calls travel now. kGrpc for channels not made by shmrpc.
// Thread-safe.
ChannelPath GetChannelPath(const std::shared_ptr<grpc::Channel>& channel);

// A sentence for logs: the endpoint and server pid, or why gRPC is used.
std::string DescribeChannelPath(const std::shared_ptr<grpc::Channel>& channel);

// Connects `channel` over shared memory now instead of on its first call
// (blocking, at most ShmChannelOptions::connect_timeout) and returns the
// resulting path.
ChannelPath ConnectSharedMemory(const std::shared_ptr<grpc::Channel>& channel);

}  // namespace shmrpc

#endif  // SHMRPC_CLIENT_CREDENTIALS_H_
