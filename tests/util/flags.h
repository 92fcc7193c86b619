// Command-line flags of the test helper processes: "--name=value" and
// "--name".
#ifndef SHMRPC_TESTS_UTIL_FLAGS_H_
#define SHMRPC_TESTS_UTIL_FLAGS_H_

#include <cstring>

namespace shmrpc::testing {

// The value of the last "--name=value" among argv[1..argc), or null if there
// is none. A bare "--name" sets *present (when given) instead.
inline const char* Flag(int argc, char** argv, const char* name,
                        bool* present = nullptr) {
  const size_t n = std::strlen(name);
  const char* value = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--", 2) != 0 ||
        std::strncmp(argv[i] + 2, name, n) != 0) {
      continue;
    }
    if (argv[i][2 + n] == '=') value = argv[i] + 3 + n;
    if (argv[i][2 + n] == '\0' && present != nullptr) *present = true;
  }
  return value;
}

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_UTIL_FLAGS_H_
