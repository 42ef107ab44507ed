#include "core/alloc.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static _Noreturn void oom(size_t size)
{
    fprintf(stderr, "reel: out of memory allocating %zu bytes\n", size);
    abort();
}

void *reel_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) oom(size);
    return p;
}

void *reel_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *reel_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) oom(size);
    return q;
}

char *reel_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(reel_xmalloc(n), s, n);
}

char *reel_xasprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = reel_xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void reel_strbuf_add(reel_strbuf *b, const void *bytes, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap) cap *= 2;
        b->p = reel_xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, bytes, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void reel_strbuf_str(reel_strbuf *b, const char *s)
{
    reel_strbuf_add(b, s, strlen(s));
}

void reel_strbuf_printf(reel_strbuf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    reel_strbuf_add(b, "", 0); /* room for the terminator when n == 0 */
    if (b->n + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap;
        while (b->n + (size_t)n + 1 > cap) cap *= 2;
        b->p = reel_xrealloc(b->p, cap);
        b->cap = cap;
    }
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->n += (size_t)n;
}

void *reel_aligned_alloc(size_t size, size_t alignment, int zero, const char *what)
{
    void *p = NULL;
    if (alignment < sizeof(void *)) alignment = sizeof(void *);
    if (posix_memalign(&p, alignment, size ? size : 1) != 0) {
        reel_set_error(REEL_ENOMEM, "%s: cannot allocate %zu bytes", what ? what : "memory", size);
        return NULL;
    }
    if (zero) memset(p, 0, size);
    return p;
}

void reel_aligned_free(void *p)
{
    free(p);
}

/* Layout: [unmapped head][header page: mapping start, length][data, 2 MiB aligned][tail]. The
 * header page lies outside the advised range, so it stays one small page. */
static size_t page_size(void)
{
    const long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

void *reel_huge_alloc(size_t size, const char *what)
{
    const size_t huge = (size_t)2 << 20, page = page_size();
    const size_t data = size ? (size + huge - 1) / huge * huge : huge;
    if (data < size || data > SIZE_MAX - 2 * huge) {
        reel_set_error(REEL_ENOMEM, "%s: cannot allocate %zu bytes", what ? what : "memory", size);
        return NULL;
    }
    uint8_t *b = mmap(NULL, data + 2 * huge, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (b == MAP_FAILED) {
        reel_set_error(REEL_ENOMEM, "%s: cannot allocate %zu bytes", what ? what : "memory", size);
        return NULL;
    }
    /* the first 2 MiB boundary with a page before it */
    uint8_t *a = (uint8_t *)(((uintptr_t)b + page + huge - 1) & ~(uintptr_t)(huge - 1));
    uint8_t *start = a - page, *end = b + data + 2 * huge;
    if (start > b) munmap(b, (size_t)(start - b));
    if (a + data < end) munmap(a + data, (size_t)(end - (a + data)));
#if defined(MADV_HUGEPAGE)
    (void)madvise(a, data, MADV_HUGEPAGE);
#endif
    const size_t hdr[2] = {(size_t)(uintptr_t)start, page + data};
    memcpy(start, hdr, sizeof hdr);
    return a;
}

void reel_huge_free(void *p)
{
    if (!p) return;
    size_t hdr[2];
    memcpy(hdr, (uint8_t *)p - page_size(), sizeof hdr);
    munmap((void *)(uintptr_t)hdr[0], hdr[1]);
}

int reel_mul_size(size_t n, size_t size, size_t *out)
{
    if (size && n > SIZE_MAX / size) return REEL_ERANGE;
    *out = n * size;
    return 0;
}

/* ---- arena ---- */

typedef struct block {
    struct block *next;
    size_t size, used;
    _Alignas(64) unsigned char data[];
} block;

struct reel_arena {
    block *head; /* current block; older blocks follow via next */
    size_t block_size;
    size_t total_used;
};

static block *block_new(size_t size)
{
    block *b = reel_aligned_alloc(sizeof(block) + size, 64, 0, "arena block");
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

reel_arena *reel_arena_init(size_t block_size)
{
    reel_arena *a = reel_xcalloc(1, sizeof *a);
    a->block_size = block_size ? block_size : (1u << 20);
    a->head = block_new(a->block_size);
    if (!a->head) oom(a->block_size);
    return a;
}

void reel_arena_free(reel_arena *a)
{
    if (!a) return;
    for (block *b = a->head, *n; b; b = n) {
        n = b->next;
        reel_aligned_free(b);
    }
    free(a);
}

void *reel_arena_alloc(reel_arena *a, size_t size)
{
    size_t need = (size + 63) & ~(size_t)63;
    if (need < size) {
        reel_set_error(REEL_ENOMEM, "arena: size %zu overflows", size);
        return NULL;
    }
    block *b = a->head;
    if (b->size - b->used < need) {
        size_t bs = need > a->block_size ? need : a->block_size;
        block *nb = block_new(bs);
        if (!nb) return NULL;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total_used += need;
    return p;
}

void reel_arena_reset(reel_arena *a)
{
    block *b = a->head;
    while (b->next) {
        block *n = b->next;
        reel_aligned_free(b);
        b = n;
    }
    a->head = b;
    b->used = 0;
    a->total_used = 0;
}

size_t reel_arena_used(const reel_arena *a)
{
    return a->total_used;
}
