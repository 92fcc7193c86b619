// The two implementations of tests/flat/blobs.proto's service the flat-call
// tests run against: on flat messages (FlatService) and on protobuf
// (Service), behaving alike.
#ifndef SHMRPC_TESTS_FLAT_BLOB_SERVICE_H_
#define SHMRPC_TESTS_FLAT_BLOB_SERVICE_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "blobs.shmrpc.h"

namespace shmrpc::flatcall {

// Writes words seed, seed + 1, ... over `bytes` (a multiple of 8 long).
inline void FillBlob(uint8_t* data, size_t bytes, uint64_t seed) {
  for (size_t i = 0; i < bytes / 8; ++i) {
    const uint64_t w = seed + i;
    std::memcpy(data + 8 * i, &w, 8);
  }
}

// Whether `bytes` holds the words FillBlob wrote for `seed`.
inline bool CheckBlob(const void* data, size_t bytes, uint64_t seed) {
  if (bytes % 8 != 0) return false;
  uint64_t diff = 0;
  for (size_t i = 0; i < bytes / 8; ++i) {
    uint64_t w;
    std::memcpy(&w, static_cast<const uint8_t*>(data) + 8 * i, 8);
    diff |= w ^ (seed + i);
  }
  return diff == 0;
}

// The client's "x-tag" metadata, back as trailing metadata (both services).
inline void EchoTag(ServerContext* context) {
  for (const auto& [k, v] : context->client_metadata()) {
    if (k == "x-tag") {
      context->AddTrailingMetadata("x-tag", std::string(v.data(), v.size()));
    }
  }
}

// Count, which both services serve with protobuf's shapes.
inline grpc::Status CountBlobs(ServerContext* context,
                               grpc::ServerReaderInterface<Blob>* reader,
                               Blob* response) {
  Blob b;
  uint64_t total = 0;
  while (reader->Read(&b)) total += b.data().size();
  response->set_seed(total);
  response->set_shared_memory(context->is_shared_memory());
  return grpc::Status::OK;
}

class FlatBlobService final : public ShmBlobs::FlatService {
 public:
  grpc::Status Echo(ServerContext* context, flat::BlobView request,
                    flat::BlobBuilder response) override {
    if (request.note() == "fail") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "asked to fail");
    }
    const absl::string_view in = request.data();
    if (!CheckBlob(in.data(), in.size(), request.seed())) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "request data");
    }
    absl::Span<uint8_t> out = response.mutable_data(in.size());
    if (out.size() != in.size()) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "response");
    }
    FillBlob(out.data(), out.size(), request.seed() + 1);
    response.set_seed(request.seed() + 1);
    const auto weights = request.weights();
    absl::Span<float> doubled = response.mutable_weights(weights.size());
    for (int i = 0; i < weights.size(); ++i) doubled[i] = 2 * weights[i];
    response.set_note(request.note());
    response.set_shared_memory(context->is_shared_memory());
    EchoTag(context);
    return grpc::Status::OK;
  }

  grpc::Status Count(ServerContext* context,
                     grpc::ServerReaderInterface<Blob>* reader,
                     Blob* response) override {
    return CountBlobs(context, reader, response);
  }
};

class ProtoBlobService final : public ShmBlobs::Service {
 public:
  grpc::Status Echo(ServerContext* context, const Blob* request,
                    Blob* response) override {
    if (request->note() == "fail") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "asked to fail");
    }
    if (!CheckBlob(request->data().data(), request->data().size(),
                   request->seed())) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "request data");
    }
    std::string* out = response->mutable_data();
    out->resize(request->data().size());
    FillBlob(reinterpret_cast<uint8_t*>(out->data()), out->size(),
             request->seed() + 1);
    response->set_seed(request->seed() + 1);
    for (float w : request->weights()) response->add_weights(2 * w);
    response->set_note(request->note());
    response->set_shared_memory(context->is_shared_memory());
    EchoTag(context);
    return grpc::Status::OK;
  }

  grpc::Status Count(ServerContext* context,
                     grpc::ServerReaderInterface<Blob>* reader,
                     Blob* response) override {
    return CountBlobs(context, reader, response);
  }
};

}  // namespace shmrpc::flatcall

#endif  // SHMRPC_TESTS_FLAT_BLOB_SERVICE_H_
