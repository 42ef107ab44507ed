/* Damaged model files: every truncation point, random corruption, and each kind of lie a GGUF or
 * safetensors header can tell (absurd counts and lengths, offsets past the end, overlapping or
 * misaligned data, invalid UTF-8, duplicates, unknown types). Each must fail cleanly with a
 * message naming the problem and the place; none may crash or allocate by the lie. */
#include "testutil.h"
#include "llm_fixture.h"

#include "core/core.h"
#include "llm/gguf.h"
#include "llm/model-impl.h"
#include "llm/model.h"

#include <stdlib.h>
#include <string.h>

/* ---- a byte builder for hand-made GGUF files -------------------------------------------- */

typedef struct gb {
    uint8_t p[4096];
    size_t n;
} gb;

static void put(gb *b, const void *d, size_t n)
{
    assert_true(b->n + n <= sizeof b->p);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(gb *b, uint32_t v)
{
    put(b, &v, 4);
}
static void u64(gb *b, uint64_t v)
{
    put(b, &v, 8);
}
static void str(gb *b, const char *s)
{
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void header(gb *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
    b->n = 0;
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, nt);
    u64(b, nkv);
}
/* tensor info: 1-D F32 of n elements at offset */
static void tinfo(gb *b, const char *name, uint64_t n, uint32_t type, uint64_t offset)
{
    str(b, name);
    u32(b, 1);
    u64(b, n);
    u32(b, type);
    u64(b, offset);
}
/* bytes after a lie, so that the counts still fit and the lie itself is what gets caught */
static void fill(gb *b)
{
    memset(b->p + b->n, 0, 48);
    b->n += 48;
}
static void pad(gb *b, size_t align)
{
    while (b->n % align) b->p[b->n++] = 0;
}

/* Opens b in memory: must fail, and the message must contain want. */
static void expect_fail(const gb *b, const char *want)
{
    reel_gguf *g = reel_gguf_open_memory(b->p, b->n, "bad.gguf");
    if (g) fail_msg("accepted a damaged file (expected '%s')", want);
    const char *msg = reel_last_error();
    if (strncmp(msg, "bad.gguf: ", 10) != 0 || !tu_contains(msg, want))
        fail_msg("message '%s' lacks '%s'", msg, want);
}

static void test_gguf_lies(void **state)
{
    (void)state;
    gb b;
    /* magic and version */
    b.n = 0;
    put(&b, "GGML", 4);
    u32(&b, 3);
    expect_fail(&b, "not a GGUF file (magic 47 47 4d 4c");
    b.n = 2;
    expect_fail(&b, "too short for the magic");
    header(&b, 1, 0, 0);
    expect_fail(&b, "GGUF version 1 is not supported");
    header(&b, 4, 0, 0);
    expect_fail(&b, "GGUF version 4 is not supported (2 and 3 are), at offset 4");
    assert_int_equal(reel_last_error_code(), REEL_EUNSUPPORTED);
    /* counts bounded by the bytes left */
    header(&b, 3, UINT64_MAX, 0);
    expect_fail(&b,
                "tensor count 18446744073709551615 cannot fit in the 0 bytes left, at offset 8");
    header(&b, 3, 0, 1ull << 60);
    expect_fail(&b,
                "metadata count 1152921504606846976 cannot fit in the 0 bytes left, at offset 16");
    /* huge string length */
    header(&b, 3, 0, 1);
    u64(&b, 1ull << 62);
    put(&b, "abcdefghijklmnop", 16);
    expect_fail(&b, "a key length 4611686018427387904 exceeds the 16 bytes left in the file, at "
                    "offset 24");
    /* key not UTF-8, empty key, duplicate key */
    header(&b, 3, 0, 1);
    str(&b, "gen\xc3\x28ral");
    u32(&b, REEL_GGUF_TYPE_UINT8);
    put(&b, "\x01", 1);
    expect_fail(&b, "metadata key #0 is not valid UTF-8, at offset 24");
    header(&b, 3, 0, 1);
    str(&b, "a\xed\xa0\x80"); /* an encoded surrogate */
    u32(&b, REEL_GGUF_TYPE_UINT8);
    put(&b, "\x01", 1);
    expect_fail(&b, "not valid UTF-8");
    header(&b, 3, 0, 1);
    str(&b, "");
    u32(&b, REEL_GGUF_TYPE_UINT8);
    put(&b, "\x01", 1);
    expect_fail(&b, "empty metadata key");
    header(&b, 3, 0, 2);
    for (int i = 0; i < 2; i++) {
        str(&b, "x.y");
        u32(&b, REEL_GGUF_TYPE_UINT8);
        put(&b, "\x01", 1);
    }
    expect_fail(&b, "duplicate metadata key 'x.y'");
    /* unknown value type, unknown array type, absurd array, deep nesting */
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, 13);
    u64(&b, 0);
    expect_fail(&b, "key 'k': unknown value type 13, at offset 33");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, REEL_GGUF_TYPE_ARRAY);
    u32(&b, 99);
    u64(&b, 0);
    expect_fail(&b, "unknown array element type 99");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, REEL_GGUF_TYPE_ARRAY);
    u32(&b, REEL_GGUF_TYPE_STRING);
    u64(&b, 1ull << 40);
    u64(&b, 0);
    expect_fail(&b, "key 'k': array of 1099511627776 STRING values cannot fit in the 8 "
                    "bytes left");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, REEL_GGUF_TYPE_ARRAY);
    for (int i = 0; i < 12; i++) {
        u32(&b, REEL_GGUF_TYPE_ARRAY);
        u64(&b, 1);
    }
    u32(&b, REEL_GGUF_TYPE_UINT8);
    u64(&b, 0);
    expect_fail(&b, "arrays nested more than 8 deep");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, REEL_GGUF_TYPE_ARRAY);
    u32(&b, REEL_GGUF_TYPE_STRING);
    u64(&b, 2);
    str(&b, "ok");
    u64(&b, 1000); /* second string longer than what is left */
    put(&b, "short", 5);
    expect_fail(&b, "a string length 1000 exceeds the 5 bytes left");
    /* general.alignment */
    header(&b, 3, 0, 1);
    str(&b, "general.alignment");
    u32(&b, REEL_GGUF_TYPE_UINT32);
    u32(&b, 48);
    expect_fail(&b, "general.alignment must be a UINT32 power of two");

    /* tensors: dims, type, size, offsets, overlap, alignment, duplicates */
    header(&b, 3, 1, 0);
    str(&b, "t");
    u32(&b, 5);
    fill(&b);
    expect_fail(&b, "tensor 't': 5 dimensions (1 to 4 allowed)");
    header(&b, 3, 1, 0);
    str(&b, "t");
    u32(&b, 2);
    u64(&b, 1ull << 40);
    u64(&b, 1ull << 40);
    u32(&b, 0);
    u64(&b, 0);
    fill(&b);
    expect_fail(&b, "tensor 't': dimension 1 is 1099511627776 (out of range)");
    header(&b, 3, 1, 0);
    str(&b, "t");
    u32(&b, 1);
    u64(&b, 0);
    fill(&b);
    expect_fail(&b, "tensor 't': dimension 0 is 0");
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 4, 99, 0);
    fill(&b);
    expect_fail(&b, "tensor 't': unknown type id 99");
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 33, REEL_DTYPE_Q8_0, 0);
    fill(&b);
    expect_fail(&b, "tensor 't': row of 33 elements is not a whole number of Q8_0 blocks (32)");
    header(&b, 3, 1, 0);
    tinfo(&b, "blk.3.ssm_in.weight", 1ull << 40, REEL_DTYPE_F32, 0);
    pad(&b, 32);
    put(&b, "0123456789abcdef", 16);
    expect_fail(&b, "tensor 'blk.3.ssm_in.weight': data (4398046511104 bytes at offset 96) lies "
                    "past the end of the file (112 bytes)");
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 4, REEL_DTYPE_F32, 1ull << 62);
    pad(&b, 32);
    put(&b, "0123456789abcdef", 16);
    expect_fail(&b, "lies past the end of the file");
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 2, REEL_DTYPE_F32, 4);
    pad(&b, 32);
    put(&b, "0123456789abcdef", 16);
    expect_fail(&b, "tensor 't': data offset 4 is not a multiple of the alignment 32");
    header(&b, 3, 2, 0);
    tinfo(&b, "a", 16, REEL_DTYPE_F32, 0);
    tinfo(&b, "b", 4, REEL_DTYPE_F32, 32);
    pad(&b, 32);
    for (int i = 0; i < 4; i++) put(&b, "0123456789abcdef", 16);
    expect_fail(&b, "data overlaps tensor");
    header(&b, 3, 2, 0);
    tinfo(&b, "a", 4, REEL_DTYPE_F32, 0);
    tinfo(&b, "a", 4, REEL_DTYPE_F32, 32);
    pad(&b, 32);
    for (int i = 0; i < 4; i++) put(&b, "0123456789abcdef", 16);
    expect_fail(&b, "tensor 'a': duplicate name");
    header(&b, 3, 1, 0);
    tinfo(&b, "bad\xff", 4, REEL_DTYPE_F32, 0);
    expect_fail(&b, "tensor name is not valid UTF-8");
    header(&b, 3, 1, 0);
    tinfo(&b, "t", 4, REEL_DTYPE_F32, 0);
    expect_fail(&b, "file ends before the data section");

    /* the same good file is accepted: the cases above differ only in their lie */
    header(&b, 3, 2, 1);
    str(&b, "general.alignment");
    u32(&b, REEL_GGUF_TYPE_UINT32);
    u32(&b, 16);
    tinfo(&b, "a", 4, REEL_DTYPE_F32, 0);
    tinfo(&b, "b", 2, REEL_DTYPE_F16, 16);
    pad(&b, 16);
    for (int i = 0; i < 2; i++) put(&b, "0123456789abcdef", 16);
    reel_gguf *g = reel_gguf_open_memory(b.p, b.n, "good.gguf");
    if (!g) fail_msg("%s", reel_last_error());
    assert_int_equal(reel_gguf_tensor_find(g, "b")->nbytes, 4);
    reel_gguf_free(g);
}

/* Every truncation of a real file fails with a message (or, inside the padding after the last
 * tensor, still loads). */
static void test_truncation(void **state)
{
    (void)state;
    fx_model m;
    fx_model_init(&m);
    reel_gguf_writer *w = fx_gguf_writer(&m, -1);
    uint8_t *img;
    size_t size;
    assert_int_equal(reel_gguf_writer_write_memory(w, &img, &size), 0);
    reel_gguf_writer_free(w);
    reel_gguf *full = reel_gguf_open_memory(img, size, "full");
    assert_non_null(full);
    size_t last_end = 0;
    for (int64_t i = 0; i < reel_gguf_n_tensors(full); i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(full, i);
        size_t e = (size_t)(reel_gguf_data_offset(full) + t->offset + t->nbytes);
        if (e > last_end) last_end = e;
    }
    reel_gguf_free(full);
    int failed = 0;
    for (size_t n = 0; n < size; n++) {
        /* a fresh copy of exactly n bytes, so ASan sees any read past the end */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, img, n);
        reel_gguf *g = reel_gguf_open_memory(cut, n, "cut.gguf");
        if (g) {
            if (n < last_end) fail_msg("truncated at %zu of %zu bytes but accepted", n, size);
            reel_gguf_free(g);
        } else {
            failed++;
            const char *msg = reel_last_error();
            if (strncmp(msg, "cut.gguf: ", 10) != 0 ||
                !(tu_contains(msg, ", at offset ") || tu_contains(msg, "past the end of the file")))
                fail_msg("truncated at %zu: unclear message '%s'", n, msg);
        }
        free(cut);
    }
    assert_true(failed >= (int)last_end);

    /* through the model loader and the file system, at a few hundred points */
    char *dir = tu_tmpdir(), *path = reel_xasprintf("%s/cut.gguf", dir);
    uint32_t r = 7;
    for (int k = 0; k < 300; k++) {
        r = r * 1103515245u + 12345u;
        size_t n = k < 100 ? (size_t)k * 3 : (r >> 4) % last_end;
        tu_write_file(path, img, n);
        reel_llm_desc *d = reel_llm_desc_load(path);
        if (d) fail_msg("model truncated at %zu loaded", n);
        assert_true(tu_contains(reel_last_error(), path));
    }
    tu_rmtree(dir);
    free(path);
    free(dir);

    /* random corruption of the head (metadata + tensor table): never a crash */
    size_t head = 0;
    full = reel_gguf_open_memory(img, size, "full");
    head = (size_t)reel_gguf_data_offset(full);
    reel_gguf_free(full);
    uint8_t *copy = malloc(size);
    int rejected = 0;
    for (int k = 0; k < 3000; k++) {
        memcpy(copy, img, size);
        for (int f = 0; f < 1 + k % 4; f++) {
            r = r * 1103515245u + 12345u;
            copy[(r >> 3) % head] ^= (uint8_t)(1u << ((r >> 20) % 8));
        }
        reel_gguf *g = reel_gguf_open_memory(copy, size, "x.gguf");
        if (!g) {
            rejected++;
            assert_true(strlen(reel_last_error()) > 10);
        }
        reel_gguf_free(g);
    }
    assert_true(rejected > 100);
    free(copy);
    free(img);
    fx_model_free(&m);
}

/* Valid GGUF, lying metadata: the description loader names the key. */
static void meta_case(const char *what, void (*edit)(reel_gguf_writer *), const char *want)
{
    fx_model m;
    fx_model_init(&m);
    reel_gguf_writer *w = reel_gguf_writer_init();
    edit(w);
    reel_gguf_writer *base = fx_gguf_writer(&m, -1);
    uint8_t *img;
    size_t size;
    /* copy the fixture's keys the edit did not set, and its tensors */
    assert_int_equal(reel_gguf_writer_write_memory(base, &img, &size), 0);
    reel_gguf *g = reel_gguf_open_memory(img, size, "base");
    for (int64_t i = 0; i < reel_gguf_n_kv(g); i++)
        reel_gguf_writer_set(w, reel_gguf_kv_key(g, i), reel_gguf_kv_value(g, i));
    for (int64_t i = 0; i < reel_gguf_n_tensors(g); i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(g, i);
        reel_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    char *dir = tu_tmpdir(), *path = reel_xasprintf("%s/m.gguf", dir);
    assert_int_equal(reel_gguf_writer_write(w, path), 0);
    reel_llm_desc *d = reel_llm_desc_load(path);
    if (d) fail_msg("%s: accepted", what);
    if (!tu_contains(reel_last_error(), want))
        fail_msg("%s: message '%s' lacks '%s'", what, reel_last_error(), want);
    reel_gguf_free(g);
    reel_gguf_writer_free(base);
    reel_gguf_writer_free(w);
    free(img);
    tu_rmtree(dir);
    free(path);
    free(dir);
    fx_model_free(&m);
}

static void e_blocks(reel_gguf_writer *w)
{
    reel_gguf_writer_set_u32(w, "nemotron_h.block_count", 100000);
}
static void e_kv_len(reel_gguf_writer *w)
{
    int32_t a[3] = {0, 0, 0};
    reel_gguf_writer_set_array(w, "nemotron_h.attention.head_count_kv", REEL_GGUF_TYPE_INT32, a, 3);
}
static void e_kv_type(reel_gguf_writer *w)
{
    const char *s[5] = {"0", "0", "0", "1", "0"};
    reel_gguf_writer_set_array_str(w, "nemotron_h.attention.head_count_kv", s, 5);
}
static void e_bos(reel_gguf_writer *w)
{
    reel_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 4000000);
}
static void e_embd_type(reel_gguf_writer *w)
{
    reel_gguf_writer_set_str(w, "nemotron_h.embedding_length", "sixteen");
}
static void e_groups(reel_gguf_writer *w)
{
    reel_gguf_writer_set_u32(w, "nemotron_h.ssm.group_count", 3);
}
static void e_tokens(reel_gguf_writer *w)
{
    const char *t[41];
    for (int i = 0; i < 41; i++) t[i] = "x";
    reel_gguf_writer_set_array_str(w, "tokenizer.ggml.tokens", t, 41);
    int32_t ty[41] = {0};
    for (int i = 0; i < 41; i++) ty[i] = 1;
    reel_gguf_writer_set_array(w, "tokenizer.ggml.token_type", REEL_GGUF_TYPE_INT32, ty, 41);
}

static void test_bad_metadata(void **state)
{
    (void)state;
    meta_case("block_count", e_blocks, "nemotron_h.block_count = 100000 is out of range");
    meta_case("head_count_kv length", e_kv_len,
              "nemotron_h.attention.head_count_kv has 3 entries, block_count is 5");
    meta_case("head_count_kv type", e_kv_type, "nemotron_h.attention.head_count_kv[0]");
    meta_case("bos", e_bos, "tokenizer.ggml.bos_token_id = 4000000 is not a token id (40 tokens)");
    meta_case("embedding_length", e_embd_type,
              "nemotron_h.embedding_length: expected an integer, found STRING");
    meta_case("group_count", e_groups, "are not multiples of the 3 groups");
    meta_case("tokens", e_tokens, "the vocabulary has 41 tokens but the embedding only 40 rows");
}

/* ---- safetensors ------------------------------------------------------------------------ */

static void st_expect(const char *hdr, size_t data_bytes, const char *want)
{
    size_t hn = strlen(hdr), n = 8 + hn + data_bytes;
    uint8_t *buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hn >> (8 * i));
    memcpy(buf + 8, hdr, hn);
    reeli_st_file f = {0};
    int rc = reeli_st_parse(&f, buf, n, "bad.safetensors");
    reeli_st_close(&f);
    free(buf);
    if (rc == 0) fail_msg("accepted header %s", hdr);
    if (!tu_contains(reel_last_error(), want) ||
        strncmp(reel_last_error(), "bad.safetensors: ", 17) != 0)
        fail_msg("message '%s' lacks '%s'", reel_last_error(), want);
}

static void test_safetensors_lies(void **state)
{
    (void)state;
    uint8_t small[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}', ' ', ' '};
    reeli_st_file f = {0};
    assert_int_equal(reeli_st_parse(&f, small, sizeof small, "bad.safetensors"), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "header length 9223372036854775807 exceeds the "
                                               "file (12 bytes), at offset 0"));
    reeli_st_close(&f);
    assert_int_equal(reeli_st_parse(&f, small, 5, "bad.safetensors"), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "not a safetensors file (5 bytes)"));
    reeli_st_close(&f);
    st_expect("[1, 2]", 0, "the header is not a JSON object");
    st_expect("{\"a\": ", 0, "header JSON:");
    st_expect("{\"a\": 5}", 0, "tensor 'a': header entry is not an object");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "tensor 'a': needs \"dtype\"");
    st_expect("{\"a\": {\"dtype\": \"Q4\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
              "tensor 'a': unknown dtype 'Q4'");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8,
              "shape[0] is not a non-negative integer");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 800]}}", 8,
              "tensor 'a': data (bytes 0..800) lies past the end of the data (8 bytes)");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 4]}}", 8,
              "are not [begin, end]");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
              "8 data bytes do not match the shape and dtype F32");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
              "\"data_offsets\": [0, 8]}}",
              8, "shape overflows");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
              "\"b\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [4, 8]}}",
              8, "data overlaps tensor");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
              "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
              8, "duplicate object key");
    st_expect("{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": "
              "[0, 4]}}",
              8, "9 dimensions (at most 8)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_lies),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_safetensors_lies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
