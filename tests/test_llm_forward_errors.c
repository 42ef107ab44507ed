/* The engine refuses models it cannot run with a message naming the file and the tensor, and
 * never crashes: weights of a type without a kernel, bad session and
 * snapshot use. Models are variants of the tiny GGUF fixture rewritten with the GGUF writer. */
#include "testutil.h"
#include "core/core.h"
#include "llm/gguf.h"
#include "llm/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the tiny fixture to dst, giving tensor `retype` the type `type` (same bytes: types of
 * the same size) and overriding one u32 key if key is set. */
static void rewrite(const char *dst, const char *retype, reel_dtype type, const char *key,
                    uint32_t value)
{
    char src[1024];
    snprintf(src, sizeof src, "%s/tests/fuzz/corpus/llm_forward/tiny_f32.gguf", tu_source_dir());
    reel_gguf *g = reel_gguf_open(src);
    assert_non_null(g);
    reel_gguf_writer *w = reel_gguf_writer_init();
    for (int64_t i = 0; i < reel_gguf_n_kv(g); i++) {
        const char *k = reel_gguf_kv_key(g, i);
        if (key && !strcmp(k, key))
            assert_int_equal(reel_gguf_writer_set_u32(w, k, value), 0);
        else
            assert_int_equal(reel_gguf_writer_set(w, k, reel_gguf_kv_value(g, i)), 0);
    }
    for (int64_t i = 0; i < reel_gguf_n_tensors(g); i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(g, i);
        reel_dtype ty = retype && !strcmp(t->name, retype) ? type : t->type;
        assert_int_equal(
            reel_gguf_writer_add_tensor(w, t->name, ty, t->n_dims, t->ne, t->data, t->nbytes), 0);
    }
    assert_int_equal(reel_gguf_writer_write(w, dst), 0);
    reel_gguf_writer_free(w);
    reel_gguf_free(g);
}

static void test_unsupported_weight_type(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir();
    char p[1100];
    snprintf(p, sizeof p, "%s/i32.gguf", tmp);
    rewrite(p, "blk.0.ssm_in.weight", REEL_DTYPE_I32, NULL, 0);
    reel_llm_model *m = reel_llm_model_load(p, NULL);
    if (m) fail_msg("an I32 weight matrix was accepted");
    assert_int_equal(reel_last_error_code(), REEL_EUNSUPPORTED);
    assert_true(tu_contains(reel_last_error(), "blk.0.ssm_in.weight"));
    assert_true(tu_contains(reel_last_error(), "I32"));
    assert_true(tu_contains(reel_last_error(), p));
    /* the same through the command line: exit 1, "reel: <path>: ..." */
    char *argv[] = {(char *)tu_reel_bin(), "logits", "-m", p, "--tokens", "1,2", NULL};
    tu_result r = tu_run(argv, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "reel: ") && tu_contains(r.err, "blk.0.ssm_in.weight"));
    tu_result_free(&r);
    tu_rmtree(tmp);
    free(tmp);
}

static void test_session_misuse(void **state)
{
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/fuzz/corpus/llm_forward/tiny_f32.gguf", tu_source_dir());
    reel_llm_model *m = reel_llm_model_load(p, NULL), *m2 = reel_llm_model_load(p, NULL);
    assert_non_null(m);
    assert_non_null(m2);
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.n_ctx = -1;
    assert_null(reel_llm_session_init(m, &sp));
    assert_int_equal(reel_last_error_code(), REEL_EINVAL);
    sp.n_ctx = (int64_t)1 << 40;
    assert_null(reel_llm_session_init(m, &sp));
    assert_int_equal(reel_last_error_code(), REEL_ERANGE);
    sp.n_ctx = 16;
    reel_llm_session *a = reel_llm_session_init(m, &sp), *b = reel_llm_session_init(m2, &sp);
    const int32_t toks[12] = {1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 2, 3};
    assert_int_equal(reel_llm_session_decode(a, toks, 12, 0), 0);
    reel_llm_snapshot *snap = reel_llm_session_snapshot(a);
    /* another model's session refuses it */
    assert_int_equal(reel_llm_session_restore(b, snap), REEL_EINVAL);
    /* a session too small for it refuses it */
    sp.n_ctx = 8;
    reel_llm_session *c = reel_llm_session_init(m, &sp);
    assert_int_equal(reel_llm_session_restore(c, snap), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "12 positions"));
    /* a snapshot at position 0 restores to an empty session without logits */
    reel_llm_session_reset(c);
    reel_llm_snapshot *empty = reel_llm_session_snapshot(c);
    assert_int_equal(reel_llm_session_restore(a, empty), 0);
    assert_int_equal(reel_llm_session_pos(a), 0);
    assert_null(reel_llm_session_logits(a, -1));
    reel_llm_snapshot_free(empty);
    reel_llm_snapshot_free(snap);
    reel_llm_session_free(c);
    reel_llm_session_free(b);
    reel_llm_session_free(a);
    reel_llm_model_free(m2);
    reel_llm_model_free(m);
    reel_llm_model_free(NULL);
    reel_llm_session_free(NULL);
    reel_llm_snapshot_free(NULL);
    reel_llm_sampler_free(NULL);
    assert_null(reel_llm_model_init(NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsupported_weight_type),
        cmocka_unit_test(test_session_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
