// ServerBuilder and the life of the Server it returns: the one place that
// puts the gRPC server, the shared-memory server (server.cc) and the health
// service (health.cc) together, and orders their start and shutdown.
#include "shmrpc/server/server_builder.h"

#include <grpc/impl/codegen/grpc_types.h>
#include <grpc/support/log.h>
#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "shmrpc/rpc/endpoint.h"
#include "shmrpc/server/grpc_stats.h"
#include "shmrpc/server/health.h"
#include "shmrpc/server/server.h"
#include "shmrpc/server/server_impl.h"

namespace shmrpc {
namespace {

constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

bool ServesMethod(const std::vector<internal::ShmService*>& services,
                  const std::string& name) {
  for (internal::ShmService* service : services) {
    for (const auto& method : service->shm_methods()) {
      if (method.name == name) return true;
    }
  }
  return false;
}

// The shared-memory address for gRPC listening address `address` once gRPC
// bound `port` there, or "" when it has none: a scheme without an endpoint
// (vsock:, ...), or an address gRPC did not bind.
std::string ShmAddressFor(const std::string& address, int port) {
  absl::StatusOr<rpc::Address> parsed = rpc::ParseListeningAddress(address);
  if (!parsed.ok()) return "";
  if (parsed->kind != rpc::Address::Kind::kHostPort) return address;
  if (port <= 0) return "";
  if (parsed->port == port) return address;
  // Port 0: the port gRPC selected, on the same host.
  const std::string host = parsed->host.find(':') != std::string::npos
                               ? absl::StrCat("[", parsed->host, "]")
                               : parsed->host;
  return absl::StrCat(host, ":", port);
}

}  // namespace

// ---- Server -----------------------------------------------------------------

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(); }

void Server::Shutdown() { ShutdownAll(SysClock::time_point::max()); }

void Server::Shutdown(SysClock::time_point deadline) { ShutdownAll(deadline); }

void Server::ShutdownAll(SysClock::time_point deadline) {
  // 1. Health: NOT_SERVING on both transports, Watch calls end (so that
  //    neither server waits for them below).
  if (health_ != nullptr) {
    health_->Shutdown();
    health_->EndWatches();
  }
  // 2. Shared memory: clients see the connection closing and send new calls
  //    through gRPC, which still serves them; calls in flight finish.
  impl_->ShutdownImpl(deadline);
  // 3. gRPC.
  if (grpc_ != nullptr) {
    if (deadline == SysClock::time_point::max()) {
      grpc_->Shutdown();
    } else {
      grpc_->Shutdown(deadline);
    }
  }
}

void Server::Wait() {
  impl_->Wait();
  if (grpc_ != nullptr) grpc_->Wait();
}

grpc::Server* Server::grpc_server() const { return grpc_.get(); }

grpc::HealthCheckServiceInterface* Server::GetHealthCheckService() const {
  return health_;
}

// ---- ServerBuilder ----------------------------------------------------------

ServerBuilder::ServerBuilder() = default;
ServerBuilder::~ServerBuilder() = default;

ServerBuilder& ServerBuilder::AddListeningPort(
    const std::string& address,
    std::shared_ptr<grpc::ServerCredentials> credentials, int* selected_port) {
  ports_.push_back(Port{address, selected_port, 0});
  grpc_.AddListeningPort(address, std::move(credentials),
                         &ports_.back().selected);
  grpc_ports_ = true;
  return *this;
}

ServerBuilder& ServerBuilder::RegisterService(const std::string& host,
                                              grpc::Service* service) {
  grpc_.RegisterService(host, service);
  return *this;
}

ServerBuilder& ServerBuilder::RegisterAsyncGenericService(
    grpc::AsyncGenericService* service) {
  grpc_.RegisterAsyncGenericService(service);
  return *this;
}

ServerBuilder& ServerBuilder::RegisterCallbackGenericService(
    grpc::CallbackGenericService* service) {
  grpc_.RegisterCallbackGenericService(service);
  return *this;
}

ServerBuilder& ServerBuilder::AddListeningAddress(const std::string& address) {
  addresses_.push_back(address);
  return *this;
}

ServerBuilder& ServerBuilder::AddEndpointPath(const std::string& path) {
  paths_.push_back(path);
  return *this;
}

ServerBuilder& ServerBuilder::SetOptions(const ServerOptions& options) {
  options_ = options;
  return *this;
}

ServerBuilder& ServerBuilder::SetMaxReceiveMessageSize(
    int max_receive_message_size) {
  options_.max_receive_message_size = max_receive_message_size;
  grpc_.SetMaxReceiveMessageSize(max_receive_message_size);
  return *this;
}

ServerBuilder& ServerBuilder::SetMaxSendMessageSize(int max_send_message_size) {
  options_.max_send_message_size = max_send_message_size;
  grpc_.SetMaxSendMessageSize(max_send_message_size);
  return *this;
}

ServerBuilder& ServerBuilder::SetMaxMessageSize(int max_message_size) {
  return SetMaxReceiveMessageSize(max_message_size);
}

ServerBuilder& ServerBuilder::AddChannelArgument(const std::string& arg,
                                                 int value) {
  if (arg == GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH) {
    options_.max_receive_message_size = value;
  } else if (arg == GRPC_ARG_MAX_SEND_MESSAGE_LENGTH) {
    options_.max_send_message_size = value;
  } else if (arg == GRPC_ARG_MAX_METADATA_SIZE) {
    options_.max_metadata_size = value;
  }
  grpc_.AddChannelArgument(arg, value);
  return *this;
}

ServerBuilder& ServerBuilder::AddChannelArgument(const std::string& arg,
                                                 const std::string& value) {
  grpc_.AddChannelArgument(arg, value);
  return *this;
}

ServerBuilder& ServerBuilder::SetOption(
    std::unique_ptr<grpc::ServerBuilderOption> option) {
  grpc_.SetOption(std::move(option));
  return *this;
}

ServerBuilder& ServerBuilder::SetSyncServerOption(
    grpc::ServerBuilder::SyncServerOption o, int value) {
  grpc_.SetSyncServerOption(o, value);
  return *this;
}

ServerBuilder& ServerBuilder::SetCompressionAlgorithmSupportStatus(
    grpc_compression_algorithm algorithm, bool enabled) {
  grpc_.SetCompressionAlgorithmSupportStatus(algorithm, enabled);
  return *this;
}

ServerBuilder& ServerBuilder::SetDefaultCompressionLevel(
    grpc_compression_level level) {
  grpc_.SetDefaultCompressionLevel(level);
  return *this;
}

ServerBuilder& ServerBuilder::SetDefaultCompressionAlgorithm(
    grpc_compression_algorithm algorithm) {
  grpc_.SetDefaultCompressionAlgorithm(algorithm);
  return *this;
}

ServerBuilder& ServerBuilder::SetResourceQuota(
    const grpc::ResourceQuota& resource_quota) {
  grpc_.SetResourceQuota(resource_quota);
  return *this;
}

ServerBuilder& ServerBuilder::SetInterceptorCreators(
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators) {
  interceptors_ = std::move(creators);
  return *this;
}

std::unique_ptr<grpc::ServerCompletionQueue> ServerBuilder::AddCompletionQueue(
    bool is_frequently_polled) {
  return grpc_.AddCompletionQueue(is_frequently_polled);
}

std::unique_ptr<Server> ServerBuilder::BuildAndStart(std::string* error) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<Server> {
    gpr_log(GPR_ERROR, "shmrpc::ServerBuilder: %s", why.c_str());
    if (error != nullptr) *error = why;
    return nullptr;
  };

  Server::Impl::Spec spec;
  spec.paths = paths_;
  spec.addresses = addresses_;
  spec.services = services_;
  spec.options = options_;
  spec.require_endpoint = !grpc_ports_;

  // Health checking, as grpc::ServerBuilder decides it: gRPC's global
  // switch, unless the application serves the protocol itself.
  std::unique_ptr<HealthService> health;
  if (grpc::DefaultHealthCheckServiceEnabled() && !user_health_ &&
      !ServesMethod(services_, kHealthCheckMethod)) {
    health = std::make_unique<HealthService>();
    spec.services.push_back(health.get());
  }
  HealthService* const health_raw = health.get();

  std::unique_ptr<grpc::Server> grpc_server;
  if (grpc_ports_) {
    // One registry for both transports' calls.
    if (spec.options.stats_registry == nullptr) {
      spec.options.stats_registry = std::make_shared<StatsRegistry>();
    }
    // Its sizes of received messages come from the generated code of the
    // services registered with both (their gRPC handlers take protobuf
    // messages of those types).
    interceptors_.insert(interceptors_.begin(),
                         NewGrpcStatsInterceptorFactory(
                             spec.options.stats_registry, spec.services));
    grpc_.experimental().SetInterceptorCreators(std::move(interceptors_));
    if (health != nullptr) {
      // gRPC's server takes it over as its health service (instead of its
      // default one) and serves it like any registered service.
      grpc_.RegisterService(static_cast<grpc::Service*>(health_raw));
      grpc_.SetOption(
          std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(
              std::unique_ptr<grpc::HealthCheckServiceInterface>(
                  std::move(health))));
    }
    grpc_server = grpc_.BuildAndStart();
    if (grpc_server == nullptr) {
      for (Port& port : ports_) {
        if (port.user_selected != nullptr) *port.user_selected = 0;
      }
      return fail("gRPC's server did not start (see gRPC's log)");
    }
    for (const Port& port : ports_) {
      if (!options_.shared_memory) break;
      const std::string address = ShmAddressFor(port.address, port.selected);
      if (!address.empty()) spec.addresses.push_back(address);
    }
  }

  absl::StatusOr<std::unique_ptr<Server::Impl>> impl =
      Server::Impl::Start(spec);
  if (!impl.ok()) {
    if (grpc_server != nullptr) {
      if (health_raw != nullptr) health_raw->EndWatches();
      grpc_server->Shutdown();
      grpc_server->Wait();
    }
    for (Port& port : ports_) {
      if (port.user_selected != nullptr) *port.user_selected = 0;
    }
    return fail(std::string(impl.status().message()));
  }
  // Only now: a port nothing serves is never handed out.
  for (Port& port : ports_) {
    if (port.user_selected != nullptr) *port.user_selected = port.selected;
  }
  std::unique_ptr<Server> server(new Server(std::move(*impl)));
  server->grpc_ = std::move(grpc_server);
  server->owned_health_ = std::move(health);  // null if gRPC's server owns it
  server->health_ = health_raw;
  return server;
}

}  // namespace shmrpc
