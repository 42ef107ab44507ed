/* reel core: allocation helpers and a scratch arena.
 *
 * reel_x*() are for small internal allocations: they abort with a message on OOM.
 * Size-dependent allocations (weights, caches, frames) use reel_aligned_alloc(), which returns
 * NULL and sets REEL_ENOMEM so the caller can fail cleanly.
 */
#ifndef REEL_CORE_ALLOC_H
#define REEL_CORE_ALLOC_H

#include <stddef.h>

/* malloc/calloc/realloc/strdup that abort on failure. Free with free(). */
void *reel_xmalloc(size_t size);
void *reel_xcalloc(size_t n, size_t size);
void *reel_xrealloc(void *p, size_t size);
char *reel_xstrdup(const char *s);
/* printf into a new string (owned by the caller). */
char *reel_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte string, always NUL-terminated once something was added ({0} is empty).
 * Small internal text (JSON, grammars, generated text): appends abort on OOM like reel_x*().
 * The caller owns .p (free it) and may take it over. */
typedef struct reel_strbuf {
    char *p;
    size_t n, cap;
} reel_strbuf;
void reel_strbuf_add(reel_strbuf *b, const void *bytes, size_t n);
void reel_strbuf_str(reel_strbuf *b, const char *s);
void reel_strbuf_printf(reel_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Aligned allocation (alignment a power of two >= sizeof(void *)), zeroed if zero != 0.
 * Returns NULL and sets REEL_ENOMEM naming `what` on failure. Free with reel_aligned_free(). */
void *reel_aligned_alloc(size_t size, size_t alignment, int zero, const char *what);
void reel_aligned_free(void *p);

/* Large zeroed buffers on transparent huge pages (2 MiB): a private anonymous mapping, 2 MiB
 * aligned and advised MADV_HUGEPAGE, so that kernels sweeping many rows of it do not spend
 * their time on page walks. Pages are committed as they are first touched (in 2 MiB steps).
 * Returns NULL and sets REEL_ENOMEM naming `what` on failure. Free with reel_huge_free(). */
void *reel_huge_alloc(size_t size, const char *what);
void reel_huge_free(void *p); /* NULL is a no-op */

/* n*size with overflow check: returns 0 and sets *out on success, REEL_ERANGE on overflow. */
int reel_mul_size(size_t n, size_t size, size_t *out);

/* Arena: bump allocation from 64-byte-aligned blocks, freed as a unit. Per-call scratch. */
typedef struct reel_arena reel_arena;
reel_arena *reel_arena_init(size_t block_size); /* aborts on OOM; block_size 0 = 1 MiB */
void reel_arena_free(reel_arena *a);            /* NULL is a no-op */
/* Returns 64-byte-aligned memory valid until reset/free; NULL (REEL_ENOMEM) if it cannot grow. */
void *reel_arena_alloc(reel_arena *a, size_t size);
void reel_arena_reset(reel_arena *a); /* keeps the first block, drops the others */
size_t reel_arena_used(const reel_arena *a);

#endif
