# integer-dot matmul for Q5_0, Q5_1, Q4_1, IQ4_NL, Q2_K..Q6_K weights (kernels/cpu/x86/dot-rowmajor.c)
reel_test(test_kernels_kquant LABELS unit)
# developer benchmark (not a test): build/bin/bench_kquant_matmul [threads] [types...]
if(NOT REEL_FUZZ)
    add_executable(bench_kquant_matmul ${CMAKE_SOURCE_DIR}/scripts/bench/kquant_matmul.c)
    target_link_libraries(bench_kquant_matmul PRIVATE libreel)
endif()
# developer benchmark (not a test): build/bin/bench_decode_stream [threads] [q4_0|q8_0] [reps]
if(NOT REEL_FUZZ)
    add_executable(bench_decode_stream ${CMAKE_SOURCE_DIR}/scripts/bench/decode_stream.c)
    target_link_libraries(bench_decode_stream PRIVATE libreel)
endif()
