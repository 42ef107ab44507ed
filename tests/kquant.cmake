# integer-dot matmul for Q5_0, Q5_1, Q4_1, IQ4_NL, Q4_K, Q5_K, Q6_K weights (kernels/cpu/x86/kqmatmul.c)
reel_test(test_kernels_kquant LABELS unit)
