#include "core/pool.h"
#include "core/alloc.h"
#include "core/error.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory") /* the spin-wait hint */
#else
#define cpu_relax() ((void)0)
#endif

/* Spin step: pause, and let another thread run now and then (more threads than cores). */
static inline void spin_step(int i)
{
    if ((i & 63) == 63)
        sched_yield();
    else
        cpu_relax();
}

/* Spins before sleeping: a token's worth of kernels arrives every few microseconds. */
#define SPIN_ITERS 4000

/* A thread's share of a dynamic job's chunks: [front, back) packed as front | back << 32, 64
 * bytes from the next one's (no two on a cache line). The owner takes chunks from the front,
 * the others from the back. */
typedef struct {
    atomic_ullong fb;
    char pad[64 - sizeof(atomic_ullong)];
} share;

struct reel_pool {
    int size;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers wait here for a new generation */
    pthread_cond_t done_cv; /* the caller waits here for pending == 0 */
    atomic_uint gen;        /* bumped once per job */
    atomic_int pending;     /* workers still running the current job */
    atomic_int busy;        /* a job is in flight (misuse check) */
    int stop;
    /* the current job, written before gen is bumped */
    reel_pool_fn fn;
    void *ctx;
    int64_t n;
    int parts;
    int64_t grain; /* > 0: dynamic, chunks of grain indices */
    share *shares; /* dynamic jobs: each thread's range of chunks */
};

typedef struct {
    reel_pool *pool;
    int index;
} worker_arg;

int reel_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void reel_pool_split(int64_t n, int parts, int i, int64_t *begin, int64_t *end)
{
    int64_t base = n / parts, rem = n % parts;
    *begin = i * base + (i < rem ? i : rem);
    *end = *begin + base + (i < rem ? 1 : 0);
}

/* Takes one chunk of share sh, from its front or back; -1 when the share is empty. */
static int64_t take(share *sh, int from_back)
{
    unsigned long long s = atomic_load_explicit(&sh->fb, memory_order_relaxed);
    for (;;) {
        const unsigned long long f = s & 0xffffffffu, b = s >> 32;
        if (f >= b) return -1;
        const unsigned long long t = from_back ? f | (b - 1) << 32 : (f + 1) | b << 32;
        if (atomic_compare_exchange_weak_explicit(&sh->fb, &s, t, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (int64_t)(from_back ? b - 1 : f);
    }
}

static void run_chunk(reel_pool *p, int64_t c, int i)
{
    const int64_t b = c * p->grain;
    p->fn(p->ctx, b, b + p->grain < p->n ? b + p->grain : p->n, i);
}

static void run_part(reel_pool *p, int i)
{
    if (p->grain > 0) {
        for (int64_t c; (c = take(&p->shares[i], 0)) >= 0;) run_chunk(p, c, i);
        for (int k = 1; k < p->size; k++)
            for (int64_t c; (c = take(&p->shares[(i + k) % p->size], 1)) >= 0;) run_chunk(p, c, i);
        return;
    }
    if (i >= p->parts) return;
    int64_t b, e;
    reel_pool_split(p->n, p->parts, i, &b, &e);
    if (e > b) p->fn(p->ctx, b, e, i);
}

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    reel_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               spins < SPIN_ITERS) {
            spin_step(spins++);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen && !p->stop)
                pthread_cond_wait(&p->work_cv, &p->mu);
            int stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop && g == seen) return NULL;
        }
        seen = g;
        run_part(p, index);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

reel_pool *reel_pool_init(int n_threads)
{
    if (n_threads <= 0) n_threads = reel_cpu_count();
    reel_pool *p = reel_xcalloc(1, sizeof *p);
    p->size = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->threads = reel_xcalloc((size_t)n_threads, sizeof *p->threads);
    p->shares = reel_xcalloc((size_t)n_threads, sizeof *p->shares);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = reel_xmalloc(sizeof *wa);
        wa->pool = p;
        wa->index = i;
        if (pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            p->size = i; /* join only what started */
            reel_pool_free(p);
            reel_set_error(REEL_EIO, "thread pool: cannot start thread %d of %d", i, n_threads);
            return NULL;
        }
    }
    return p;
}

void reel_pool_free(reel_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->size; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p->shares);
    free(p);
}

int reel_pool_size(const reel_pool *p)
{
    return p ? p->size : 1;
}

/* Runs fn over [0, n) on every thread and returns when all are done; small jobs run on the
 * caller. grain 0: each thread runs its balanced range in one call. grain > 0: the chunks of
 * grain indices are split into balanced shares, one a thread; each thread runs its own share's
 * chunks front to back (one contiguous stream), then takes chunks from the backs of the others'
 * shares until every share is empty (run_part). */
static void run_job(reel_pool *p, int64_t n, int64_t grain, reel_pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (!p || p->size == 1 || n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    int was_busy = atomic_exchange(&p->busy, 1);
    REEL_ASSERT(!was_busy && "reel_pool_parallel_for is not reentrant");
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->parts = n < p->size ? (int)n : p->size;
    p->grain = grain;
    if (grain > 0) {
        const int64_t chunks = (n + grain - 1) / grain;
        REEL_ASSERT(chunks < ((int64_t)1 << 32) && "dynamic job of over 2^32 chunks");
        for (int i = 0; i < p->size; i++) {
            int64_t b, e;
            reel_pool_split(chunks, p->size, i, &b, &e);
            atomic_store_explicit(&p->shares[i].fb,
                                  (unsigned long long)b | (unsigned long long)e << 32,
                                  memory_order_relaxed);
        }
    }
    atomic_store_explicit(&p->pending, p->size - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);

    run_part(p, 0);

    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < SPIN_ITERS) {
        spin_step(spins++);
    }
    if (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    atomic_store(&p->busy, 0);
}

void reel_pool_parallel_for(reel_pool *p, int64_t n, reel_pool_fn fn, void *ctx)
{
    run_job(p, n, 0, fn, ctx);
}

void reel_pool_parallel_for_dynamic(reel_pool *p, int64_t n, int64_t grain, reel_pool_fn fn,
                                    void *ctx)
{
    const int size = reel_pool_size(p);
    run_job(p, n, grain > 0 ? grain : (n + 32 * size - 1) / (32 * size), fn, ctx);
}
