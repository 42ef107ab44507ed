# kernels/ op table and the Nemotron-H forward pass (llm/forward.c, session, sampler)
reel_test(test_kernels_ops LABELS unit)
# the same through the AVX2 kernels where the CPU has AVX-512 (REEL_CPU=avx2 hides it)
if(NOT REEL_FUZZ)
    add_test(NAME test_kernels_ops_avx2 COMMAND test_kernels_ops)
    set_tests_properties(test_kernels_ops_avx2 PROPERTIES LABELS "unit" TIMEOUT 300
        ENVIRONMENT "REEL_CPU=avx2;REEL_SOURCE_DIR=${CMAKE_SOURCE_DIR};CMOCKA_MESSAGE_OUTPUT=stdout;ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1")
endif()
reel_test(test_kernels_quant LABELS unit)
reel_test(test_llm_forward_golden LABELS golden unit)
reel_test(test_llm_sample LABELS unit)
# the generation loop (llm/generate.c) on the tiny golden model
reel_test(test_llm_generate LABELS unit)
reel_test(test_llm_forward_cli LABELS e2e golden)
reel_fuzz(fuzz_llm_forward SOURCES fuzz/fuzz_llm_forward.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/llm_forward)
reel_test(test_llm_forward_errors LABELS unit)
# the same golden checks through the scalar reference kernels (float activations: Q8_0/Q4_0
# logits exact to 1e-4 against gguf-py's dequantized weights)
if(NOT REEL_FUZZ)
    add_test(NAME test_llm_forward_golden_scalar COMMAND test_llm_forward_golden)
    set_tests_properties(test_llm_forward_golden_scalar PROPERTIES LABELS "golden;unit" TIMEOUT 300
        ENVIRONMENT "REEL_CPU=scalar;REEL_SOURCE_DIR=${CMAKE_SOURCE_DIR};REEL_BIN=$<TARGET_FILE:reel>;CMOCKA_MESSAGE_OUTPUT=stdout;ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1")
endif()
