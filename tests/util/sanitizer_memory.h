// Memory measurements of test processes under AddressSanitizer, whose
// quarantine and allocator caches keep freed memory resident: RSS means
// something only if the processes a test starts keep less of it, and bounds
// on RSS need more slack in that build.
#ifndef SHMRPC_TESTS_UTIL_SANITIZER_MEMORY_H_
#define SHMRPC_TESTS_UTIL_SANITIZER_MEMORY_H_

#include <cstdint>

namespace shmrpc::testing {

// RSS slack for this build (KiB): 32 MiB, or 128 MiB under AddressSanitizer.
int64_t RssSlackKib();

// Under AddressSanitizer, makes the processes this one starts keep less
// freed memory (a 16 MiB quarantine, returned to the system quickly), so
// that their RSS means something. Call from main() before starting any. A
// no-op in other builds.
void LimitSanitizerMemoryOfChildren();

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_UTIL_SANITIZER_MEMORY_H_
