# llm/ tokenizer and chat formats
reel_test(test_llm_tokenizer LABELS unit golden)
reel_test(test_llm_chat LABELS unit golden)
reel_test(test_llm_tokenizer_cli LABELS unit e2e SOURCES llm_fixture.c)
