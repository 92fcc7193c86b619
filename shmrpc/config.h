// Build requirements of shmrpc, checked first by every public header and by
// generated code. shmrpc needs C++17; Bazel 4's default C++ toolchain
// compiles with -std=c++0x, so a workspace that uses shmrpc must ask for
// C++17 itself (see README.md, "Using shmrpc from another Bazel workspace").
#ifndef SHMRPC_CONFIG_H_
#define SHMRPC_CONFIG_H_

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "shmrpc needs C++17: add 'build --cxxopt=-std=c++17 --host_cxxopt=-std=c++17' to your .bazelrc (or pass -std=c++17 to your compiler)."
// Stop here: everything after this needs C++17 and would only bury the
// message above under unrelated errors. (A missing include is fatal.)
#include "shmrpc: stopping after the C++17 #error above"
#endif

#endif  // SHMRPC_CONFIG_H_
