/* reel core: a persistent thread pool with a parallel-for.
 *
 * The kernels call reel_pool_parallel_for() many times per token, so workers stay alive between
 * calls, spin briefly for new work and then sleep. Work is split statically into contiguous,
 * balanced ranges, one per thread, so results never depend on scheduling: the same inputs give
 * the same outputs whatever the timing (and code that reduces per range can be made
 * independent of the thread count by its own choice of ranges).
 *
 *     static void body(void *ctx, int64_t begin, int64_t end, int thread) { ... }
 *     reel_pool *p = reel_pool_init(0);           // one thread per core
 *     reel_pool_parallel_for(p, n_rows, body, &ctx);
 *     reel_pool_free(p);
 *
 * One pool serves one caller at a time: calls into the same pool from several threads at once,
 * or from inside a body, are a programming error (asserted).
 */
#ifndef REEL_CORE_POOL_H
#define REEL_CORE_POOL_H

#include <stdint.h>

typedef struct reel_pool reel_pool;

/* Body of a parallel loop: handles [begin, end); thread is 0..size-1 (0 is the caller). */
typedef void (*reel_pool_fn)(void *ctx, int64_t begin, int64_t end, int thread);

/* Creates a pool of n_threads threads in all, the calling thread included (n_threads - 1
 * workers). n_threads <= 0 means one per online CPU. Returns NULL (reel_last_error) if threads
 * cannot be created. */
reel_pool *reel_pool_init(int n_threads);

/* Stops and joins the workers. NULL is a no-op. */
void reel_pool_free(reel_pool *pool);

/* Number of threads, the caller included. 1 for a NULL pool. */
int reel_pool_size(const reel_pool *pool);

/* Runs fn over [0, n) split into min(size, n) balanced ranges and returns when all are done.
 * A NULL pool or size 1 runs fn(ctx, 0, n, 0) on the caller. n <= 0 does nothing. */
void reel_pool_parallel_for(reel_pool *pool, int64_t n, reel_pool_fn fn, void *ctx);

/* Like reel_pool_parallel_for, but in chunks of grain indices (grain <= 0: about 32 chunks a
 * thread): each thread takes the chunks of its own balanced share in order, front to back, so
 * it streams one contiguous range (the hardware prefetcher follows one stream better than
 * jumps between chunks), then takes chunks from the backs of the others' shares until none are
 * left, so a thread slowed by the machine does less of the work. fn is called any number of times
 * per thread and which thread runs an index varies between calls: only for bodies whose results for
 * an index do not depend on the thread. */
void reel_pool_parallel_for_dynamic(reel_pool *pool, int64_t n, int64_t grain, reel_pool_fn fn,
                                    void *ctx);

/* Range [*begin, *end) of part i of n split into parts balanced parts (what parallel_for uses). */
void reel_pool_split(int64_t n, int parts, int i, int64_t *begin, int64_t *end);

/* Number of online CPUs (at least 1). */
int reel_cpu_count(void);

#endif
