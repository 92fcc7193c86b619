// The version of the contract between the code protoc-gen-shmrpc generates
// and the shmrpc runtime it calls (client/generated_stub.h,
// server/service.h). Generated files check it with #error, so code generated
// by one version never silently compiles against a runtime of another.
// Bump it with any change to what generated code may call.
#ifndef SHMRPC_CODEGEN_VERSION_H_
#define SHMRPC_CODEGEN_VERSION_H_

// clang-format off
#include "shmrpc/config.h"  // first: stops a pre-C++17 build at one #error
// clang-format on

#define SHMRPC_CODEGEN_VERSION 3

#endif  // SHMRPC_CODEGEN_VERSION_H_
