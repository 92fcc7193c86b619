// TempDir: a private (0700) directory with a short path for the duration of a
// test, removed with its contents on destruction. Unix socket paths are
// limited to 107 bytes, and Bazel's TEST_TMPDIR is often longer, so this uses
// TEST_TMPDIR only when it is short and /tmp otherwise.
#ifndef SHMRPC_TESTS_UTIL_TEMP_DIR_H_
#define SHMRPC_TESTS_UTIL_TEMP_DIR_H_

#include <string>

namespace shmrpc::testing {

class TempDir {
 public:
  // Creates the directory; aborts the test binary if it cannot.
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // path() + "/" + name.
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_UTIL_TEMP_DIR_H_
