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

inline grpc::Status AskedToFail() {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "asked to fail");
}
inline grpc::Status BadData() {
  return grpc::Status(grpc::StatusCode::DATA_LOSS, "request data");
}

class FlatBlobService final : public ShmBlobs::FlatService {
 public:
  grpc::Status Echo(ServerContext* context, flat::BlobView request,
                    flat::BlobBuilder response) override {
    EchoTag(context);
    return Answer(context, request, response);
  }

  grpc::Status Count(ServerContext* context,
                     FlatServerReader<flat::BlobView>* reader,
                     flat::BlobBuilder response) override {
    FlatMessage<flat::BlobView> blob;
    uint64_t total = 0;
    uint32_t count = 0;
    bool in_place = true;
    while (reader->Read(&blob)) {  // each read in place
      in_place = in_place && blob.in_place();
      if (blob->note() == "fail") return AskedToFail();
      const absl::string_view data = blob->data();
      if (!CheckBlob(data.data(), data.size(), blob->seed())) return BadData();
      total += data.size();
      ++count;
    }
    response.set_seed(total);
    response.set_count(count);
    response.set_in_place(in_place);
    response.set_shared_memory(context->is_shared_memory());
    EchoTag(context);
    return grpc::Status::OK;
  }

  grpc::Status Split(ServerContext* context, flat::BlobView request,
                     FlatServerWriter<flat::BlobBuilder>* writer) override {
    EchoTag(context);
    const absl::string_view in = request.data();
    if (!CheckBlob(in.data(), in.size(), request.seed())) return BadData();
    for (uint32_t i = 0; i < request.count(); ++i) {
      FlatMessageBuilder<flat::BlobBuilder> blob =
          writer->NewMessage(in.size() + 64);
      absl::Span<uint8_t> out = blob->mutable_data(in.size());
      if (out.size() != in.size()) {
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "blob");
      }
      FillBlob(out.data(), out.size(), request.seed() + i);  // in place
      blob->set_seed(request.seed() + i);
      blob->set_shared_memory(context->is_shared_memory());
      if (!writer->Write(std::move(blob))) break;
    }
    if (request.note() == "fail") return AskedToFail();
    return grpc::Status::OK;
  }

  grpc::Status Chat(ServerContext* context,
                    FlatServerReaderWriter<flat::BlobBuilder, flat::BlobView>*
                        stream) override {
    EchoTag(context);
    FlatMessage<flat::BlobView> in;
    while (stream->Read(&in)) {
      FlatMessageBuilder<flat::BlobBuilder> out =
          stream->NewMessage(in->data().size() + 64);
      if (grpc::Status s = Answer(context, *in, *out); !s.ok()) return s;
      out->set_in_place(in.in_place());
      in.Release();  // the client's chunk back before we write
      if (!stream->Write(std::move(out))) break;
    }
    return grpc::Status::OK;
  }

 private:
  // Echo's answer to `request`, built in `response`.
  static grpc::Status Answer(ServerContext* context, flat::BlobView request,
                             flat::BlobBuilder response) {
    if (request.note() == "fail") return AskedToFail();
    const absl::string_view in = request.data();
    if (!CheckBlob(in.data(), in.size(), request.seed())) return BadData();
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
    return grpc::Status::OK;
  }
};

class ProtoBlobService final : public ShmBlobs::Service {
 public:
  grpc::Status Echo(ServerContext* context, const Blob* request,
                    Blob* response) override {
    EchoTag(context);
    return Answer(context, *request, response);
  }

  grpc::Status Count(ServerContext* context,
                     grpc::ServerReaderInterface<Blob>* reader,
                     Blob* response) override {
    Blob blob;
    uint64_t total = 0;
    uint32_t count = 0;
    while (reader->Read(&blob)) {
      if (blob.note() == "fail") return AskedToFail();
      if (!CheckBlob(blob.data().data(), blob.data().size(), blob.seed())) {
        return BadData();
      }
      total += blob.data().size();
      ++count;
    }
    response->set_seed(total);
    response->set_count(count);
    response->set_shared_memory(context->is_shared_memory());
    EchoTag(context);
    return grpc::Status::OK;
  }

  grpc::Status Split(ServerContext* context, const Blob* request,
                     grpc::ServerWriterInterface<Blob>* writer) override {
    EchoTag(context);
    const std::string& in = request->data();
    if (!CheckBlob(in.data(), in.size(), request->seed())) return BadData();
    for (uint32_t i = 0; i < request->count(); ++i) {
      Blob blob;
      blob.mutable_data()->resize(in.size());
      FillBlob(reinterpret_cast<uint8_t*>(blob.mutable_data()->data()),
               in.size(), request->seed() + i);
      blob.set_seed(request->seed() + i);
      blob.set_shared_memory(context->is_shared_memory());
      if (!writer->Write(blob)) break;
    }
    if (request->note() == "fail") return AskedToFail();
    return grpc::Status::OK;
  }

  grpc::Status Chat(
      ServerContext* context,
      grpc::ServerReaderWriterInterface<Blob, Blob>* stream) override {
    EchoTag(context);
    Blob in;
    while (stream->Read(&in)) {
      Blob out;
      if (grpc::Status s = Answer(context, in, &out); !s.ok()) return s;
      if (!stream->Write(out)) break;
    }
    return grpc::Status::OK;
  }

 private:
  static grpc::Status Answer(ServerContext* context, const Blob& request,
                             Blob* response) {
    if (request.note() == "fail") return AskedToFail();
    if (!CheckBlob(request.data().data(), request.data().size(),
                   request.seed())) {
      return BadData();
    }
    std::string* out = response->mutable_data();
    out->resize(request.data().size());
    FillBlob(reinterpret_cast<uint8_t*>(out->data()), out->size(),
             request.seed() + 1);
    response->set_seed(request.seed() + 1);
    for (float w : request.weights()) response->add_weights(2 * w);
    response->set_note(request.note());
    response->set_shared_memory(context->is_shared_memory());
    return grpc::Status::OK;
  }
};

}  // namespace shmrpc::flatcall

#endif  // SHMRPC_TESTS_FLAT_BLOB_SERVICE_H_
