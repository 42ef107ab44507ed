/* Chat formats against jinja2 renders of the published templates (tests/data/chat, made by
 * scripts/golden/render_chat.py), byte for byte, plus detection and argument errors. */
#include "testutil.h"

#include "core/core.h"
#include "llm/chat.h"
#include "llm/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_file(const char *name, reel_llm_chat_format fmt)
{
    char *path = reel_xasprintf("%s/tests/data/chat/%s", tu_source_dir(), name);
    char *g;
    size_t gl;
    assert_int_equal(reel_file_read(path, 16 << 20, &g, &gl), 0);
    free(path);
    size_t n = 0, bad = 0;
    for (char *line = g; line < g + gl;) {
        char *nl = memchr(line, '\n', (size_t)(g + gl - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(g + gl - line);
        json_t *o = len ? json_loadb(line, len, 0, NULL) : NULL;
        line += len + 1;
        if (!o) continue;
        json_t *ms = json_object_get(o, "messages");
        size_t nm = json_array_size(ms);
        reel_llm_chat_msg *msgs = calloc(nm + 1, sizeof *msgs);
        for (size_t i = 0; i < nm; i++) {
            json_t *m = json_array_get(ms, i);
            msgs[i].role = json_string_value(json_object_get(m, "role"));
            msgs[i].content = json_string_value(json_object_get(m, "content"));
            msgs[i].reasoning_content = json_string_value(json_object_get(m, "reasoning_content"));
        }
        reel_llm_chat_params p = reel_llm_chat_default_params();
        p.format = fmt;
        p.enable_thinking = (int)json_integer_value(json_object_get(o, "thinking"));
        p.truncate_history_thinking = (int)json_integer_value(json_object_get(o, "truncate"));
        p.add_generation_prompt = (int)json_integer_value(json_object_get(o, "gen"));
        char *out;
        size_t olen;
        assert_int_equal(reel_llm_chat_render(msgs, nm, &p, &out, &olen), 0);
        const char *want = json_string_value(json_object_get(o, "text"));
        if (olen != strlen(want) || memcmp(out, want, olen) != 0) {
            if (bad++ < 3)
                printf("%s line %zu:\n--- got\n%s\n--- want\n%s\n---\n", name, n + 1, out, want);
        }
        free(out);
        free(msgs);
        json_decref(o);
        n++;
    }
    free(g);
    printf("%s: %zu renders, %zu mismatches\n", name, n, bad);
    assert_int_equal(bad, 0);
    assert_true(n >= 40);
}

static void test_nemotron3(void **state)
{
    (void)state;
    check_file("nemotron3.jsonl", REEL_LLM_CHAT_NEMOTRON3);
}

static void test_nano_v2(void **state)
{
    (void)state;
    check_file("nano-v2.jsonl", REEL_LLM_CHAT_NANO_V2);
}

static void test_detect_and_errors(void **state)
{
    (void)state;
    assert_int_equal(reel_llm_chat_detect("{{- '<|im_start|>system\\n' }}"),
                     REEL_LLM_CHAT_NEMOTRON3);
    assert_int_equal(reel_llm_chat_detect("{{- '<SPECIAL_10>System' }}"), REEL_LLM_CHAT_NANO_V2);
    assert_int_equal(reel_llm_chat_detect("[INST]"), REEL_LLM_CHAT_UNKNOWN);
    assert_int_equal(reel_llm_chat_detect(NULL), REEL_LLM_CHAT_UNKNOWN);
    assert_int_equal(reel_llm_chat_format_parse("nano-v2"), REEL_LLM_CHAT_NANO_V2);
    assert_int_equal(reel_llm_chat_format_parse("nemotron3"), REEL_LLM_CHAT_NEMOTRON3);
    assert_int_equal(reel_llm_chat_format_parse("chatml"), REEL_LLM_CHAT_UNKNOWN);
    assert_string_equal(reel_llm_chat_format_name(REEL_LLM_CHAT_NANO_V2), "nano-v2");
    reel_llm_chat_msg m[2] = {{"user", "Hi", NULL}, {NULL, "x", NULL}};
    reel_llm_chat_params p = reel_llm_chat_default_params();
    char *out;
    assert_int_equal(reel_llm_chat_render(m, 1, &p, &out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "format"));
    p.format = REEL_LLM_CHAT_NEMOTRON3;
    assert_int_equal(reel_llm_chat_render(m, 2, &p, &out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "message 1"));
    /* no messages: just the (empty) system block and the generation prompt */
    assert_int_equal(reel_llm_chat_render(NULL, 0, &p, &out, NULL), 0);
    assert_string_equal(out, "<|im_start|>system\n<|im_end|>\n<|im_start|>assistant\n<think>\n");
    free(out);
}

static void test_stop_ids(void **state)
{
    (void)state;
    char *path = reel_xasprintf("%s/tests/data/tokenizer/tokenizer.json", tu_source_dir());
    reel_llm_tokenizer *tok = reel_llm_tokenizer_load(path, NULL);
    free(path);
    assert_non_null(tok);
    int32_t ids[4];
    assert_int_equal(reel_llm_chat_stop_ids(REEL_LLM_CHAT_NEMOTRON3, tok, ids, 4), 2);
    assert_int_equal(ids[0], 2);  /* </s> */
    assert_int_equal(ids[1], 11); /* <|im_end|> */
    /* the golden vocabulary has no <SPECIAL_12>: EOS only */
    assert_int_equal(reel_llm_chat_stop_ids(REEL_LLM_CHAT_NANO_V2, tok, ids, 4), 1);
    assert_int_equal(reel_llm_chat_stop_ids(REEL_LLM_CHAT_NEMOTRON3, tok, ids, 1), 2);
    reel_llm_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nemotron3),
        cmocka_unit_test(test_nano_v2),
        cmocka_unit_test(test_detect_and_errors),
        cmocka_unit_test(test_stop_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
