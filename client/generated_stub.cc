#include "shmrpc/client/generated_stub.h"

#include <climits>
#include <mutex>
#include <string>
#include <unordered_map>

#include "shmrpc/client/internal/channel_registry.h"
#include "shmrpc/client/internal/client_context_access.h"
#include "shmrpc/client/internal/client_stream.h"
#include "shmrpc/client/internal/context_io.h"
#include "shmrpc/client/internal/shm_channel.h"
#include "shmrpc/message/peer_serialize.h"
#include "shmrpc/transport/peer_copy.h"

namespace shmrpc::internal {
namespace {

// A call made through a generated stub: messages are protobuf messages, and
// metadata, cancellation and the server's metadata go through the
// ClientContext.
class AsyncContextUnaryIo final : public AsyncUnaryIo {
 public:
  AsyncContextUnaryIo(grpc::ClientContext* context,
                      const google::protobuf::MessageLite* request,
                      google::protobuf::MessageLite* response,
                      std::function<void(grpc::Status)> done)
      : io_(context, request, response), done_(std::move(done)) {}

  size_t RequestSize() override { return io_.RequestSize(); }
  bool WriteRequest(uint8_t* out) override { return io_.WriteRequest(out); }
  bool ParseResponse(absl::Span<const uint8_t> bytes) override {
    return io_.ParseResponse(bytes);
  }
  const std::multimap<std::string, std::string>* Metadata() override {
    return io_.Metadata();
  }
  bool CancelRequested() override { return io_.CancelRequested(); }
  void SetInitialMetadata(const rpc::DecodedMetadata& md) override {
    io_.SetInitialMetadata(md);
  }
  void SetTrailingMetadata(const rpc::DecodedMetadata& md) override {
    io_.SetTrailingMetadata(md);
  }
  void SetPeer(const ServerPeer& peer) override { io_.SetPeer(peer); }
  // The last use: the call is over.
  void Done(const grpc::Status& status) override {
    done_(status);
    delete this;
  }

 private:
  ContextIo io_;
  std::function<void(grpc::Status)> done_;
};

std::mutex& CodecMu() {
  static auto* mu = new std::mutex;
  return *mu;
}

std::unordered_map<std::string, const MethodCodec*>& Codecs() {
  static auto* map = new std::unordered_map<std::string, const MethodCodec*>;
  return *map;
}

// The connection to use and the method's id on it; false to use gRPC.
// Sets *status (and returns true through `decided`) when the call must fail.
bool Route(ChannelState* state, const StubMethod& method,
           grpc::ClientContext* context,
           std::shared_ptr<ClientConnection>* conn, uint32_t* id,
           grpc::Status* status, bool* decided) {
  *decided = false;
  if (state == nullptr) return false;
  absl::StatusOr<std::shared_ptr<ClientConnection>> c =
      state->Get(context->deadline());
  if (!c.ok()) {
    *status = grpc::Status(static_cast<grpc::StatusCode>(c.status().code()),
                           std::string(c.status().message()));
    *decided = true;
    return false;
  }
  if (*c == nullptr) return false;
  *id = method.IdOn(**c);
  if (*id == 0) return false;  // this server does not serve the method
  *conn = std::move(*c);
  return true;
}

// A streaming call of `method`: `start(conn, id)` over shared memory,
// `failed(status)` if the call must fail at once, or null (the caller makes
// gRPC's call instead).
template <class Start, class Failed>
auto RouteStream(ChannelState* state, const StubMethod& method,
                 grpc::ClientContext* context, Start start, Failed failed)
    -> decltype(start(std::shared_ptr<ClientConnection>(), uint32_t{0})) {
  std::shared_ptr<ClientConnection> conn;
  uint32_t id = 0;
  grpc::Status status;
  bool decided;
  if (!Route(state, method, context, &conn, &id, &status, &decided)) {
    if (!decided) return nullptr;
    return failed(std::move(status));
  }
  return start(std::move(conn), id);
}

}  // namespace

uint32_t StubMethod::IdOn(const ClientConnection& conn) const {
  const uint64_t cached = cached_.load(std::memory_order_relaxed);
  if ((cached >> 32) == (conn.epoch() & 0xffffffffu) && cached != 0) {
    return static_cast<uint32_t>(cached);
  }
  const uint32_t id = conn.MethodId(name_);
  cached_.store(((conn.epoch() & 0xffffffffu) << 32) | id,
                std::memory_order_relaxed);
  return id;
}

StubCore::StubCore(std::shared_ptr<grpc::ChannelInterface> channel)
    : channel_(std::move(channel)), state_(FindChannel(channel_.get())) {}

StubCore::~StubCore() = default;

bool StubCore::TryUnary(const StubMethod& method, grpc::ClientContext* context,
                        const google::protobuf::MessageLite& request,
                        google::protobuf::MessageLite* response,
                        grpc::Status* status) {
  std::shared_ptr<ClientConnection> conn;
  uint32_t id = 0;
  bool decided;
  if (!Route(state_.get(), method, context, &conn, &id, status, &decided)) {
    return decided;
  }
  ContextIo io(context, &request, response);
  *status = RunUnary(*conn, id, context->deadline(), io);
  return true;
}

namespace {

// Room for the rest of a request's frame (metadata, deadline) behind it.
constexpr size_t kFrameSlack = 512;

}  // namespace

std::unique_ptr<rpc::ChunkArena> StubCore::NewFlatArena(
    const StubMethod& method, size_t size_hint) {
  const size_t size = size_hint + kFrameSlack;
  if (state_ != nullptr) {
    // Only a connection there already: building a request never waits.
    absl::StatusOr<std::shared_ptr<ClientConnection>> c =
        state_->Get(std::chrono::system_clock::now());
    if (c.ok() && *c != nullptr && method.IdOn(**c) != 0) {
      transport::Connection* t = &(*c)->transport();
      return rpc::ChunkArena::InChunk(t, std::move(*c), size);
    }
  }
  return rpc::ChunkArena::OnHeap(size);
}

bool StubCore::TryFlatUnary(const StubMethod& method,
                            grpc::ClientContext* context,
                            rpc::ChunkArena* request,
                            rpc::HeldMessage* response, grpc::Status* status) {
  std::shared_ptr<ClientConnection> conn;
  uint32_t id = 0;
  bool decided;
  if (!Route(state_.get(), method, context, &conn, &id, status, &decided)) {
    return decided;
  }
  FlatContextIo io(context, request, response);
  *status = RunUnary(*conn, id, context->deadline(), io);
  return true;
}

std::unique_ptr<FlatClientStreamPort> StubCore::TryFlatStream(
    const StubMethod& method, StreamKind kind, grpc::ClientContext* context,
    rpc::ChunkArena* request, rpc::HeldMessage* response) {
  return RouteStream(
      state_.get(), method, context,
      [&](std::shared_ptr<ClientConnection> conn, uint32_t id) {
        return StartFlatClientStream(std::move(conn), id, kind, context,
                                     request, response);
      },
      [](grpc::Status status) {
        return FailedFlatClientStream(std::move(status));
      });
}

bool StubCore::TryUnaryAsync(const StubMethod& method,
                             grpc::ClientContext* context,
                             const google::protobuf::MessageLite* request,
                             google::protobuf::MessageLite* response,
                             std::function<void(grpc::Status)>* done) {
  std::shared_ptr<ClientConnection> conn;
  uint32_t id = 0;
  grpc::Status status;
  bool decided;
  if (!Route(state_.get(), method, context, &conn, &id, &status, &decided)) {
    if (!decided) return false;
    (*done)(status);
    return true;
  }
  StartUnary(
      conn, id, context->deadline(),
      new AsyncContextUnaryIo(context, request, response, std::move(*done)));
  return true;
}

std::unique_ptr<ShmClientStream> StubCore::TryStream(
    const StubMethod& method, StreamKind kind, grpc::ClientContext* context,
    const google::protobuf::MessageLite* request,
    google::protobuf::MessageLite* response) {
  return RouteStream(
      state_.get(), method, context,
      [&](std::shared_ptr<ClientConnection> conn, uint32_t id) {
        return StartClientStream(std::move(conn), id, kind, context, request,
                                 response);
      },
      [](grpc::Status status) {
        return FailedClientStream(std::move(status));
      });
}

std::shared_ptr<CallbackCall> StubCore::TryCallbackStream(
    const StubMethod& method, StreamKind kind, grpc::ClientContext* context,
    const google::protobuf::MessageLite* request,
    google::protobuf::MessageLite* response, CallbackReactions* reactions) {
  return RouteStream(
      state_.get(), method, context,
      [&](std::shared_ptr<ClientConnection> conn, uint32_t id) {
        return NewCallbackCall(std::move(conn), id, kind, context, request,
                               response, reactions);
      },
      [&](grpc::Status status) {
        return FailedCallbackCall(std::move(status), reactions);
      });
}

void RegisterMethodCodec(const char* name, const MethodCodec* codec) {
  std::lock_guard<std::mutex> lock(CodecMu());
  Codecs()[name] = codec;
}

const MethodCodec* FindMethodCodec(absl::string_view name) {
  std::lock_guard<std::mutex> lock(CodecMu());
  auto it = Codecs().find(std::string(name));
  return it == Codecs().end() ? nullptr : it->second;
}

}  // namespace shmrpc::internal
