/* safetensors reader.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data. The JSON maps each
 * tensor name to {"dtype": "BF16", "shape": [out, in], "data_offsets": [begin, end]} (offsets
 * relative to the data, end exclusive) and may hold "__metadata__" (strings). Every number is
 * checked against the file before use; a tensor whose dtype reel cannot compute keeps its
 * dtype name so the caller can name it in an error. */
#include "llm/model-impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int dtype; /* reel_dtype or -1 */
    int size;
} DTYPES[] = {
    {"F32", REEL_DTYPE_F32, 4},
    {"F16", REEL_DTYPE_F16, 2},
    {"BF16", REEL_DTYPE_BF16, 2},
    {"F64", REEL_DTYPE_F64, 8},
    {"I8", REEL_DTYPE_I8, 1},
    {"I16", REEL_DTYPE_I16, 2},
    {"I32", REEL_DTYPE_I32, 4},
    {"I64", REEL_DTYPE_I64, 8},
    {"U8", -1, 1},
    {"U16", -1, 2},
    {"U32", -1, 4},
    {"U64", -1, 8},
    {"BOOL", -1, 1},
    {"F8_E4M3", -1, 1},
    {"F8_E5M2", -1, 1},
};

void reeli_st_close(reeli_st_file *f)
{
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    reel_file_map_close(&f->map);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int cmp_begin(const void *a, const void *b)
{
    const reeli_st_tensor *x = *(const reeli_st_tensor *const *)a;
    const reeli_st_tensor *y = *(const reeli_st_tensor *const *)b;
    uintptr_t p = (uintptr_t)x->data, q = (uintptr_t)y->data;
    return p < q ? -1 : p > q;
}

/* A JSON integer in [0, max], else -1. */
static int64_t json_uint(const json_t *v, int64_t max)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    return x < 0 || x > max ? -1 : (int64_t)x;
}

static int parse_tensor(reeli_st_tensor *t, const char *key, json_t *info, const uint8_t *data,
                        uint64_t data_size, const char *name)
{
    t->name = reel_xstrdup(key);
    if (!json_is_object(info))
        return reel_set_error(REEL_EFORMAT, "%s: tensor '%s': header entry is not an object", name,
                              key);
    json_t *dt = json_object_get(info, "dtype"), *sh = json_object_get(info, "shape"),
           *off = json_object_get(info, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) ||
        json_array_size(off) != 2)
        return reel_set_error(REEL_EFORMAT,
                              "%s: tensor '%s': needs \"dtype\" (string), \"shape\" "
                              "(array) and \"data_offsets\" ([begin, end])",
                              name, key);
    const char *dn = json_string_value(dt);
    int esize = 0;
    t->dtype = -1;
    for (size_t i = 0; i < sizeof DTYPES / sizeof *DTYPES; i++)
        if (strcmp(DTYPES[i].name, dn) == 0) {
            t->dtype = DTYPES[i].dtype;
            esize = DTYPES[i].size;
        }
    if (!esize)
        return reel_set_error(REEL_EFORMAT, "%s: tensor '%s': unknown dtype '%.32s'", name, key,
                              dn);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dn);
    size_t nd = json_array_size(sh);
    if (nd > REELI_ST_MAX_DIMS)
        return reel_set_error(REEL_EFORMAT, "%s: tensor '%s': %zu dimensions (at most %d)", name,
                              key, nd, REELI_ST_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t n = 1;
    for (size_t i = 0; i < nd; i++) {
        int64_t x = json_uint(json_array_get(sh, i), INT64_MAX);
        if (x < 0)
            return reel_set_error(REEL_EFORMAT,
                                  "%s: tensor '%s': shape[%zu] is not a "
                                  "non-negative integer",
                                  name, key, i);
        t->shape[i] = x;
        if (x && n > UINT64_MAX / (uint64_t)x)
            return reel_set_error(REEL_EFORMAT, "%s: tensor '%s': shape overflows", name, key);
        n *= (uint64_t)x;
    }
    int64_t b = json_uint(json_array_get(off, 0), INT64_MAX),
            e = json_uint(json_array_get(off, 1), INT64_MAX);
    if (b < 0 || e < b)
        return reel_set_error(REEL_EFORMAT,
                              "%s: tensor '%s': data_offsets are not [begin, end] "
                              "with 0 <= begin <= end",
                              name, key);
    if ((uint64_t)e > data_size)
        return reel_set_error(REEL_EFORMAT,
                              "%s: tensor '%s': data (bytes %" PRId64 "..%" PRId64
                              ") lies past the end of the data (%" PRIu64 " bytes)",
                              name, key, b, e, data_size);
    if (n > UINT64_MAX / (uint64_t)esize || n * (uint64_t)esize != (uint64_t)(e - b))
        return reel_set_error(REEL_EFORMAT,
                              "%s: tensor '%s': %" PRId64 " data bytes do not match "
                              "the shape and dtype %s",
                              name, key, e - b, dn);
    t->data = data + b;
    t->nbytes = (size_t)(e - b);
    return 0;
}

int reeli_st_parse(reeli_st_file *f, const void *data, size_t size, const char *name)
{
    const uint8_t *p = data;
    if (size < 8)
        return reel_set_error(REEL_EFORMAT, "%s: not a safetensors file (%zu bytes)", name, size);
    uint64_t hn = 0;
    for (int i = 0; i < 8; i++) hn |= (uint64_t)p[i] << (8 * i);
    if (hn > size - 8)
        return reel_set_error(REEL_EFORMAT,
                              "%s: header length %" PRIu64 " exceeds the file "
                              "(%zu bytes), at offset 0",
                              name, hn, size);
    if (hn > REELI_ST_MAX_HEADER)
        return reel_set_error(REEL_EFORMAT,
                              "%s: header length %" PRIu64 " is over the 100 MiB "
                              "limit, at offset 0",
                              name, hn);
    if (hn < 2 || p[8] != '{')
        return reel_set_error(REEL_EFORMAT,
                              "%s: not a safetensors file (the header is not a JSON "
                              "object), at offset 8",
                              name);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hn, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return reel_set_error(REEL_EFORMAT, "%s: header JSON: %s, at offset %d", name, jerr.text,
                              8 + jerr.position);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = reel_set_error(REEL_EFORMAT, "%s: header is not a JSON object", name);
        goto out;
    }
    size_t cap = json_object_size(root);
    f->tensors = reel_xcalloc(cap ? cap : 1, sizeof *f->tensors);
    const uint8_t *base = p + 8 + hn;
    uint64_t data_size = size - 8 - hn;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) continue;
        reeli_st_tensor *t = &f->tensors[f->n_tensors++];
        if ((rc = parse_tensor(t, key, val, base, data_size, name)) < 0) goto out;
    }
    if (f->n_tensors > 1) {
        const reeli_st_tensor **s = reel_xmalloc((size_t)f->n_tensors * sizeof *s);
        for (int i = 0; i < f->n_tensors; i++) s[i] = &f->tensors[i];
        qsort(s, (size_t)f->n_tensors, sizeof *s, cmp_begin);
        for (int i = 1; i < f->n_tensors; i++)
            if ((const uint8_t *)s[i - 1]->data + s[i - 1]->nbytes > (const uint8_t *)s[i]->data) {
                rc = reel_set_error(REEL_EFORMAT, "%s: tensor '%s': data overlaps tensor '%s'",
                                    name, s[i]->name, s[i - 1]->name);
                break;
            }
        free(s);
    }
out:
    json_decref(root);
    return rc;
}

int reeli_st_open(reeli_st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = reel_xstrdup(path);
    int rc = reel_file_map_open(&f->map, path);
    if (rc == 0) rc = reeli_st_parse(f, f->map.data, f->map.size, path);
    return rc;
}
