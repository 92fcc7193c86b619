// Flat-message calls from the generated stubs (cc_shm_grpc_library(...,
// flat = True)): the request is built in place and the response read in
// place (shmrpc/message/flat.h).
//
//   ShmImages::Stub stub(channel);
//   shmrpc::FlatRequest<demo::flat::ImageBuilder> request =
//       stub.NewProcessRequest(/*size_hint=*/width * height + 1024);
//   request->set_width(width);
//   Render(request->mutable_pixels(width * height).data());  // in place
//   shmrpc::FlatResponse<demo::flat::SummaryView> response;
//   grpc::Status status = stub.Process(&context, std::move(request),
//   &response); if (status.ok()) Use(response->histogram());  // read in place
//   response.Release();  // or let it go out of scope
//
// Over shared memory a request's builder lives in a chunk of the client's
// own segment, which the call sends as it is; the response is the server's
// chunk, read where it lies until the FlatResponse releases it (holding
// many applies backpressure: the server waits for chunks, within its
// calls' deadlines, never without bound). Without shared memory (a remote
// server, fallback, SHMRPC_MODE=off) the same code works: the request is
// converted to protobuf for gRPC and the response back to a flat message.
//
// Thread-safety: a FlatRequest and a FlatResponse belong to one thread at a
// time; views read from a FlatResponse may be read from several.
#ifndef SHMRPC_CLIENT_FLAT_CALL_H_
#define SHMRPC_CLIENT_FLAT_CALL_H_
// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#include <grpcpp/support/status.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "shmrpc/message/flat.h"
#include "shmrpc/transport/connection.h"

namespace shmrpc {
namespace internal {

class ClientConnection;

// Where a flat request is built: a chunk of a shared-memory connection
// (sent without a copy when the call goes over that connection), or memory
// of its own. Not thread-safe; never moved (held by a unique_ptr).
class FlatRequestBuffer final : public flat::Arena {
 public:
  // Memory of its own, `size` bytes to start with.
  static std::unique_ptr<FlatRequestBuffer> OnHeap(size_t size);
  // A chunk of `conn` of at least `size` bytes; on the heap instead if none
  // can be had at once.
  static std::unique_ptr<FlatRequestBuffer> InChunk(
      std::shared_ptr<ClientConnection> conn, size_t size);
  ~FlatRequestBuffer() override;

  // For the call: the chunk holding the request if it is one of `t`'s
  // with `extra` bytes free behind used(); the buffer gives it up (the call
  // sends or discards it).
  bool TakeChunk(const transport::Connection& t, size_t extra,
                 transport::Chunk* chunk);

 private:
  FlatRequestBuffer(std::shared_ptr<ClientConnection> conn,
                    std::optional<transport::Chunk> chunk,
                    absl::Span<uint8_t> memory);
  // The arena's growth: a larger chunk of the same connection, else heap
  // memory; the old one is given back.
  absl::StatusOr<absl::Span<uint8_t>> Grow(absl::Span<uint8_t> old,
                                           uint32_t used, uint64_t min_size);

  std::shared_ptr<ClientConnection> conn_;
  std::optional<transport::Chunk> chunk_;
  std::vector<uint64_t> heap_;
};

// What a flat response is read from: the server's response frame, held
// (its chunk lent to us) until Release, or bytes of our own. Not
// thread-safe.
class FlatResponseHolder {
 public:
  FlatResponseHolder() = default;
  FlatResponseHolder(const FlatResponseHolder&) = delete;
  FlatResponseHolder& operator=(const FlatResponseHolder&) = delete;

  // Takes the frame `m`, whose first `size` bytes are the message.
  void Adopt(transport::InboundMessage* m, size_t size);
  // Takes a copy of `bytes` (a flat message built here).
  void AdoptCopy(absl::Span<const uint8_t> bytes);
  // The message's bytes, 8-aligned (empty when there is none).
  absl::Span<const uint8_t> bytes() const;
  // Gives the frame's chunk back to the server; bytes() is empty after.
  void Release();

 private:
  transport::InboundMessage message_;
  size_t size_ = 0;
  std::vector<uint64_t> copy_;  // when the bytes are not the frame's
  bool in_copy_ = false;
};

}  // namespace internal

// A request being built in place, of the generated builder type `Builder`
// (FooBuilder). Made by the stub (NewMethodRequest), used by one call.
// Move-only.
template <class Builder>
class FlatRequest {
 public:
  explicit FlatRequest(std::unique_ptr<internal::FlatRequestBuffer> buffer)
      : buffer_(std::move(buffer)), root_(Builder::New(buffer_.get())) {}
  FlatRequest(FlatRequest&&) noexcept = default;
  FlatRequest& operator=(FlatRequest&&) noexcept = default;

  // The message to fill.
  Builder& message() { return root_; }
  Builder* operator->() { return &root_; }
  Builder& operator*() { return root_; }

  // OK, or why the message could not be built (RESOURCE_EXHAUSTED: it did
  // not fit the largest chunk, or memory).
  const absl::Status& status() const { return buffer_->status(); }

  // For the generated stub: seals the message (writes the buffer's header)
  // and hands out its buffer.
  absl::Status Seal() { return buffer_->Finish(root_); }
  internal::FlatRequestBuffer* buffer() { return buffer_.get(); }
  typename Builder::View view() const { return root_.AsView(); }

 private:
  std::unique_ptr<internal::FlatRequestBuffer> buffer_;
  Builder root_;
};

// A response read in place, of the generated view type `View` (FooView):
// valid from a call that returned OK until Release() or destruction.
// Move-only.
template <class View>
class FlatResponse {
 public:
  FlatResponse() = default;
  FlatResponse(FlatResponse&&) noexcept = default;
  FlatResponse& operator=(FlatResponse&&) noexcept = default;

  // The message (empty before a call returned OK, and after Release()).
  const View& message() const { return view_; }
  const View* operator->() const { return &view_; }
  const View& operator*() const { return view_; }

  // Gives the response's shared memory back to the server now.
  void Release() {
    view_ = View();
    reader_.reset();
    if (holder_ != nullptr) holder_->Release();
  }

  // For the generated stub: where the call puts the response, and binding
  // the view to it afterwards.
  internal::FlatResponseHolder* holder() {
    Release();
    if (holder_ == nullptr) {
      holder_ = std::make_unique<internal::FlatResponseHolder>();
    }
    return holder_.get();
  }
  grpc::Status Bind() {
    reader_ = std::make_unique<flat::Reader>(holder_->bytes());
    absl::StatusOr<View> view = reader_->Root<View>();
    if (!view.ok()) {
      Release();
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          "Failed to read the flat response: " +
                              std::string(view.status().message()));
    }
    view_ = *view;
    return grpc::Status::OK;
  }

 private:
  std::unique_ptr<internal::FlatResponseHolder> holder_;
  std::unique_ptr<flat::Reader> reader_;
  View view_;
};

}  // namespace shmrpc

#endif  // SHMRPC_CLIENT_FLAT_CALL_H_
