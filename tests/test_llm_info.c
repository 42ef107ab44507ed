/* reel info MODEL: text and JSON output for a GGUF file and an HF folder, the memory estimate,
 * usage errors, and damaged files reported as "reel: FILE: ..." with exit status 1. */
#include "testutil.h"
#include "llm_fixture.h"

#include "core/core.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static tu_result reel(const char *a, const char *b, const char *c, const char *d)
{
    char *argv[] = {
        (char *)tu_reel_bin(), "info", (char *)a, (char *)b, (char *)c, (char *)d, NULL};
    return tu_run(argv, NULL);
}

static void test_info_gguf(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), *path = reel_xasprintf("%s/tiny.gguf", dir);
    fx_model m;
    fx_model_init(&m);
    fx_write_gguf(&m, path);
    tu_result r = reel(path, NULL, NULL, NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    printf("%s", r.out);
    assert_true(tu_contains(r.out, "architecture: nemotron_h"));
    assert_true(tu_contains(r.out, "pattern:      M-M*-"));
    assert_true(tu_contains(r.out, "layers:       5: 2 Mamba, 1 attention, 2 MLP, 0 MoE"));
    assert_true(
        tu_contains(r.out, "mamba:        4 heads x 4 (inner 16), 2 groups, state 4, conv 4"));
    assert_true(tu_contains(r.out, "attention:    2 heads, 1 KV heads, head dim 8"));
    assert_true(tu_contains(r.out, "tensors:      32: F32 32"));
    assert_true(tu_contains(r.out, "tokenizer:    40 tokens, 4 merges, bos 1, eos 2"));
    tu_result_free(&r);

    r = reel(path, "--json", "--ctx", "100");
    assert_int_equal(r.status, 0);
    json_error_t e;
    json_t *o = json_loads(r.out, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "format")), "gguf");
    assert_int_equal(json_integer_value(json_object_get(o, "n_embd")), 16);
    json_t *mem = json_object_get(o, "memory");
    /* KV: 2 * nkv 1 * hd 8 * 2 bytes * 100 tokens * 1 attention layer */
    assert_int_equal(json_integer_value(json_object_get(mem, "kv_cache")), 3200);
    /* conv: (K-1) 3 * Dc 32 * 4 bytes * 2 Mamba layers; SSM: nh 4 * P 4 * N 4 * 4 * 2 */
    assert_int_equal(json_integer_value(json_object_get(mem, "conv_state")), 768);
    assert_int_equal(json_integer_value(json_object_get(mem, "ssm_state")), 512);
    int64_t params = 0;
    for (int i = 0; i < m.n; i++) params += m.t[i].n;
    assert_int_equal(json_integer_value(json_object_get(o, "parameters")), params);
    assert_int_equal(json_integer_value(json_object_get(mem, "weights")), params * 4);
    json_decref(o);
    tu_result_free(&r);

    /* the HF folder of the same model */
    char *hf = reel_xasprintf("%s/hf", dir);
    fx_hf_opts opts = {.bf16 = 1};
    fx_write_hf(&m, hf, &opts);
    r = reel(hf, "--ctx=100", NULL, NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    assert_true(tu_contains(r.out, "(safetensors,"));
    assert_true(tu_contains(r.out, "BF16"));
    assert_true(tu_contains(r.out, "pattern:      M-M*-"));
    tu_result_free(&r);

    /* usage errors exit 2 */
    r = reel(path, "--ctx", "0", NULL);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "--ctx expects an integer"));
    tu_result_free(&r);
    r = reel(path, hf, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel(NULL, NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel("--devices", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "cpu: "));
    tu_result_free(&r);

    /* damaged and missing files exit 1 with "reel: FILE: what" */
    char *bad = reel_xasprintf("%s/bad.gguf", dir);
    tu_write_file(bad, "GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff", 16);
    r = reel(bad, NULL, NULL, NULL);
    assert_int_equal(r.status, 1);
    char *want = reel_xasprintf("reel: %s: file ends inside the metadata count", bad);
    if (!tu_contains(r.err, want)) fail_msg("stderr: %s", r.err);
    free(want);
    tu_result_free(&r);
    tu_write_file(bad, "PK\x03\x04 not a model at all", 24);
    r = reel(bad, NULL, NULL, NULL);
    assert_int_equal(r.status, 1);
    want = reel_xasprintf("reel: %s: not a GGUF file (magic 50 4b 03 04", bad);
    assert_true(tu_contains(r.err, want));
    free(want);
    tu_result_free(&r);
    r = reel("/nonexistent.gguf", NULL, NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "reel: /nonexistent.gguf: "));
    tu_result_free(&r);

    free(bad);
    free(hf);
    fx_model_free(&m);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_info_gguf)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
