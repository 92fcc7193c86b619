// EventLoop: one thread that watches file descriptors with epoll and runs
// timers. The transport uses it to accept connections, to time out slow
// handshakes, and to notice within milliseconds that a peer is gone (its end
// of the connection socket hangs up when the process exits, including on
// kill -9).
//
// Callbacks run on the loop thread, one at a time; they must not block.
#ifndef SHMRPC_TRANSPORT_EVENT_LOOP_H_
#define SHMRPC_TRANSPORT_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "shmrpc/transport/futex.h"
#include "shmrpc/transport/internal/posix.h"

namespace shmrpc::transport {

class EventLoop {
 public:
  using FdCallback = std::function<void(uint32_t epoll_events)>;
  using TimerId = uint64_t;

  // Starts the loop thread.
  EventLoop();
  // Stops and joins the loop thread. Callbacks still registered are dropped
  // without being run. Must not be called from the loop thread.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // A loop shared by the whole process, started on first use and never
  // destroyed. Thread-safe.
  static EventLoop& Default();

  // Watches `fd` for `events` (EPOLLIN, EPOLLRDHUP, ...; EPOLLHUP and
  // EPOLLERR are always reported) and calls `callback` with what happened.
  // The fd must stay open until Remove(fd) has returned. Thread-safe.
  absl::Status Add(int fd, uint32_t events, FdCallback callback);

  // Stops watching `fd`. When it returns, the fd's callback is not running
  // and will not run again, unless Remove is called from that very callback
  // (then the callback finishes normally). Thread-safe.
  void Remove(int fd);

  // Runs `fn` on the loop thread at `when` (or soon after). Thread-safe.
  TimerId RunAt(Deadline when, std::function<void()> fn);

  // Cancels a timer that has not started running. Returns false if it
  // already ran, is running, or never existed. Thread-safe.
  bool Cancel(TimerId id);

  // True on the loop thread.
  bool InLoopThread() const {
    return std::this_thread::get_id() == thread_.get_id();
  }

 private:
  struct Watch {
    int fd;
    FdCallback callback;
  };

  void Run();
  void Wake();

  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd
  std::mutex mu_;
  std::condition_variable idle_;  // signalled when a callback finishes
  bool stopping_ = false;
  std::map<int, std::shared_ptr<Watch>> watches_;
  std::shared_ptr<Watch> running_;  // the watch whose callback runs now
  TimerId next_timer_ = 1;
  std::multimap<Deadline, std::pair<TimerId, std::function<void()>>> timers_;
  std::thread thread_;
};

}  // namespace shmrpc::transport

#endif  // SHMRPC_TRANSPORT_EVENT_LOOP_H_
