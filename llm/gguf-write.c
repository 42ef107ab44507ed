/* GGUF writer (format: llm/gguf.h): metadata and tensors collected in memory, then written out
 * with the header first and the tensor data aligned after it. */
#include "llm/gguf.h"
#include "llm/gguf-impl.h"

#include "core/core.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *data, size_t n)
{
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) cap *= 2;
        b->p = reel_xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void buf_le(buf *b, uint64_t v, size_t n)
{
    uint8_t t[8];
    for (size_t i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    buf_put(b, t, n);
}

static void buf_str(buf *b, const char *s, size_t n)
{
    buf_le(b, n, 8);
    buf_put(b, s, n);
}

typedef struct wtensor {
    char *name;
    reel_dtype type;
    int n_dims;
    int64_t ne[REEL_GGUF_MAX_DIMS];
    const void *data; /* or NULL with fill: produced while writing */
    size_t nbytes;
    reel_gguf_fill_fn fill;
    void *fill_ctx;
} wtensor;

struct reel_gguf_writer {
    buf kv; /* serialised metadata pairs */
    uint64_t n_kv;
    char **keys;
    wtensor *tensors;
    size_t n_tensors;
    size_t alignment;
};

reel_gguf_writer *reel_gguf_writer_init(void)
{
    reel_gguf_writer *w = reel_xcalloc(1, sizeof *w);
    w->alignment = REEL_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void reel_gguf_writer_free(reel_gguf_writer *w)
{
    if (!w) return;
    free(w->kv.p);
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w);
}

/* Serialises a value's payload (after its type id). */
static int put_value(buf *b, const reel_gguf_value *v, int depth)
{
    if ((unsigned)v->type >= REEL_GGUF_TYPE_COUNT)
        return reel_set_error(REEL_EINVAL, "gguf writer: unknown value type %d", (int)v->type);
    switch (v->type) {
    case REEL_GGUF_TYPE_STRING:
        if (!v->str && v->n) return reel_set_error(REEL_EINVAL, "gguf writer: NULL string");
        buf_str(b, v->str, (size_t)v->n);
        return 0;
    case REEL_GGUF_TYPE_ARRAY: {
        if ((unsigned)v->arr_type >= REEL_GGUF_TYPE_COUNT || depth >= MAX_NEST)
            return reel_set_error(REEL_EINVAL, "gguf writer: bad array element type or nesting");
        buf_le(b, (uint64_t)v->arr_type, 4);
        buf_le(b, v->n, 8);
        size_t es = reel_gguf_type_size(v->arr_type);
        if (es) {
            if (v->n > SIZE_MAX / es)
                return reel_set_error(REEL_EINVAL, "gguf writer: array too large");
            buf_put(b, v->data, (size_t)v->n * es);
            return 0;
        }
        for (uint64_t j = 0; j < v->n; j++) {
            if (v->items[j].type != v->arr_type)
                return reel_set_error(
                    REEL_EINVAL, "gguf writer: array item %" PRIu64 " is %s, the array holds %s", j,
                    reel_gguf_type_name(v->items[j].type), reel_gguf_type_name(v->arr_type));
            int rc = put_value(b, &v->items[j], depth + 1);
            if (rc < 0) return rc;
        }
        return 0;
    }
    case REEL_GGUF_TYPE_FLOAT32: {
        float f = (float)v->f64;
        uint32_t u;
        memcpy(&u, &f, 4);
        buf_le(b, u, 4);
        return 0;
    }
    case REEL_GGUF_TYPE_FLOAT64: {
        uint64_t u;
        memcpy(&u, &v->f64, 8);
        buf_le(b, u, 8);
        return 0;
    }
    default:
        /* integers: i64 and u64 share their bits, so the low bytes are the value either way */
        buf_le(b, v->u64, reel_gguf_type_size(v->type));
        return 0;
    }
}

int reel_gguf_writer_set(reel_gguf_writer *w, const char *key, const reel_gguf_value *v)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > MAX_KEY_LEN || !reel_utf8_valid(key, klen))
        return reel_set_error(REEL_EINVAL, "gguf writer: invalid key '%s'", key);
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return reel_set_error(REEL_EINVAL, "gguf writer: duplicate key '%s'", key);
    if (strcmp(key, "general.alignment") == 0) {
        if (v->type != REEL_GGUF_TYPE_UINT32 || v->u64 == 0 || (v->u64 & (v->u64 - 1)))
            return reel_set_error(REEL_EINVAL,
                                  "gguf writer: general.alignment must be a UINT32 power of two");
        w->alignment = (size_t)v->u64;
    }
    size_t mark = w->kv.n;
    buf_str(&w->kv, key, klen);
    buf_le(&w->kv, (uint64_t)v->type, 4);
    int rc = put_value(&w->kv, v, 0);
    if (rc < 0) {
        w->kv.n = mark;
        return rc;
    }
    w->keys = reel_xrealloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *w->keys);
    w->keys[w->n_kv++] = reel_xstrdup(key);
    return 0;
}

int reel_gguf_writer_set_u32(reel_gguf_writer *w, const char *key, uint32_t x)
{
    reel_gguf_value v = {.type = REEL_GGUF_TYPE_UINT32, .u64 = x};
    return reel_gguf_writer_set(w, key, &v);
}

int reel_gguf_writer_set_i32(reel_gguf_writer *w, const char *key, int32_t x)
{
    reel_gguf_value v = {.type = REEL_GGUF_TYPE_INT32, .i64 = x};
    return reel_gguf_writer_set(w, key, &v);
}

int reel_gguf_writer_set_u64(reel_gguf_writer *w, const char *key, uint64_t x)
{
    reel_gguf_value v = {.type = REEL_GGUF_TYPE_UINT64, .u64 = x};
    return reel_gguf_writer_set(w, key, &v);
}

int reel_gguf_writer_set_f32(reel_gguf_writer *w, const char *key, float x)
{
    reel_gguf_value v = {.type = REEL_GGUF_TYPE_FLOAT32, .f64 = x};
    return reel_gguf_writer_set(w, key, &v);
}

int reel_gguf_writer_set_bool(reel_gguf_writer *w, const char *key, int x)
{
    reel_gguf_value v = {.type = REEL_GGUF_TYPE_BOOL, .u64 = x != 0};
    return reel_gguf_writer_set(w, key, &v);
}

int reel_gguf_writer_set_str(reel_gguf_writer *w, const char *key, const char *s)
{
    reel_gguf_value v = {.type = REEL_GGUF_TYPE_STRING, .n = strlen(s), .str = s};
    return reel_gguf_writer_set(w, key, &v);
}

int reel_gguf_writer_set_array(reel_gguf_writer *w, const char *key, reel_gguf_type elem,
                               const void *data, uint64_t n)
{
    if (reel_gguf_type_size(elem) == 0)
        return reel_set_error(REEL_EINVAL, "gguf writer: '%s': %s is not a fixed-size type", key,
                              reel_gguf_type_name(elem));
    reel_gguf_value v = {.type = REEL_GGUF_TYPE_ARRAY, .arr_type = elem, .n = n, .data = data};
    return reel_gguf_writer_set(w, key, &v);
}

int reel_gguf_writer_set_array_str(reel_gguf_writer *w, const char *key, const char *const *strs,
                                   uint64_t n)
{
    reel_gguf_value *items = reel_xcalloc(n ? (size_t)n : 1, sizeof *items);
    for (uint64_t j = 0; j < n; j++) {
        items[j].type = REEL_GGUF_TYPE_STRING;
        items[j].str = strs[j];
        items[j].n = strlen(strs[j]);
    }
    reel_gguf_value v = {
        .type = REEL_GGUF_TYPE_ARRAY, .arr_type = REEL_GGUF_TYPE_STRING, .n = n, .items = items};
    int rc = reel_gguf_writer_set(w, key, &v);
    free(items);
    return rc;
}

static int add_tensor(reel_gguf_writer *w, const char *name, reel_dtype type, int n_dims,
                      const int64_t *ne, const void *data, size_t nbytes, reel_gguf_fill_fn fill,
                      void *fill_ctx)
{
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME_LEN || !reel_utf8_valid(name, len))
        return reel_set_error(REEL_EINVAL, "gguf writer: invalid tensor name '%s'", name);
    if (n_dims < 1 || n_dims > REEL_GGUF_MAX_DIMS)
        return reel_set_error(REEL_EINVAL, "gguf writer: tensor '%s': %d dimensions", name, n_dims);
    if (!reel_dtype_name(type))
        return reel_set_error(REEL_EINVAL, "gguf writer: tensor '%s': unknown type id %d", name,
                              (int)type);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return reel_set_error(REEL_EINVAL, "gguf writer: duplicate tensor '%s'", name);
    wtensor t = {.type = type,
                 .n_dims = n_dims,
                 .data = data,
                 .nbytes = nbytes,
                 .fill = fill,
                 .fill_ctx = fill_ctx};
    uint64_t rows = 1;
    for (int d = 0; d < REEL_GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 1)
            return reel_set_error(REEL_EINVAL, "gguf writer: tensor '%s': dimension %d is %" PRId64,
                                  name, d, t.ne[d]);
        if (d > 0) rows *= (uint64_t)t.ne[d];
    }
    size_t row = reel_dtype_row_bytes(type, t.ne[0]);
    if (row == 0 || rows * row != nbytes)
        return reel_set_error(REEL_EINVAL,
                              "gguf writer: tensor '%s': %zu bytes given, shape and "
                              "type need %" PRIu64,
                              name, nbytes, rows * row);
    t.name = reel_xstrdup(name);
    w->tensors = reel_xrealloc(w->tensors, (w->n_tensors + 1) * sizeof *w->tensors);
    w->tensors[w->n_tensors++] = t;
    return 0;
}

int reel_gguf_writer_add_tensor(reel_gguf_writer *w, const char *name, reel_dtype type, int n_dims,
                                const int64_t *ne, const void *data, size_t nbytes)
{
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, NULL, NULL);
}

int reel_gguf_writer_add_tensor_fill(reel_gguf_writer *w, const char *name, reel_dtype type,
                                     int n_dims, const int64_t *ne, size_t nbytes,
                                     reel_gguf_fill_fn fill, void *ctx)
{
    if (!fill)
        return reel_set_error(REEL_EINVAL, "gguf writer: tensor '%s': no fill function", name);
    return add_tensor(w, name, type, n_dims, ne, NULL, nbytes, fill, ctx);
}

static size_t pad_to(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* Everything up to the data section, padded to the alignment. */
static void build_head(const reel_gguf_writer *w, buf *h)
{
    buf_put(h, REEL_GGUF_MAGIC, 4);
    buf_le(h, REEL_GGUF_VERSION, 4);
    buf_le(h, w->n_tensors, 8);
    buf_le(h, w->n_kv, 8);
    buf_put(h, w->kv.p, w->kv.n);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        buf_str(h, t->name, strlen(t->name));
        buf_le(h, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) buf_le(h, (uint64_t)t->ne[d], 8);
        buf_le(h, (uint64_t)t->type, 4);
        buf_le(h, off, 8);
        off = pad_to(off + t->nbytes, w->alignment);
    }
    static const uint8_t zeros[64];
    while (h->n % w->alignment) {
        size_t k = w->alignment - h->n % w->alignment;
        buf_put(h, zeros, k < sizeof zeros ? k : sizeof zeros);
    }
}

static int emit(const reel_gguf_writer *w, FILE *fp, const char *where)
{
    buf h = {0};
    build_head(w, &h);
    int ok = fwrite(h.p, 1, h.n, fp) == h.n;
    free(h.p);
    static const uint8_t zeros[256];
    for (size_t i = 0; ok && i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        if (t->fill) { /* produced now, written, dropped: one such tensor in memory at a time */
            uint8_t *p = malloc(t->nbytes ? t->nbytes : 1);
            if (!p)
                return reel_set_error(REEL_ENOMEM, "%s: no memory for tensor '%s' (%zu bytes)",
                                      where, t->name, t->nbytes);
            int rc = t->fill(t->fill_ctx, t->name, p, t->nbytes);
            if (rc == 0 && t->nbytes) ok = fwrite(p, 1, t->nbytes, fp) == t->nbytes;
            free(p);
            if (rc < 0) return rc;
        } else if (t->nbytes) {
            ok = fwrite(t->data, 1, t->nbytes, fp) == t->nbytes;
        }
        size_t pad = pad_to(t->nbytes, w->alignment) - t->nbytes;
        while (ok && pad) {
            size_t k = pad < sizeof zeros ? pad : sizeof zeros;
            ok = fwrite(zeros, 1, k, fp) == k;
            pad -= k;
        }
    }
    if (!ok) return reel_set_error_errno("%s: write", where);
    return 0;
}

int reel_gguf_writer_write(reel_gguf_writer *w, const char *path)
{
    reel_afile af;
    int rc = reel_afile_open(&af, path);
    if (rc < 0) return rc;
    rc = emit(w, af.fp, path);
    if (rc < 0) {
        reel_afile_abort(&af);
        return rc;
    }
    return reel_afile_commit(&af);
}

int reel_gguf_writer_write_memory(reel_gguf_writer *w, uint8_t **out, size_t *size)
{
    char *p = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&p, &n);
    if (!fp) return reel_set_error_errno("gguf writer: open_memstream");
    int rc = emit(w, fp, "gguf writer");
    if (fclose(fp) != 0 && rc == 0) rc = reel_set_error_errno("gguf writer: memory stream");
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = (uint8_t *)p;
    *size = n;
    return 0;
}
