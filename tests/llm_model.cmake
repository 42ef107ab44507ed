# llm/ model files: GGUF reader/writer, safetensors + HF config, model descriptions, reel info.
reel_test(test_llm_gguf LABELS unit SOURCES llm_fixture.c)
reel_test(test_llm_safetensors LABELS unit SOURCES llm_fixture.c)
reel_test(test_llm_info LABELS unit e2e SOURCES llm_fixture.c)
reel_test(test_llm_damaged LABELS unit SOURCES llm_fixture.c)
reel_fuzz(fuzz_llm_gguf SOURCES fuzz/fuzz_llm_gguf.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/llm_gguf)
reel_fuzz(fuzz_llm_safetensors SOURCES fuzz/fuzz_llm_safetensors.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/llm_safetensors)
