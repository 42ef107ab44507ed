# reel quantize (cli/cmd_quantize.c) and quantized models against the golden F32 logits
reel_test(test_llm_quantize LABELS unit golden e2e SOURCES llm_fixture.c)
