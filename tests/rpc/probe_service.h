// The test implementation of shmrpc.testing.Probe (tests/rpc/probe.proto),
// shared by the server's cross-process tests and their server binary. One
// object serves both gRPC and shared-memory calls.
#ifndef SHMRPC_TESTS_RPC_PROBE_SERVICE_H_
#define SHMRPC_TESTS_RPC_PROBE_SERVICE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "tests/rpc/probe.shmrpc.h"

namespace shmrpc::testing {

// The payload of message `index` of a Stream call: `size` bytes, each a
// function of index and position, so that a reader can check every byte.
std::string StreamPayload(int64_t index, int32_t size);

// Message `index` of a stream, with StreamPayload(index, size).
inline StreamMessage Numbered(int64_t index, int32_t size) {
  StreamMessage m;
  m.set_index(index);
  m.set_payload(StreamPayload(index, size));
  return m;
}

// The metadata every Stream call sends.
inline constexpr char kStreamInitialKey[] = "stream-initial";
inline constexpr char kStreamInitialValue[] = "hello";
inline constexpr char kStreamInitialBinKey[] = "stream-initial-bin";
inline constexpr char kStreamInitialBinValue[] = {'\0', '\x01', '\xff'};
inline constexpr char kStreamTrailingKey[] = "stream-trailing";
inline constexpr char kStreamTrailingValue[] = "bye";
inline constexpr char kStreamTrailingBinKey[] = "stream-trailing-bin";
inline constexpr char kStreamTrailingBinValue[] = {'\xfe', '\0', '\x02'};

// Thread-safe.
class ProbeServiceImpl final : public ShmProbe::Service {
 public:
  grpc::Status Call(ServerContext* context, const ProbeRequest* request,
                    ProbeResponse* response) override;
  grpc::Status GetReport(ServerContext* context, const ReportRequest* request,
                         Report* response) override;
  grpc::Status Stream(
      ServerContext* context, const StreamRequest* request,
      grpc::ServerWriterInterface<StreamMessage>* writer) override;
  grpc::Status Upload(ServerContext* context,
                      grpc::ServerReaderInterface<StreamMessage>* reader,
                      UploadSummary* response) override;
  grpc::Status Chat(
      ServerContext* context,
      grpc::ServerReaderWriterInterface<StreamMessage, StreamMessage>* stream)
      override;

  // Call handlers started so far.
  int64_t calls() const;

 private:
  // Upload and Chat: reads the client's messages (as the metadata steers),
  // writing each back if `echo` is set; fills `summary`.
  grpc::Status ReadAll(ServerContext* context,
                       grpc::internal::ReaderInterface<StreamMessage>* reader,
                       grpc::internal::WriterInterface<StreamMessage>* echo,
                       UploadSummary* summary);
  // Records into the report of `tag` (if not empty).
  void Record(const std::string& tag, const std::function<void(Report&)>& f);

  mutable std::mutex mu_;
  int64_t calls_ = 0;
  std::map<std::string, Report> reports_;  // by tag
};

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_RPC_PROBE_SERVICE_H_
