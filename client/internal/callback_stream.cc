#include "shmrpc/client/internal/callback_stream.h"

#include <climits>
#include <mutex>
#include <utility>
#include <vector>

#include "shmrpc/client/internal/context_io.h"
#include "shmrpc/client/internal/stream_driver.h"
#include "shmrpc/message/peer_serialize.h"

namespace shmrpc::internal {
namespace {

class DriverCall;

// The call's operations: at most one of each kind outstanding (gRPC's
// callback API allows no more), so each is a member, reused.
class InitialMetadataOp final : public StreamOp {
 public:
  explicit InitialMetadataOp(DriverCall* call)
      : StreamOp(Kind::kRead), call_(call) {}
  bool WantsMessage() const override { return false; }
  void ReadDone(bool ok) override;

 private:
  DriverCall* const call_;
};

class ReadOp final : public StreamOp {
 public:
  explicit ReadOp(DriverCall* call) : StreamOp(Kind::kRead), call_(call) {}
  void Set(google::protobuf::MessageLite* target) { target_ = target; }
  bool ParseMessage(absl::Span<const uint8_t> bytes) override {
    // protobuf takes an int (and aborts on a negative one).
    return bytes.size() <= static_cast<size_t>(INT_MAX) &&
           target_->ParseFromArray(bytes.data(),
                                   static_cast<int>(bytes.size()));
  }
  void ReadDone(bool ok) override;

 private:
  DriverCall* const call_;
  google::protobuf::MessageLite* target_ = nullptr;
};

class WriteOp final : public StreamOp {
 public:
  WriteOp(DriverCall* call, bool writes_done)
      : StreamOp(Kind::kWrite), call_(call), writes_done_(writes_done) {}
  void Set(const google::protobuf::MessageLite* message, bool last) {
    message_ = message;
    last_ = last;
  }
  bool HasMessage() const override { return !writes_done_; }
  bool HalfClose() const override { return writes_done_ || last_; }
  size_t MessageSize() override { return size_ = message_->ByteSizeLong(); }
  bool WriteMessage(uint8_t* out) override {
    return message::SerializeToPeer(*message_, size_, out);
  }
  void WriteDone(bool ok) override;

 private:
  DriverCall* const call_;
  const bool writes_done_;
  const google::protobuf::MessageLite* message_ = nullptr;
  bool last_ = false;
  size_t size_ = 0;
};

class FinishOp final : public StreamOp {
 public:
  explicit FinishOp(DriverCall* call) : StreamOp(Kind::kFinish), call_(call) {}
  void FinishDone(const grpc::Status& status) override;

 private:
  DriverCall* const call_;
};

// OnDone's condition, under mu_: started, the call over (the finish
// completed), no operation outstanding (each counts from its start until
// its reaction returned), no hold.
class DriverCall final : public CallbackCall,
                         public std::enable_shared_from_this<DriverCall> {
 public:
  DriverCall(std::shared_ptr<ClientConnection> conn, uint32_t method,
             StreamKind kind, grpc::ClientContext* context,
             const google::protobuf::MessageLite* request,
             google::protobuf::MessageLite* response,
             CallbackReactions* reactions)
      : method_(method),
        io_(std::make_shared<ContextIo>(context, request, response)),
        driver_(std::make_shared<StreamDriver>(std::move(conn), kind,
                                               context->deadline(), io_)),
        reactions_(reactions) {}

  ~DriverCall() override { driver_->Stop(); }

  void StartCall() override {
    std::vector<StreamOp*> queued;
    {
      std::lock_guard<std::mutex> lock(mu_);
      started_ = true;
      ++outstanding_;  // the initial metadata's
      queued.swap(queued_);
    }
    driver_->Start(method_);
    driver_->Submit(&initial_);
    for (StreamOp* op : queued) driver_->Submit(op);
    driver_->Submit(&finish_);
  }

  void Read(google::protobuf::MessageLite* response) override {
    read_.Set(response);
    Submit(&read_);
  }
  void Write(const google::protobuf::MessageLite* request,
             grpc::WriteOptions options) override {
    write_.Set(request, options.is_last_message());
    Submit(&write_);
  }
  void WritesDone() override { Submit(&writes_done_); }

  void AddHold(int holds) override {
    std::lock_guard<std::mutex> lock(mu_);
    holds_ += holds;
  }
  void RemoveHold() override {
    std::unique_lock<std::mutex> lock(mu_);
    --holds_;
    MaybeDone(lock);
  }

  // ---- completions (from the ops) ----
  void InitialMetadataDone() {
    reactions_->InitialMetadataDone(io_->initial_received());
    OperationDone();
  }
  void ReadDone(bool ok) {
    reactions_->ReadDone(ok);
    OperationDone();
  }
  void WriteDone(bool ok, bool writes_done) {
    if (writes_done) {
      reactions_->WritesDoneDone(ok);
    } else {
      reactions_->WriteDone(ok);
    }
    OperationDone();
  }
  void Finished(const grpc::Status& status) {
    std::unique_lock<std::mutex> lock(mu_);
    finished_ = true;
    status_ = status;
    MaybeDone(lock);
  }

 private:
  void Submit(StreamOp* op) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++outstanding_;
      if (!started_) {
        queued_.push_back(op);
        return;
      }
    }
    driver_->Submit(op);
  }

  void OperationDone() {
    std::unique_lock<std::mutex> lock(mu_);
    --outstanding_;
    MaybeDone(lock);
  }

  // With mu_ held by `lock`: OnDone if its time has come (then releases
  // the lock; the adapter and, once the last reference goes, this call are
  // gone after).
  void MaybeDone(std::unique_lock<std::mutex>& lock) {
    if (done_ || !started_ || !finished_ || outstanding_ > 0 || holds_ > 0) {
      return;
    }
    done_ = true;
    const grpc::Status status = status_;
    lock.unlock();
    // The adapter holds the last reference but ours: keep this alive until
    // the reaction returns.
    std::shared_ptr<DriverCall> keep = shared_from_this();
    reactions_->Done(status);
  }

  const uint32_t method_;
  const std::shared_ptr<ContextIo> io_;
  const std::shared_ptr<StreamDriver> driver_;
  CallbackReactions* const reactions_;

  InitialMetadataOp initial_{this};
  ReadOp read_{this};
  WriteOp write_{this, /*writes_done=*/false};
  WriteOp writes_done_{this, /*writes_done=*/true};
  FinishOp finish_{this};

  std::mutex mu_;
  bool started_ = false;
  std::vector<StreamOp*> queued_;  // before StartCall
  int outstanding_ = 0;
  int holds_ = 0;
  bool finished_ = false;
  bool done_ = false;
  grpc::Status status_;
};

void InitialMetadataOp::ReadDone(bool) { call_->InitialMetadataDone(); }
void ReadOp::ReadDone(bool ok) { call_->ReadDone(ok); }
void WriteOp::WriteDone(bool ok) { call_->WriteDone(ok, writes_done_); }
void FinishOp::FinishDone(const grpc::Status& status) {
  call_->Finished(status);
}

// Every operation fails at once; OnDone once started, holds removed and
// operations done.
class FailedCall final : public CallbackCall,
                         public std::enable_shared_from_this<FailedCall> {
 public:
  FailedCall(grpc::Status status, CallbackReactions* reactions)
      : status_(std::move(status)), reactions_(reactions) {}

  void StartCall() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      started_ = true;
      ++outstanding_;
    }
    reactions_->InitialMetadataDone(false);
    std::vector<int> queued;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued.swap(queued_);
    }
    for (int kind : queued) Complete(kind);
    OperationDone();
  }
  void Read(google::protobuf::MessageLite*) override { Start(kRead); }
  void Write(const google::protobuf::MessageLite*,
             grpc::WriteOptions) override {
    Start(kWrite);
  }
  void WritesDone() override { Start(kWritesDone); }
  void AddHold(int holds) override {
    std::lock_guard<std::mutex> lock(mu_);
    holds_ += holds;
  }
  void RemoveHold() override {
    std::unique_lock<std::mutex> lock(mu_);
    --holds_;
    MaybeDone(lock);
  }

 private:
  enum { kRead, kWrite, kWritesDone };

  void Start(int kind) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++outstanding_;
      if (!started_) {
        queued_.push_back(kind);
        return;
      }
    }
    Complete(kind);
  }
  void Complete(int kind) {
    if (kind == kRead) reactions_->ReadDone(false);
    if (kind == kWrite) reactions_->WriteDone(false);
    if (kind == kWritesDone) reactions_->WritesDoneDone(false);
    OperationDone();
  }
  void OperationDone() {
    std::unique_lock<std::mutex> lock(mu_);
    --outstanding_;
    MaybeDone(lock);
  }
  void MaybeDone(std::unique_lock<std::mutex>& lock) {
    if (done_ || !started_ || outstanding_ > 0 || holds_ > 0) return;
    done_ = true;
    lock.unlock();
    std::shared_ptr<FailedCall> keep = shared_from_this();
    reactions_->Done(status_);
  }

  const grpc::Status status_;
  CallbackReactions* const reactions_;
  std::mutex mu_;
  bool started_ = false;
  std::vector<int> queued_;  // before StartCall
  int outstanding_ = 0;
  int holds_ = 0;
  bool done_ = false;
};

}  // namespace

std::shared_ptr<CallbackCall> NewCallbackCall(
    std::shared_ptr<ClientConnection> conn, uint32_t method, StreamKind kind,
    grpc::ClientContext* context, const google::protobuf::MessageLite* request,
    google::protobuf::MessageLite* response, CallbackReactions* reactions) {
  return std::make_shared<DriverCall>(std::move(conn), method, kind, context,
                                      request, response, reactions);
}

std::shared_ptr<CallbackCall> FailedCallbackCall(grpc::Status status,
                                                 CallbackReactions* reactions) {
  return std::make_shared<FailedCall>(std::move(status), reactions);
}

}  // namespace shmrpc::internal
