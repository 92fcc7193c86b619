// Notification: a one-shot event for tests, built on std::mutex and
// std::condition_variable so that ThreadSanitizer sees the synchronization
// (Debian's Abseil is not built with TSan, so absl::Notification's is
// invisible to it).
#ifndef SHMRPC_TESTS_UTIL_NOTIFICATION_H_
#define SHMRPC_TESTS_UTIL_NOTIFICATION_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace shmrpc::testing {

class Notification {
 public:
  // Marks the event as happened and wakes every waiter. Idempotent.
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
    cv_.notify_all();
  }

  bool HasBeenNotified() const {
    std::lock_guard<std::mutex> lock(mu_);
    return notified_;
  }

  void WaitForNotification() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return notified_; });
  }

  // True if notified within `timeout`.
  bool WaitForNotificationWithTimeout(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return notified_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_UTIL_NOTIFICATION_H_
