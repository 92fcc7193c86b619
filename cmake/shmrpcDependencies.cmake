# The libraries shmrpc builds against: the system's gRPC, protobuf and Abseil
# (on Debian bookworm: libgrpc++-dev 1.51, libprotobuf-dev 3.21, libabsl-dev
# 20220623; the same ones the Bazel build uses, see third_party/system/).
#
# Included by shmrpc's CMakeLists.txt and by the installed shmrpcConfig.cmake,
# so that a project using shmrpc links the same libraries. Defines (or finds)
# these targets:
#
#   Threads::Threads
#   protobuf::libprotobuf, protobuf::libprotoc, protobuf::protoc
#                       (CMake's FindProtobuf; Debian ships no protobuf config)
#   absl::...           (Abseil's CMake config)
#   gRPC::grpc++, gRPC::grpc_cpp_plugin
#
# gRPC comes from one of two places, SHMRPC_GRPC_PROVIDER:
#
#   config      gRPC's CMake config (gRPCConfig.cmake).
#   pkg-config  grpc++.pc, with grpc_cpp_plugin found on the PATH; for systems
#               whose gRPC has no CMake config, or a broken one. (Debian's
#               gRPCTargets.cmake, from libgrpc-dev, refers to every plugin of
#               protobuf-compiler-grpc, which libgrpc-dev does not depend on:
#               without that package, loading it is a fatal error.)
#
# Before including this file, the includer sets:
#
#   _shmrpc_find_args   REQUIRED (shmrpc's build), or QUIET [REQUIRED] (the
#                       package config, which checks the targets afterwards)
#   SHMRPC_GRPC_PROVIDER  config or pkg-config (the build decides it once, see
#                       _shmrpc_pick_grpc_provider; the package config uses
#                       the build's choice)

find_package(Threads ${_shmrpc_find_args})
find_package(Protobuf ${_shmrpc_find_args})
find_package(absl CONFIG ${_shmrpc_find_args})

if(SHMRPC_GRPC_PROVIDER STREQUAL "config")
  find_package(gRPC CONFIG ${_shmrpc_find_args})
elseif(SHMRPC_GRPC_PROVIDER STREQUAL "pkg-config")
  if(NOT TARGET gRPC::grpc++)
    find_package(PkgConfig ${_shmrpc_find_args})
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(SHMRPC_GRPCPP ${_shmrpc_find_args} IMPORTED_TARGET grpc++)
    endif()
    if(SHMRPC_GRPCPP_FOUND)
      # The name gRPC's own config uses, so shmrpc's exported targets refer to
      # gRPC the same way whichever provider found it.
      add_library(gRPC::grpc++ INTERFACE IMPORTED)
      set_target_properties(gRPC::grpc++ PROPERTIES
        INTERFACE_LINK_LIBRARIES "PkgConfig::SHMRPC_GRPCPP;Threads::Threads")
    endif()
  endif()
  if(NOT TARGET gRPC::grpc_cpp_plugin)
    find_program(SHMRPC_GRPC_CPP_PLUGIN grpc_cpp_plugin)
    if(SHMRPC_GRPC_CPP_PLUGIN)
      add_executable(gRPC::grpc_cpp_plugin IMPORTED)
      set_target_properties(gRPC::grpc_cpp_plugin PROPERTIES
        IMPORTED_LOCATION "${SHMRPC_GRPC_CPP_PLUGIN}")
    elseif(_shmrpc_find_args MATCHES "REQUIRED")
      message(FATAL_ERROR "shmrpc: grpc_cpp_plugin not found (Debian: "
        "apt-get install protobuf-compiler-grpc)")
    endif()
  endif()
else()
  message(FATAL_ERROR "shmrpc: SHMRPC_GRPC_PROVIDER is '${SHMRPC_GRPC_PROVIDER}'"
    ", not config or pkg-config")
endif()

# The targets shmrpc needs, for the package config to check.
set(_shmrpc_dependency_targets
  Threads::Threads
  protobuf::libprotobuf
  protobuf::protoc
  absl::status
  absl::statusor
  absl::strings
  gRPC::grpc++
  gRPC::grpc_cpp_plugin)
