CMakeFiles/greeter_client.dir/greeter_client.cc.o: \
 /work/main/examples/greeter/greeter_client.cc /usr/include/stdc-predef.h \
 /usr/include/grpcpp/grpcpp.h /usr/include/grpc/grpc.h \
 /usr/include/grpc/support/port_platform.h \
 /usr/include/grpc/impl/codegen/port_platform.h /usr/include/features.h \
 /usr/include/features-time64.h \
 /usr/include/x86_64-linux-gnu/bits/wordsize.h \
 /usr/include/x86_64-linux-gnu/bits/timesize.h \
 /usr/include/x86_64-linux-gnu/sys/cdefs.h \
 /usr/include/x86_64-linux-gnu/bits/long-double.h \
 /usr/include/x86_64-linux-gnu/gnu/stubs.h \
 /usr/include/x86_64-linux-gnu/gnu/stubs-64.h \
 /usr/include/linux/version.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stdint.h /usr/include/stdint.h \
 /usr/include/x86_64-linux-gnu/bits/libc-header-start.h \
 /usr/include/x86_64-linux-gnu/bits/types.h \
 /usr/include/x86_64-linux-gnu/bits/typesizes.h \
 /usr/include/x86_64-linux-gnu/bits/time64.h \
 /usr/include/x86_64-linux-gnu/bits/wchar.h \
 /usr/include/x86_64-linux-gnu/bits/stdint-intn.h \
 /usr/include/x86_64-linux-gnu/bits/stdint-uintn.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h \
 /usr/include/grpc/byte_buffer.h \
 /usr/include/grpc/impl/codegen/byte_buffer.h \
 /usr/include/grpc/impl/codegen/grpc_types.h \
 /usr/include/grpc/impl/codegen/compression_types.h \
 /usr/include/grpc/impl/codegen/gpr_types.h \
 /usr/include/grpc/impl/codegen/slice.h \
 /usr/include/grpc/impl/codegen/gpr_slice.h \
 /usr/include/grpc/impl/codegen/status.h /usr/include/grpc/slice_buffer.h \
 /usr/include/grpc/slice.h /usr/include/grpc/support/sync.h \
 /usr/include/grpc/impl/codegen/sync.h \
 /usr/include/grpc/impl/codegen/sync_generic.h \
 /usr/include/grpc/impl/codegen/atm.h \
 /usr/include/grpc/impl/codegen/atm_gcc_atomic.h \
 /usr/include/grpc/impl/codegen/sync_abseil.h \
 /usr/include/grpc/impl/codegen/connectivity_state.h \
 /usr/include/grpc/impl/codegen/propagation_bits.h \
 /usr/include/grpc/status.h /usr/include/grpc/support/time.h \
 /usr/include/time.h /usr/include/x86_64-linux-gnu/bits/time.h \
 /usr/include/x86_64-linux-gnu/bits/timex.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_timeval.h \
 /usr/include/x86_64-linux-gnu/bits/types/clock_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/time_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_tm.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_timespec.h \
 /usr/include/x86_64-linux-gnu/bits/endian.h \
 /usr/include/x86_64-linux-gnu/bits/endianness.h \
 /usr/include/x86_64-linux-gnu/bits/types/clockid_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/timer_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_itimerspec.h \
 /usr/include/x86_64-linux-gnu/bits/types/locale_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__locale_t.h \
 /usr/include/grpcpp/channel.h /usr/include/c++/12/memory \
 /usr/include/c++/12/bits/stl_algobase.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/c++config.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/os_defines.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/cpu_defines.h \
 /usr/include/c++/12/pstl/pstl_config.h \
 /usr/include/c++/12/bits/functexcept.h \
 /usr/include/c++/12/bits/exception_defines.h \
 /usr/include/c++/12/bits/cpp_type_traits.h \
 /usr/include/c++/12/ext/type_traits.h \
 /usr/include/c++/12/ext/numeric_traits.h \
 /usr/include/c++/12/bits/stl_pair.h /usr/include/c++/12/type_traits \
 /usr/include/c++/12/bits/move.h /usr/include/c++/12/bits/utility.h \
 /usr/include/c++/12/bits/stl_iterator_base_types.h \
 /usr/include/c++/12/bits/stl_iterator_base_funcs.h \
 /usr/include/c++/12/bits/concept_check.h \
 /usr/include/c++/12/debug/assertions.h \
 /usr/include/c++/12/bits/stl_iterator.h \
 /usr/include/c++/12/bits/ptr_traits.h /usr/include/c++/12/debug/debug.h \
 /usr/include/c++/12/bits/predefined_ops.h \
 /usr/include/c++/12/bits/allocator.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/c++allocator.h \
 /usr/include/c++/12/bits/new_allocator.h /usr/include/c++/12/new \
 /usr/include/c++/12/bits/exception.h \
 /usr/include/c++/12/bits/memoryfwd.h \
 /usr/include/c++/12/bits/stl_construct.h \
 /usr/include/c++/12/bits/stl_uninitialized.h \
 /usr/include/c++/12/ext/alloc_traits.h \
 /usr/include/c++/12/bits/alloc_traits.h \
 /usr/include/c++/12/bits/stl_tempbuf.h \
 /usr/include/c++/12/bits/stl_raw_storage_iter.h \
 /usr/include/c++/12/bits/align.h /usr/include/c++/12/bit \
 /usr/include/c++/12/bits/uses_allocator.h \
 /usr/include/c++/12/bits/unique_ptr.h /usr/include/c++/12/tuple \
 /usr/include/c++/12/bits/invoke.h \
 /usr/include/c++/12/bits/stl_function.h \
 /usr/include/c++/12/backward/binders.h \
 /usr/include/c++/12/bits/functional_hash.h \
 /usr/include/c++/12/bits/hash_bytes.h \
 /usr/include/c++/12/bits/shared_ptr.h /usr/include/c++/12/iosfwd \
 /usr/include/c++/12/bits/stringfwd.h /usr/include/c++/12/bits/postypes.h \
 /usr/include/c++/12/cwchar /usr/include/wchar.h \
 /usr/include/x86_64-linux-gnu/bits/floatn.h \
 /usr/include/x86_64-linux-gnu/bits/floatn-common.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stdarg.h \
 /usr/include/x86_64-linux-gnu/bits/types/wint_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/mbstate_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__mbstate_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__FILE.h \
 /usr/include/x86_64-linux-gnu/bits/types/FILE.h \
 /usr/include/c++/12/bits/shared_ptr_base.h /usr/include/c++/12/typeinfo \
 /usr/include/c++/12/bits/allocated_ptr.h \
 /usr/include/c++/12/bits/refwrap.h \
 /usr/include/c++/12/ext/aligned_buffer.h \
 /usr/include/c++/12/ext/atomicity.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/gthr.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/gthr-default.h \
 /usr/include/pthread.h /usr/include/sched.h \
 /usr/include/x86_64-linux-gnu/bits/sched.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_sched_param.h \
 /usr/include/x86_64-linux-gnu/bits/cpu-set.h \
 /usr/include/x86_64-linux-gnu/bits/pthreadtypes.h \
 /usr/include/x86_64-linux-gnu/bits/thread-shared-types.h \
 /usr/include/x86_64-linux-gnu/bits/pthreadtypes-arch.h \
 /usr/include/x86_64-linux-gnu/bits/atomic_wide_counter.h \
 /usr/include/x86_64-linux-gnu/bits/struct_mutex.h \
 /usr/include/x86_64-linux-gnu/bits/struct_rwlock.h \
 /usr/include/x86_64-linux-gnu/bits/setjmp.h \
 /usr/include/x86_64-linux-gnu/bits/types/__sigset_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct___jmp_buf_tag.h \
 /usr/include/x86_64-linux-gnu/bits/pthread_stack_min-dynamic.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/atomic_word.h \
 /usr/include/x86_64-linux-gnu/sys/single_threaded.h \
 /usr/include/c++/12/ext/concurrence.h /usr/include/c++/12/exception \
 /usr/include/c++/12/bits/exception_ptr.h \
 /usr/include/c++/12/bits/cxxabi_init_exception.h \
 /usr/include/c++/12/bits/nested_exception.h \
 /usr/include/c++/12/bits/shared_ptr_atomic.h \
 /usr/include/c++/12/bits/atomic_base.h \
 /usr/include/c++/12/bits/atomic_lockfree_defines.h \
 /usr/include/c++/12/backward/auto_ptr.h \
 /usr/include/c++/12/pstl/glue_memory_defs.h \
 /usr/include/c++/12/pstl/execution_defs.h \
 /usr/include/grpcpp/completion_queue.h /usr/include/c++/12/list \
 /usr/include/c++/12/bits/range_access.h \
 /usr/include/c++/12/initializer_list /usr/include/c++/12/bits/stl_list.h \
 /usr/include/c++/12/bits/list.tcc /usr/include/grpc/support/atm.h \
 /usr/include/grpcpp/impl/codegen/completion_queue_tag.h \
 /usr/include/grpcpp/impl/codegen/core_codegen_interface.h \
 /usr/include/grpc/impl/codegen/byte_buffer_reader.h \
 /usr/include/grpcpp/impl/codegen/config.h \
 /usr/include/grpcpp/support/config.h /usr/include/c++/12/string \
 /usr/include/c++/12/bits/char_traits.h /usr/include/c++/12/cstdint \
 /usr/include/c++/12/bits/localefwd.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/c++locale.h \
 /usr/include/c++/12/clocale /usr/include/locale.h \
 /usr/include/x86_64-linux-gnu/bits/locale.h /usr/include/c++/12/cctype \
 /usr/include/ctype.h /usr/include/c++/12/bits/ostream_insert.h \
 /usr/include/c++/12/bits/cxxabi_forced.h \
 /usr/include/c++/12/bits/basic_string.h /usr/include/c++/12/string_view \
 /usr/include/c++/12/bits/string_view.tcc \
 /usr/include/c++/12/ext/string_conversions.h /usr/include/c++/12/cstdlib \
 /usr/include/stdlib.h /usr/include/x86_64-linux-gnu/bits/waitflags.h \
 /usr/include/x86_64-linux-gnu/bits/waitstatus.h \
 /usr/include/x86_64-linux-gnu/sys/types.h /usr/include/endian.h \
 /usr/include/x86_64-linux-gnu/bits/byteswap.h \
 /usr/include/x86_64-linux-gnu/bits/uintn-identity.h \
 /usr/include/x86_64-linux-gnu/sys/select.h \
 /usr/include/x86_64-linux-gnu/bits/select.h \
 /usr/include/x86_64-linux-gnu/bits/types/sigset_t.h \
 /usr/include/alloca.h /usr/include/x86_64-linux-gnu/bits/stdlib-float.h \
 /usr/include/c++/12/bits/std_abs.h /usr/include/c++/12/cstdio \
 /usr/include/stdio.h /usr/include/x86_64-linux-gnu/bits/types/__fpos_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/__fpos64_t.h \
 /usr/include/x86_64-linux-gnu/bits/types/struct_FILE.h \
 /usr/include/x86_64-linux-gnu/bits/types/cookie_io_functions_t.h \
 /usr/include/x86_64-linux-gnu/bits/stdio_lim.h \
 /usr/include/c++/12/cerrno /usr/include/errno.h \
 /usr/include/x86_64-linux-gnu/bits/errno.h /usr/include/linux/errno.h \
 /usr/include/x86_64-linux-gnu/asm/errno.h \
 /usr/include/asm-generic/errno.h /usr/include/asm-generic/errno-base.h \
 /usr/include/x86_64-linux-gnu/bits/types/error_t.h \
 /usr/include/c++/12/bits/charconv.h \
 /usr/include/c++/12/bits/basic_string.tcc \
 /usr/include/grpcpp/impl/codegen/status.h \
 /usr/include/grpcpp/impl/codegen/status_code_enum.h \
 /usr/include/grpcpp/impl/codegen/grpc_library.h \
 /usr/include/grpcpp/impl/codegen/sync.h /usr/include/c++/12/mutex \
 /usr/include/c++/12/system_error \
 /usr/include/x86_64-linux-gnu/c++/12/bits/error_constants.h \
 /usr/include/c++/12/stdexcept /usr/include/c++/12/bits/chrono.h \
 /usr/include/c++/12/ratio /usr/include/c++/12/limits \
 /usr/include/c++/12/ctime /usr/include/c++/12/bits/parse_numbers.h \
 /usr/include/c++/12/bits/std_mutex.h \
 /usr/include/c++/12/bits/unique_lock.h \
 /usr/include/absl/synchronization/mutex.h /usr/include/c++/12/atomic \
 /usr/include/absl/base/const_init.h /usr/include/absl/base/config.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/limits.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/syslimits.h \
 /usr/include/limits.h /usr/include/x86_64-linux-gnu/bits/posix1_lim.h \
 /usr/include/x86_64-linux-gnu/bits/local_lim.h \
 /usr/include/linux/limits.h \
 /usr/include/x86_64-linux-gnu/bits/posix2_lim.h \
 /usr/include/x86_64-linux-gnu/bits/xopen_lim.h \
 /usr/include/x86_64-linux-gnu/bits/uio_lim.h /usr/include/c++/12/cstddef \
 /usr/include/absl/base/options.h /usr/include/c++/12/ciso646 \
 /usr/include/absl/base/policy_checks.h \
 /usr/include/absl/base/internal/identity.h \
 /usr/include/absl/base/internal/low_level_alloc.h \
 /usr/include/absl/base/attributes.h /usr/include/absl/base/port.h \
 /usr/include/absl/base/optimization.h /usr/include/assert.h \
 /usr/include/absl/base/internal/thread_identity.h /usr/include/unistd.h \
 /usr/include/x86_64-linux-gnu/bits/posix_opt.h \
 /usr/include/x86_64-linux-gnu/bits/environments.h \
 /usr/include/x86_64-linux-gnu/bits/confname.h \
 /usr/include/x86_64-linux-gnu/bits/getopt_posix.h \
 /usr/include/x86_64-linux-gnu/bits/getopt_core.h \
 /usr/include/x86_64-linux-gnu/bits/unistd_ext.h \
 /usr/include/linux/close_range.h \
 /usr/include/absl/base/internal/per_thread_tls.h \
 /usr/include/absl/base/internal/tsan_mutex_interface.h \
 /usr/include/absl/base/thread_annotations.h \
 /usr/include/absl/base/internal/thread_annotations.h \
 /usr/include/absl/synchronization/internal/kernel_timeout.h \
 /usr/include/c++/12/algorithm /usr/include/c++/12/bits/stl_algo.h \
 /usr/include/c++/12/bits/algorithmfwd.h \
 /usr/include/c++/12/bits/stl_heap.h \
 /usr/include/c++/12/bits/uniform_int_dist.h \
 /usr/include/c++/12/pstl/glue_algorithm_defs.h \
 /usr/include/absl/base/internal/raw_logging.h \
 /usr/include/absl/base/internal/atomic_hook.h \
 /usr/include/c++/12/cassert /usr/include/c++/12/utility \
 /usr/include/c++/12/bits/stl_relops.h \
 /usr/include/absl/base/log_severity.h /usr/include/c++/12/array \
 /usr/include/c++/12/compare /usr/include/c++/12/ostream \
 /usr/include/c++/12/ios /usr/include/c++/12/bits/ios_base.h \
 /usr/include/c++/12/bits/locale_classes.h \
 /usr/include/c++/12/bits/locale_classes.tcc \
 /usr/include/c++/12/streambuf /usr/include/c++/12/bits/streambuf.tcc \
 /usr/include/c++/12/bits/basic_ios.h \
 /usr/include/c++/12/bits/locale_facets.h /usr/include/c++/12/cwctype \
 /usr/include/wctype.h /usr/include/x86_64-linux-gnu/bits/wctype-wchar.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/ctype_base.h \
 /usr/include/c++/12/bits/streambuf_iterator.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/ctype_inline.h \
 /usr/include/c++/12/bits/locale_facets.tcc \
 /usr/include/c++/12/bits/basic_ios.tcc \
 /usr/include/c++/12/bits/ostream.tcc /usr/include/absl/base/macros.h \
 /usr/include/absl/time/clock.h /usr/include/absl/time/time.h \
 /usr/include/x86_64-linux-gnu/sys/time.h /usr/include/c++/12/chrono \
 /usr/include/c++/12/cmath /usr/include/math.h \
 /usr/include/x86_64-linux-gnu/bits/math-vector.h \
 /usr/include/x86_64-linux-gnu/bits/libm-simd-decl-stubs.h \
 /usr/include/x86_64-linux-gnu/bits/flt-eval-method.h \
 /usr/include/x86_64-linux-gnu/bits/fp-logb.h \
 /usr/include/x86_64-linux-gnu/bits/fp-fast.h \
 /usr/include/x86_64-linux-gnu/bits/mathcalls-helper-functions.h \
 /usr/include/x86_64-linux-gnu/bits/mathcalls.h \
 /usr/include/x86_64-linux-gnu/bits/mathcalls-narrow.h \
 /usr/include/x86_64-linux-gnu/bits/iscanonical.h \
 /usr/include/c++/12/bits/specfun.h /usr/include/c++/12/tr1/gamma.tcc \
 /usr/include/c++/12/tr1/special_function_util.h \
 /usr/include/c++/12/tr1/bessel_function.tcc \
 /usr/include/c++/12/tr1/beta_function.tcc \
 /usr/include/c++/12/tr1/ell_integral.tcc \
 /usr/include/c++/12/tr1/exp_integral.tcc \
 /usr/include/c++/12/tr1/hypergeometric.tcc \
 /usr/include/c++/12/tr1/legendre_function.tcc \
 /usr/include/c++/12/tr1/modified_bessel_func.tcc \
 /usr/include/c++/12/tr1/poly_hermite.tcc \
 /usr/include/c++/12/tr1/poly_laguerre.tcc \
 /usr/include/c++/12/tr1/riemann_zeta.tcc \
 /usr/include/absl/strings/string_view.h /usr/include/c++/12/cstring \
 /usr/include/string.h /usr/include/strings.h \
 /usr/include/c++/12/iterator /usr/include/c++/12/bits/stream_iterator.h \
 /usr/include/absl/base/internal/throw_delegate.h \
 /usr/include/absl/time/civil_time.h \
 /usr/include/absl/time/internal/cctz/include/cctz/civil_time.h \
 /usr/include/absl/time/internal/cctz/include/cctz/civil_time_detail.h \
 /usr/include/absl/time/internal/cctz/include/cctz/time_zone.h \
 /usr/include/absl/synchronization/internal/per_thread_sem.h \
 /usr/include/absl/synchronization/internal/create_thread_identity.h \
 /usr/include/grpc/impl/codegen/log.h /usr/include/c++/12/stdlib.h \
 /usr/include/grpcpp/impl/rpc_service_method.h \
 /usr/include/c++/12/climits /usr/include/c++/12/functional \
 /usr/include/c++/12/bits/std_function.h \
 /usr/include/c++/12/unordered_map /usr/include/c++/12/bits/hashtable.h \
 /usr/include/c++/12/bits/hashtable_policy.h \
 /usr/include/c++/12/bits/enable_special_members.h \
 /usr/include/c++/12/bits/node_handle.h \
 /usr/include/c++/12/bits/unordered_map.h \
 /usr/include/c++/12/bits/erase_if.h /usr/include/c++/12/vector \
 /usr/include/c++/12/bits/stl_vector.h \
 /usr/include/c++/12/bits/stl_bvector.h \
 /usr/include/c++/12/bits/vector.tcc /usr/include/c++/12/map \
 /usr/include/c++/12/bits/stl_tree.h /usr/include/c++/12/bits/stl_map.h \
 /usr/include/c++/12/bits/stl_multimap.h /usr/include/grpc/support/log.h \
 /usr/include/grpcpp/impl/rpc_method.h \
 /usr/include/grpcpp/impl/codegen/channel_interface.h \
 /usr/include/grpcpp/impl/channel_interface.h \
 /usr/include/grpcpp/impl/call.h /usr/include/grpcpp/impl/call_hook.h \
 /usr/include/grpcpp/support/status.h /usr/include/grpcpp/support/time.h \
 /usr/include/grpcpp/support/byte_buffer.h \
 /usr/include/grpcpp/impl/serialization_traits.h \
 /usr/include/grpcpp/support/slice.h \
 /usr/include/grpcpp/support/string_ref.h /usr/include/c++/12/iostream \
 /usr/include/c++/12/istream /usr/include/c++/12/bits/istream.tcc \
 /usr/include/grpcpp/support/client_interceptor.h \
 /usr/include/grpcpp/support/interceptor.h \
 /usr/include/grpcpp/impl/codegen/metadata_map.h \
 /usr/include/grpcpp/impl/codegen/slice.h \
 /usr/include/grpcpp/client_context.h \
 /usr/include/grpcpp/impl/codegen/create_auth_context.h \
 /usr/include/grpcpp/impl/codegen/security/auth_context.h \
 /usr/include/grpcpp/security/auth_context.h \
 /usr/include/grpcpp/create_channel.h \
 /usr/include/grpcpp/security/credentials.h \
 /usr/include/grpc/grpc_security_constants.h \
 /usr/include/grpcpp/security/tls_credentials_options.h \
 /usr/include/grpc/grpc_security.h \
 /usr/include/grpcpp/security/tls_certificate_provider.h \
 /usr/include/grpcpp/security/tls_certificate_verifier.h \
 /usr/include/grpcpp/impl/grpc_library.h \
 /usr/include/grpcpp/impl/codegen/core_codegen.h \
 /usr/include/grpcpp/support/channel_arguments.h \
 /usr/include/grpc/compression.h /usr/include/grpcpp/resource_quota.h \
 /usr/include/grpcpp/create_channel_posix.h /usr/include/grpcpp/server.h \
 /usr/include/grpcpp/health_check_service_interface.h \
 /usr/include/grpcpp/impl/codegen/server_interface.h \
 /usr/include/grpcpp/impl/codegen/call.h \
 /usr/include/grpcpp/impl/codegen/call_hook.h \
 /usr/include/grpcpp/impl/codegen/interceptor_common.h \
 /usr/include/grpcpp/impl/call_op_set_interface.h \
 /usr/include/grpcpp/impl/codegen/client_interceptor.h \
 /usr/include/grpcpp/impl/codegen/intercepted_channel.h \
 /usr/include/grpcpp/impl/codegen/server_interceptor.h \
 /usr/include/grpcpp/support/server_interceptor.h \
 /usr/include/grpcpp/impl/codegen/rpc_service_method.h \
 /usr/include/grpcpp/impl/codegen/server_context.h \
 /usr/include/grpcpp/server_context.h \
 /usr/include/grpcpp/impl/call_op_set.h \
 /usr/include/grpcpp/support/callback_common.h \
 /usr/include/grpcpp/support/message_allocator.h \
 /usr/include/grpcpp/support/server_callback.h \
 /usr/include/grpcpp/security/server_credentials.h \
 /usr/include/grpcpp/security/auth_metadata_processor.h \
 /usr/include/grpcpp/server_builder.h /usr/include/grpc/support/cpu.h \
 /usr/include/grpc/support/workaround_list.h \
 /usr/include/grpcpp/impl/channel_argument_option.h \
 /usr/include/grpcpp/impl/server_builder_option.h \
 /usr/include/grpcpp/impl/server_builder_plugin.h \
 /usr/include/grpcpp/security/authorization_policy_provider.h \
 /usr/include/grpcpp/server_posix.h /usr/include/grpcpp/version_info.h \
 /usr/include/c++/12/future /usr/include/c++/12/condition_variable \
 /usr/include/c++/12/bits/atomic_futex.h \
 /usr/include/c++/12/bits/std_thread.h /usr/include/absl/flags/flag.h \
 /usr/include/absl/flags/config.h /usr/include/absl/flags/internal/flag.h \
 /usr/include/absl/base/call_once.h \
 /usr/include/absl/base/internal/invoke.h \
 /usr/include/absl/base/internal/low_level_scheduling.h \
 /usr/include/absl/base/internal/scheduling_mode.h \
 /usr/include/absl/base/internal/spinlock_wait.h \
 /usr/include/absl/base/casts.h /usr/include/absl/meta/type_traits.h \
 /usr/include/absl/flags/commandlineflag.h \
 /usr/include/absl/base/internal/fast_type_id.h \
 /usr/include/absl/flags/internal/commandlineflag.h \
 /usr/include/absl/types/optional.h /usr/include/absl/utility/utility.h \
 /usr/include/absl/base/internal/inline_variable.h \
 /usr/include/absl/types/bad_optional_access.h \
 /usr/include/absl/types/internal/optional.h \
 /usr/include/absl/memory/memory.h \
 /usr/include/absl/flags/internal/registry.h \
 /usr/include/absl/flags/internal/sequence_lock.h \
 /usr/include/absl/flags/marshalling.h /usr/include/c++/12/optional \
 /usr/include/absl/flags/parse.h /usr/include/absl/flags/internal/parse.h \
 /usr/include/absl/flags/declare.h /usr/include/absl/flags/usage.h \
 /usr/include/absl/strings/str_cat.h /usr/include/absl/strings/numbers.h \
 /usr/include/absl/base/internal/endian.h \
 /usr/include/absl/base/internal/unaligned_access.h \
 /usr/include/absl/numeric/bits.h \
 /usr/include/absl/numeric/internal/bits.h \
 /usr/include/absl/numeric/int128.h \
 /usr/include/absl/numeric/int128_have_intrinsic.inc \
 /usr/include/absl/strings/str_format.h \
 /usr/include/absl/strings/internal/str_format/arg.h \
 /usr/include/c++/12/iomanip /usr/include/c++/12/locale \
 /usr/include/c++/12/bits/locale_facets_nonio.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/time_members.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/messages_members.h \
 /usr/include/libintl.h /usr/include/c++/12/bits/codecvt.h \
 /usr/include/c++/12/bits/locale_facets_nonio.tcc \
 /usr/include/c++/12/bits/locale_conv.h \
 /usr/include/c++/12/bits/quoted_string.h /usr/include/c++/12/sstream \
 /usr/include/c++/12/bits/sstream.tcc \
 /usr/include/absl/strings/internal/str_format/extension.h \
 /usr/include/absl/strings/internal/str_format/output.h \
 /usr/include/absl/strings/internal/str_format/bind.h \
 /usr/include/absl/strings/internal/str_format/checker.h \
 /usr/include/absl/strings/internal/str_format/parser.h \
 /usr/include/absl/types/span.h /usr/include/absl/types/internal/span.h \
 /usr/include/absl/algorithm/algorithm.h \
 /work/main/build-greeter/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.grpc.pb.h \
 /work/main/build-greeter/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.pb.h \
 /usr/include/google/protobuf/port_def.inc \
 /usr/include/google/protobuf/port_undef.inc \
 /usr/include/google/protobuf/io/coded_stream.h \
 /usr/include/google/protobuf/stubs/common.h /usr/include/c++/12/set \
 /usr/include/c++/12/bits/stl_set.h \
 /usr/include/c++/12/bits/stl_multiset.h \
 /usr/include/google/protobuf/stubs/macros.h \
 /usr/include/google/protobuf/stubs/platform_macros.h \
 /usr/include/google/protobuf/stubs/port.h /usr/include/byteswap.h \
 /usr/include/google/protobuf/stubs/stringpiece.h \
 /usr/include/google/protobuf/stubs/hash.h \
 /usr/include/c++/12/unordered_set \
 /usr/include/c++/12/bits/unordered_set.h \
 /usr/include/google/protobuf/stubs/logging.h \
 /usr/include/google/protobuf/stubs/status.h \
 /usr/include/google/protobuf/stubs/strutil.h \
 /usr/include/google/protobuf/port.h /usr/include/google/protobuf/arena.h \
 /usr/include/google/protobuf/arena_impl.h \
 /usr/include/google/protobuf/arenaz_sampler.h \
 /usr/include/google/protobuf/arenastring.h \
 /usr/include/google/protobuf/explicitly_constructed.h \
 /usr/include/google/protobuf/generated_message_util.h \
 /usr/include/google/protobuf/stubs/once.h \
 /usr/include/google/protobuf/any.h \
 /usr/include/google/protobuf/message_lite.h \
 /usr/include/google/protobuf/metadata_lite.h \
 /usr/include/google/protobuf/has_bits.h \
 /usr/include/google/protobuf/implicit_weak_message.h \
 /usr/include/google/protobuf/repeated_field.h \
 /usr/include/google/protobuf/repeated_ptr_field.h \
 /usr/include/google/protobuf/wire_format_lite.h \
 /usr/include/google/protobuf/stubs/casts.h \
 /usr/include/google/protobuf/generated_message_reflection.h \
 /usr/include/google/protobuf/descriptor.h \
 /usr/include/google/protobuf/stubs/mutex.h \
 /usr/include/google/protobuf/generated_enum_reflection.h \
 /usr/include/google/protobuf/generated_enum_util.h \
 /usr/include/google/protobuf/unknown_field_set.h \
 /usr/include/google/protobuf/io/zero_copy_stream_impl_lite.h \
 /usr/include/google/protobuf/stubs/callback.h \
 /usr/include/google/protobuf/io/zero_copy_stream.h \
 /usr/include/google/protobuf/stubs/stl_util.h \
 /usr/include/google/protobuf/parse_context.h \
 /usr/include/google/protobuf/endian.h \
 /usr/include/google/protobuf/inlined_string_field.h \
 /usr/include/google/protobuf/message.h \
 /usr/include/google/protobuf/map.h \
 /usr/include/google/protobuf/map_type_handler.h \
 /usr/include/google/protobuf/extension_set.h \
 /usr/include/grpcpp/generic/async_generic_service.h \
 /usr/include/grpcpp/impl/codegen/server_callback_handlers.h \
 /usr/include/grpcpp/impl/codegen/message_allocator.h \
 /usr/include/grpcpp/impl/codegen/server_callback.h \
 /usr/include/grpcpp/support/async_stream.h \
 /usr/include/grpcpp/impl/service_type.h \
 /usr/include/grpcpp/support/async_unary_call.h \
 /usr/include/grpcpp/support/client_callback.h \
 /usr/include/grpcpp/support/method_handler.h \
 /usr/include/grpcpp/support/sync_stream.h \
 /usr/include/grpcpp/impl/codegen/proto_utils.h \
 /usr/include/grpcpp/impl/codegen/config_protobuf.h \
 /usr/include/google/protobuf/descriptor.pb.h \
 /usr/include/google/protobuf/descriptor_database.h \
 /usr/include/google/protobuf/util/json_util.h \
 /usr/include/google/protobuf/stubs/bytestream.h \
 /usr/include/google/protobuf/util/type_resolver.h \
 /usr/include/google/protobuf/type.pb.h \
 /usr/include/google/protobuf/any.pb.h \
 /usr/include/google/protobuf/source_context.pb.h \
 /usr/include/google/protobuf/util/type_resolver_util.h \
 /usr/include/grpcpp/impl/codegen/proto_buffer_reader.h \
 /usr/include/grpcpp/support/proto_buffer_reader.h \
 /usr/include/grpc/byte_buffer_reader.h \
 /usr/include/grpcpp/impl/codegen/proto_buffer_writer.h \
 /usr/include/grpcpp/support/proto_buffer_writer.h \
 /usr/include/grpcpp/impl/codegen/serialization_traits.h \
 /usr/include/grpcpp/support/stub_options.h \
 /work/main/build-greeter/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.shmrpc.h \
 /tmp/shmrpc-install/include/shmrpc/config.h \
 /tmp/shmrpc-install/include/shmrpc/client/generated_stub.h \
 /usr/include/grpcpp/impl/codegen/rpc_method.h \
 /tmp/shmrpc-install/include/shmrpc/client/flat_call.h \
 /usr/include/absl/status/status.h \
 /usr/include/absl/container/inlined_vector.h \
 /usr/include/absl/container/internal/inlined_vector.h \
 /usr/include/absl/container/internal/compressed_tuple.h \
 /usr/include/absl/functional/function_ref.h \
 /usr/include/absl/functional/internal/function_ref.h \
 /usr/include/absl/status/internal/status_internal.h \
 /usr/include/absl/strings/cord.h \
 /usr/include/absl/strings/cord_analysis.h \
 /usr/include/absl/strings/internal/cord_internal.h \
 /usr/include/absl/strings/cord_buffer.h \
 /usr/include/absl/strings/internal/cord_rep_flat.h \
 /usr/include/absl/strings/internal/cord_data_edge.h \
 /usr/include/absl/strings/internal/cord_rep_btree.h \
 /usr/include/absl/strings/internal/cord_rep_btree_reader.h \
 /usr/include/absl/strings/internal/cord_rep_btree_navigator.h \
 /usr/include/absl/strings/internal/cord_rep_crc.h \
 /usr/include/absl/strings/internal/cord_rep_ring.h \
 /usr/include/absl/container/internal/layout.h \
 /usr/include/c++/12/cxxabi.h \
 /usr/include/x86_64-linux-gnu/c++/12/bits/cxxabi_tweaks.h \
 /usr/include/absl/strings/internal/cordz_functions.h \
 /usr/include/absl/strings/internal/cordz_info.h \
 /usr/include/absl/base/internal/spinlock.h \
 /usr/include/absl/base/dynamic_annotations.h \
 /usr/include/absl/base/internal/dynamic_annotations.h \
 /usr/include/absl/strings/internal/cordz_handle.h \
 /usr/include/absl/strings/internal/cordz_statistics.h \
 /usr/include/absl/strings/internal/cordz_update_tracker.h \
 /usr/include/absl/strings/internal/cordz_update_scope.h \
 /usr/include/absl/strings/internal/resize_uninitialized.h \
 /usr/include/absl/strings/internal/string_constant.h \
 /tmp/shmrpc-install/include/shmrpc/rpc/flat_message.h \
 /usr/include/absl/status/statusor.h \
 /usr/include/absl/status/internal/statusor_internal.h \
 /usr/include/absl/types/variant.h \
 /usr/include/absl/types/internal/variant.h \
 /usr/include/absl/types/bad_variant_access.h \
 /tmp/shmrpc-install/include/shmrpc/message/flat.h \
 /tmp/shmrpc-install/include/shmrpc/message/flat_layout.h \
 /tmp/shmrpc-install/include/shmrpc/rpc/flat_frames.h \
 /tmp/shmrpc-install/include/shmrpc/transport/connection.h \
 /tmp/shmrpc-install/include/shmrpc/transport/chunk_pool.h \
 /tmp/shmrpc-install/include/shmrpc/transport/data_layout.h \
 /tmp/shmrpc-install/include/shmrpc/transport/index_stack.h \
 /tmp/shmrpc-install/include/shmrpc/transport/control_layout.h \
 /tmp/shmrpc-install/include/shmrpc/transport/doorbell.h \
 /tmp/shmrpc-install/include/shmrpc/transport/futex.h \
 /tmp/shmrpc-install/include/shmrpc/transport/event_loop.h \
 /usr/include/x86_64-linux-gnu/sys/epoll.h \
 /usr/include/x86_64-linux-gnu/bits/epoll.h /usr/include/c++/12/thread \
 /usr/include/c++/12/bits/this_thread_sleep.h \
 /tmp/shmrpc-install/include/shmrpc/transport/internal/posix.h \
 /tmp/shmrpc-install/include/shmrpc/transport/handshake.h \
 /tmp/shmrpc-install/include/shmrpc/transport/handshake_wire.h \
 /tmp/shmrpc-install/include/shmrpc/transport/segment.h \
 /tmp/shmrpc-install/include/shmrpc/transport/unix_socket.h \
 /tmp/shmrpc-install/include/shmrpc/transport/ring.h \
 /tmp/shmrpc-install/include/shmrpc/client/flat_stream.h \
 /tmp/shmrpc-install/include/shmrpc/client/internal/callback_stream.h \
 /tmp/shmrpc-install/include/shmrpc/codegen/version.h \
 /tmp/shmrpc-install/include/shmrpc/message/peer_serialize.h \
 /tmp/shmrpc-install/include/shmrpc/server/server_context.h \
 /tmp/shmrpc-install/include/shmrpc/rpc/frame.h \
 /tmp/shmrpc-install/include/shmrpc/server/service.h \
 /tmp/shmrpc-install/include/shmrpc/rpc/limits.h \
 /tmp/shmrpc-install/include/shmrpc/shmrpc.h \
 /tmp/shmrpc-install/include/shmrpc/client/credentials.h \
 /tmp/shmrpc-install/include/shmrpc/client/options.h \
 /tmp/shmrpc-install/include/shmrpc/client/diagnose.h \
 /tmp/shmrpc-install/include/shmrpc/server/server.h \
 /tmp/shmrpc-install/include/shmrpc/server/server_builder.h \
 /usr/include/c++/12/deque /usr/include/c++/12/bits/stl_deque.h \
 /usr/include/c++/12/bits/deque.tcc \
 /tmp/shmrpc-install/include/shmrpc/server/server_options.h \
 /tmp/shmrpc-install/include/shmrpc/server/stats.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/x86intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/x86gprintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/ia32intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/adxintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/bmiintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/bmi2intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/cetintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/cldemoteintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/clflushoptintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/clwbintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/clzerointrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/enqcmdintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/fxsrintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/lzcntintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/lwpintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/movdirintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/mwaitintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/mwaitxintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/pconfigintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/popcntintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/pkuintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/rdseedintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/rtmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/serializeintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/sgxintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/tbmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/tsxldtrkintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/uintrintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/waitpkgintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/wbnoinvdintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/xsaveintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/xsavecintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/xsaveoptintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/xsavesintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/xtestintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/hresetintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/immintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/mmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/xmmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/mm_malloc.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/emmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/pmmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/tmmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/smmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/wmmintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avxintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avxvnniintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx2intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512fintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512erintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512pfintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512cdintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512bwintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512dqintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vlbwintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vldqintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512ifmaintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512ifmavlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vbmiintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vbmivlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx5124fmapsintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx5124vnniwintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vpopcntdqintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vbmi2intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vbmi2vlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vnniintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vnnivlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vpopcntdqvlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512bitalgintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vp2intersectintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512vp2intersectvlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512fp16intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512fp16vlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/shaintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/fmaintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/f16cintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/gfniintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/vaesintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/vpclmulqdqintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512bf16vlintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/avx512bf16intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/amxtileintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/amxint8intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/amxbf16intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/prfchwintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/keylockerintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/mm3dnow.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/fma4intrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/ammintrin.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/xopintrin.h
