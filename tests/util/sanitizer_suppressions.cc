// Sanitizer suppressions for tests that run gRPC, for system libraries that
// are not ours and not instrumented. Nothing of shmrpc's is suppressed.

// LeakSanitizer: Debian's c-ares (libcares.so.2), used by gRPC's DNS
// resolver, keeps a few small allocations until exit.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libcares.so\n";
}

// ThreadSanitizer: the system gRPC, protobuf and Abseil are built without
// TSan, so it cannot see their own synchronization (spin locks, atomics) and
// reports the memory functions they call (memcpy, memmove, ...) as racing
// with each other. `called_from_lib` ignores only those calls made from inside
// the named libraries; every access made by shmrpc's code is still checked.
extern "C" const char* __tsan_default_suppressions() {
  // One library per line: a pattern must match exactly one loaded library.
  return "called_from_lib:*/libgrpc.so.*\n"
         "called_from_lib:*/libgrpc++.so.*\n"
         "called_from_lib:*/libgpr.so.*\n"
         "called_from_lib:*/libupb.so.*\n"
         "called_from_lib:*/libprotobuf.so.*\n"
         "called_from_lib:*/libcares.so.*\n"
         "called_from_lib:*/libabsl_base.so.*\n"
         "called_from_lib:*/libabsl_cord.so.*\n"
         "called_from_lib:*/libabsl_cord_internal.so.*\n"
         "called_from_lib:*/libabsl_graphcycles_internal.so.*\n"
         "called_from_lib:*/libabsl_hash.so.*\n"
         "called_from_lib:*/libabsl_malloc_internal.so.*\n"
         "called_from_lib:*/libabsl_raw_hash_set.so.*\n"
         "called_from_lib:*/libabsl_spinlock_wait.so.*\n"
         "called_from_lib:*/libabsl_status.so.*\n"
         "called_from_lib:*/libabsl_statusor.so.*\n"
         "called_from_lib:*/libabsl_str_format_internal.so.*\n"
         "called_from_lib:*/libabsl_strings.so.*\n"
         "called_from_lib:*/libabsl_strings_internal.so.*\n"
         "called_from_lib:*/libabsl_synchronization.so.*\n"
         "called_from_lib:*/libabsl_time.so.*\n"
         "called_from_lib:*/libabsl_time_zone.so.*\n";
}
