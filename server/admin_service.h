// The server's own administration service, shmrpc.admin.v1.Admin
// (proto/shmrpc/admin/v1/admin.proto): every shmrpc::Server serves it over
// shared memory, next to the user's services, so that `shmrpc stats` and
// `shmrpc list` can ask any running server for its statistics
// (Server::statistics()). Only clients the server's handshake admits reach
// it: by default, processes of the server's own user.
#ifndef SHMRPC_SERVER_ADMIN_SERVICE_H_
#define SHMRPC_SERVER_ADMIN_SERVICE_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <functional>
#include <memory>

#include "shmrpc/server/service.h"
#include "shmrpc/server/stats.h"

namespace shmrpc {

namespace admin::v1 {
class ServerStatsReply;
}  // namespace admin::v1

// Fills `reply` (cleared first) with `statistics`. Thread-compatible.
void ToAdminReply(const ServerStatistics& statistics,
                  admin::v1::ServerStatsReply* reply);

namespace internal {

// The full name of the Admin service's one method.
inline constexpr char kAdminGetStatsMethod[] =
    "/shmrpc.admin.v1.Admin/GetStats";

// The Admin service answering with what `statistics(include_connections)`
// returns, called once per GetStats call on the calling thread (it must be
// thread-safe and outlive the service). Serves shared memory only: the
// object is not registered with a grpc::Server.
std::unique_ptr<ShmService> NewAdminService(
    std::function<ServerStatistics(bool include_connections)> statistics);

}  // namespace internal
}  // namespace shmrpc

#endif  // SHMRPC_SERVER_ADMIN_SERVICE_H_
