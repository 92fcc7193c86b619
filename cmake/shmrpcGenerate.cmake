# shmrpc_generate_cpp(): protobuf, gRPC and shmrpc code from .proto files,
# the CMake counterpart of Bazel's cc_shm_grpc_library (codegen/shmrpc.bzl).
# Part of shmrpc's build and of its installed package (find_package(shmrpc)).
# See docs/cmake.md.
#
#   shmrpc_generate_cpp(
#     [TARGET <target>]        add the generated code to <target>: its sources,
#                              its include directory and shmrpc::shmrpc
#     PROTOS <file.proto>...   relative to the current source directory
#     [IMPORT_DIRS <dir>...]   protoc's -I, in order; the import path of each
#                              proto (and so where its code goes and how it
#                              is included) is relative to the first one
#                              that holds it. Default: each proto's own
#                              directory, as protobuf_generate() does.
#     [OUT_DIR <dir>]          default: <binary dir>/shmrpc_gen/<target>
#                              (<binary dir>/shmrpc_gen without TARGET)
#     [FLAT]                   also flat views and builders of every message
#                              (x.flat.h/.cc; protoc-gen-shmrpc flat=true)
#     [OUT_SRCS <var>]         the generated .cc files
#     [OUT_HDRS <var>]         the generated .h files
#   )
#
# For each dir/x.proto (import path), in OUT_DIR: dir/x.pb.h/.cc (protoc
# --cpp_out), dir/x.grpc.pb.h/.cc (grpc_cpp_plugin) and dir/x.shmrpc.h/.cc
# (protoc-gen-shmrpc), included as "dir/x.shmrpc.h". The well-known types
# (google/protobuf/*.proto) are always importable.
#
# Needs the targets protobuf::protoc, gRPC::grpc_cpp_plugin,
# shmrpc::protoc-gen-shmrpc and shmrpc::shmrpc (and with FLAT,
# shmrpc::well_known_flat): shmrpc's build and its package config make them.

function(shmrpc_generate_cpp)
  cmake_parse_arguments(PARSE_ARGV 0 arg "FLAT" "TARGET;OUT_DIR;OUT_SRCS;OUT_HDRS"
    "PROTOS;IMPORT_DIRS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "shmrpc_generate_cpp: unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_PROTOS)
    message(FATAL_ERROR "shmrpc_generate_cpp: no PROTOS")
  endif()
  if(NOT arg_TARGET AND NOT arg_OUT_SRCS AND NOT arg_OUT_HDRS)
    message(FATAL_ERROR
      "shmrpc_generate_cpp: give a TARGET, or OUT_SRCS/OUT_HDRS variables")
  endif()
  if(arg_TARGET AND NOT TARGET ${arg_TARGET})
    message(FATAL_ERROR "shmrpc_generate_cpp: no target ${arg_TARGET}")
  endif()
  set(tools protobuf::protoc gRPC::grpc_cpp_plugin shmrpc::protoc-gen-shmrpc)
  foreach(tool IN LISTS tools)
    if(NOT TARGET ${tool})
      message(FATAL_ERROR "shmrpc_generate_cpp: no target ${tool} (call "
        "find_package(shmrpc CONFIG REQUIRED) first, in this directory or "
        "one above it)")
    endif()
  endforeach()

  set(out_dir "${arg_OUT_DIR}")
  if(NOT out_dir)
    set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/shmrpc_gen")
    if(arg_TARGET)
      string(APPEND out_dir "/${arg_TARGET}")
    endif()
  endif()
  get_filename_component(out_dir "${out_dir}" ABSOLUTE
    BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")

  set(import_dirs)
  foreach(dir IN LISTS arg_IMPORT_DIRS)
    get_filename_component(dir "${dir}" ABSOLUTE
      BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND import_dirs "${dir}")
  endforeach()
  if(NOT arg_IMPORT_DIRS)
    foreach(proto IN LISTS arg_PROTOS)
      get_filename_component(proto "${proto}" ABSOLUTE
        BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
      get_filename_component(dir "${proto}" DIRECTORY)
      list(APPEND import_dirs "${dir}")
    endforeach()
    list(REMOVE_DUPLICATES import_dirs)
  endif()

  # The well-known types: where protobuf's headers are (/usr/include on
  # Debian), after the project's own directories.
  set(well_known_dir)
  get_target_property(protobuf_includes protobuf::libprotobuf
    INTERFACE_INCLUDE_DIRECTORIES)
  foreach(dir IN LISTS protobuf_includes Protobuf_INCLUDE_DIRS)
    if(EXISTS "${dir}/google/protobuf/any.proto")
      set(well_known_dir "${dir}")
      break()
    endif()
  endforeach()

  set(import_args)
  foreach(dir IN LISTS import_dirs well_known_dir)
    list(APPEND import_args "-I${dir}")
  endforeach()

  set(extensions .pb.h .pb.cc .grpc.pb.h .grpc.pb.cc .shmrpc.h .shmrpc.cc)
  set(shmrpc_out "${out_dir}")
  if(arg_FLAT)
    list(APPEND extensions .flat.h .flat.cc)
    set(shmrpc_out "flat=true:${out_dir}")
  endif()

  set(srcs)
  set(hdrs)
  foreach(proto IN LISTS arg_PROTOS)
    get_filename_component(proto "${proto}" ABSOLUTE
      BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    set(import_path)
    foreach(dir IN LISTS import_dirs)
      file(RELATIVE_PATH rel "${dir}" "${proto}")
      if(NOT rel MATCHES "^\\.\\./" AND NOT IS_ABSOLUTE "${rel}")
        set(import_path "${rel}")
        break()
      endif()
    endforeach()
    if(NOT import_path)
      message(FATAL_ERROR "shmrpc_generate_cpp: ${proto} is in none of the "
        "IMPORT_DIRS (${import_dirs})")
    endif()
    string(REGEX REPLACE "\\.proto$" "" base "${import_path}")
    set(outputs)
    foreach(ext IN LISTS extensions)
      list(APPEND outputs "${out_dir}/${base}${ext}")
      if(ext MATCHES "\\.h$")
        list(APPEND hdrs "${out_dir}/${base}${ext}")
      else()
        list(APPEND srcs "${out_dir}/${base}${ext}")
      endif()
    endforeach()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${out_dir}"
      COMMAND protobuf::protoc
        "--plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
        "--plugin=protoc-gen-shmrpc=$<TARGET_FILE:shmrpc::protoc-gen-shmrpc>"
        "--cpp_out=${out_dir}"
        "--grpc_out=${out_dir}"
        "--shmrpc_out=${shmrpc_out}"
        ${import_args}
        "${proto}"
      DEPENDS "${proto}" ${tools}
      COMMENT "Generating protobuf, gRPC and shmrpc code for ${import_path}"
      VERBATIM)
  endforeach()
  set_source_files_properties(${srcs} ${hdrs} PROPERTIES GENERATED TRUE)

  if(arg_TARGET)
    target_sources(${arg_TARGET} PRIVATE ${srcs} ${hdrs})
    target_include_directories(${arg_TARGET} PUBLIC
      "$<BUILD_INTERFACE:${out_dir}>")
    target_compile_features(${arg_TARGET} PUBLIC cxx_std_17)
    target_link_libraries(${arg_TARGET} PUBLIC shmrpc::shmrpc)
    if(arg_FLAT)
      target_link_libraries(${arg_TARGET} PUBLIC shmrpc::well_known_flat)
    endif()
  endif()
  if(arg_OUT_SRCS)
    set(${arg_OUT_SRCS} ${srcs} PARENT_SCOPE)
  endif()
  if(arg_OUT_HDRS)
    set(${arg_OUT_HDRS} ${hdrs} PARENT_SCOPE)
  endif()
endfunction()
