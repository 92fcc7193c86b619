// Subprocess: starts a helper binary for a cross-process test, reads what it
// prints, waits for it with a bound, and kills it. The child gets SIGKILL if
// the test process dies first, so no test leaves processes behind.
#ifndef SHMRPC_TESTS_UTIL_SUBPROCESS_H_
#define SHMRPC_TESTS_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace shmrpc::testing {

class Subprocess {
 public:
  // Starts `argv[0]` with `argv`; the child's stdout is piped to us, its
  // stderr goes to ours. Aborts the test binary if fork/exec fails.
  explicit Subprocess(std::vector<std::string> argv);
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  // Reads the child's stdout until a line equal to `line` arrives (true) or
  // `timeout` passes or the child closes stdout (false). Lines read are kept
  // in output().
  bool WaitForLine(const std::string& line, std::chrono::milliseconds timeout);

  // Like WaitForLine, for the first line that starts with `prefix`; returns
  // the rest of that line, or nullopt on timeout or end of output.
  std::optional<std::string> WaitForPrefix(const std::string& prefix,
                                           std::chrono::milliseconds timeout);

  // Everything read from the child's stdout so far.
  const std::string& output() const { return output_; }

  // Reads the child's stdout until it is closed or `timeout` passes; returns
  // everything read so far.
  const std::string& ReadToEnd(std::chrono::milliseconds timeout);

  // Sends `signal` to the child.
  void Kill(int signal);

  // Waits up to `timeout` for the child to exit. Returns its wait status
  // (see WIFEXITED etc.) or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

  // Convenience: Wait() and return the exit code, or -1 if it timed out,
  // -(signal) if it was killed by a signal.
  int ExitCode(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool reaped_ = false;
  std::string output_;
  size_t scanned_ = 0;
};

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_UTIL_SUBPROCESS_H_
