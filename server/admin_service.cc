#include "shmrpc/server/admin_service.h"

#include <chrono>
#include <string>
#include <utility>

#include "shmrpc/admin/v1/admin.shmrpc.h"

namespace shmrpc {

void ToAdminReply(const ServerStatistics& statistics,
                  admin::v1::ServerStatsReply* reply) {
  reply->Clear();
  reply->set_pid(statistics.pid);
  reply->set_uid(statistics.uid);
  reply->set_start_time(
      std::chrono::duration<double>(statistics.start_time.time_since_epoch())
          .count());
  reply->set_uptime_seconds(statistics.uptime_seconds);
  for (const std::string& e : statistics.endpoints) reply->add_endpoints(e);
  for (const std::string& a : statistics.addresses) reply->add_addresses(a);
  reply->set_connections_accepted(statistics.connections_accepted);
  reply->set_connections_refused(statistics.connections_refused);
  reply->set_connections_live(statistics.connections_live);
  reply->set_calls(statistics.calls);
  reply->set_calls_in_flight(statistics.calls_in_flight);
  reply->set_threads(statistics.threads);
  reply->set_thread_failures(statistics.thread_failures);
  for (const MethodStatistics& m : statistics.methods) {
    admin::v1::MethodStats* out = reply->add_methods();
    out->set_method(m.method);
    out->set_transport(m.transport);
    for (int code = 0; code < kStatusCodeCount; ++code) {
      if (m.calls_by_code[code] != 0) {
        (*out->mutable_calls_by_code())[code] = m.calls_by_code[code];
      }
    }
    out->set_calls(m.calls);
    out->set_in_flight(m.in_flight);
    out->set_latency_p50_us(m.latency.p50_us);
    out->set_latency_p90_us(m.latency.p90_us);
    out->set_latency_p99_us(m.latency.p99_us);
    out->set_latency_p999_us(m.latency.p999_us);
    out->set_latency_max_us(m.latency.max_us);
    out->set_latency_sum_us(m.latency.sum_us);
    out->set_bytes_in(m.bytes_in);
    out->set_bytes_out(m.bytes_out);
    out->set_messages_in(m.messages_in);
    out->set_messages_out(m.messages_out);
  }
  for (const ConnectionStatistics& c : statistics.connections) {
    admin::v1::ConnectionStats* out = reply->add_connections();
    out->set_peer_pid(c.peer_pid);
    out->set_peer_uid(c.peer_uid);
    out->set_age_seconds(c.age_seconds);
    out->set_calls(c.calls);
    out->set_threads(c.threads);
    out->set_max_threads(c.max_threads);
    out->set_pool_bytes_used(c.pool_bytes_used);
    out->set_pool_bytes_capacity(c.pool_bytes_capacity);
  }
}

namespace internal {
namespace {

class AdminService final : public admin::v1::ShmAdmin::Service {
 public:
  explicit AdminService(
      std::function<ServerStatistics(bool include_connections)> statistics)
      : statistics_(std::move(statistics)) {}

  grpc::Status GetStats(ServerContext* context,
                        const admin::v1::StatsRequest* request,
                        admin::v1::ServerStatsReply* reply) override {
    ToAdminReply(statistics_(request->include_connections()), reply);
    return grpc::Status::OK;
  }

 private:
  const std::function<ServerStatistics(bool)> statistics_;
};

}  // namespace

std::unique_ptr<ShmService> NewAdminService(
    std::function<ServerStatistics(bool include_connections)> statistics) {
  return std::make_unique<AdminService>(std::move(statistics));
}

}  // namespace internal
}  // namespace shmrpc
