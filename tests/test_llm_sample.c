/* The sampler: greedy, filters, seeded reproducibility, the distribution it draws from. */
#include "testutil.h"
#include "core/core.h"
#include "llm/llm.h"

#include <math.h>
#include <string.h>

static reel_llm_sampler_params plain(float temp)
{
    reel_llm_sampler_params p = reel_llm_sampler_greedy_params();
    p.temp = temp;
    return p;
}

static void test_greedy(void **state)
{
    (void)state;
    reel_llm_sampler *s = reel_llm_sampler_init(NULL);
    float l[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
    assert_int_equal(reel_llm_sampler_sample(s, l, 5), 1); /* tie: lowest id */
    assert_int_equal(reel_llm_sampler_sample(s, l, 0), REEL_EINVAL);
    reel_llm_sampler_free(s);
}

static void test_seeded(void **state)
{
    (void)state;
    float l[50];
    for (int i = 0; i < 50; i++) l[i] = sinf((float)i) * 2;
    reel_llm_sampler_params p = reel_llm_sampler_default_params();
    p.seed = 42;
    int32_t a[64], b[64], c[64];
    reel_llm_sampler *s = reel_llm_sampler_init(&p);
    for (int i = 0; i < 64; i++) a[i] = reel_llm_sampler_sample(s, l, 50);
    reel_llm_sampler_reset(s, 42);
    for (int i = 0; i < 64; i++) b[i] = reel_llm_sampler_sample(s, l, 50);
    reel_llm_sampler_reset(s, 43);
    for (int i = 0; i < 64; i++) c[i] = reel_llm_sampler_sample(s, l, 50);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    /* top-k 40 + top-p + min-p keep only tokens whose logits are high enough */
    for (int i = 0; i < 64; i++) assert_true(l[a[i]] > 0.0f);
    reel_llm_sampler_free(s);
}

static void test_distribution(void **state)
{
    (void)state;
    float l[3] = {logf(0.6f), logf(0.3f), logf(0.1f)};
    reel_llm_sampler_params p = plain(1.0f);
    p.seed = 9;
    reel_llm_sampler *s = reel_llm_sampler_init(&p);
    int count[3] = {0};
    for (int i = 0; i < 20000; i++) count[reel_llm_sampler_sample(s, l, 3)]++;
    assert_true(fabs(count[0] / 20000.0 - 0.6) < 0.02);
    assert_true(fabs(count[1] / 20000.0 - 0.3) < 0.02);
    assert_true(fabs(count[2] / 20000.0 - 0.1) < 0.02);
    reel_llm_sampler_free(s);
    /* a low temperature sharpens: token 0 dominates */
    p.temp = 0.1f;
    s = reel_llm_sampler_init(&p);
    memset(count, 0, sizeof count);
    for (int i = 0; i < 2000; i++) count[reel_llm_sampler_sample(s, l, 3)]++;
    assert_true(count[0] > 1990);
    reel_llm_sampler_free(s);
}

static void test_filters(void **state)
{
    (void)state;
    float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    int seen[4];
    const struct {
        int top_k;
        float top_p, min_p;
        int allowed; /* tokens 0..allowed-1 may appear */
    } cases[] = {{1, 1, 0, 1},     {2, 1, 0, 2},    {0, 0.7f, 0, 2},
                 {0, 0.85f, 0, 3}, {0, 1, 0.5f, 2}, {0, 1, 0.2f, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        reel_llm_sampler_params p = plain(1.0f);
        p.top_k = cases[k].top_k, p.top_p = cases[k].top_p, p.min_p = cases[k].min_p;
        p.seed = k;
        reel_llm_sampler *s = reel_llm_sampler_init(&p);
        memset(seen, 0, sizeof seen);
        for (int i = 0; i < 3000; i++) seen[reel_llm_sampler_sample(s, l, 4)]++;
        for (int t = 0; t < 4; t++) {
            if (t < cases[k].allowed)
                assert_true(seen[t] > 0);
            else
                assert_int_equal(seen[t], 0);
        }
        reel_llm_sampler_free(s);
    }
}

static void test_repeat_penalty(void **state)
{
    (void)state;
    float l[3] = {3.0f, 2.0f, -1.0f};
    reel_llm_sampler_params p = plain(0);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;
    reel_llm_sampler *s = reel_llm_sampler_init(&p);
    reel_llm_sampler_accept(s, 0);                         /* 3.0 -> 1.5 */
    assert_int_equal(reel_llm_sampler_sample(s, l, 3), 1); /* and records 1 */
    /* history {0, 1}: 1.5, 1.0, -1 -> 0 wins again (and stays in the history) */
    assert_int_equal(reel_llm_sampler_sample(s, l, 3), 0);
    /* the ring keeps the last 2: {0, 2}; 1 is no longer penalised, -1 -> -2 */
    reel_llm_sampler_accept(s, 2);
    assert_int_equal(reel_llm_sampler_sample(s, l, 3), 1);
    reel_llm_sampler_free(s);
}

/* top-k by heap selection keeps exactly the k best (ties: lowest ids), whatever their order */
static void test_top_k_selection(void **state)
{
    (void)state;
    enum { V = 1000 };
    static float l[V];
    for (int i = 0; i < V; i++) l[i] = (float)((i * 7919) % 1000) / 100.0f; /* a permutation */
    l[3] = l[500] = 9.99f + 0.001f; /* a tie at the top: ids 3 and 500 */
    for (int k = 1; k <= 64; k *= 4) {
        reel_llm_sampler_params p = plain(1000.0f); /* nearly uniform among the kept */
        p.top_k = k;
        p.seed = (uint64_t)k;
        reel_llm_sampler *s = reel_llm_sampler_init(&p);
        int seen[V] = {0};
        for (int i = 0; i < 4000; i++) seen[reel_llm_sampler_sample(s, l, V)]++;
        /* the k-th best logit */
        float sorted[V];
        memcpy(sorted, l, sizeof sorted);
        for (int i = 0; i < k; i++)
            for (int j = i + 1; j < V; j++)
                if (sorted[j] > sorted[i]) {
                    float t = sorted[i];
                    sorted[i] = sorted[j], sorted[j] = t;
                }
        int distinct = 0;
        for (int i = 0; i < V; i++) {
            if (seen[i]) distinct++;
            if (seen[i]) assert_true(l[i] >= sorted[k - 1]);
        }
        assert_int_equal(distinct, k);
        if (k == 1) assert_true(seen[3] == 4000); /* tie -> lowest id */
        reel_llm_sampler_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),         cmocka_unit_test(test_seeded),
        cmocka_unit_test(test_distribution),   cmocka_unit_test(test_filters),
        cmocka_unit_test(test_repeat_penalty), cmocka_unit_test(test_top_k_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
