#include "testutil.h"
#include "core/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int *hits;
    atomic_int calls;
    int max_thread;
} count_ctx;

static void count_body(void *ctx, int64_t b, int64_t e, int thread)
{
    count_ctx *c = ctx;
    for (int64_t i = b; i < e; i++) c->hits[i]++;
    atomic_fetch_add(&c->calls, 1);
    (void)thread;
}

static void test_every_index_once(void **state)
{
    (void)state;
    int sizes[] = {1, 2, 3, 7, 64, 1000, 100003};
    for (int threads = 1; threads <= 4; threads++) {
        reel_pool *p = reel_pool_init(threads);
        assert_non_null(p);
        assert_int_equal(reel_pool_size(p), threads);
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            int n = sizes[s];
            count_ctx c = {.hits = calloc((size_t)n, sizeof(int))};
            for (int rep = 0; rep < 3; rep++) reel_pool_parallel_for(p, n, count_body, &c);
            for (int i = 0; i < n; i++) assert_int_equal(c.hits[i], 3);
            assert_true(atomic_load(&c.calls) <= 3 * threads);
            free(c.hits);
        }
        reel_pool_free(p);
    }
}

/* Dynamic jobs: every index once per call, in ceil(n / grain) chunks, whatever the grain, and
 * static jobs in between still split as before. */
static void test_dynamic_every_index_once(void **state)
{
    (void)state;
    const int sizes[] = {1, 2, 3, 7, 64, 1000, 100003};
    const int64_t grains[] = {0, 1, 3, 64, 200000};
    for (int threads = 1; threads <= 4; threads++) {
        reel_pool *p = reel_pool_init(threads);
        assert_non_null(p);
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
                const int n = sizes[s];
                count_ctx c = {.hits = calloc((size_t)n, sizeof(int))};
                for (int rep = 0; rep < 3; rep++) {
                    reel_pool_parallel_for_dynamic(p, n, grains[g], count_body, &c);
                    reel_pool_parallel_for(p, n, count_body, &c);
                }
                for (int i = 0; i < n; i++) assert_int_equal(c.hits[i], 6);
                const int64_t grain = grains[g] ? grains[g] : (n + 32 * threads - 1) / (32 * threads);
                const int64_t chunks = threads == 1 || n == 1 ? 1 : (n + grain - 1) / grain;
                const int64_t stat = n < threads ? n : threads;
                assert_int_equal(atomic_load(&c.calls), 3 * (chunks + stat));
                free(c.hits);
            }
        reel_pool_parallel_for_dynamic(p, 0, 1, count_body, NULL); /* nothing to do */
        reel_pool_free(p);
    }
}

static void test_split_balanced(void **state)
{
    (void)state;
    for (int64_t n = 0; n < 50; n++)
        for (int parts = 1; parts <= 8; parts++) {
            int64_t expect = 0;
            for (int i = 0; i < parts; i++) {
                int64_t b, e;
                reel_pool_split(n, parts, i, &b, &e);
                assert_int_equal(b, expect);
                assert_true(e - b == n / parts || e - b == n / parts + 1);
                expect = e;
            }
            assert_int_equal(expect, n);
        }
}

/* Threads really run in parallel: each range is handled by its own thread index. */
typedef struct {
    int owner[4];
} owner_ctx;

static void owner_body(void *ctx, int64_t b, int64_t e, int thread)
{
    owner_ctx *o = ctx;
    for (int64_t i = b; i < e; i++) o->owner[i] = thread;
}

static void test_thread_indices(void **state)
{
    (void)state;
    reel_pool *p = reel_pool_init(4);
    owner_ctx o;
    memset(&o, -1, sizeof o);
    reel_pool_parallel_for(p, 4, owner_body, &o);
    for (int i = 0; i < 4; i++) assert_int_equal(o.owner[i], i);
    reel_pool_free(p);
}

/* Many tiny jobs in a row: exercises the spin/sleep hand-off for lost wake-ups. */
static void sum_body(void *ctx, int64_t b, int64_t e, int thread)
{
    (void)thread;
    atomic_fetch_add((atomic_long *)ctx, e - b);
}

static void test_many_small_jobs(void **state)
{
    (void)state;
    reel_pool *p = reel_pool_init(3);
    atomic_long total = 0;
    for (int i = 0; i < 20000; i++) reel_pool_parallel_for(p, 3, sum_body, &total);
    assert_int_equal(atomic_load(&total), 60000);
    reel_pool_free(p);
    reel_pool_free(NULL);
}

static void test_null_pool_inline(void **state)
{
    (void)state;
    count_ctx c = {.hits = calloc(10, sizeof(int))};
    reel_pool_parallel_for(NULL, 10, count_body, &c);
    reel_pool_parallel_for(NULL, 0, count_body, &c);
    for (int i = 0; i < 10; i++) assert_int_equal(c.hits[i], 1);
    assert_int_equal(atomic_load(&c.calls), 1);
    free(c.hits);
    assert_true(reel_cpu_count() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_index_once), cmocka_unit_test(test_dynamic_every_index_once),
        cmocka_unit_test(test_split_balanced),
        cmocka_unit_test(test_thread_indices),   cmocka_unit_test(test_many_small_jobs),
        cmocka_unit_test(test_null_pool_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
