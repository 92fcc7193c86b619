// Statistics of the calls a grpc::Server serves, recorded in a
// StatsRegistry (server/stats.h) under transport "grpc", so that a service
// served over both gRPC and shared memory shows both in one place
// (Server::statistics(), `shmrpc stats`):
//
//   auto registry = std::make_shared<shmrpc::StatsRegistry>();
//
//   grpc::ServerBuilder builder;
//   std::vector<std::unique_ptr<
//       grpc::experimental::ServerInterceptorFactoryInterface>> creators;
//   creators.push_back(shmrpc::NewGrpcStatsInterceptorFactory(registry.get()));
//   builder.experimental().SetInterceptorCreators(std::move(creators));
//   ...
//   shmrpc::ServerOptions options;
//   options.stats_registry = registry;  // the shared-memory server's too
//
// What is recorded per call: its method, status code (the one the server
// sends, also when the client has cancelled meanwhile; CANCELLED if the
// call ended without sending one), latency (from the call's start, when
// gRPC matched it to its method, to its status going out) and, per message,
// its serialized size. Received sizes come from the method's generated code
// (cc_shm_grpc_library registers it); for methods without it only the count
// of received messages is known. Calls of methods the server did not
// register (gRPC answers them UNIMPLEMENTED) are recorded under
// StatsRegistry::kOverflowMethod, and so are calls a generic service takes
// unless a recorder of their method's name exists already: clients cannot
// fill the registry with names of their own.
#ifndef SHMRPC_SERVER_GRPC_STATS_H_
#define SHMRPC_SERVER_GRPC_STATS_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "shmrpc/server/stats.h"

namespace shmrpc {

// A server interceptor factory that records every call of the server it is
// set on (grpc::ServerBuilder::experimental().SetInterceptorCreators) in
// `registry` (not owned; must outlive that server). Put it first among the
// creators to time the others' work too. Thread-safe.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcStatsInterceptorFactory(StatsRegistry* registry);

}  // namespace shmrpc

#endif  // SHMRPC_SERVER_GRPC_STATS_H_
