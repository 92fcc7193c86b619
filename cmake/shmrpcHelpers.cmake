# Helpers for shmrpc's own CMakeLists.txt (not installed).

# Public headers are included as "shmrpc/<package>/<file>.h", as Bazel's
# include_prefix makes them, although they live in <source>/<package>/. The
# build tree gets the same layout as the install tree: symbolic links under
# ${SHMRPC_STAGED_INCLUDE_DIR}/shmrpc/<package>/, the only include directory
# shmrpc's targets add. (The source root is never an include directory, so
# a project's own "server/server.h" cannot shadow shmrpc's, nor the other way
# round.)
set(SHMRPC_STAGED_INCLUDE_DIR "${PROJECT_BINARY_DIR}/include")

# shmrpc_headers(DIR <dir> [INCLUDE_PREFIX <prefix>]
#                [HEADERS <h>...] [PRIVATE_HEADERS <h>...])
#
# Makes <source>/<dir>/<h> includable as "<prefix>/<h>" (default prefix:
# shmrpc/<dir>) in the build tree; installs HEADERS (not PRIVATE_HEADERS)
# under <prefix>/include/<prefix>/.
function(shmrpc_headers)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "DIR;INCLUDE_PREFIX"
    "HEADERS;PRIVATE_HEADERS")
  if(NOT arg_INCLUDE_PREFIX)
    set(arg_INCLUDE_PREFIX "shmrpc/${arg_DIR}")
  endif()
  foreach(header IN LISTS arg_HEADERS arg_PRIVATE_HEADERS)
    set(source "${PROJECT_SOURCE_DIR}/${arg_DIR}/${header}")
    if(NOT EXISTS "${source}")
      message(FATAL_ERROR "shmrpc: no header ${arg_DIR}/${header}")
    endif()
    set(staged "${SHMRPC_STAGED_INCLUDE_DIR}/${arg_INCLUDE_PREFIX}/${header}")
    get_filename_component(staged_dir "${staged}" DIRECTORY)
    file(MAKE_DIRECTORY "${staged_dir}")
    file(CREATE_LINK "${source}" "${staged}" SYMBOLIC)
  endforeach()
  foreach(header IN LISTS arg_HEADERS)
    get_filename_component(subdir "${header}" DIRECTORY)
    install(FILES "${arg_DIR}/${header}"
      DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/${arg_INCLUDE_PREFIX}/${subdir}"
      COMPONENT shmrpc_development)
  endforeach()
endfunction()

# shmrpc_add_library(<name> [INTERFACE] DIR <dir> [INCLUDE_PREFIX <prefix>]
#                    [SOURCES <cc>...] [HEADERS <h>...]
#                    [PRIVATE_HEADERS <h>...] [DEPS <target>...]
#                    [PRIVATE_DEPS <target>...] [NO_INSTALL])
#
# The library shmrpc_<name>, known as shmrpc::<name> in the build tree and
# to projects that use the installed package; sources and headers relative
# to <source>/<dir>. DEPS are public, PRIVATE_DEPS private. NO_INSTALL: a
# helper of shmrpc's own programs (headers staged, nothing installed).
function(shmrpc_add_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "INTERFACE;NO_INSTALL"
    "DIR;INCLUDE_PREFIX" "SOURCES;HEADERS;PRIVATE_HEADERS;DEPS;PRIVATE_DEPS")
  set(target "shmrpc_${name}")
  set(prefix_args)
  if(arg_INCLUDE_PREFIX)
    set(prefix_args INCLUDE_PREFIX "${arg_INCLUDE_PREFIX}")
  endif()
  if(arg_NO_INSTALL)
    shmrpc_headers(DIR "${arg_DIR}" ${prefix_args}
      PRIVATE_HEADERS ${arg_HEADERS} ${arg_PRIVATE_HEADERS})
  else()
    shmrpc_headers(DIR "${arg_DIR}" ${prefix_args}
      HEADERS ${arg_HEADERS} PRIVATE_HEADERS ${arg_PRIVATE_HEADERS})
  endif()

  if(arg_INTERFACE)
    add_library(${target} INTERFACE)
    set(public INTERFACE)
  else()
    list(TRANSFORM arg_SOURCES PREPEND "${arg_DIR}/")
    if(arg_NO_INSTALL)
      # Linked into shmrpc's programs, whatever BUILD_SHARED_LIBS says.
      add_library(${target} STATIC ${arg_SOURCES})
    else()
      add_library(${target} ${arg_SOURCES})
    endif()
    set(public PUBLIC)
    target_compile_options(${target} PRIVATE ${SHMRPC_WARNING_FLAGS})
    set_target_properties(${target} PROPERTIES
      OUTPUT_NAME "shmrpc_${name}"
      VERSION "${PROJECT_VERSION}"
      SOVERSION "${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}"
      # With BUILD_SHARED_LIBS: each finds the others next to it, installed.
      INSTALL_RPATH "$ORIGIN")
    target_link_libraries(${target} PRIVATE ${arg_PRIVATE_DEPS})
  endif()
  add_library(shmrpc::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  target_compile_features(${target} ${public} cxx_std_17)
  target_include_directories(${target} ${public}
    "$<BUILD_INTERFACE:${SHMRPC_STAGED_INCLUDE_DIR}>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  target_link_libraries(${target} ${public} ${arg_DEPS})

  if(NOT arg_NO_INSTALL)
    install(TARGETS ${target} EXPORT shmrpcTargets
      ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT shmrpc_development
      LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT shmrpc_runtime
      NAMELINK_COMPONENT shmrpc_development)
  endif()
endfunction()

# shmrpc_add_executable(<name> SOURCES <cc>... [DEPS <target>...])
#
# A program installed under <prefix>/bin and exported as shmrpc::<name>
# (sources relative to the source root).
function(shmrpc_add_executable name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS")
  add_executable(${name} ${arg_SOURCES})
  add_executable(shmrpc::${name} ALIAS ${name})
  target_compile_options(${name} PRIVATE ${SHMRPC_WARNING_FLAGS})
  target_compile_features(${name} PRIVATE cxx_std_17)
  target_link_libraries(${name} PRIVATE ${arg_DEPS})
  # With BUILD_SHARED_LIBS, the installed program finds shmrpc's libraries
  # next to it.
  file(RELATIVE_PATH libdir "/${CMAKE_INSTALL_BINDIR}" "/${CMAKE_INSTALL_LIBDIR}")
  set_target_properties(${name} PROPERTIES INSTALL_RPATH "$ORIGIN/${libdir}")
  install(TARGETS ${name} EXPORT shmrpcTargets
    RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT shmrpc_runtime)
endfunction()

# Sets SHMRPC_GRPC_PROVIDER (cached), where gRPC comes from (see
# shmrpcDependencies.cmake): "auto", the default, becomes "config" if gRPC's
# CMake config loads cleanly in a throwaway project (it may be missing, or
# end the configuration with a fatal error) and "pkg-config" otherwise.
function(_shmrpc_pick_grpc_provider)
  set(SHMRPC_GRPC_PROVIDER auto CACHE STRING
    "Where gRPC comes from: auto, config (gRPCConfig.cmake) or pkg-config (grpc++.pc)")
  set_property(CACHE SHMRPC_GRPC_PROVIDER PROPERTY STRINGS
    auto config pkg-config)
  if(NOT SHMRPC_GRPC_PROVIDER STREQUAL "auto")
    return()
  endif()
  set(probe "${PROJECT_BINARY_DIR}/shmrpc_grpc_probe")
  file(REMOVE_RECURSE "${probe}")
  file(WRITE "${probe}/CMakeLists.txt"
    "cmake_minimum_required(VERSION 3.16)\n"
    "project(shmrpc_grpc_probe CXX)\n"
    "find_package(Threads REQUIRED)\n"
    "find_package(gRPC CONFIG REQUIRED)\n"
    "if(NOT TARGET gRPC::grpc++ OR NOT TARGET gRPC::grpc_cpp_plugin)\n"
    "  message(FATAL_ERROR \"no gRPC::grpc++ or gRPC::grpc_cpp_plugin\")\n"
    "endif()\n"
    "# Generating checks the imported targets' include directories.\n"
    "add_executable(probe probe.cc)\n"
    "target_link_libraries(probe gRPC::grpc++)\n")
  file(WRITE "${probe}/probe.cc" "int main() { return 0; }\n")
  # What decides where find_package looks, as this project has it.
  set(settings "")
  foreach(var CMAKE_CXX_COMPILER CMAKE_PREFIX_PATH CMAKE_FIND_ROOT_PATH
      CMAKE_MODULE_PATH CMAKE_TOOLCHAIN_FILE gRPC_DIR absl_DIR)
    if(DEFINED ${var})
      string(APPEND settings
        "set(${var} [==[${${var}}]==] CACHE STRING \"\")\n")
    endif()
  endforeach()
  file(WRITE "${probe}/settings.cmake" "${settings}")
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -C "${probe}/settings.cmake"
      -S "${probe}" -B "${probe}/build"
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
  if(result EQUAL 0)
    set(provider config)
    message(STATUS "shmrpc: gRPC from its CMake config")
  else()
    set(provider pkg-config)
    string(REGEX REPLACE "\n+$" "" output "${output}")
    message(STATUS "shmrpc: gRPC's CMake config is missing or does not load "
      "(output in ${probe}/output.log); gRPC from pkg-config (grpc++.pc)")
    file(WRITE "${probe}/output.log" "${output}\n")
  endif()
  file(REMOVE_RECURSE "${probe}/build")
  set(SHMRPC_GRPC_PROVIDER ${provider} CACHE STRING
    "Where gRPC comes from: auto, config (gRPCConfig.cmake) or pkg-config (grpc++.pc)"
    FORCE)
endfunction()
