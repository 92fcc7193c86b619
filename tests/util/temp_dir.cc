#include "tests/util/temp_dir.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

namespace shmrpc::testing {

TempDir::TempDir() {
  std::string base = "/tmp";
  if (const char* t = std::getenv("TEST_TMPDIR");
      t != nullptr && std::strlen(t) < 60) {
    base = t;
  }
  std::string pattern = base + "/shmrpc-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {  // mode 0700
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace shmrpc::testing
