// LeakSanitizer suppressions for tests that go through gRPC's DNS resolver:
// Debian's c-ares (libcares.so.2), which is not ours and not instrumented,
// keeps a few small allocations until exit. Nothing of shmrpc's is
// suppressed.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libcares.so\n";
}
