/* reel tokenize / detokenize / template end to end, on the golden tokenizer.json and on an HF
 * directory made of it plus a tokenizer_config.json carrying a Nano-v2 chat template. */
#include "testutil.h"

#include "core/core.h"
#include "llm_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tokjson(void)
{
    return reel_xasprintf("%s/tests/data/tokenizer/tokenizer.json", tu_source_dir());
}

static tu_result reel(const char *a1, const char *a2, const char *a3, const char *a4,
                      const char *a5, const char *a6, const char *a7)
{
    char *argv[9] = {(char *)tu_reel_bin(),
                     (char *)a1,
                     (char *)a2,
                     (char *)a3,
                     (char *)a4,
                     (char *)a5,
                     (char *)a6,
                     (char *)a7,
                     NULL};
    return tu_run(argv, NULL);
}

static void test_tokenize(void **state)
{
    (void)state;
    char *t = tokjson();
    tu_result r = reel("tokenize", "-m", t, "<|im_start|>user", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(strncmp(r.out, "1\n10\n", 5) == 0); /* BOS then <|im_start|> */
    tu_result_free(&r);
    r = reel("tokenize", "-m", t, "--no-bos", "--pieces", "Hi\tthere", NULL);
    assert_int_equal(r.status, 0);
    assert_false(tu_contains(r.out, "'<s>'"));
    assert_true(tu_contains(r.out, "'\\t'"));
    tu_result_free(&r);
    r = reel("tokenize", "-m", t, "--no-bos", "--no-special", "<s>", NULL);
    assert_int_equal(r.status, 0);
    assert_false(tu_contains(r.out, "\n1\n") || strncmp(r.out, "1\n", 2) == 0);
    tu_result_free(&r);
    /* usage errors and a missing model */
    r = reel("tokenize", "hello", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel("tokenize", "-m", "/nonexistent/model.gguf", "x", NULL, NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "/nonexistent/model.gguf"));
    tu_result_free(&r);
    r = reel("tokenize", "--help", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "--pieces"));
    tu_result_free(&r);
    free(t);
}

static void test_detokenize(void **state)
{
    (void)state;
    char *t = tokjson();
    /* round trip through both commands */
    tu_result r = reel("tokenize", "-m", t, "--no-bos", "Zwölf Boxkämpfer 👍🏽", NULL, NULL);
    assert_int_equal(r.status, 0);
    char *args[64] = {(char *)tu_reel_bin(), "detokenize", "-m", t};
    int na = 4;
    for (char *tokp = strtok(r.out, "\n"); tokp && na < 62; tokp = strtok(NULL, "\n"))
        args[na++] = tokp;
    args[na] = NULL;
    tu_result d = tu_run(args, NULL);
    assert_int_equal(d.status, 0);
    assert_string_equal(d.out, "Zwölf Boxkämpfer 👍🏽\n");
    tu_result_free(&d);
    tu_result_free(&r);
    r = reel("detokenize", "-m", t, "--skip-special", "1", "11", "55");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "H\n");
    tu_result_free(&r);
    r = reel("detokenize", "-m", t, "55", "123456", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "token id 123456 is not in the vocabulary"));
    tu_result_free(&r);
    r = reel("detokenize", "-m", t, "5x", NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    free(t);
}

static void test_template(void **state)
{
    (void)state;
    tu_result r =
        reel("template", "--format", "nemotron3", "--system", "You are helpful.", "--user", "Hi");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n"
                               "Hi<|im_end|>\n<|im_start|>assistant\n<think>\n");
    tu_result_free(&r);
    /* an HF directory whose tokenizer_config.json has a Nano-v2 template: detected */
    char *dir = tu_tmpdir();
    char *t = tokjson(), *js;
    size_t jl;
    assert_int_equal(reel_file_read(t, 16 << 20, &js, &jl), 0);
    char *p = reel_xasprintf("%s/tokenizer.json", dir);
    tu_write_file(p, js, jl);
    free(p);
    p = reel_xasprintf("%s/tokenizer_config.json", dir);
    const char *cfg =
        "{\"add_bos_token\": true, \"chat_template\": \"{{- '<SPECIAL_10>System\\n' }}\"}";
    tu_write_file(p, cfg, strlen(cfg));
    free(p);
    r = reel("template", "-m", dir, "--user", "Hi /no_think", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out,
                        "<SPECIAL_10>System\n\n\n<SPECIAL_11>User\nHi\n<SPECIAL_11>Assistant\n"
                        "<think></think>");
    tu_result_free(&r);
    r = reel("tokenize", "-m", dir, "x", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(strncmp(r.out, "1\n", 2) == 0);
    tu_result_free(&r);
    r = reel("template", "--format", "chatml", "--user", "x", NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel("template", "--user", "x", NULL, NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    tu_rmtree(dir);
    free(dir);
    free(js);
    free(t);
}

/* A GGUF file through the model loader: tokenizer.ggml arrays with pre "pixtral". */
static void test_gguf(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = reel_xasprintf("%s/tiny.gguf", dir);
    fx_model m;
    fx_model_init(&m);
    fx_write_gguf(&m, path);
    fx_model_free(&m);
    /* "abcd" is a whole vocab entry (ignore_merges for pixtral), " a" is "\u0120a", z has no
     * byte token: <unk> */
    tu_result r = reel("tokenize", "-m", path, "<|im_start|>abcd az", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "1\n3\n16\n15\n0\n");
    tu_result_free(&r);
    r = reel("detokenize", "-m", path, "3", "16", "15", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "<|im_start|>abcd a\n");
    tu_result_free(&r);
    r = reel("template", "-m", path, "--user", "Hi", "--no-think", NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "<|im_start|>user\nHi<|im_end|>\n"));
    tu_result_free(&r);
    /* the same model as a Hugging Face directory, through the loader */
    char *hf = reel_xasprintf("%s/hf", dir);
    fx_model_init(&m);
    fx_write_hf(&m, hf, &(fx_hf_opts){0});
    fx_model_free(&m);
    r = reel("tokenize", "-m", hf, "--pieces", "<|im_start|>abcd", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "1\t'<s>'\n3\t'<|im_start|>'\n16\t'abcd'\n");
    tu_result_free(&r);
    r = reel("template", "-m", hf, "--user", "Hi", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "<|im_start|>assistant\n<think>\n"));
    tu_result_free(&r);
    free(hf);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_detokenize),
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_gguf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
