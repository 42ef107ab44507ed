/* reel_llm_session_decode_multi: one token for several sessions in one pass gives each session
 * what its own decode would (state, cache, position, logits), on the committed tiny models (F32,
 * the MoE one) and on their Q8_0 / Q4_0 conversions; and it refuses what it cannot do before
 * touching any session. */
#include "testutil.h"
#include "core/core.h"
#include "llm/convert.h"
#include "llm/llm.h"
#include "llm/quantize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NS = 3, STEPS = 6 };

static int argmax(const float *l, int V)
{
    int b = 0;
    for (int i = 1; i < V; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

/* NS sessions decoded alone (a) and NS decoded together (b) from the same prompts of different
 * lengths, then STEPS greedy tokens: every step's logits must match bit for bit. */
static void same_as_alone(const char *path, int exact)
{
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = 2;
    reel_llm_model *m = reel_llm_model_load(path, &mp);
    if (!m) fail_msg("%s: %s", path, reel_last_error());
    const int V = reel_llm_model_n_vocab(m);
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.n_ctx = 64;
    reel_llm_session *a[NS], *b[NS];
    int32_t next_a[NS], next_b[NS];
    for (int i = 0; i < NS; i++) {
        a[i] = reel_llm_session_init(m, &sp);
        b[i] = reel_llm_session_init(m, &sp);
        assert_non_null(a[i]);
        assert_non_null(b[i]);
        int32_t prompt[12];
        const int n = 3 + 4 * i;
        for (int k = 0; k < n; k++) prompt[k] = (int32_t)((7 * k + 3 * i + 1) % V);
        assert_int_equal(reel_llm_session_decode(a[i], prompt, n, 0), 0);
        assert_int_equal(reel_llm_session_decode(b[i], prompt, n, 0), 0);
        next_a[i] = next_b[i] = argmax(reel_llm_session_logits(a[i], -1), V);
    }
    double worst = 0;
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < NS; i++)
            assert_int_equal(reel_llm_session_decode(a[i], &next_a[i], 1, 0), 0);
        /* the sessions in another order than they were made: seq[0]'s scratch serves all */
        reel_llm_session *order[NS] = {b[2], b[0], b[1]};
        int32_t toks[NS] = {next_b[2], next_b[0], next_b[1]};
        assert_int_equal(reel_llm_session_decode_multi(order, toks, NS), 0);
        for (int i = 0; i < NS; i++) {
            assert_int_equal(reel_llm_session_pos(a[i]), reel_llm_session_pos(b[i]));
            const float *la = reel_llm_session_logits(a[i], -1),
                        *lb = reel_llm_session_logits(b[i], -1);
            assert_non_null(lb);
            double d = 0, mx = 0;
            for (int v = 0; v < V; v++) {
                d = fmax(d, fabs(la[v] - lb[v]));
                mx = fmax(mx, fabs(la[v]));
            }
            worst = fmax(worst, mx > 0 ? d / mx : d);
            if (exact ? memcmp(la, lb, (size_t)V * sizeof(float)) != 0 : d > 1e-5 * mx)
                fail_msg("%s: step %d, session %d: logits differ from its own decode (by %g of "
                         "%g)",
                         path, step, i, d, mx);
            next_a[i] = next_b[i] = argmax(la, V);
        }
    }
    print_message("%s: decoded together vs alone, largest difference %.3g of the largest logit%s\n",
                  path, worst, exact ? " (must be 0)" : "");
    for (int i = 0; i < NS; i++) {
        reel_llm_session_free(a[i]);
        reel_llm_session_free(b[i]);
    }
    reel_llm_model_free(m);
}

static void test_tiny_models(void **state)
{
    (void)state;
    const char *names[] = {"tiny-a", "tiny-c", "tiny-moe"};
    char *tmp = tu_tmpdir();
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char src[1024];
        snprintf(src, sizeof src, "%s/tests/data/models/%s", tu_source_dir(), names[k]);
        /* the scalar kernels compute a row the same way in any batch: exact; the SIMD float
         * tiles (F32, and F16 fallbacks of the quantized files) sum a batch in another order */
        const char *cpu = getenv("REEL_CPU");
        const int exact = cpu && !strcmp(cpu, "scalar");
        same_as_alone(src, exact);
        const char *types[] = {"q8_0", "q4_0"};
        for (int t = 0; t < 2; t++) {
            char dst[1100];
            snprintf(dst, sizeof dst, "%s/%s-%s.gguf", tmp, names[k], types[t]);
            assert_int_equal(reel_llm_convert(src, dst, reel_llm_qtype_find(types[t]), NULL, NULL),
                             0);
            same_as_alone(dst, exact);
        }
    }
    tu_rmtree(tmp);
    free(tmp);
}

static void test_refusals(void **state)
{
    (void)state;
    char src[1024];
    snprintf(src, sizeof src, "%s/tests/data/models/tiny-a", tu_source_dir());
    reel_llm_model_params mp = reel_llm_model_default_params();
    reel_llm_model *m = reel_llm_model_load(src, &mp), *m2 = reel_llm_model_load(src, &mp);
    assert_non_null(m);
    assert_non_null(m2);
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.n_ctx = 4;
    sp.max_batch = 2;
    reel_llm_session *s0 = reel_llm_session_init(m, &sp), *s1 = reel_llm_session_init(m, &sp);
    reel_llm_session *s2 = reel_llm_session_init(m, &sp), *o = reel_llm_session_init(m2, &sp);
    int32_t t[3] = {1, 2, 3};
    reel_llm_session *three[3] = {s0, s1, s2}, *rep[2] = {s0, s0}, *other[2] = {s0, o};
    assert_int_equal(reel_llm_session_decode_multi(three, t, 3), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "batch of 2"));
    assert_int_equal(reel_llm_session_decode_multi(rep, t, 2), REEL_EINVAL);
    assert_int_equal(reel_llm_session_decode_multi(other, t, 2), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "another model"));
    int32_t bad[2] = {1, reel_llm_model_n_vocab(m)};
    reel_llm_session *two[2] = {s0, s1};
    assert_int_equal(reel_llm_session_decode_multi(two, bad, 2), REEL_EINVAL);
    assert_int_equal(reel_llm_session_decode_multi(two, t, 0), REEL_EINVAL);
    int32_t fill[4] = {1, 2, 3, 4};
    assert_int_equal(reel_llm_session_decode(s1, fill, 4, 0), 0);
    assert_int_equal(reel_llm_session_decode_multi(two, t, 2), REEL_ERANGE);
    /* nothing moved */
    assert_int_equal(reel_llm_session_pos(s0), 0);
    assert_int_equal(reel_llm_session_pos(s1), 4);
    reel_llm_session_free(s0);
    reel_llm_session_free(s1);
    reel_llm_session_free(s2);
    reel_llm_session_free(o);
    reel_llm_model_free(m);
    reel_llm_model_free(m2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_models),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
