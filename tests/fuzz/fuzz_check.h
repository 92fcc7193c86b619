// FUZZ_CHECK: the invariant assertion of shmrpc's fuzz targets. A broken
// invariant prints where and aborts, which libFuzzer records as a crash (with
// the input) and the replay tests (replay_main.cc) as a failed test.
#ifndef SHMRPC_TESTS_FUZZ_FUZZ_CHECK_H_
#define SHMRPC_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, \
                   __LINE__, #cond);                                       \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

#endif  // SHMRPC_TESTS_FUZZ_FUZZ_CHECK_H_
