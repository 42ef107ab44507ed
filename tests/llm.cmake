# llm/: model files, descriptions, tokenizer, chat, forward pass, sampler, quantization,
# grammars and JSON Schema, scene plans, and the CLI commands in front of them.

# model files: GGUF reader/writer, safetensors + HF config, descriptions, reel info
reel_test(test_llm_gguf LABELS unit SOURCES llm_fixture.c)
reel_test(test_llm_safetensors LABELS unit SOURCES llm_fixture.c)
reel_test(test_llm_info LABELS unit e2e SOURCES llm_fixture.c)
reel_test(test_llm_damaged LABELS unit SOURCES llm_fixture.c)
reel_fuzz(fuzz_llm_gguf SOURCES fuzz/fuzz_llm_gguf.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/llm_gguf)
reel_fuzz(fuzz_llm_safetensors SOURCES fuzz/fuzz_llm_safetensors.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/llm_safetensors)

# tokenizer and chat formats
reel_test(test_llm_tokenizer LABELS unit golden)
reel_test(test_llm_chat LABELS unit golden)
reel_test(test_llm_tokenizer_cli LABELS unit e2e SOURCES llm_fixture.c)
reel_fuzz(fuzz_llm_tokenizer_json SOURCES fuzz/fuzz_llm_tokenizer_json.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/llm_tokenizer_json)

# the forward pass, sessions and the sampler
reel_test(test_llm_forward_golden LABELS golden unit)
# the same golden checks through the scalar reference kernels (float activations: Q8_0/Q4_0
# logits exact to 1e-4 against gguf-py's dequantized weights)
reel_test_env(test_llm_forward_golden_scalar test_llm_forward_golden "golden;unit" "REEL_CPU=scalar")
reel_test(test_llm_sample LABELS unit)
# the generation loop (llm/generate.c) on the tiny golden model
reel_test(test_llm_generate LABELS unit)
# several sessions decoded in one pass (reel serve's batches) against each decoded alone
reel_test(test_llm_multi LABELS unit)
if(REEL_X86_64)
    reel_test_env(test_llm_multi_avx2 test_llm_multi "unit" "REEL_CPU=avx2")
else()
    reel_test_env(test_llm_multi_neon test_llm_multi "unit" "REEL_CPU=neon")
endif()
reel_test_env(test_llm_multi_scalar test_llm_multi "unit" "REEL_CPU=scalar")
reel_test(test_llm_forward_cli LABELS e2e golden)
reel_test(test_llm_forward_errors LABELS unit)
reel_fuzz(fuzz_llm_forward SOURCES fuzz/fuzz_llm_forward.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/llm_forward)

# quantization (reel quantize / convert) against the golden F32 logits
reel_test(test_llm_quantize LABELS unit golden e2e SOURCES llm_fixture.c)

# structured output: GBNF grammars, JSON Schema, token masks, plans
reel_test(test_llm_grammar LABELS unit)
reel_test(test_llm_schema LABELS unit)
reel_test(test_llm_schema_number LABELS unit)
reel_test(test_llm_schema_regex LABELS unit LIBS PkgConfig::PCRE2)
reel_fuzz(fuzz_llm_grammar SOURCES fuzz/fuzz_llm_grammar.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/grammar)
reel_fuzz(fuzz_llm_schema SOURCES fuzz/fuzz_llm_schema.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/schema)
reel_fuzz(fuzz_llm_schema_regex SOURCES fuzz/fuzz_llm_schema_regex.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/schema_regex)
reel_test(test_llm_constrain LABELS unit golden)
reel_test(test_llm_plan_cli LABELS e2e golden)

# remote models (openai:URL#MODEL): a fake OpenAI server on loopback (schema ignored, garbage,
# cut streams, 503 then 200, API keys) and reel serve on the tiny model; the answer parser
reel_test(test_llm_remote LABELS unit e2e TIMEOUT 300)
reel_fuzz(fuzz_llm_remote_answer SOURCES fuzz/fuzz_llm_remote_answer.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/remote_answer)
