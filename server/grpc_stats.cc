#include "shmrpc/server/grpc_stats.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/interceptor.h>

#include <string>
#include <unordered_map>
#include <utility>

#include "shmrpc/client/generated_stub.h"

namespace shmrpc {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;
using grpc::experimental::ServerRpcInfo;

// Whether `info`'s call came through a generic service: gRPC's answer to
// unregistered methods or the application's own generic service. Its
// messages are grpc::ByteBuffers, whatever the method's name.
bool IsGeneric(ServerRpcInfo* info) {
  grpc::ServerContextBase* context = info->server_context();
  return dynamic_cast<grpc::GenericServerContext*>(context) != nullptr ||
         dynamic_cast<grpc::GenericCallbackServerContext*>(context) != nullptr;
}

// Records one call: when its status is about to be sent (so that a client
// that has it finds the call counted), or, for a call that ends without
// one, when gRPC destroys the interceptor. gRPC runs an interceptor's hooks
// for one call one at a time (never concurrently).
class StatsInterceptor final : public grpc::experimental::Interceptor {
 public:
  StatsInterceptor(std::shared_ptr<StatsRegistry> registry,
                   MethodRecorder* recorder, bool generic,
                   const internal::MethodCodec* codec)
      : registry_(std::move(registry)),
        recorder_(recorder),
        generic_(generic),
        codec_(codec),
        start_(recorder->Start()) {}

  ~StatsInterceptor() override {
    Finish(static_cast<int>(grpc::StatusCode::CANCELLED));
  }

  void Intercept(InterceptorBatchMethods* m) override {
    using H = InterceptionHookPoints;
    if (m->QueryInterceptionHookPoint(H::POST_RECV_MESSAGE)) {
      // Null when no message came (the client half-closed).
      if (const void* message = m->GetRecvMessage()) {
        Received(message);
      }
    }
    if (m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE)) {
      // Serializing now costs nothing more: gRPC would do it next.
      const grpc::ByteBuffer* buffer = m->GetSerializedSendMessage();
      const uint64_t bytes = buffer != nullptr ? buffer->Length() : 0;
      if (recorder_->unary()) {
        bytes_out_ = bytes;
      } else {
        recorder_->AddSent(1, bytes);
      }
    }
    if (m->QueryInterceptionHookPoint(H::PRE_SEND_STATUS)) {
      Finish(static_cast<int>(m->GetSendStatus().error_code()));
    }
    m->Proceed();
  }

 private:
  void Finish(int code) {
    if (finished_) return;
    finished_ = true;
    if (recorder_->unary()) {
      recorder_->FinishUnary(start_, code, bytes_in_, bytes_out_);
    } else {
      recorder_->FinishStream(start_, code);
    }
  }

  void Received(const void* message) {
    uint64_t bytes = 0;
    if (generic_) {
      bytes = static_cast<const grpc::ByteBuffer*>(message)->Length();
    } else if (codec_ != nullptr) {
      bytes = codec_->request_size(message);
    }
    if (recorder_->unary()) {
      bytes_in_ = bytes;
    } else {
      recorder_->AddReceived(1, bytes);
    }
  }

  const std::shared_ptr<StatsRegistry> registry_;  // keeps recorder_ alive
  MethodRecorder* const recorder_;
  const bool generic_;
  const internal::MethodCodec* const codec_;  // null: sizes unknown
  const uint64_t start_;
  bool finished_ = false;
  uint64_t bytes_in_ = 0;   // unary
  uint64_t bytes_out_ = 0;  // unary
};

class StatsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  StatsInterceptorFactory(
      std::shared_ptr<StatsRegistry> registry,
      const std::vector<internal::ShmService*>& typed_services)
      : registry_(std::move(registry)) {
    // Fixed from here on: looked up without a lock for every call.
    for (internal::ShmService* service : typed_services) {
      for (const auto& method : service->shm_methods()) {
        typed_.emplace(
            method.name,
            Typed{registry_->Recorder(method.name, kTransportGrpc,
                                      method.handler->kind() ==
                                          internal::ShmMethodKind::kUnary),
                  internal::FindMethodCodec(method.name)});
      }
    }
    overflow_ = registry_->Recorder(StatsRegistry::kOverflowMethod,
                                    kTransportGrpc, /*unary=*/false);
  }

  grpc::experimental::Interceptor* CreateServerInterceptor(
      ServerRpcInfo* info) override {
    const char* method = info->method() != nullptr ? info->method() : "";
    // gRPC calls a method the server does not have "unknown" (a real name
    // starts with '/'); they share one recorder.
    if (method[0] != '/') {
      return new StatsInterceptor(registry_, overflow_, /*generic=*/false,
                                  nullptr);
    }
    if (IsGeneric(info)) {
      // Any name a client sends ends up here: only names already recorded
      // keep their own recorder.
      MethodRecorder* recorder = registry_->Find(method, kTransportGrpc);
      if (recorder == nullptr || recorder->unary()) recorder = overflow_;
      return new StatsInterceptor(registry_, recorder, /*generic=*/true,
                                  nullptr);
    }
    if (auto it = typed_.find(method); it != typed_.end()) {
      return new StatsInterceptor(registry_, it->second.recorder,
                                  /*generic=*/false, it->second.codec);
    }
    // A method of a service registered with gRPC only: its name is one the
    // server registered (so the registry stays bounded), its messages of a
    // type unknown here.
    MethodRecorder* recorder = registry_->Recorder(
        method, kTransportGrpc, info->type() == ServerRpcInfo::Type::UNARY);
    return new StatsInterceptor(registry_, recorder, /*generic=*/false,
                                nullptr);
  }

 private:
  struct Typed {
    MethodRecorder* recorder;
    const internal::MethodCodec* codec;  // null: sizes unknown
  };
  const std::shared_ptr<StatsRegistry> registry_;
  std::unordered_map<std::string, Typed> typed_;
  MethodRecorder* overflow_ = nullptr;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcStatsInterceptorFactory(
    std::shared_ptr<StatsRegistry> registry,
    const std::vector<internal::ShmService*>& typed_services) {
  return std::make_unique<StatsInterceptorFactory>(std::move(registry),
                                                   typed_services);
}

}  // namespace shmrpc
