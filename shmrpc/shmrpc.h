// shmrpc: gRPC for processes on the same host, over shared memory.
//
// Clients: make the channel with shmrpc's credentials (or
// shmrpc::CreateChannel) and keep using gRPC's stubs, or use the generated
// shmrpc stubs for the fastest path:
//
//   auto channel = grpc::CreateChannel(
//       "localhost:50051",
//       shmrpc::ShmChannelCredentials(grpc::InsecureChannelCredentials()));
//   auto stub = helloworld::ShmGreeter::NewStub(channel);
//
// Servers: implement the generated ShmS::Service and register the same object
// with grpc::ServerBuilder and shmrpc::ServerBuilder:
//
//   shmrpc::ServerBuilder shm;
//   shm.AddListeningAddress("[::]:50051").RegisterService(&service);
//   auto shm_server = shm.BuildAndStart();
//
// Generated code comes from cc_shm_grpc_library (codegen/shmrpc.bzl).
// See README.md and docs/ for the whole story.
#ifndef SHMRPC_SHMRPC_H_
#define SHMRPC_SHMRPC_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include "shmrpc/client/credentials.h"     // IWYU pragma: export
#include "shmrpc/client/diagnose.h"        // IWYU pragma: export
#include "shmrpc/client/options.h"         // IWYU pragma: export
#include "shmrpc/server/server.h"          // IWYU pragma: export
#include "shmrpc/server/server_context.h"  // IWYU pragma: export

#endif  // SHMRPC_SHMRPC_H_
