/* GGUF reader (format: llm/gguf.h), and the typed access to the values it returns.
 *
 * The reader walks the file once with a bounds-checked cursor. Invariant: nothing read from the
 * file is used as a size, count or offset before it has been compared with the bytes that are
 * actually left, so every allocation is bounded by the file size. */
#include "llm/gguf.h"
#include "llm/gguf-impl.h"

#include "core/core.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct reel_gguf {
    char *name;
    reel_file_map map; /* when opened from a file */
    const uint8_t *base;
    size_t size;
    uint32_t version;
    size_t alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    char **keys;             /* [n_kv] */
    reel_gguf_value *values; /* [n_kv] */
    int64_t *key_order;      /* [n_kv] indices sorted by key */
    reel_gguf_tensor *tensors;
    int64_t *name_order; /* [n_tensors] indices sorted by name */
    reel_arena *arena;   /* strings and array items */
};

/* ---- helpers ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} TYPES[REEL_GGUF_TYPE_COUNT] = {
    {"UINT8", 1},  {"INT8", 1},    {"UINT16", 2},  {"INT16", 2},  {"UINT32", 4},
    {"INT32", 4},  {"FLOAT32", 4}, {"BOOL", 1},    {"STRING", 0}, {"ARRAY", 0},
    {"UINT64", 8}, {"INT64", 8},   {"FLOAT64", 8},
};

const char *reel_gguf_type_name(int type)
{
    return type >= 0 && type < REEL_GGUF_TYPE_COUNT ? TYPES[type].name : "?";
}

size_t reel_gguf_type_size(int type)
{
    return type >= 0 && type < REEL_GGUF_TYPE_COUNT ? TYPES[type].size : 0;
}

int reel_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

static uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Decodes one fixed-size element at p into v (type already set). */
static void decode_scalar(reel_gguf_value *v, const uint8_t *p)
{
    uint64_t raw = load_le(p, TYPES[v->type].size);
    switch (v->type) {
    case REEL_GGUF_TYPE_INT8:
        v->i64 = (int8_t)raw;
        break;
    case REEL_GGUF_TYPE_INT16:
        v->i64 = (int16_t)raw;
        break;
    case REEL_GGUF_TYPE_INT32:
        v->i64 = (int32_t)raw;
        break;
    case REEL_GGUF_TYPE_INT64:
        v->i64 = (int64_t)raw;
        break;
    case REEL_GGUF_TYPE_FLOAT32: {
        uint32_t b = (uint32_t)raw;
        float f;
        memcpy(&f, &b, 4);
        v->f64 = f;
        break;
    }
    case REEL_GGUF_TYPE_FLOAT64:
        memcpy(&v->f64, &raw, 8);
        break;
    case REEL_GGUF_TYPE_BOOL:
        v->u64 = raw != 0;
        break;
    default:
        v->u64 = raw;
        break;
    }
}

static int scalar_int(const reel_gguf_value *v, int64_t *out)
{
    switch (v->type) {
    case REEL_GGUF_TYPE_INT8:
    case REEL_GGUF_TYPE_INT16:
    case REEL_GGUF_TYPE_INT32:
    case REEL_GGUF_TYPE_INT64:
        *out = v->i64;
        return 0;
    case REEL_GGUF_TYPE_UINT8:
    case REEL_GGUF_TYPE_UINT16:
    case REEL_GGUF_TYPE_UINT32:
    case REEL_GGUF_TYPE_UINT64:
    case REEL_GGUF_TYPE_BOOL:
        if (v->u64 > INT64_MAX)
            return reel_set_error(REEL_ERANGE, "value %" PRIu64 " is too large", v->u64);
        *out = (int64_t)v->u64;
        return 0;
    default:
        return reel_set_error(REEL_EFORMAT, "expected an integer, found %s",
                              reel_gguf_type_name(v->type));
    }
}

int reel_gguf_value_int(const reel_gguf_value *v, int64_t *out)
{
    return scalar_int(v, out);
}

int reel_gguf_value_float(const reel_gguf_value *v, double *out)
{
    if (v->type == REEL_GGUF_TYPE_FLOAT32 || v->type == REEL_GGUF_TYPE_FLOAT64) {
        *out = v->f64;
        return 0;
    }
    int64_t i = 0;
    if (v->type == REEL_GGUF_TYPE_UINT64) {
        *out = (double)v->u64;
        return 0;
    }
    if (scalar_int(v, &i) < 0)
        return reel_set_error(REEL_EFORMAT, "expected a number, found %s",
                              reel_gguf_type_name(v->type));
    *out = (double)i;
    return 0;
}

static int array_elem(const reel_gguf_value *v, uint64_t j, reel_gguf_value *e)
{
    if (v->type != REEL_GGUF_TYPE_ARRAY)
        return reel_set_error(REEL_EFORMAT, "expected an array, found %s",
                              reel_gguf_type_name(v->type));
    size_t es = reel_gguf_type_size(v->arr_type);
    if (es == 0)
        return reel_set_error(REEL_EFORMAT, "expected an array of numbers, found an array of %s",
                              reel_gguf_type_name(v->arr_type));
    if (j >= v->n) return reel_set_error(REEL_ERANGE, "index %" PRIu64 " past the array", j);
    memset(e, 0, sizeof *e);
    e->type = v->arr_type;
    decode_scalar(e, (const uint8_t *)v->data + j * es);
    return 0;
}

int reel_gguf_array_int(const reel_gguf_value *v, uint64_t j, int64_t *out)
{
    reel_gguf_value e = {0};
    int rc = array_elem(v, j, &e);
    return rc < 0 ? rc : scalar_int(&e, out);
}

int reel_gguf_array_float(const reel_gguf_value *v, uint64_t j, double *out)
{
    reel_gguf_value e = {0};
    int rc = array_elem(v, j, &e);
    return rc < 0 ? rc : reel_gguf_value_float(&e, out);
}

/* ---- reader ----------------------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p;
    size_t size, pos;
    const char *name;
    reel_arena *arena;
    const char *key; /* the key whose value is being read, for messages; NULL otherwise */
} cursor;

static int fail_at(const cursor *c, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(const cursor *c, size_t at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->key)
        return reel_set_error(REEL_EFORMAT, "%s: key '%s': %s, at offset %zu", c->name, c->key, msg,
                              at);
    return reel_set_error(REEL_EFORMAT, "%s: %s, at offset %zu", c->name, msg, at);
}

static size_t left(const cursor *c)
{
    return c->size - c->pos;
}

static int need(cursor *c, size_t n, const char *what)
{
    if (left(c) < n)
        return fail_at(c, c->pos, "file ends inside %s (%zu bytes needed, %zu left)", what, n,
                       left(c));
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
    if (need(c, 4, what) < 0) return REEL_EFORMAT;
    *v = (uint32_t)load_le(c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
    if (need(c, 8, what) < 0) return REEL_EFORMAT;
    *v = load_le(c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

/* Reads a string into an arena copy with a NUL. max: largest length allowed (0 = any). */
static int rd_str(cursor *c, const char **out, uint64_t *len, const char *what, uint64_t max)
{
    size_t at = c->pos;
    uint64_t n;
    if (rd_u64(c, &n, what) < 0) return REEL_EFORMAT;
    if (n > left(c))
        return fail_at(c, at, "%s length %" PRIu64 " exceeds the %zu bytes left in the file", what,
                       n, left(c));
    if (max && n > max)
        return fail_at(c, at, "%s length %" PRIu64 " is over the limit of %" PRIu64, what, n, max);
    char *s = reel_arena_alloc(c->arena, (size_t)n + 1);
    if (!s) return reel_error_prefix("%s", c->name);
    memcpy(s, c->p + c->pos, (size_t)n);
    s[n] = 0;
    c->pos += (size_t)n;
    *out = s;
    *len = n;
    return 0;
}

static int rd_value(cursor *c, reel_gguf_value *v, uint32_t type, int depth);

static int rd_array(cursor *c, reel_gguf_value *v, int depth)
{
    size_t at = c->pos;
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, "an array's element type") < 0) return REEL_EFORMAT;
    if (et >= REEL_GGUF_TYPE_COUNT) return fail_at(c, at, "unknown array element type %u", et);
    if (rd_u64(c, &n, "an array's length") < 0) return REEL_EFORMAT;
    if (et == REEL_GGUF_TYPE_ARRAY && depth >= MAX_NEST)
        return fail_at(c, at, "arrays nested more than %d deep", MAX_NEST);
    /* Smallest encoding of one element: bounds n by the bytes left. */
    size_t min = et == REEL_GGUF_TYPE_STRING ? 8 : et == REEL_GGUF_TYPE_ARRAY ? 12 : TYPES[et].size;
    if (n > left(c) / min)
        return fail_at(c, at, "array of %" PRIu64 " %s values cannot fit in the %zu bytes left", n,
                       TYPES[et].name, left(c));
    v->arr_type = (reel_gguf_type)et;
    v->n = n;
    if (TYPES[et].size) {
        v->data = c->p + c->pos;
        c->pos += (size_t)n * min;
        return 0;
    }
    reel_gguf_value *items = NULL;
    if (n) {
        items = reel_arena_alloc(c->arena, (size_t)n * sizeof *items);
        if (!items) return reel_error_prefix("%s", c->name);
    }
    if (et == REEL_GGUF_TYPE_STRING && n) {
        /* Vocabularies hold ~10^5 short strings: measure them first (checking every length),
         * then copy them all into one block instead of one arena allocation each. */
        size_t save = c->pos, total = 0;
        for (uint64_t j = 0; j < n; j++) {
            size_t at = c->pos;
            uint64_t len;
            if (rd_u64(c, &len, "a string") < 0) return REEL_EFORMAT;
            if (len > left(c))
                return fail_at(c, at,
                               "a string length %" PRIu64 " exceeds the %zu bytes left "
                               "in the file",
                               len, left(c));
            c->pos += (size_t)len;
            total += (size_t)len + 1; /* <= file size + n, no overflow */
        }
        char *blob = reel_arena_alloc(c->arena, total);
        if (!blob) return reel_error_prefix("%s", c->name);
        c->pos = save;
        for (uint64_t j = 0; j < n; j++) {
            size_t len = (size_t)load_le(c->p + c->pos, 8);
            c->pos += 8;
            memcpy(blob, c->p + c->pos, len);
            blob[len] = 0;
            c->pos += len;
            items[j] = (reel_gguf_value){.type = REEL_GGUF_TYPE_STRING, .n = len, .str = blob};
            blob += len + 1;
        }
        v->items = items;
        return 0;
    }
    for (uint64_t j = 0; j < n; j++) {
        memset(&items[j], 0, sizeof items[j]);
        int rc = rd_value(c, &items[j], et, depth + 1);
        if (rc < 0) return rc;
    }
    v->items = items;
    return 0;
}

static int rd_value(cursor *c, reel_gguf_value *v, uint32_t type, int depth)
{
    v->type = (reel_gguf_type)type;
    if (type == REEL_GGUF_TYPE_STRING) return rd_str(c, &v->str, &v->n, "a string", 0);
    if (type == REEL_GGUF_TYPE_ARRAY) return rd_array(c, v, depth);
    size_t sz = TYPES[type].size;
    char what[32];
    snprintf(what, sizeof what, "a %s value", TYPES[type].name);
    if (need(c, sz, what) < 0) return REEL_EFORMAT;
    decode_scalar(v, c->p + c->pos);
    c->pos += sz;
    return 0;
}

static const reel_gguf *sort_ctx;

static int cmp_key(const void *a, const void *b)
{
    return strcmp(sort_ctx->keys[*(const int64_t *)a], sort_ctx->keys[*(const int64_t *)b]);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(sort_ctx->tensors[*(const int64_t *)a].name,
                  sort_ctx->tensors[*(const int64_t *)b].name);
}

static int cmp_offset(const void *a, const void *b)
{
    uint64_t x = sort_ctx->tensors[*(const int64_t *)a].offset;
    uint64_t y = sort_ctx->tensors[*(const int64_t *)b].offset;
    return x < y ? -1 : x > y;
}

/* qsort has no context argument; sorting runs under this lock. */
static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static void sorted_index(const reel_gguf *g, int64_t *idx, int64_t n,
                         int (*cmp)(const void *, const void *))
{
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    pthread_mutex_lock(&sort_lock);
    sort_ctx = g;
    qsort(idx, (size_t)n, sizeof *idx, cmp);
    sort_ctx = NULL;
    pthread_mutex_unlock(&sort_lock);
}

static int rd_tensor_info(cursor *c, reel_gguf_tensor *t)
{
    size_t at = c->pos;
    uint64_t len;
    if (rd_str(c, &t->name, &len, "a tensor name", MAX_NAME_LEN) < 0) return REEL_EFORMAT;
    if (len == 0) return fail_at(c, at, "empty tensor name");
    if (!reel_utf8_valid(t->name, len) || strlen(t->name) != len)
        return fail_at(c, at, "tensor name is not valid UTF-8");
    uint32_t nd;
    at = c->pos;
    if (rd_u32(c, &nd, "a tensor's dimension count") < 0) return REEL_EFORMAT;
    if (nd < 1 || nd > REEL_GGUF_MAX_DIMS)
        return fail_at(c, at, "tensor '%s': %u dimensions (1 to %d allowed)", t->name, nd,
                       REEL_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int d = 0; d < REEL_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    uint64_t total = 1;
    for (uint32_t d = 0; d < nd; d++) {
        at = c->pos;
        uint64_t ne;
        if (rd_u64(c, &ne, "a tensor's dimensions") < 0) return REEL_EFORMAT;
        if (ne == 0 || ne > INT64_MAX / total)
            return fail_at(c, at, "tensor '%s': dimension %u is %" PRIu64 " (out of range)",
                           t->name, d, ne);
        total *= ne;
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    at = c->pos;
    if (rd_u32(c, &type, "a tensor's type") < 0) return REEL_EFORMAT;
    if (!reel_dtype_name((int)type))
        return fail_at(c, at, "tensor '%s': unknown type id %u", t->name, type);
    t->type = (reel_dtype)type;
    size_t row = reel_dtype_row_bytes((int)type, t->ne[0]);
    if (row == 0)
        return fail_at(c, at,
                       "tensor '%s': row of %" PRId64 " elements is not a whole number of "
                       "%s blocks (%d)",
                       t->name, t->ne[0], reel_dtype_name((int)type), reel_dtype_block((int)type));
    uint64_t rows = total / (uint64_t)t->ne[0];
    if (rows > SIZE_MAX / row) return fail_at(c, at, "tensor '%s': size overflows", t->name);
    t->nbytes = row * (size_t)rows;
    if (rd_u64(c, &t->offset, "a tensor's offset") < 0) return REEL_EFORMAT;
    return 0;
}

static reel_gguf *parse(reel_gguf *g)
{
    cursor c = {g->base, g->size, 0, g->name, g->arena, NULL};
    /* header */
    if (g->size < 4 || memcmp(g->base, REEL_GGUF_MAGIC, 4) != 0) {
        if (g->size < 4)
            fail_at(&c, 0, "not a GGUF file (%zu bytes, too short for the magic)", g->size);
        else
            fail_at(&c, 0, "not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")",
                    g->base[0], g->base[1], g->base[2], g->base[3]);
        goto fail;
    }
    c.pos = 4;
    if (rd_u32(&c, &g->version, "the version") < 0) goto fail;
    if (g->version != 2 && g->version != 3) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s: GGUF version %u is not supported (2 and 3 are), "
                       "at offset 4",
                       g->name, g->version);
        goto fail;
    }
    uint64_t nt, nkv;
    size_t at_nt = c.pos;
    if (rd_u64(&c, &nt, "the tensor count") < 0) goto fail;
    size_t at_nkv = c.pos;
    if (rd_u64(&c, &nkv, "the metadata count") < 0) goto fail;
    /* A key needs >= 13 bytes (8 length, 4 type, 1 value), a tensor info >= 33. */
    if (nkv > left(&c) / 13) {
        fail_at(&c, at_nkv, "metadata count %" PRIu64 " cannot fit in the %zu bytes left", nkv,
                left(&c));
        goto fail;
    }
    if (nt > left(&c) / 33) {
        fail_at(&c, at_nt, "tensor count %" PRIu64 " cannot fit in the %zu bytes left", nt,
                left(&c));
        goto fail;
    }
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    g->keys = reel_xcalloc(nkv ? nkv : 1, sizeof *g->keys);
    g->values = reel_xcalloc(nkv ? nkv : 1, sizeof *g->values);
    g->key_order = reel_xcalloc(nkv ? nkv : 1, sizeof *g->key_order);
    g->tensors = reel_xcalloc(nt ? nt : 1, sizeof *g->tensors);
    g->name_order = reel_xcalloc(nt ? nt : 1, sizeof *g->name_order);

    /* metadata */
    g->alignment = REEL_GGUF_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < g->n_kv; i++) {
        size_t at = c.pos;
        const char *key;
        uint64_t len;
        if (rd_str(&c, &key, &len, "a key", MAX_KEY_LEN) < 0) goto fail;
        if (len == 0) {
            fail_at(&c, at, "empty metadata key");
            goto fail;
        }
        if (!reel_utf8_valid(key, len) || strlen(key) != len) {
            fail_at(&c, at, "metadata key #%" PRId64 " is not valid UTF-8", i);
            goto fail;
        }
        g->keys[i] = (char *)key;
        uint32_t type;
        size_t at_type = c.pos;
        if (rd_u32(&c, &type, "a value type") < 0) goto fail;
        if (type >= REEL_GGUF_TYPE_COUNT) {
            fail_at(&c, at_type, "key '%s': unknown value type %u", key, type);
            goto fail;
        }
        c.key = key;
        if (rd_value(&c, &g->values[i], type, 0) < 0) goto fail;
        c.key = NULL;
        if (strcmp(key, "general.alignment") == 0) {
            const reel_gguf_value *v = &g->values[i];
            if (v->type != REEL_GGUF_TYPE_UINT32 || v->u64 == 0 || (v->u64 & (v->u64 - 1))) {
                fail_at(&c, at, "general.alignment must be a UINT32 power of two");
                goto fail;
            }
            g->alignment = (size_t)v->u64;
        }
    }
    sorted_index(g, g->key_order, g->n_kv, cmp_key);
    for (int64_t i = 1; i < g->n_kv; i++)
        if (strcmp(g->keys[g->key_order[i - 1]], g->keys[g->key_order[i]]) == 0) {
            reel_set_error(REEL_EFORMAT, "%s: duplicate metadata key '%s'", g->name,
                           g->keys[g->key_order[i]]);
            goto fail;
        }

    /* tensor infos */
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (rd_tensor_info(&c, &g->tensors[i]) < 0) goto fail;
    sorted_index(g, g->name_order, g->n_tensors, cmp_name);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (strcmp(g->tensors[g->name_order[i - 1]].name, g->tensors[g->name_order[i]].name) == 0) {
            reel_set_error(REEL_EFORMAT, "%s: tensor '%s': duplicate name", g->name,
                           g->tensors[g->name_order[i]].name);
            goto fail;
        }

    /* data section */
    uint64_t ds = ((uint64_t)c.pos + g->alignment - 1) / g->alignment * g->alignment;
    g->data_offset = ds;
    if (g->n_tensors > 0 && ds > g->size) {
        fail_at(&c, c.pos, "file ends before the data section (expected at offset %" PRIu64 ")",
                ds);
        goto fail;
    }
    uint64_t data_size = ds <= g->size ? g->size - ds : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        reel_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment) {
            reel_set_error(REEL_EFORMAT,
                           "%s: tensor '%s': data offset %" PRIu64
                           " is not a multiple of the alignment %zu",
                           g->name, t->name, t->offset, g->alignment);
            goto fail;
        }
        if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            reel_set_error(REEL_EFORMAT,
                           "%s: tensor '%s': data (%zu bytes at offset %" PRIu64
                           ") lies past the end of the file (%zu bytes)",
                           g->name, t->name, t->nbytes, ds + t->offset, g->size);
            goto fail;
        }
        t->data = g->base + ds + t->offset;
    }
    /* Overlap: sort by offset (reusing key_order's space would alias; use a temporary). */
    if (g->n_tensors > 1) {
        int64_t *by_off = reel_xmalloc((size_t)g->n_tensors * sizeof *by_off);
        sorted_index(g, by_off, g->n_tensors, cmp_offset);
        for (int64_t i = 1; i < g->n_tensors; i++) {
            const reel_gguf_tensor *a = &g->tensors[by_off[i - 1]], *b = &g->tensors[by_off[i]];
            if (a->offset + a->nbytes > b->offset) {
                reel_set_error(REEL_EFORMAT, "%s: tensor '%s': data overlaps tensor '%s'", g->name,
                               b->name, a->name);
                free(by_off);
                goto fail;
            }
        }
        free(by_off);
    }
    return g;
fail:
    reel_gguf_free(g);
    return NULL;
}

static reel_gguf *new_reader(const char *name)
{
    reel_gguf *g = reel_xcalloc(1, sizeof *g);
    g->name = reel_xstrdup(name);
    g->arena = reel_arena_init(0);
    return g;
}

reel_gguf *reel_gguf_open_memory(const void *data, size_t size, const char *name)
{
    reel_gguf *g = new_reader(name ? name : "gguf");
    g->base = data;
    g->size = size;
    return parse(g);
}

reel_gguf *reel_gguf_open(const char *path)
{
    reel_gguf *g = new_reader(path);
    if (reel_file_map_open(&g->map, path) < 0) {
        reel_gguf_free(g);
        return NULL;
    }
    g->base = g->map.data;
    g->size = g->map.size;
    return parse(g);
}

void reel_gguf_free(reel_gguf *g)
{
    if (!g) return;
    reel_file_map_close(&g->map);
    reel_arena_free(g->arena);
    free(g->keys);
    free(g->values);
    free(g->key_order);
    free(g->tensors);
    free(g->name_order);
    free(g->name);
    free(g);
}

uint32_t reel_gguf_version(const reel_gguf *g)
{
    return g->version;
}

size_t reel_gguf_alignment(const reel_gguf *g)
{
    return g->alignment;
}

uint64_t reel_gguf_data_offset(const reel_gguf *g)
{
    return g->data_offset;
}

size_t reel_gguf_size(const reel_gguf *g)
{
    return g->size;
}

int64_t reel_gguf_n_kv(const reel_gguf *g)
{
    return g->n_kv;
}

const char *reel_gguf_kv_key(const reel_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->keys[i] : NULL;
}

const reel_gguf_value *reel_gguf_kv_value(const reel_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? &g->values[i] : NULL;
}

const reel_gguf_value *reel_gguf_find(const reel_gguf *g, const char *key)
{
    int64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->keys[g->key_order[mid]], key);
        if (c == 0) return &g->values[g->key_order[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int64_t reel_gguf_n_tensors(const reel_gguf *g)
{
    return g->n_tensors;
}

const reel_gguf_tensor *reel_gguf_tensor_at(const reel_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const reel_gguf_tensor *reel_gguf_tensor_find(const reel_gguf *g, const char *name)
{
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->tensors[g->name_order[mid]].name, name);
        if (c == 0) return &g->tensors[g->name_order[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
