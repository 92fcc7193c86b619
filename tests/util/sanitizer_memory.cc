#include "tests/util/sanitizer_memory.h"

#include <stdlib.h>

#include <string>

namespace shmrpc::testing {

void LimitSanitizerMemoryOfChildren() {
#if defined(__SANITIZE_ADDRESS__)
  const char* old = std::getenv("ASAN_OPTIONS");
  std::string options = old != nullptr ? old : "";
  if (!options.empty()) options += ":";
  options += "quarantine_size_mb=16:allocator_release_to_os_interval_ms=100";
  ::setenv("ASAN_OPTIONS", options.c_str(), 1);
#endif
}

int64_t RssSlackKib() {
#if defined(__SANITIZE_ADDRESS__)
  return 128 * 1024;
#else
  return 32 * 1024;
#endif
}

}  // namespace shmrpc::testing
