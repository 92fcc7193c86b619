#include "shmrpc/client/internal/client_context_access.h"

#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpcpp/impl/codegen/metadata_map.h>
#include <grpcpp/version_info.h>

#include <cstring>

static_assert(GRPC_CPP_VERSION_MAJOR == 1 && GRPC_CPP_VERSION_MINOR == 51,
              "client_context_access.cc reaches into grpc::ClientContext's "
              "private members and was checked against gRPC 1.51 only: review "
              "it (and its test) for this gRPC version");

namespace shmrpc::internal {
namespace {

// Explicit instantiation may name private members; a friend function defined
// inside the instantiated template hands the member pointer out.
template <typename Tag, typename Tag::type kMember>
struct Steal {
  friend typename Tag::type Get(Tag) { return kMember; }
};

#define SHMRPC_PRIVATE_MEMBER(TagName, Type, Member) \
  struct TagName {                                   \
    using type = Type grpc::ClientContext::*;        \
    friend type Get(TagName);                        \
  };                                                 \
  template struct Steal<TagName, &grpc::ClientContext::Member>

using StringMultimap = std::multimap<std::string, std::string>;
SHMRPC_PRIVATE_MEMBER(SendMetadataTag, StringMultimap, send_initial_metadata_);
SHMRPC_PRIVATE_MEMBER(RecvInitialTag, grpc::internal::MetadataMap,
                      recv_initial_metadata_);
SHMRPC_PRIVATE_MEMBER(TrailingTag, grpc::internal::MetadataMap,
                      trailing_metadata_);
SHMRPC_PRIVATE_MEMBER(InitialReceivedTag, bool, initial_metadata_received_);
SHMRPC_PRIVATE_MEMBER(MutexTag, grpc::internal::Mutex, mu_);
SHMRPC_PRIVATE_MEMBER(CanceledTag, bool, call_canceled_);
SHMRPC_PRIVATE_MEMBER(CallTag, grpc_call*, call_);

#undef SHMRPC_PRIVATE_MEMBER

// Fills `map` with copies of `entries` kept in one gpr_malloc'd block that
// the map's own destructor frees: the grpc_metadata array comes first, the
// key and value bytes after it, and each slice is a static (unreferenced)
// slice pointing into the block.
void Fill(grpc::internal::MetadataMap& map,
          const rpc::DecodedMetadata& entries) {
  grpc_metadata_array* arr = map.arr();
  // Nothing to put and nothing there (a fresh context, as every call has):
  // leave the map as it is, without Reset()'s call through gRPC's core.
  if (entries.empty() && arr->count == 0 && arr->metadata == nullptr) return;
  map.Reset();  // frees anything a previous use left
  if (entries.empty()) return;
  size_t bytes = entries.size() * sizeof(grpc_metadata);
  for (const auto& [k, v] : entries) bytes += k.size() + v.size();
  auto* md = static_cast<grpc_metadata*>(gpr_malloc(bytes));
  std::memset(md, 0, entries.size() * sizeof(grpc_metadata));
  char* text = reinterpret_cast<char*>(md + entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [k, v] = entries[i];
    if (!k.empty()) std::memcpy(text, k.data(), k.size());
    md[i].key = grpc_slice_from_static_buffer(text, k.size());
    text += k.size();
    if (!v.empty()) std::memcpy(text, v.data(), v.size());
    md[i].value = grpc_slice_from_static_buffer(text, v.size());
    text += v.size();
  }
  arr->metadata = md;
  arr->count = entries.size();
  arr->capacity = entries.size();
}

}  // namespace

const std::multimap<std::string, std::string>& SentMetadata(
    const grpc::ClientContext& context) {
  return context.*Get(SendMetadataTag{});
}

bool CancelRequested(grpc::ClientContext& context) {
  grpc::internal::MutexLock lock(&(context.*Get(MutexTag{})));
  return context.*Get(CanceledTag{});
}

void SetServerInitialMetadata(grpc::ClientContext& context,
                              const rpc::DecodedMetadata& entries) {
  Fill(context.*Get(RecvInitialTag{}), entries);
  context.*Get(InitialReceivedTag{}) = true;
}

void SetServerTrailingMetadata(grpc::ClientContext& context,
                               const rpc::DecodedMetadata& entries) {
  Fill(context.*Get(TrailingTag{}), entries);
}

void NamePeerOnce(grpc::ClientContext& context, const ServerPeer& peer) {
  grpc::internal::MutexLock lock(&(context.*Get(MutexTag{})));
  grpc_call*& call = context.*Get(CallTag{});
  if (call == nullptr) call = peer.NewCallReference();
}

grpc_call* ReplaceCallWithPeer(grpc::ClientContext& context,
                               const ServerPeer& peer) {
  grpc_call* named = peer.NewCallReference();
  if (named == nullptr) return nullptr;
  grpc::internal::MutexLock lock(&(context.*Get(MutexTag{})));
  grpc_call*& call = context.*Get(CallTag{});
  grpc_call* const former = call;
  call = named;
  return former;
}

}  // namespace shmrpc::internal
