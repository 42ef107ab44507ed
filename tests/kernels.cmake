# kernels/: every SIMD kernel against its scalar reference
reel_test(test_kernels_dtype LABELS unit)
reel_test(test_kernels_quant LABELS unit)
# the quantizers byte for byte against gguf-py (tests/data/quant/quantize_goldens.json)
reel_test(test_kernels_quant_golden LABELS unit golden)
reel_test(test_kernels_kquant LABELS unit)
reel_test(test_kernels_ops LABELS unit)
# the same through the AVX2 kernels where the CPU has AVX-512 (REEL_CPU=avx2 hides it)
reel_test_env(test_kernels_ops_avx2 test_kernels_ops "unit" "REEL_CPU=avx2")
