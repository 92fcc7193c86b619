#include "shmrpc/client/credentials.h"

#include <grpc/grpc.h>
#include <grpc/impl/codegen/grpc_types.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/interceptor.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "shmrpc/client/generated_stub.h"
#include "shmrpc/client/internal/channel_registry.h"
#include "shmrpc/client/internal/client_context_access.h"
#include "shmrpc/client/internal/shm_channel.h"
#include "shmrpc/client/internal/stream_interceptor.h"
#include "shmrpc/rpc/limits.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc {
namespace {

using grpc::experimental::ClientInterceptorFactoryInterface;
using grpc::experimental::ClientRpcInfo;
using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;
using internal::ChannelState;
using internal::ClientConnection;
using internal::StreamKind;

// gRPC's size limits among `args`, as gRPC's own channel reads them: an
// integer grpc.max_receive_message_length / grpc.max_send_message_length
// (negative: unlimited), and grpc.max_metadata_size (negative: ignored, as
// gRPC's HTTP/2 transport ignores it). Anything else keeps its default.
rpc::MessageLimits LimitsFromArgs(const grpc::ChannelArguments& args) {
  rpc::MessageLimits limits;
  grpc_channel_args c_args{};
  args.SetChannelArgs(&c_args);  // views into `args`
  for (size_t i = 0; i < c_args.num_args; ++i) {
    const grpc_arg& a = c_args.args[i];
    if (a.type != GRPC_ARG_INTEGER || a.key == nullptr) continue;
    const int v = a.value.integer;
    if (std::strcmp(a.key, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH) == 0) {
      limits.max_receive_message_size = v < 0 ? -1 : v;
    } else if (std::strcmp(a.key, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH) == 0) {
      limits.max_send_message_size = v < 0 ? -1 : v;
    } else if (std::strcmp(a.key, GRPC_ARG_MAX_METADATA_SIZE) == 0) {
      if (v >= 0) limits.max_metadata_size = v;
    }
  }
  return limits;
}

// Answers one unary call over shared memory after hijacking it from gRPC.
//
// The first batch (PRE_SEND_INITIAL_METADATA, usually with the message and
// every receive op) is hijacked; gRPC then hands the same interceptor the
// receive ops (PRE_RECV_*), which are completed - and Proceed()ed - when the
// answer arrives: at once if it comes within the spin budget, else from the
// connection's completion thread. Batches that arrive later (the completion
// queue API splits them) are handled the same way.
//
// It holds the connection only while the call runs: Done() drops it, so a
// ClientContext kept alive after its call does not keep a connection's fds
// and mappings.
class ShmCallInterceptor final : public grpc::experimental::Interceptor,
                                 public internal::AsyncUnaryIo {
 public:
  ShmCallInterceptor(ClientRpcInfo* info,
                     std::shared_ptr<ClientConnection> conn, uint32_t method,
                     const internal::MethodCodec* codec)
      : info_(info), conn_(std::move(conn)), method_(method), codec_(codec) {}
  // Last of the call's objects: ClientContext's destructor destroys its
  // interceptors.
  ~ShmCallInterceptor() override {
    if (grpc_call_ != nullptr) grpc_call_unref(grpc_call_);
  }

  void Intercept(InterceptorBatchMethods* m) override;

  // internal::AsyncUnaryIo: what the shared-memory call needs from us.
  size_t RequestSize() override;
  bool WriteRequest(uint8_t* out) override;
  bool ParseResponse(absl::Span<const uint8_t> bytes) override;
  const std::multimap<std::string, std::string>* Metadata() override {
    return &metadata_;
  }
  bool CancelRequested() override {
    return cancel_requested_.load(std::memory_order_acquire);
  }
  void SetInitialMetadata(const rpc::DecodedMetadata& md) override;
  void SetTrailingMetadata(const rpc::DecodedMetadata& md) override;
  void Done(const grpc::Status& status) override;

 private:
  using H = InterceptionHookPoints;

  static bool HasRecv(InterceptorBatchMethods* m) {
    return m->QueryInterceptionHookPoint(H::PRE_RECV_INITIAL_METADATA) ||
           m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE) ||
           m->QueryInterceptionHookPoint(H::PRE_RECV_STATUS);
  }
  void CaptureMessage(InterceptorBatchMethods* m);
  void Start();
  // With mu_ held: fills the receive ops of `batch` from the outcome.
  void Deliver(InterceptorBatchMethods* batch);

  ClientRpcInfo* const info_;
  // Set until the call ends (Done); read once by Start(), before the call
  // can end, and reset by Done(), which the connection's mutex orders after
  // Start()'s read when it runs on the completion thread.
  std::shared_ptr<ClientConnection> conn_;
  const uint32_t method_;
  const internal::MethodCodec* const codec_;
  // The core call gRPC made for the call, which its call objects keep
  // using; the context names the server instead (ReplaceCallWithPeer).
  grpc_call* grpc_call_ = nullptr;

  bool hijacked_ = false;
  bool started_ = false;
  std::multimap<std::string, std::string> metadata_;
  const void* message_ = nullptr;  // the application's request object
  // Or its serialized form (the async API serializes before we see the
  // call): gRPC's slices, referenced, copied once, into shared memory.
  std::vector<grpc::Slice> serialized_;
  size_t request_size_ = 0;  // from RequestSize()
  bool have_message_ = false;
  std::atomic<bool> cancel_requested_{false};

  std::mutex mu_;
  // Batches with receive ops waiting for the outcome (the completion-queue
  // API sends initial metadata and the rest in separate batches when the
  // application reads initial metadata first).
  std::vector<InterceptorBatchMethods*> recv_batches_;
  bool done_ = false;
  grpc::Status status_;
  // Owned copies of the server's metadata (the maps gRPC gives us hold
  // views); never resized after being filled.
  std::vector<std::pair<std::string, std::string>> initial_;
  std::vector<std::pair<std::string, std::string>> trailing_;
  bool parsed_ = false;         // the answer went straight into the object
  std::string response_bytes_;  // or waits here for the receive op
};

size_t ShmCallInterceptor::RequestSize() {
  if (message_ != nullptr) {
    request_size_ = codec_->request_size(message_);
  } else {
    request_size_ = 0;
    for (const grpc::Slice& s : serialized_) request_size_ += s.size();
  }
  return request_size_;
}

bool ShmCallInterceptor::WriteRequest(uint8_t* out) {
  if (message_ != nullptr) {
    return codec_->write_request(message_, request_size_, out);
  }
  for (const grpc::Slice& s : serialized_) {
    transport::CopyToPeer(out, s.begin(), s.size());
    out += s.size();
  }
  return true;
}

bool ShmCallInterceptor::ParseResponse(absl::Span<const uint8_t> bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  void* target = nullptr;
  for (InterceptorBatchMethods* batch : recv_batches_) {
    if (target == nullptr &&
        batch->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE)) {
      target = batch->GetRecvMessage();
    }
  }
  if (target != nullptr) {
    parsed_ = true;
    return codec_->parse_response(target, bytes.data(), bytes.size());
  }
  // No receive op yet (split batches): keep the bytes for it.
  response_bytes_.assign(reinterpret_cast<const char*>(bytes.data()),
                         bytes.size());
  return true;
}

void ShmCallInterceptor::SetInitialMetadata(const rpc::DecodedMetadata& md) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : md) initial_.emplace_back(k, v);
}

void ShmCallInterceptor::SetTrailingMetadata(const rpc::DecodedMetadata& md) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : md) trailing_.emplace_back(k, v);
}

void ShmCallInterceptor::CaptureMessage(InterceptorBatchMethods* m) {
  if (have_message_ || !m->QueryInterceptionHookPoint(H::PRE_SEND_MESSAGE)) {
    return;
  }
  // The sync API leaves the message unserialized: serialize it straight into
  // shared memory later. The async API has serialized it already.
  message_ = m->GetSendMessage();
  if (message_ == nullptr) {
    if (grpc::ByteBuffer* buffer = m->GetSerializedSendMessage()) {
      // References the slices; copies nothing.
      if (!buffer->Dump(&serialized_).ok()) serialized_.clear();
    }
  }
  have_message_ = true;
}

void ShmCallInterceptor::Intercept(InterceptorBatchMethods* m) {
  if (m->QueryInterceptionHookPoint(H::PRE_SEND_CANCEL)) {
    // TryCancel(): the waiting call notices and ends with CANCELLED. This
    // batch must not be delayed (and needs no Proceed).
    cancel_requested_.store(true, std::memory_order_release);
    return;
  }
  if (!hijacked_) {
    // The first batch: take the call over. Hijack() calls us right back
    // with the same batch's receive ops.
    if (auto* md = m->GetSendInitialMetadata()) metadata_ = *md;
    CaptureMessage(m);
    hijacked_ = true;
    grpc_call_ = internal::ReplaceCallWithPeer(*info_->client_context(),
                                               conn_->server_peer());
    m->Hijack();
    return;
  }
  CaptureMessage(m);
  const bool start = !started_ && have_message_;
  started_ = started_ || start;
  if (HasRecv(m)) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!done_) {
        recv_batches_.push_back(m);  // proceeds when the answer comes
        m = nullptr;
      } else {
        Deliver(m);
      }
    }
    if (start) Start();
    if (m != nullptr) m->Proceed();
    return;
  }
  m->Proceed();
  if (start) Start();
}

void ShmCallInterceptor::Start() {
  // Our own reference for the duration of the call's start: Done() may run
  // (on this thread or the completion thread) and drop conn_ before
  // RunUnaryOrDefer returns.
  const std::shared_ptr<ClientConnection> conn = conn_;
  internal::RunUnaryOrDefer(conn, method_, info_->client_context()->deadline(),
                            this);
}

void ShmCallInterceptor::Deliver(InterceptorBatchMethods* batch) {
  // Only the getters of the hook points present in this batch are valid
  // (the others may dereference null).
  if (batch->QueryInterceptionHookPoint(H::PRE_RECV_INITIAL_METADATA)) {
    if (auto* map = batch->GetRecvInitialMetadata()) {
      for (const auto& [k, v] : initial_) {
        map->emplace(grpc::string_ref(k), grpc::string_ref(v));
      }
    }
  }
  if (batch->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE)) {
    if (status_.ok() && !parsed_) {
      if (void* target = batch->GetRecvMessage();
          target == nullptr ||
          !codec_->parse_response(
              target, reinterpret_cast<const uint8_t*>(response_bytes_.data()),
              response_bytes_.size())) {
        status_ = grpc::Status(grpc::StatusCode::INTERNAL,
                               "Failed to parse response message");
      }
      parsed_ = true;
    }
    if (!status_.ok()) batch->FailHijackedRecvMessage();
  }
  if (batch->QueryInterceptionHookPoint(H::PRE_RECV_STATUS)) {
    if (auto* status = batch->GetRecvStatus()) *status = status_;
    if (auto* map = batch->GetRecvTrailingMetadata()) {
      for (const auto& [k, v] : trailing_) {
        map->emplace(grpc::string_ref(k), grpc::string_ref(v));
      }
    }
  }
}

void ShmCallInterceptor::Done(const grpc::Status& status) {
  // The call is over: the connection is no longer ours to keep (the thread
  // that runs this holds its own reference).
  conn_.reset();
  std::vector<InterceptorBatchMethods*> batches;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    status_ = status;
    batches.swap(recv_batches_);
    for (InterceptorBatchMethods* batch : batches) Deliver(batch);
  }
  // Last: once the final receive ops proceed, the call (and this
  // interceptor) may be destroyed.
  for (InterceptorBatchMethods* batch : batches) batch->Proceed();
}

// Fails a call with a fixed status without sending it anywhere (shared
// memory required but unavailable).
class FailCallInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit FailCallInterceptor(grpc::Status status)
      : status_(std::move(status)) {}

  void Intercept(InterceptorBatchMethods* m) override {
    using H = InterceptionHookPoints;
    if (m->QueryInterceptionHookPoint(H::PRE_SEND_CANCEL)) return;
    if (!hijacked_) {
      hijacked_ = true;
      m->Hijack();
      return;
    }
    if (m->QueryInterceptionHookPoint(H::PRE_RECV_MESSAGE)) {
      m->FailHijackedRecvMessage();
    }
    if (auto* status = m->GetRecvStatus()) *status = status_;
    m->Proceed();
  }

 private:
  const grpc::Status status_;
  bool hijacked_ = false;
};

// Decides per call whether to answer it over shared memory.
class ShmInterceptorFactory final : public ClientInterceptorFactoryInterface {
 public:
  explicit ShmInterceptorFactory(std::shared_ptr<ChannelState> state)
      : state_(std::move(state)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      ClientRpcInfo* info) override {
    StreamKind kind = StreamKind::kServer;
    switch (info->type()) {
      case ClientRpcInfo::Type::UNARY:
        break;
      case ClientRpcInfo::Type::SERVER_STREAMING:
        kind = StreamKind::kServer;
        break;
      case ClientRpcInfo::Type::CLIENT_STREAMING:
        kind = StreamKind::kClient;
        break;
      case ClientRpcInfo::Type::BIDI_STREAMING:
        kind = StreamKind::kBidi;
        break;
      default:
        return nullptr;  // generic calls of unknown kind: gRPC
    }
    absl::StatusOr<std::shared_ptr<ClientConnection>> conn =
        state_->Get(info->client_context()->deadline());
    if (!conn.ok()) {
      // ShmMode::kRequired and no shared memory, or the call's deadline
      // passed while connecting: fail, never fall back.
      return new FailCallInterceptor(
          grpc::Status(static_cast<grpc::StatusCode>(conn.status().code()),
                       std::string(conn.status().message())));
    }
    if (*conn == nullptr) return nullptr;
    const Route route = Lookup(info->method(), **conn);
    // Unknown message types (the client did not link the method's
    // cc_shm_grpc_library) or a method the server does not serve: gRPC.
    if (route.codec == nullptr || route.id == 0) return nullptr;
    if (info->type() != ClientRpcInfo::Type::UNARY) {
      return internal::NewStreamInterceptor(info, std::move(*conn), route.id,
                                            route.codec, kind);
    }
    return new ShmCallInterceptor(info, std::move(*conn), route.id,
                                  route.codec);
  }

 private:
  struct Route {
    const internal::MethodCodec* codec = nullptr;
    uint32_t id = 0;
  };
  struct Entry {
    const char* pointer = nullptr;  // gRPC stubs pass static method names
    uint64_t epoch = 0;
    std::string name;
    Route route;
  };
  static constexpr size_t kCacheSize = 64;

  // The codec and id of `method` on `conn`, from a small cache keyed by the
  // name's address (and checked against the name itself, since generic
  // calls pass names that do not live long).
  Route Lookup(const char* method, const ClientConnection& conn) {
    Entry& e = cache_[(reinterpret_cast<uintptr_t>(method) >> 4) % kCacheSize];
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (e.pointer == method && e.epoch == conn.epoch() && e.name == method) {
        return e.route;
      }
    }
    const Route route{internal::FindMethodCodec(method), conn.MethodId(method)};
    std::lock_guard<std::mutex> lock(mu_);
    e = Entry{method, conn.epoch(), method, route};
    return route;
  }

  std::shared_ptr<ChannelState> state_;
  std::mutex mu_;
  Entry cache_[kCacheSize];
};

class ShmCredentials final : public grpc::ChannelCredentials {
 public:
  ShmCredentials(std::shared_ptr<grpc::ChannelCredentials> fallback,
                 ShmChannelOptions options)
      : fallback_(std::move(fallback)), options_(std::move(options)) {}

 protected:
  grpc::SecureChannelCredentials* AsSecureCredentials() override {
    return nullptr;
  }

 private:
  std::shared_ptr<grpc::Channel> CreateChannelImpl(
      const std::string& target, const grpc::ChannelArguments& args) override {
    return CreateChannelWithInterceptors(target, args, {});
  }

  std::shared_ptr<grpc::Channel> CreateChannelWithInterceptors(
      const std::string& target, const grpc::ChannelArguments& args,
      std::vector<std::unique_ptr<ClientInterceptorFactoryInterface>>
          interceptors) override {
    auto state =
        std::make_shared<ChannelState>(target, options_, LimitsFromArgs(args));
    // Last in the chain, so that the application's interceptors see every
    // call (and the metadata they add is sent) before we take it over.
    interceptors.push_back(std::make_unique<ShmInterceptorFactory>(state));
    std::shared_ptr<grpc::Channel> channel =
        grpc::experimental::CreateCustomChannelWithInterceptors(
            target, fallback_, args, std::move(interceptors));
    if (channel != nullptr) internal::RegisterChannel(channel, state);
    return channel;
  }

  std::shared_ptr<grpc::ChannelCredentials> fallback_;
  ShmChannelOptions options_;
};

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> ShmChannelCredentials(
    std::shared_ptr<grpc::ChannelCredentials> fallback,
    const ShmChannelOptions& options) {
  return std::make_shared<ShmCredentials>(std::move(fallback), options);
}

std::shared_ptr<grpc::Channel> CreateChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> fallback,
    const ShmChannelOptions& options, const grpc::ChannelArguments& args) {
  return grpc::CreateCustomChannel(
      target, ShmChannelCredentials(std::move(fallback), options), args);
}

ChannelPath GetChannelPath(const std::shared_ptr<grpc::Channel>& channel) {
  std::shared_ptr<ChannelState> state = internal::FindChannel(channel.get());
  return state == nullptr ? ChannelPath::kGrpc : state->path();
}

std::string DescribeChannelPath(const std::shared_ptr<grpc::Channel>& channel) {
  std::shared_ptr<ChannelState> state = internal::FindChannel(channel.get());
  return state == nullptr ? "gRPC (not a shmrpc channel)" : state->Describe();
}

ChannelPath ConnectSharedMemory(const std::shared_ptr<grpc::Channel>& channel) {
  std::shared_ptr<ChannelState> state = internal::FindChannel(channel.get());
  if (state == nullptr) return ChannelPath::kGrpc;
  (void)state->Get();
  return state->path();
}

}  // namespace shmrpc
