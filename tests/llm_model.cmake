# llm/ model files: GGUF reader/writer, safetensors + HF config, model descriptions, reel info.
reel_test(test_llm_gguf LABELS unit SOURCES llm_fixture.c)
reel_test(test_llm_safetensors LABELS unit SOURCES llm_fixture.c)
reel_test(test_llm_info LABELS unit e2e SOURCES llm_fixture.c)
