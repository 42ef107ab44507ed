# kernels/ op table and the Nemotron-H forward pass (llm/forward.c, session, sampler)
reel_test(test_kernels_ops LABELS unit)
reel_test(test_llm_forward_golden LABELS golden unit)
reel_test(test_llm_sample LABELS unit)
