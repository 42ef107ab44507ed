# llm/ model files: GGUF reader/writer, safetensors + HF config, model descriptions, reel info.
reel_test(test_llm_gguf LABELS unit SOURCES llm_fixture.c)
