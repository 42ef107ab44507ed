/* GGUF reader and writer: round trip of every metadata type, tensors of several types with
 * alignment; the model description of a tiny nemotron_h file; missing and misshapen tensors. */
#include "testutil.h"
#include "llm_fixture.h"

#include "core/core.h"
#include "llm/gguf.h"
#include "llm/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *tmp_path(const char *dir, const char *name)
{
    return reel_xasprintf("%s/%s", dir, name);
}

static void test_roundtrip(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), *path = tmp_path(dir, "rt.gguf");
    reel_gguf_writer *w = reel_gguf_writer_init();
    reel_gguf_value v;
    /* one scalar of every type */
    const struct {
        reel_gguf_type t;
        uint64_t u;
    } ints[] = {{REEL_GGUF_TYPE_UINT8, 250},
                {REEL_GGUF_TYPE_UINT16, 65000},
                {REEL_GGUF_TYPE_UINT32, 4000000000u},
                {REEL_GGUF_TYPE_UINT64, 1ull << 60},
                {REEL_GGUF_TYPE_BOOL, 1}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        char key[32];
        snprintf(key, sizeof key, "u.%s", reel_gguf_type_name(ints[i].t));
        v = (reel_gguf_value){.type = ints[i].t, .u64 = ints[i].u};
        assert_int_equal(reel_gguf_writer_set(w, key, &v), 0);
    }
    const struct {
        reel_gguf_type t;
        int64_t i;
    } sints[] = {{REEL_GGUF_TYPE_INT8, -100},
                 {REEL_GGUF_TYPE_INT16, -30000},
                 {REEL_GGUF_TYPE_INT32, -2000000000},
                 {REEL_GGUF_TYPE_INT64, -(1ll << 50)}};
    for (size_t i = 0; i < sizeof sints / sizeof *sints; i++) {
        char key[32];
        snprintf(key, sizeof key, "i.%s", reel_gguf_type_name(sints[i].t));
        v = (reel_gguf_value){.type = sints[i].t, .i64 = sints[i].i};
        assert_int_equal(reel_gguf_writer_set(w, key, &v), 0);
    }
    assert_int_equal(reel_gguf_writer_set_f32(w, "f.32", 0.25f), 0);
    v = (reel_gguf_value){.type = REEL_GGUF_TYPE_FLOAT64, .f64 = 1.0 / 3.0};
    assert_int_equal(reel_gguf_writer_set(w, "f.64", &v), 0);
    assert_int_equal(reel_gguf_writer_set_str(w, "s.utf8", "h\xc3\xa9llo \xe2\x80\x94 ok"), 0);
    assert_int_equal(reel_gguf_writer_set_str(w, "s.empty", ""), 0);
    /* arrays: numbers, strings, nested, empty */
    const int16_t a16[] = {-1, 2, -3, 4};
    assert_int_equal(reel_gguf_writer_set_array(w, "a.i16", REEL_GGUF_TYPE_INT16, a16, 4), 0);
    const double a64[] = {1.5, -2.25};
    assert_int_equal(reel_gguf_writer_set_array(w, "a.f64", REEL_GGUF_TYPE_FLOAT64, a64, 2), 0);
    const char *strs[] = {"one", "", "thr\xc4\xa0"};
    assert_int_equal(reel_gguf_writer_set_array_str(w, "a.str", strs, 3), 0);
    assert_int_equal(reel_gguf_writer_set_array(w, "a.empty", REEL_GGUF_TYPE_UINT8, NULL, 0), 0);
    const uint32_t inner_nums[] = {7, 8, 9};
    reel_gguf_value inner[2] = {
        {.type = REEL_GGUF_TYPE_ARRAY,
         .arr_type = REEL_GGUF_TYPE_UINT32,
         .n = 3,
         .data = inner_nums},
        {.type = REEL_GGUF_TYPE_ARRAY,
         .arr_type = REEL_GGUF_TYPE_UINT32,
         .n = 1,
         .data = inner_nums + 2},
    };
    v = (reel_gguf_value){
        .type = REEL_GGUF_TYPE_ARRAY, .arr_type = REEL_GGUF_TYPE_ARRAY, .n = 2, .items = inner};
    assert_int_equal(reel_gguf_writer_set(w, "a.nested", &v), 0);
    assert_int_equal(reel_gguf_writer_set_u32(w, "general.alignment", 64), 0);
    /* duplicates and bad keys are refused */
    assert_int_equal(reel_gguf_writer_set_u32(w, "f.32", 1), REEL_EINVAL);
    assert_int_equal(reel_gguf_writer_set_u32(w, "bad\xff", 1), REEL_EINVAL);

    /* tensors: F32, F16, Q8_0 (2 blocks), Q4_K (1 block) */
    float f32[6] = {1, 2, 3, 4, 5, 6};
    uint16_t f16[3] = {0x3c00, 0x4000, 0xc000};
    uint8_t q8[68], q4k[144];
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof q4k; i++) q4k[i] = (uint8_t)(i * 13);
    const int64_t ne_f32[] = {3, 2}, ne_f16[] = {3}, ne_q8[] = {32, 1, 2}, ne_q4k[] = {256};
    assert_int_equal(reel_gguf_writer_add_tensor(w, "t.f32", REEL_DTYPE_F32, 2, ne_f32, f32, 24),
                     0);
    assert_int_equal(reel_gguf_writer_add_tensor(w, "t.f16", REEL_DTYPE_F16, 1, ne_f16, f16, 6), 0);
    assert_int_equal(reel_gguf_writer_add_tensor(w, "t.q8", REEL_DTYPE_Q8_0, 3, ne_q8, q8, 68), 0);
    assert_int_equal(reel_gguf_writer_add_tensor(w, "t.q4k", REEL_DTYPE_Q4_K, 1, ne_q4k, q4k, 144),
                     0);
    /* wrong byte count, partial block, duplicate */
    assert_int_equal(reel_gguf_writer_add_tensor(w, "t.bad", REEL_DTYPE_F32, 1, ne_f16, f32, 8),
                     REEL_EINVAL);
    assert_int_equal(reel_gguf_writer_add_tensor(w, "t.bad", REEL_DTYPE_Q8_0, 1, ne_f16, q8, 34),
                     REEL_EINVAL);
    assert_int_equal(reel_gguf_writer_add_tensor(w, "t.f32", REEL_DTYPE_F32, 2, ne_f32, f32, 24),
                     REEL_EINVAL);
    assert_int_equal(reel_gguf_writer_write(w, path), 0);
    uint8_t *mem;
    size_t mem_size;
    assert_int_equal(reel_gguf_writer_write_memory(w, &mem, &mem_size), 0);
    reel_gguf_writer_free(w);

    char *file;
    size_t file_size;
    assert_int_equal(reel_file_read(path, 0, &file, &file_size), 0);
    assert_int_equal(file_size, mem_size);
    assert_memory_equal(file, mem, mem_size);
    free(file);
    free(mem);

    reel_gguf *g = reel_gguf_open(path);
    if (!g) fail_msg("%s", reel_last_error());
    assert_int_equal(reel_gguf_version(g), 3);
    assert_int_equal(reel_gguf_alignment(g), 64);
    assert_int_equal(reel_gguf_data_offset(g) % 64, 0);
    assert_int_equal(reel_gguf_n_kv(g), 5 + 4 + 2 + 2 + 5 + 1);
    assert_string_equal(reel_gguf_kv_key(g, 0), "u.UINT8");
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        char key[32];
        snprintf(key, sizeof key, "u.%s", reel_gguf_type_name(ints[i].t));
        const reel_gguf_value *x = reel_gguf_find(g, key);
        assert_non_null(x);
        assert_int_equal(x->type, ints[i].t);
        assert_true(x->u64 == ints[i].u);
    }
    for (size_t i = 0; i < sizeof sints / sizeof *sints; i++) {
        char key[32];
        snprintf(key, sizeof key, "i.%s", reel_gguf_type_name(sints[i].t));
        const reel_gguf_value *x = reel_gguf_find(g, key);
        int64_t got;
        assert_int_equal(reel_gguf_value_int(x, &got), 0);
        assert_true(got == sints[i].i);
    }
    int64_t big;
    assert_int_equal(reel_gguf_value_int(reel_gguf_find(g, "u.UINT64"), &big), 0);
    assert_true(big == (1ll << 60));
    double d;
    assert_int_equal(reel_gguf_value_float(reel_gguf_find(g, "f.32"), &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(reel_gguf_value_float(reel_gguf_find(g, "f.64"), &d), 0);
    assert_true(d == 1.0 / 3.0);
    assert_int_equal(reel_gguf_value_int(reel_gguf_find(g, "f.64"), &big), REEL_EFORMAT);
    const reel_gguf_value *s = reel_gguf_find(g, "s.utf8");
    assert_string_equal(s->str, "h\xc3\xa9llo \xe2\x80\x94 ok");
    assert_int_equal(reel_gguf_find(g, "s.empty")->n, 0);
    const reel_gguf_value *a = reel_gguf_find(g, "a.i16");
    assert_int_equal(a->arr_type, REEL_GGUF_TYPE_INT16);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(reel_gguf_array_int(a, (uint64_t)i, &big), 0);
        assert_int_equal(big, a16[i]);
    }
    assert_int_equal(reel_gguf_array_int(a, 4, &big), REEL_ERANGE);
    a = reel_gguf_find(g, "a.f64");
    assert_int_equal(reel_gguf_array_float(a, 1, &d), 0);
    assert_true(d == -2.25);
    a = reel_gguf_find(g, "a.str");
    assert_int_equal(a->n, 3);
    for (int i = 0; i < 3; i++) assert_string_equal(a->items[i].str, strs[i]);
    assert_int_equal(reel_gguf_find(g, "a.empty")->n, 0);
    a = reel_gguf_find(g, "a.nested");
    assert_int_equal(a->arr_type, REEL_GGUF_TYPE_ARRAY);
    assert_int_equal(a->n, 2);
    assert_int_equal(a->items[0].n, 3);
    assert_int_equal(reel_gguf_array_int(&a->items[0], 2, &big), 0);
    assert_int_equal(big, 9);
    assert_int_equal(reel_gguf_array_int(&a->items[1], 0, &big), 0);
    assert_int_equal(big, 9);
    assert_null(reel_gguf_find(g, "nope"));

    assert_int_equal(reel_gguf_n_tensors(g), 4);
    const reel_gguf_tensor *t = reel_gguf_tensor_find(g, "t.q8");
    assert_non_null(t);
    assert_int_equal(t->type, REEL_DTYPE_Q8_0);
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->ne[0], 32);
    assert_int_equal(t->ne[2], 2);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->nbytes, 68);
    assert_memory_equal(t->data, q8, 68);
    t = reel_gguf_tensor_at(g, 0);
    assert_string_equal(t->name, "t.f32");
    assert_memory_equal(t->data, f32, 24);
    assert_int_equal((uintptr_t)t->data % 64, 0);
    t = reel_gguf_tensor_find(g, "t.q4k");
    assert_memory_equal(t->data, q4k, 144);
    assert_int_equal(t->offset % 64, 0);
    assert_int_equal((uintptr_t)t->data % 64, 0);
    assert_memory_equal(reel_gguf_tensor_find(g, "t.f16")->data, f16, 6);
    assert_null(reel_gguf_tensor_find(g, "t.none"));

    /* reader(writer(reader)) == reader: copy every key and tensor through the generic API */
    reel_gguf_writer *w2 = reel_gguf_writer_init();
    for (int64_t i = 0; i < reel_gguf_n_kv(g); i++)
        assert_int_equal(reel_gguf_writer_set(w2, reel_gguf_kv_key(g, i), reel_gguf_kv_value(g, i)),
                         0);
    for (int64_t i = 0; i < reel_gguf_n_tensors(g); i++) {
        const reel_gguf_tensor *x = reel_gguf_tensor_at(g, i);
        assert_int_equal(
            reel_gguf_writer_add_tensor(w2, x->name, x->type, x->n_dims, x->ne, x->data, x->nbytes),
            0);
    }
    uint8_t *mem2;
    size_t mem2_size;
    assert_int_equal(reel_gguf_writer_write_memory(w2, &mem2, &mem2_size), 0);
    reel_gguf_writer_free(w2);
    assert_int_equal(mem2_size, reel_gguf_size(g));
    char *orig;
    size_t orig_size;
    assert_int_equal(reel_file_read(path, 0, &orig, &orig_size), 0);
    assert_memory_equal(orig, mem2, mem2_size);
    free(orig);
    reel_gguf *g2 = reel_gguf_open_memory(mem2, mem2_size, "copy");
    assert_non_null(g2);
    assert_int_equal(reel_gguf_n_kv(g2), reel_gguf_n_kv(g));
    reel_gguf_free(g2);
    free(mem2);
    reel_gguf_free(g);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* tensors produced while writing: the file equals one written from buffers, fill runs once per
 * write in tensor order, and a failing fill abandons the write with its code, leaving no file */
typedef struct {
    int calls, fail_at;
    char order[8];
} fill_state;

static int fill_pattern(void *ctx, const char *name, void *dst, size_t nbytes)
{
    fill_state *f = ctx;
    if (f->calls < 7) f->order[f->calls] = name[0];
    if (++f->calls == f->fail_at) return reel_set_error(REEL_EIO, "fill %s failed", name);
    for (size_t i = 0; i < nbytes; i++) ((uint8_t *)dst)[i] = (uint8_t)(i * 7 + (size_t)name[0]);
    return 0;
}

static void test_writer_fill(void **state)
{
    (void)state;
    uint8_t a[64 * 2], b[34 * 3], c[12];
    for (size_t i = 0; i < sizeof a; i++) a[i] = (uint8_t)(i * 7 + 'a');
    for (size_t i = 0; i < sizeof b; i++) b[i] = (uint8_t)(i * 7 + 'b');
    memset(c, 0x5a, sizeof c);
    const int64_t ne_a[2] = {32, 2}, ne_b[2] = {32, 3}, ne_c[1] = {3};
    reel_gguf_writer *w1 = reel_gguf_writer_init(), *w2 = reel_gguf_writer_init();
    fill_state f = {0, 0, {0}};
    assert_int_equal(reel_gguf_writer_add_tensor(w1, "a", REEL_DTYPE_F16, 2, ne_a, a, sizeof a), 0);
    assert_int_equal(reel_gguf_writer_add_tensor(w1, "b", REEL_DTYPE_Q8_0, 2, ne_b, b, sizeof b),
                     0);
    assert_int_equal(reel_gguf_writer_add_tensor(w1, "c", REEL_DTYPE_F32, 1, ne_c, c, sizeof c), 0);
    assert_int_equal(reel_gguf_writer_add_tensor_fill(w2, "a", REEL_DTYPE_F16, 2, ne_a, sizeof a,
                                                      fill_pattern, &f),
                     0);
    assert_int_equal(reel_gguf_writer_add_tensor_fill(w2, "b", REEL_DTYPE_Q8_0, 2, ne_b, sizeof b,
                                                      fill_pattern, &f),
                     0);
    assert_int_equal(reel_gguf_writer_add_tensor(w2, "c", REEL_DTYPE_F32, 1, ne_c, c, sizeof c), 0);
    /* the same checks as add_tensor: size against shape, duplicates, a missing function */
    assert_int_equal(
        reel_gguf_writer_add_tensor_fill(w2, "d", REEL_DTYPE_Q8_0, 2, ne_b, 33, fill_pattern, &f),
        REEL_EINVAL);
    assert_int_equal(reel_gguf_writer_add_tensor_fill(w2, "a", REEL_DTYPE_F16, 2, ne_a, sizeof a,
                                                      fill_pattern, &f),
                     REEL_EINVAL);
    assert_int_equal(
        reel_gguf_writer_add_tensor_fill(w2, "e", REEL_DTYPE_F16, 2, ne_a, sizeof a, NULL, &f),
        REEL_EINVAL);
    uint8_t *m1, *m2;
    size_t n1, n2;
    assert_int_equal(reel_gguf_writer_write_memory(w1, &m1, &n1), 0);
    assert_int_equal(reel_gguf_writer_write_memory(w2, &m2, &n2), 0);
    assert_int_equal(f.calls, 2);
    assert_memory_equal(f.order, "ab", 2);
    assert_int_equal(n1, n2);
    assert_memory_equal(m1, m2, n1);
    free(m1), free(m2);

    char *tmp = tu_tmpdir(), path[1100];
    snprintf(path, sizeof path, "%s/fill.gguf", tmp);
    f = (fill_state){0, 2, {0}};
    assert_int_equal(reel_gguf_writer_write(w2, path), REEL_EIO);
    assert_non_null(strstr(reel_last_error(), "fill b failed"));
    FILE *fp = fopen(path, "rb");
    assert_null(fp);
    f = (fill_state){0, 0, {0}};
    assert_int_equal(reel_gguf_writer_write(w2, path), 0);
    reel_gguf *g = reel_gguf_open(path);
    assert_non_null(g);
    assert_memory_equal(reel_gguf_tensor_find(g, "b")->data, b, sizeof b);
    reel_gguf_free(g);
    reel_gguf_writer_free(w1);
    reel_gguf_writer_free(w2);
    tu_rmtree(tmp);
    free(tmp);
}

static void test_tiny_model(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), *path = tmp_path(dir, "tiny.gguf");
    fx_model m;
    fx_model_init(&m);
    fx_write_gguf(&m, path);
    reel_llm_desc *d = reel_llm_desc_load(path);
    if (!d) fail_msg("%s", reel_last_error());
    const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
    assert_string_equal(hp->arch, "nemotron_h");
    assert_string_equal(hp->pattern, "M-M*-");
    assert_int_equal(hp->n_layer, 5);
    assert_int_equal(hp->layer_kind[0], REEL_LLM_LAYER_MAMBA);
    assert_int_equal(hp->layer_kind[1], REEL_LLM_LAYER_MLP);
    assert_int_equal(hp->layer_kind[3], REEL_LLM_LAYER_ATTN);
    assert_int_equal(hp->n_embd, 16);
    assert_int_equal(hp->n_vocab, 40);
    assert_int_equal(hp->ssm_n_heads, 4);
    assert_int_equal(hp->ssm_head_dim, 4);
    assert_int_equal(hp->ssm_d_inner, 16);
    assert_int_equal(hp->ssm_n_groups, 2);
    assert_int_equal(hp->ssm_d_state, 4);
    assert_int_equal(hp->ssm_d_conv, 4);
    assert_int_equal(hp->n_head, 2);
    assert_int_equal(hp->n_head_kv, 1);
    assert_int_equal(hp->head_dim, 8);
    assert_int_equal(hp->n_ff, 24);
    assert_true(fabsf(hp->norm_eps - 1e-5f) < 1e-12f);
    assert_int_equal(hp->context_length, 1 << 20);
    assert_int_equal(hp->n_expert, 0);
    assert_string_equal(reel_llm_desc_format(d), "gguf");
    assert_string_equal(reel_llm_desc_path(d), path);

    const reel_llm_vocab *v = reel_llm_desc_vocab(d);
    assert_int_equal(v->n_tokens, 40);
    assert_string_equal(v->tokens[1], "<s>");
    assert_string_equal(v->tokens[11], "\xc4\xa0");
    assert_int_equal(v->token_type[4], 3);
    assert_int_equal(v->token_type[20], 1);
    assert_int_equal(v->n_merges, 4);
    assert_string_equal(v->merges[2], "\xc4\xa0 a");
    assert_string_equal(v->model, "gpt2");
    assert_string_equal(v->pre, "pixtral");
    assert_null(v->pre_regex);
    assert_int_equal(v->bos_id, 1);
    assert_int_equal(v->eos_id, 2);
    assert_int_equal(v->unk_id, 0);
    assert_int_equal(v->pad_id, 0);
    assert_int_equal(v->add_bos, 1);
    assert_int_equal(v->add_eos, 0);
    assert_non_null(v->chat_template);
    assert_true(tu_contains(v->chat_template, "<|im_start|>"));
    int has2 = 0, has4 = 0;
    for (int i = 0; i < v->n_eog; i++) has2 |= v->eog_ids[i] == 2, has4 |= v->eog_ids[i] == 4;
    assert_true(has2 && has4);

    assert_int_equal(reel_llm_desc_n_tensors(d), m.n);
    int64_t params = 0;
    for (int i = 0; i < m.n; i++) {
        const fx_tensor *ft = &m.t[i];
        const reel_llm_tensor *t = reel_llm_desc_tensor(d, ft->name);
        assert_non_null(t);
        assert_int_equal(t->type, REEL_DTYPE_F32);
        assert_int_equal(t->ne[0], ft->ne[0]);
        assert_int_equal(t->ne[1], ft->ne[1]);
        assert_int_equal(t->nbytes, (size_t)ft->n * 4);
        const float *x = t->data;
        for (int64_t k = 0; k < ft->n; k++) {
            float want = strstr(ft->name, "ssm_a") ? fx_a_from_log(ft->data[k]) : ft->data[k];
            assert_true(x[k] == want);
        }
        params += ft->n;
    }
    assert_int_equal(reel_llm_desc_n_params(d), params);
    const reel_llm_tensor *a = reel_llm_desc_tensor(d, "blk.2.ssm_a");
    assert_true(((const float *)a->data)[0] < 0);
    assert_int_equal(reel_llm_desc_tensor_at(d, 0), reel_llm_desc_tensor(d, "token_embd.weight"));
    assert_null(reel_llm_desc_tensor(d, "blk.9.ssm_in.weight"));
    /* KV f16 for one attention layer + conv and SSM state for two Mamba layers */
    uint64_t want = 2ull * 1 * 8 * 2 * 100 + 2ull * (3 * 32 * 4 + 4 * 4 * 4 * 4);
    assert_true(reel_llm_hparams_state_bytes(hp, 100) == want);
    reel_llm_desc_free(d);
    fx_model_free(&m);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* Writes the fixture with one change and returns the loader's error (static buffer). */
static const char *load_error(fx_model *m, int skip, void (*edit)(reel_gguf_writer *w))
{
    static char msg[1024];
    char *dir = tu_tmpdir(), *path = tmp_path(dir, "m.gguf");
    reel_gguf_writer *w = fx_gguf_writer(m, skip);
    if (edit) edit(w);
    assert_int_equal(reel_gguf_writer_write(w, path), 0);
    reel_gguf_writer_free(w);
    reel_llm_desc *d = reel_llm_desc_load(path);
    assert_null(d);
    snprintf(msg, sizeof msg, "%s", reel_last_error());
    tu_rmtree(dir);
    free(path);
    free(dir);
    return msg;
}

static void test_bad_models(void **state)
{
    (void)state;
    fx_model m;
    fx_model_init(&m);
    int idx = -1;
    for (int i = 0; i < m.n; i++)
        if (strcmp(m.t[i].name, "blk.2.ssm_in.weight") == 0) idx = i;
    const char *e = load_error(&m, idx, NULL);
    assert_true(tu_contains(e, "tensor 'blk.2.ssm_in.weight' is missing"));
    assert_true(tu_contains(e, "Mamba layer 2"));
    assert_true(tu_contains(e, "{16, 52}"));

    /* wrong shape: in_proj two rows short (the classic Di = expand*H mistake shows up so) */
    fx_tensor *t = fx_find(&m, "blk.0.ssm_in.weight");
    t->ne[1] -= 2;
    t->n = t->ne[0] * t->ne[1];
    e = load_error(&m, -1, NULL);
    assert_true(tu_contains(e, "tensor 'blk.0.ssm_in.weight': shape {16, 50}, expected {16, 52}"));
    t->ne[1] += 2;
    t->n = t->ne[0] * t->ne[1];

    t = fx_find(&m, "blk.3.attn_k.weight");
    t->ne[1] = 16; /* nkv*hd is 8 */
    t->n = 16 * 16;
    free(t->data);
    t->data = calloc(256, sizeof(float));
    e = load_error(&m, -1, NULL);
    assert_true(tu_contains(e, "tensor 'blk.3.attn_k.weight': shape {16, 16}, expected {16, 8}"));
    fx_model_free(&m);

    /* another architecture */
    char *dir = tu_tmpdir(), *path = tmp_path(dir, "llama.gguf");
    reel_gguf_writer *w = reel_gguf_writer_init();
    reel_gguf_writer_set_str(w, "general.architecture", "llama");
    assert_int_equal(reel_gguf_writer_write(w, path), 0);
    reel_gguf_writer_free(w);
    assert_null(reel_llm_desc_load(path));
    assert_int_equal(reel_last_error_code(), REEL_EUNSUPPORTED);
    assert_true(tu_contains(reel_last_error(), "architecture 'llama' is not supported"));
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* A two-layer nemotron_h_moe file ("ME"): MoE metadata and the stacked expert tensors. */
static void test_moe(void **state)
{
    (void)state;
    const int H = 8, E = 4, Fe = 6, Fs = 10, V = 12, nh = 2, P = 4, G = 1, N = 2, K = 3;
    const int Di = nh * P, Dc = Di + 2 * G * N;
    static float buf[65536];
    for (size_t i = 0; i < sizeof buf / sizeof *buf; i++) buf[i] = -0.5f;
    reel_gguf_writer *w = reel_gguf_writer_init();
    reel_gguf_writer_set_str(w, "general.architecture", "nemotron_h_moe");
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.block_count", 2);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.embedding_length", (uint32_t)H);
    /* per-layer arrays as UINT16 and INT64 scalars: any integer type is accepted */
    const uint16_t ff[2] = {0, (uint16_t)Fe};
    reel_gguf_writer_set_array(w, "nemotron_h_moe.feed_forward_length", REEL_GGUF_TYPE_UINT16, ff,
                               2);
    reel_gguf_value z = {.type = REEL_GGUF_TYPE_INT64, .i64 = 0};
    reel_gguf_writer_set(w, "nemotron_h_moe.attention.head_count_kv", &z);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.ssm.conv_kernel", (uint32_t)K);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.ssm.state_size", (uint32_t)N);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.ssm.group_count", (uint32_t)G);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.ssm.inner_size", (uint32_t)Di);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.ssm.time_step_rank", (uint32_t)nh);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.expert_count", (uint32_t)E);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.expert_used_count", 2);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.expert_feed_forward_length", (uint32_t)Fe);
    reel_gguf_writer_set_u32(w, "nemotron_h_moe.expert_shared_feed_forward_length", (uint32_t)Fs);
    reel_gguf_writer_set_bool(w, "nemotron_h_moe.expert_weights_norm", 1);
    reel_gguf_writer_set_f32(w, "nemotron_h_moe.expert_weights_scale", 2.5f);
    const struct {
        const char *name;
        int nd;
        int64_t ne[3];
    } T[] = {
        {"token_embd.weight", 2, {H, V}},
        {"output_norm.weight", 1, {H}},
        {"blk.0.attn_norm.weight", 1, {H}},
        {"blk.0.ssm_in.weight", 2, {H, 2 * Di + 2 * G * N + nh}},
        {"blk.0.ssm_conv1d.weight", 2, {K, Dc}},
        {"blk.0.ssm_dt.bias", 1, {nh}},
        {"blk.0.ssm_a", 2, {1, nh}},
        {"blk.0.ssm_d", 2, {1, nh}},
        {"blk.0.ssm_norm.weight", 2, {Di / G, G}},
        {"blk.0.ssm_out.weight", 2, {Di, H}},
        {"blk.1.attn_norm.weight", 1, {H}},
        {"blk.1.ffn_gate_inp.weight", 2, {H, E}},
        {"blk.1.exp_probs_b.bias", 1, {E}},
        {"blk.1.ffn_up_exps.weight", 3, {H, Fe, E}},
        {"blk.1.ffn_down_exps.weight", 3, {Fe, H, E}},
        {"blk.1.ffn_up_shexp.weight", 2, {H, Fs}},
        {"blk.1.ffn_down_shexp.weight", 2, {Fs, H}},
    };
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        size_t n = (size_t)T[i].ne[0] * (T[i].nd > 1 ? (size_t)T[i].ne[1] : 1) *
                   (T[i].nd > 2 ? (size_t)T[i].ne[2] : 1);
        assert_int_equal(
            reel_gguf_writer_add_tensor(w, T[i].name, REEL_DTYPE_F32, T[i].nd, T[i].ne, buf, n * 4),
            0);
    }
    char *dir = tu_tmpdir(), *path = tmp_path(dir, "moe.gguf");
    assert_int_equal(reel_gguf_writer_write(w, path), 0);
    reel_gguf_writer_free(w);
    reel_llm_desc *d = reel_llm_desc_load(path);
    if (!d) fail_msg("%s", reel_last_error());
    const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
    assert_string_equal(hp->arch, "nemotron_h_moe");
    assert_string_equal(hp->pattern, "ME");
    assert_int_equal(hp->layer_kind[1], REEL_LLM_LAYER_MOE);
    assert_int_equal(hp->n_expert, E);
    assert_int_equal(hp->n_expert_used, 2);
    assert_int_equal(hp->n_ff_exp, Fe);
    assert_int_equal(hp->n_ff_shexp, Fs);
    assert_int_equal(hp->expert_weights_norm, 1);
    assert_true(hp->expert_weights_scale == 2.5f);
    assert_int_equal(hp->n_vocab, V); /* no vocab_size key: from token_embd */
    assert_int_equal(reel_llm_desc_vocab(d)->n_tokens, 0);
    assert_int_equal(reel_llm_desc_tensor(d, "blk.1.ffn_down_exps.weight")->ne[2], E);
    reel_llm_desc_free(d);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),  cmocka_unit_test(test_writer_fill),
        cmocka_unit_test(test_tiny_model), cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_moe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
