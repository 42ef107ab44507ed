#include "testutil.h"
#include "core/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
                const int64_t grain =
                    grains[g] ? grains[g] : (n + 32 * threads - 1) / (32 * threads);
                const int64_t chunks = threads == 1 || n == 1 ? 1 : (n + grain - 1) / grain;
                const int64_t stat = n < threads ? n : threads;
                assert_int_equal(atomic_load(&c.calls), 3 * (chunks + stat));
                free(c.hits);
            }
        reel_pool_parallel_for_dynamic(p, 0, 1, count_body, NULL); /* nothing to do */
        reel_pool_free(p);
    }
}

/* Dynamic jobs: a thread first works through its own share in order, front to back; a thread
 * that stalls has the back of its share taken by the others. Thread 0 waits for thread 1 to
 * start; thread 1 stalls on its first chunk until thread 0 has taken its share's last chunk
 * (each wait gives up after 10 s, so a broken pool fails instead of hanging). */
typedef struct {
    int owner[1000];
    int64_t last_begin[2]; /* per thread: begin of its previous own-share chunk */
    atomic_int out_of_order, started, stolen;
} steal_ctx;

static void wait_for(atomic_int *flag)
{
    for (int i = 0; i < 10000 && !atomic_load(flag); i++) usleep(1000);
}

static void steal_body(void *ctx, int64_t b, int64_t e, int thread)
{
    steal_ctx *c = ctx;
    int64_t sb, se;
    reel_pool_split(100, 2, thread, &sb, &se); /* chunks of 10: the thread's share of indices */
    if (b >= sb * 10 && b < se * 10) {
        if (b != c->last_begin[thread] + 10) atomic_fetch_add(&c->out_of_order, 1);
        c->last_begin[thread] = b;
        if (b == sb * 10 && thread == 0) wait_for(&c->started);
        if (b == sb * 10 && thread == 1) atomic_store(&c->started, 1), wait_for(&c->stolen);
    }
    if (b == 990 && thread == 0) atomic_store(&c->stolen, 1);
    for (int64_t i = b; i < e; i++) c->owner[i] = thread;
}

static void test_dynamic_own_share_then_steal(void **state)
{
    (void)state;
    reel_pool *p = reel_pool_init(2);
    steal_ctx c = {.last_begin = {-10, 490}};
    memset(c.owner, -1, sizeof c.owner);
    reel_pool_parallel_for_dynamic(p, 1000, 10, steal_body, &c);
    for (int i = 0; i < 1000; i++) assert_true(c.owner[i] == 0 || c.owner[i] == 1);
    assert_int_equal(c.owner[0], 0);
    assert_int_equal(c.owner[499], 0);
    assert_int_equal(c.owner[500], 1); /* thread 1's first chunk, taken before its stall */
    assert_int_equal(c.owner[999], 0); /* the back of the stalled share went to thread 0 */
    assert_true(atomic_load(&c.stolen));
    assert_int_equal(atomic_load(&c.out_of_order), 0);
    reel_pool_free(p);
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
        cmocka_unit_test(test_every_index_once),
        cmocka_unit_test(test_dynamic_every_index_once),
        cmocka_unit_test(test_dynamic_own_share_then_steal),
        cmocka_unit_test(test_split_balanced),
        cmocka_unit_test(test_thread_indices),
        cmocka_unit_test(test_many_small_jobs),
        cmocka_unit_test(test_null_pool_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
