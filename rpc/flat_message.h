// The handles through which an application builds and reads flat messages
// (shmrpc/message/flat.h) that travel in calls, on both sides of every kind
// of call (client/flat_call.h, server/flat_service.h):
//
//   FlatMessageBuilder<FooBuilder>  a message being built in place: owns
//                                   its arena (a chunk of the sender's
//                                   segment when the call goes over shared
//                                   memory); the call it is written to
//                                   takes the chunk and sends it as it is
//   FlatMessage<FooView>            a message read in place: owns the
//                                   frame it came in (the sender's chunk,
//                                   lent to us) until Release() or
//                                   destruction
//
// Holding many FlatMessages keeps as many of the sender's chunks: the
// sender then waits for chunks (within its calls' deadlines), never more
// memory. Thread-safety: a handle belongs to one thread at a time; views
// read from a FlatMessage may be read from several.
#ifndef SHMRPC_RPC_FLAT_MESSAGE_H_
#define SHMRPC_RPC_FLAT_MESSAGE_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shmrpc/message/flat.h"
#include "shmrpc/rpc/flat_frames.h"

namespace shmrpc {

// A message of the generated builder type `Builder` (FooBuilder), being
// built. Made by a stub (NewMethodRequest) or a stream (NewMessage); used
// by one call. Move-only.
template <class Builder>
class FlatMessageBuilder {
 public:
  explicit FlatMessageBuilder(std::unique_ptr<rpc::ChunkArena> arena)
      : arena_(std::move(arena)), root_(Builder::New(arena_.get())) {}
  FlatMessageBuilder(FlatMessageBuilder&&) noexcept = default;
  FlatMessageBuilder& operator=(FlatMessageBuilder&&) noexcept = default;

  // The message to fill.
  Builder& message() { return root_; }
  Builder* operator->() { return &root_; }
  Builder& operator*() { return root_; }

  // OK, or why the message could not be built (RESOURCE_EXHAUSTED: it did
  // not fit the largest chunk, or memory).
  const absl::Status& status() const { return arena_->status(); }

  // For the call: seals the message (writes the buffer's header) and hands
  // out its arena.
  absl::Status Seal() { return arena_->Finish(root_); }
  rpc::ChunkArena* arena() { return arena_.get(); }
  typename Builder::View view() const { return root_.AsView(); }

 private:
  std::unique_ptr<rpc::ChunkArena> arena_;
  Builder root_;
};

// A message of the generated view type `View` (FooView), read in place:
// valid from a read (or call) that succeeded until Release() or
// destruction. Move-only.
template <class View>
class FlatMessage {
 public:
  FlatMessage() = default;
  FlatMessage(FlatMessage&&) noexcept = default;
  FlatMessage& operator=(FlatMessage&&) noexcept = default;

  // The message (empty before a successful read, and after Release()).
  const View& message() const { return view_; }
  const View* operator->() const { return &view_; }
  const View& operator*() const { return view_; }

  // Whether the message is read in place, in the sender's shared memory
  // (false for a copy: a message that came over gRPC or was converted from
  // protobuf, or a small one that came inline).
  bool in_place() const { return held_ != nullptr && held_->in_place(); }

  // Gives the message's shared memory back to its sender now.
  void Release() {
    view_ = View();
    reader_.reset();
    if (held_ != nullptr) held_->Release();
  }

  // For the call: where it puts the message (emptied first), and binding
  // the view to it afterwards (INTERNAL if the bytes are not a message of
  // this type: a bad sender; the holder is then released).
  rpc::HeldMessage* holder() {
    Release();
    if (held_ == nullptr) held_ = std::make_unique<rpc::HeldMessage>();
    return held_.get();
  }
  absl::Status Bind() {
    reader_ = std::make_unique<flat::Reader>(held_->bytes());
    absl::StatusOr<View> view = reader_->template Root<View>();
    if (!view.ok()) {
      Release();
      return absl::InternalError("Failed to read the flat message: " +
                                 std::string(view.status().message()));
    }
    view_ = *view;
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<rpc::HeldMessage> held_;
  std::unique_ptr<flat::Reader> reader_;
  View view_;
};

namespace internal {

// What a flat stream does to read and to write, on either side: `port`
// has Read(rpc::HeldMessage*), Write(rpc::ChunkArena*, options) and
// Fail(absl::Status), which ends the call with that status.

// The next message into `message` (released first); false once there is
// none, or if the bytes are not a message of its type (INTERNAL: the call
// fails).
template <class Port, class View>
bool ReadFlatMessage(Port* port, FlatMessage<View>* message) {
  if (!port->Read(message->holder())) {
    message->Release();
    return false;
  }
  if (absl::Status s = message->Bind(); !s.ok()) {
    port->Fail(s);
    return false;
  }
  return true;
}

// Seals and sends `message`; false once the call is over, or if the
// message could not be built (RESOURCE_EXHAUSTED: the call fails, as with
// a message over the send limit).
template <class Port, class Builder, class Options>
bool WriteFlatMessage(Port* port, FlatMessageBuilder<Builder>* message,
                      const Options& options) {
  if (absl::Status s = message->Seal(); !s.ok()) {
    port->Fail(s);
    return false;
  }
  return port->Write(message->arena(), options);
}

}  // namespace internal
}  // namespace shmrpc

#endif  // SHMRPC_RPC_FLAT_MESSAGE_H_
