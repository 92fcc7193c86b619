#include "shmrpc/transport/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace shmrpc::transport {

EventLoop::EventLoop()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = wake_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  thread_ = std::thread([this] { Run(); });
}

EventLoop::~EventLoop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
}

EventLoop& EventLoop::Default() {
  // Leaked on purpose: connections may be destroyed during static teardown.
  static EventLoop* loop = new EventLoop();
  return *loop;
}

void EventLoop::Wake() {
  uint64_t one = 1;
  // Fails only if the eventfd counter would overflow (EAGAIN), and then a
  // wake-up is pending anyway.
  const ssize_t n = ::write(wake_.get(), &one, sizeof(one));
  static_cast<void>(n);
}

absl::Status EventLoop::Add(int fd, uint32_t events, FdCallback callback) {
  auto watch = std::make_shared<Watch>(Watch{fd, std::move(callback)});
  std::lock_guard<std::mutex> lock(mu_);
  struct epoll_event ev {};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return ErrnoToStatus(errno, "epoll_ctl(ADD)");
  }
  watches_[fd] = std::move(watch);
  return absl::OkStatus();
}

void EventLoop::Remove(int fd) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  std::shared_ptr<Watch> watch = std::move(it->second);
  watches_.erase(it);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  if (!InLoopThread()) {
    idle_.wait(lock, [&] { return running_ != watch; });
  }
}

EventLoop::TimerId EventLoop::RunAt(Deadline when, std::function<void()> fn) {
  TimerId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_timer_++;
    timers_.emplace(when, std::make_pair(id, std::move(fn)));
  }
  Wake();
  return id;
}

bool EventLoop::Cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return true;
    }
  }
  return false;
}

void EventLoop::Run() {
  constexpr int kMaxEvents = 64;
  struct epoll_event events[kMaxEvents];
  for (;;) {
    int timeout_ms = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      if (!timers_.empty()) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(
                timers_.begin()->first - std::chrono::steady_clock::now())
                .count();
        timeout_ms = static_cast<int>(std::clamp<int64_t>(left + 1, 0, 60000));
      }
    }
    int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, timeout_ms);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_.get()) {
        uint64_t drained;
        // Resets the counter; a failure (EAGAIN: already zero) is harmless.
        const ssize_t r = ::read(wake_.get(), &drained, sizeof(drained));
        static_cast<void>(r);
        continue;
      }
      std::shared_ptr<Watch> watch;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = watches_.find(fd);
        if (it == watches_.end()) continue;  // removed meanwhile
        watch = it->second;
        running_ = watch;
      }
      watch->callback(events[i].events);
      {
        std::lock_guard<std::mutex> lock(mu_);
        running_.reset();
      }
      idle_.notify_all();
    }
    // Due timers.
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (timers_.empty() ||
            timers_.begin()->first > std::chrono::steady_clock::now()) {
          break;
        }
        fn = std::move(timers_.begin()->second.second);
        timers_.erase(timers_.begin());
      }
      fn();
    }
  }
}

}  // namespace shmrpc::transport
