# llm/ tokenizer and chat formats
reel_test(test_llm_tokenizer LABELS unit golden)
reel_test(test_llm_chat LABELS unit golden)
reel_test(test_llm_tokenizer_cli LABELS unit e2e SOURCES llm_fixture.c)
reel_fuzz(fuzz_llm_tokenizer_json SOURCES fuzz/fuzz_llm_tokenizer_json.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/llm_tokenizer_json)
