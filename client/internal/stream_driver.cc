#include "shmrpc/client/internal/stream_driver.h"

#include <system_error>
#include <thread>
#include <utility>

namespace shmrpc::internal {
namespace {

// How long a waiting reader sleeps before it looks at the call's deadline,
// cancellation and connection again.
constexpr auto kPollSlice = std::chrono::milliseconds(10);
// How long the writer thread waits for the next write before it exits.
constexpr auto kWriterLinger = std::chrono::milliseconds(100);

grpc::Status Cancelled() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
}

grpc::Status NoThread() {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "no thread for the shared-memory stream");
}

// How many operation completions this thread is inside. An operation
// submitted from a completion (a reactor starting its next read from
// OnReadDone) never completes on the spot: that would recurse once per
// message, as deep as the stream is long. It goes to the reader or writer
// thread, whose loop takes it after the completion returns.
thread_local int completing = 0;

class Completing {
 public:
  Completing() { ++completing; }
  ~Completing() { --completing; }
  Completing(const Completing&) = delete;
  Completing& operator=(const Completing&) = delete;
};

}  // namespace

StreamDriver::StreamDriver(std::shared_ptr<ClientConnection> conn,
                           StreamKind kind,
                           std::chrono::system_clock::time_point deadline,
                           std::shared_ptr<UnaryIo> io)
    : io_(std::move(io)),
      call_(std::make_unique<StreamCall>(std::move(conn), kind, deadline,
                                         io_.get())) {}

StreamDriver::~StreamDriver() = default;

void StreamDriver::Start(uint32_t method, StreamOp* first) {
  call_->Start(method);
  if (first != nullptr) {
    writer_busy_ = true;
    RunWrite(first);
    writer_busy_ = false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!StartThread(&StreamDriver::ReaderLoop, &reader_running_)) {
    // Nobody to wait for the server: every read and the finish complete at
    // once, with the end of the call.
    no_reader_ = true;
    call_->Cancel(NoThread());
  }
}

void StreamDriver::Submit(StreamOp* op) {
  if (op->kind() == StreamOp::Kind::kWrite) {
    Write(op);
  } else {
    Receive(op);
  }
}

void StreamDriver::Cancel(const grpc::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (call_ != nullptr) call_->Cancel(status);
  wake_.notify_all();
}

void StreamDriver::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (call_ != nullptr) call_->Cancel(Cancelled());
  stop_ = true;
  wake_.notify_all();
}

// ---- writing ----------------------------------------------------------------

void StreamDriver::Write(StreamOp* op) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (finished_) {
      // The call is over (a write started from a completion): fails at once.
      lock.unlock();
      Completing c;
      op->WriteDone(false);
      return;
    }
    if (writer_busy_ || !writes_.empty() || completing > 0) {
      if (QueueWrite(op)) return;
      lock.unlock();
      Completing c;
      op->WriteDone(false);
      return;
    }
    writer_busy_ = true;
  }
  // Ours alone now: if the window has room, send here and now.
  if (!call_->WriteWouldNotWait()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      handed_to_writer_ = true;  // writer_busy_ passes to the writer thread
      if (QueueWrite(op)) return;
      handed_to_writer_ = false;
      writer_busy_ = false;
    }
    Completing c;
    op->WriteDone(false);
    return;
  }
  RunWrite(op);
}

// With mu_ held: starts `loop` on a thread of its own (which holds a
// reference to this). False if the system has no thread to give (its task
// limit): the caller fails the call, not the process.
bool StreamDriver::StartThread(void (StreamDriver::*loop)(), bool* running) {
  *running = true;
  try {
    std::thread([self = shared_from_this(), loop] {
      ((*self).*loop)();
    }).detach();
    return true;
  } catch (const std::system_error&) {
    *running = false;
    return false;
  }
}

// With mu_ held: queues `op` for the writer thread, starting it if needed.
// False (and the call ended) if it could not be started.
bool StreamDriver::QueueWrite(StreamOp* op) {
  if (!writer_running_ &&
      !StartThread(&StreamDriver::WriterLoop, &writer_running_)) {
    call_->Cancel(NoThread());
    return false;
  }
  writes_.push_back(op);
  wake_.notify_all();
  return true;
}

// Sends what `op` carries and completes it, on the thread that owns the
// writing side (and gives that up first, unless it is the writer thread).
void StreamDriver::RunWrite(StreamOp* op) {
  bool ok = true;
  if (op->HasMessage()) {
    const size_t size = op->MessageSize();
    ok = call_->Write(
        size, [&](uint8_t* out) { return op->WriteMessage(out); },
        op->HalfClose());
  } else if (op->HalfClose()) {
    ok = call_->WritesDone();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!handed_to_writer_) {
      writer_busy_ = false;
      wake_.notify_all();
    }
  }
  Completing c;
  op->WriteDone(ok);
}

// The writer thread: the writes that had to wait for the window, in order.
void StreamDriver::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (writes_.empty()) {
      if (handed_to_writer_) {
        handed_to_writer_ = false;
        writer_busy_ = false;
        wake_.notify_all();
      }
      if (stop_ ||
          !wake_.wait_for(lock, kWriterLinger,
                          [&] { return stop_ || !writes_.empty(); }) ||
          writes_.empty()) {
        writer_running_ = false;
        return;
      }
    }
    if (writer_busy_ && !handed_to_writer_) {
      // A submitting thread is sending; the queue waits for it.
      wake_.wait(lock);
      continue;
    }
    writer_busy_ = true;
    handed_to_writer_ = true;
    StreamOp* op = writes_.front();
    writes_.pop_front();
    lock.unlock();
    RunWrite(op);
    lock.lock();
  }
}

// ---- reading ----------------------------------------------------------------

void StreamDriver::Receive(StreamOp* op) {
  std::unique_lock<std::mutex> lock(mu_);
  if (finished_ || no_reader_) {
    // The call is over (a read started from the completion of the last
    // one), or nobody could wait for it: completes at once.
    const grpc::Status status =
        call_ != nullptr ? call_->status() : grpc::Status();
    lock.unlock();
    Completing c;
    if (op->kind() == StreamOp::Kind::kFinish) {
      op->FinishDone(status);
    } else {
      op->ReadDone(false);
    }
    return;
  }
  if (op->kind() == StreamOp::Kind::kFinish) {
    finish_ = op;
  } else if (op->WantsMessage() && reads_.empty() && !reading_ &&
             completing == 0) {
    // A read with nothing before it: if its message is there or comes
    // within the spin budget, it is answered here, without a hand-off to
    // the reader thread and back (a ping-pong's reply comes that fast).
    reading_ = true;
    lock.unlock();
    const StreamCall::Try r = call_->TryNextMessage(&received_);
    lock.lock();
    if (r == StreamCall::Try::kNotYet) {
      reading_ = false;
      reads_.push_back(op);
    } else {
      lock.unlock();
      Read(op, r == StreamCall::Try::kMessage);
      return;
    }
  } else {
    reads_.push_back(op);
  }
  wake_.notify_all();
}

// Completes read `op` from received_ (the end of the stream unless
// `have_message`), and gives up the reading side (reading_).
void StreamDriver::Read(StreamOp* op, bool have_message) {
  bool ok = have_message;
  if (have_message) {
    ok = op->ParseMessage(received_.bytes());
    received_.Release();
    if (!ok) {
      call_->Cancel(grpc::Status(grpc::StatusCode::INTERNAL,
                                 "Failed to parse response message"));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    reading_ = false;
    wake_.notify_all();
  }
  Completing c;
  op->ReadDone(ok);
}

// The reader thread: answers reads in order, and the finish once the call
// ended and no read waits; then exits.
void StreamDriver::ReaderLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stop_) break;
    if (reading_) {
      // A read is being tried on a submitting thread.
      wake_.wait(lock);
      continue;
    }
    if (!reads_.empty()) {
      StreamOp* op = reads_.front();
      reads_.pop_front();
      reading_ = true;
      lock.unlock();
      bool have_message = false;
      if (op->WantsMessage()) {
        have_message = call_->NextMessage(&received_);
      } else {
        call_->WaitForInitialMetadata();
      }
      Read(op, have_message);
      lock.lock();
      continue;
    }
    if (finish_ != nullptr) {
      if (!call_->Done()) {
        // Wait for the end without taking a message the application may
        // still read (at most one is taken off the ring to see past it).
        reading_ = true;
        lock.unlock();
        const bool message = call_->WaitForMessageOrEnd();
        lock.lock();
        reading_ = false;
        if (message && !call_->Done()) {
          wake_.wait_for(lock, kPollSlice, [&] {
            return stop_ || !reads_.empty() || call_->Done();
          });
          if (reads_.empty() && !stop_) {
            lock.unlock();
            call_->Poll();
            lock.lock();
          }
        }
        continue;
      }
      // Over: once the writing side is idle (a write in progress fails fast
      // now), give the stream back and complete the finish.
      if (writer_busy_ || !writes_.empty()) {
        wake_.wait_for(lock, kPollSlice);
        continue;
      }
      StreamOp* op = finish_;
      finish_ = nullptr;
      finished_ = true;
      lock.unlock();
      const grpc::Status status = call_->Finish();
      std::unique_ptr<StreamCall> call;
      lock.lock();
      call.swap(call_);
      lock.unlock();
      call.reset();
      {
        Completing c;
        op->FinishDone(status);
      }
      lock.lock();
      break;
    }
    wake_.wait(lock);
  }
  reader_running_ = false;
}

}  // namespace shmrpc::internal
