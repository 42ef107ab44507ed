# kernels/: every SIMD kernel against its scalar reference. Tests that need an instruction set
# this CPU may lack run as entries of their own (REEL_TEST_FILTER / REEL_TEST_EXCLUDE select
# tests by name, tests/testutil.c), so a machine without AVX-512 VNNI shows the *_vnni entries
# as Skipped, with the reason, and the others as Passed.
if(REEL_FUZZ)
    return() # the fuzz build builds only the fuzz targets
endif()
# ARM64 (kernels/cpu/arm/): a self-contained test (no cmocka), built by the kernels-only cross
# build and run there under qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR); on an ARM64 machine it
# runs natively. The x86 build runs that whole cross build and the test at each emulated CPU
# level through tests/arm64_kernels.sh (Skipped without the cross compiler or qemu-user).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
    add_executable(test_kernels_arm64 test_kernels_arm64.c)
    target_link_libraries(test_kernels_arm64 PRIVATE reel_kernels_cpu reel_core)
    add_test(NAME test_kernels_arm64 COMMAND test_kernels_arm64)
    set_tests_properties(test_kernels_arm64 PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77)
elseif(NOT REEL_KERNELS_ONLY)
    add_test(NAME test_kernels_arm64_qemu
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/arm64_kernels.sh ${CMAKE_BINARY_DIR}/arm64)
    set_tests_properties(test_kernels_arm64_qemu PROPERTIES LABELS unit TIMEOUT 600
                         SKIP_RETURN_CODE 77 ENVIRONMENT "REEL_SKIP_LOG=${REEL_SKIP_LOG}")
endif()
if(REEL_KERNELS_ONLY)
    return()
endif()
# reel_kernel_test_split(NAME [avx2] [X86 test...]): NAME runs the tests without "vnni" (and, with
# avx2, without "avx2") in their names, NAME_vnni (and NAME_avx2) the others. On a CPU other than
# x86-64 those variants do not exist: NAME runs the tests that are not of the x86 kernels and
# NAME_x86 the ones that are (*avx2*, *vnni* and the X86 names; X86 "*": all of them, one entry),
# which the executable compiles as skips (TU_X86_ONLY_TEST), so they show as Skipped.
function(reel_kernel_test_split name)
    cmake_parse_arguments(S "avx2" "" "X86" ${ARGN})
    reel_test(${name} LABELS unit)
    if(NOT REEL_X86_64)
        if(S_X86 STREQUAL "*")
            return()
        endif()
        list(PREPEND S_X86 "*avx2*" "*vnni*")
        list(JOIN S_X86 "," x86)
        set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT "REEL_TEST_EXCLUDE=${x86}")
        reel_test_env(${name}_x86 ${name} "unit" "REEL_TEST_FILTER=${x86}")
        return()
    endif()
    if(S_avx2)
        set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT "REEL_TEST_EXCLUDE=*avx2*,*vnni*")
        reel_test_env(${name}_avx2 ${name} "unit" "REEL_TEST_FILTER=*avx2*")
    else()
        set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT "REEL_TEST_EXCLUDE=*vnni*")
    endif()
    reel_test_env(${name}_vnni ${name} "unit" "REEL_TEST_FILTER=*vnni*")
endfunction()

reel_test(test_kernels_dtype LABELS unit)
reel_kernel_test_split(test_kernels_quant avx2)
# the quantizers byte for byte against gguf-py (tests/data/quant/quantize_goldens.json)
reel_test(test_kernels_quant_golden LABELS unit golden)
# integer-dot matmuls of every row-major quantized type (kernels/cpu/x86/dot-rowmajor.c)
reel_kernel_test_split(test_kernels_kquant X86 *)
# every integer-dot matmul against its exact reference (kernels/cpu/matmul-q8act.c): the scalar
# emulation of the interleaved layouts on every machine, then the AVX2 and the VNNI kernels
reel_kernel_test_split(test_kernels_qexact avx2)
target_sources(test_kernels_qexact PRIVATE x86_vnni_trap.c)
if(REEL_X86_64) # the AVX-VNNI tiles: an entry of their own, out of *_vnni (any AVX2 CPU runs it)
    set_property(TEST test_kernels_qexact_vnni APPEND PROPERTY ENVIRONMENT
                 "REEL_TEST_EXCLUDE=*avxvnni*")
    reel_test_env(test_kernels_qexact_avxvnni test_kernels_qexact "unit"
                  "REEL_TEST_FILTER=*avxvnni*")
endif()
reel_test(test_kernels_ops LABELS unit)
if(REEL_X86_64)
    # the same through the AVX2 kernels where the CPU has AVX-512 (REEL_CPU=avx2 hides it)
    reel_test_env(test_kernels_ops_avx2 test_kernels_ops "unit" "REEL_CPU=avx2")
else()
    # the same through plain NEON where the CPU has dotprod or i8mm (REEL_CPU=neon caps it)
    reel_test_env(test_kernels_ops_neon test_kernels_ops "unit" "REEL_CPU=neon")
endif()
