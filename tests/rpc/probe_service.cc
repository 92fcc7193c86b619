#include "tests/rpc/probe_service.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace shmrpc::testing {
namespace {

int64_t UnixNanos(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             t.time_since_epoch())
      .count();
}

// Waits up to `ms` for the call to be cancelled; true if it was.
bool WaitForCancel(const ServerContext& context, int32_t ms) {
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  bool cancelled = context.IsCancelled();
  while (!cancelled && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    cancelled = context.IsCancelled();
  }
  return cancelled;
}

}  // namespace

grpc::Status ProbeServiceImpl::Call(ServerContext* context,
                                    const ProbeRequest* request,
                                    ProbeResponse* response) {
  const std::string& tag = request->tag();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (!tag.empty()) reports_[tag].set_started(true);
  }
  const bool cancelled = WaitForCancel(*context, request->wait_for_cancel_ms());
  const auto seen = std::chrono::system_clock::now();
  if (request->response_bytes() > 0) {
    response->set_payload(std::string(request->response_bytes(), 'r'));
  } else {
    response->set_payload(request->payload());
  }
  if (!tag.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    Report& r = reports_[tag];
    r.set_finished(true);
    r.set_saw_cancel(cancelled);
    if (cancelled) r.set_cancel_seen_unix_ns(UnixNanos(seen));
  }
  return cancelled ? grpc::Status::CANCELLED : grpc::Status::OK;
}

grpc::Status ProbeServiceImpl::GetReport(ServerContext* context,
                                         const ReportRequest* request,
                                         Report* response) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = reports_.find(request->tag());
  if (it != reports_.end()) *response = it->second;
  response->set_calls(calls_);
  return grpc::Status::OK;
}

std::string StreamPayload(int64_t index, int32_t size) {
  std::string payload(static_cast<size_t>(std::max(size, 0)), '\0');
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>((index * 131 + static_cast<int64_t>(i) * 7 +
                                    static_cast<int64_t>(i >> 8)) &
                                   0xff);
  }
  return payload;
}

grpc::Status ProbeServiceImpl::Stream(
    ServerContext* context, const StreamRequest* request,
    grpc::ServerWriterInterface<StreamMessage>* writer) {
  const std::string& tag = request->tag();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (!tag.empty()) {
      reports_[tag].set_started(true);
      reports_[tag].set_shared_memory(context->is_shared_memory());
    }
  }
  context->AddInitialMetadata(kStreamInitialKey, kStreamInitialValue);
  context->AddInitialMetadata(
      kStreamInitialBinKey,
      std::string(kStreamInitialBinValue, sizeof(kStreamInitialBinValue)));
  context->AddTrailingMetadata(kStreamTrailingKey, kStreamTrailingValue);
  context->AddTrailingMetadata(
      kStreamTrailingBinKey,
      std::string(kStreamTrailingBinValue, sizeof(kStreamTrailingBinValue)));
  if (request->send_initial_metadata_first()) writer->SendInitialMetadata();
  bool failed = false;
  int64_t index = 0;
  const int rounds = std::max(request->rounds(), 1);
  for (int round = 0; round < rounds && !failed; ++round) {
    for (int32_t size : request->sizes()) {
      StreamMessage message;
      message.set_index(index);
      message.set_payload(StreamPayload(index, size));
      if (!writer->Write(message)) {
        failed = true;
        break;
      }
      ++index;
      if (!tag.empty()) {
        std::lock_guard<std::mutex> lock(mu_);
        reports_[tag].set_writes(index);
      }
    }
  }
  const bool cancelled = WaitForCancel(*context, request->wait_for_cancel_ms());
  const auto seen = std::chrono::system_clock::now();
  if (!tag.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    Report& r = reports_[tag];
    r.set_write_failed(failed);
    r.set_finished(true);
    r.set_saw_cancel(cancelled);
    if (cancelled) r.set_cancel_seen_unix_ns(UnixNanos(seen));
  }
  if (cancelled) return grpc::Status::CANCELLED;
  if (request->status_code() != 0) {
    return grpc::Status(static_cast<grpc::StatusCode>(request->status_code()),
                        request->status_message(), request->status_details());
  }
  return grpc::Status::OK;
}

namespace {

// The value of the client's metadata `key`, or "".
std::string ClientValue(const ServerContext& context, const std::string& key) {
  const auto& md = context.client_metadata();
  auto it = md.find(key);
  return it == md.end() ? std::string()
                        : std::string(it->second.data(), it->second.size());
}

int ClientInt(const ServerContext& context, const std::string& key) {
  const std::string v = ClientValue(context, key);
  return v.empty() ? 0 : std::atoi(v.c_str());
}

}  // namespace

void ProbeServiceImpl::Record(const std::string& tag,
                              const std::function<void(Report&)>& f) {
  if (tag.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  f(reports_[tag]);
}

grpc::Status ProbeServiceImpl::ReadAll(
    ServerContext* context,
    grpc::internal::ReaderInterface<StreamMessage>* reader,
    grpc::internal::WriterInterface<StreamMessage>* echo,
    UploadSummary* summary) {
  const std::string tag = ClientValue(*context, "x-tag");
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
  }
  Record(tag, [&](Report& r) {
    r.set_started(true);
    r.set_shared_memory(context->is_shared_memory());
  });
  context->AddInitialMetadata(kStreamInitialKey, kStreamInitialValue);
  context->AddTrailingMetadata(kStreamTrailingKey, kStreamTrailingValue);
  const int stop_after = ClientInt(*context, "x-stop-after");
  const int delay_ms = ClientInt(*context, "x-read-delay-ms");
  bool intact = true;
  bool write_failed = false;
  StreamMessage m;
  grpc::Status status;
  for (;;) {
    if (stop_after > 0 && summary->messages() >= stop_after) {
      status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "stopped");
      break;
    }
    if (delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
    if (!reader->Read(&m)) break;
    if (m.index() != summary->messages() ||
        m.payload() != StreamPayload(m.index(), static_cast<int32_t>(
                                                    m.payload().size()))) {
      intact = false;
    }
    summary->set_messages(summary->messages() + 1);
    summary->set_bytes(summary->bytes() +
                       static_cast<int64_t>(m.payload().size()));
    Record(tag, [&](Report& r) { r.set_reads(summary->messages()); });
    if (echo != nullptr) {
      if (!echo->Write(m)) {
        write_failed = true;
        break;
      }
      Record(tag, [&](Report& r) { r.set_writes(r.writes() + 1); });
    }
  }
  summary->set_intact(intact);
  const bool cancelled =
      WaitForCancel(*context, ClientInt(*context, "x-wait-for-cancel-ms"));
  const auto seen = std::chrono::system_clock::now();
  Record(tag, [&](Report& r) {
    r.set_write_failed(write_failed);
    r.set_finished(true);
    r.set_saw_cancel(cancelled);
    if (cancelled) r.set_cancel_seen_unix_ns(UnixNanos(seen));
  });
  if (cancelled) return grpc::Status::CANCELLED;
  return status;
}

grpc::Status ProbeServiceImpl::Upload(
    ServerContext* context, grpc::ServerReaderInterface<StreamMessage>* reader,
    UploadSummary* response) {
  return ReadAll(context, reader, nullptr, response);
}

grpc::Status ProbeServiceImpl::Chat(
    ServerContext* context,
    grpc::ServerReaderWriterInterface<StreamMessage, StreamMessage>* stream) {
  UploadSummary summary;
  return ReadAll(context, stream, stream, &summary);
}

int64_t ProbeServiceImpl::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

}  // namespace shmrpc::testing
