/* Hugging Face directories: config.json variants, safetensors (single, sharded, BF16), tokenizer
 * files, and the normalisation that makes an HF directory describe the same model as the GGUF
 * file written from the same weights. */
#include "testutil.h"
#include "llm_fixture.h"

#include "core/core.h"
#include "llm/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctx {
    char *dir;
    fx_model m;
} ctx;

static int setup(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    c->dir = tu_tmpdir();
    fx_model_init(&c->m);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx *c = *state;
    tu_rmtree(c->dir);
    free(c->dir);
    fx_model_free(&c->m);
    free(c);
    return 0;
}

static reel_llm_desc *load_hf(ctx *c, const char *sub, const fx_hf_opts *o)
{
    char *p = reel_xasprintf("%s/%s", c->dir, sub);
    fx_write_hf(&c->m, p, o);
    reel_llm_desc *d = reel_llm_desc_load(p);
    free(p);
    return d;
}

static const char *hf_error(ctx *c, const char *sub, const fx_hf_opts *o)
{
    static char msg[1024];
    reel_llm_desc *d = load_hf(c, sub, o);
    assert_null(d);
    snprintf(msg, sizeof msg, "%s", reel_last_error());
    return msg;
}

static float value_at(const reel_llm_tensor *t, int64_t i)
{
    if (t->type == REEL_DTYPE_F32) return ((const float *)t->data)[i];
    REEL_ASSERT(t->type == REEL_DTYPE_BF16);
    uint32_t b = (uint32_t)((const uint16_t *)t->data)[i] << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* The HF directory and the GGUF file of the same weights give the same description. */
static void compare(const reel_llm_desc *hf, const reel_llm_desc *gg, float tol)
{
    const reel_llm_hparams *a = reel_llm_desc_hparams(hf), *b = reel_llm_desc_hparams(gg);
    assert_string_equal(a->arch, b->arch);
    assert_string_equal(a->pattern, b->pattern);
    assert_int_equal(a->n_layer, b->n_layer);
    assert_int_equal(a->n_embd, b->n_embd);
    assert_int_equal(a->n_vocab, b->n_vocab);
    for (int i = 0; i < a->n_layer; i++) assert_int_equal(a->layer_kind[i], b->layer_kind[i]);
    assert_int_equal(a->ssm_n_heads, b->ssm_n_heads);
    assert_int_equal(a->ssm_head_dim, b->ssm_head_dim);
    assert_int_equal(a->ssm_d_inner, b->ssm_d_inner);
    assert_int_equal(a->ssm_n_groups, b->ssm_n_groups);
    assert_int_equal(a->ssm_d_state, b->ssm_d_state);
    assert_int_equal(a->ssm_d_conv, b->ssm_d_conv);
    assert_int_equal(a->n_head, b->n_head);
    assert_int_equal(a->n_head_kv, b->n_head_kv);
    assert_int_equal(a->head_dim, b->head_dim);
    assert_int_equal(a->n_ff, b->n_ff);
    assert_true(a->norm_eps == b->norm_eps);
    assert_int_equal(a->ssm_chunk_size, 8); /* HF only */

    assert_int_equal(reel_llm_desc_n_tensors(hf), reel_llm_desc_n_tensors(gg));
    for (int i = 0; i < reel_llm_desc_n_tensors(gg); i++) {
        const reel_llm_tensor *y = reel_llm_desc_tensor_at(gg, i);
        const reel_llm_tensor *x = reel_llm_desc_tensor(hf, y->name);
        if (!x) fail_msg("HF description lacks %s", y->name);
        int64_t n = reel_llm_tensor_nelements(y);
        assert_int_equal(reel_llm_tensor_nelements(x), n);
        if (!strstr(y->name, "ssm_norm")) /* {Di} vs {Di/G, G}: same elements */
            for (int k = 0; k < 4; k++) assert_int_equal(x->ne[k], y->ne[k]);
        assert_int_equal((uintptr_t)x->data % (x->type == REEL_DTYPE_F32 ? 4 : 2), 0);
        for (int64_t k = 0; k < n; k++) {
            float p = value_at(x, k), q = value_at(y, k);
            if (fabsf(p - q) > tol * (1 + fabsf(q)))
                fail_msg("%s[%lld]: %g vs %g", y->name, (long long)k, p, q);
        }
    }
    const reel_llm_vocab *v = reel_llm_desc_vocab(hf), *w = reel_llm_desc_vocab(gg);
    assert_int_equal(v->n_tokens, w->n_tokens);
    for (int i = 0; i < v->n_tokens; i++) {
        assert_string_equal(v->tokens[i], w->tokens[i]);
        assert_int_equal(v->token_type[i], w->token_type[i]);
    }
    assert_int_equal(v->n_merges, w->n_merges);
    for (int i = 0; i < v->n_merges; i++) assert_string_equal(v->merges[i], w->merges[i]);
    assert_string_equal(v->model, "gpt2");
    assert_int_equal(v->bos_id, w->bos_id);
    assert_int_equal(v->unk_id, w->unk_id);
    assert_int_equal(v->pad_id, w->pad_id);
    assert_int_equal(v->add_bos, 1);
    assert_string_equal(v->chat_template, w->chat_template);
}

static void test_same_as_gguf(void **state)
{
    ctx *c = *state;
    char *gp = reel_xasprintf("%s/m.gguf", c->dir);
    fx_write_gguf(&c->m, gp);
    reel_llm_desc *gg = reel_llm_desc_load(gp);
    if (!gg) fail_msg("%s", reel_last_error());
    reel_llm_desc *hf = load_hf(c, "hf", NULL);
    if (!hf) fail_msg("%s", reel_last_error());
    compare(hf, gg, 1e-6f);
    assert_string_equal(reel_llm_desc_format(hf), "safetensors");
    assert_true(reel_llm_desc_file_size(hf) > 0);
    assert_int_equal(reel_llm_desc_n_params(hf), reel_llm_desc_n_params(gg));
    /* normalisation: A = -exp(A_log) in F32 {1, nh}; conv1d {K, Dc}; D {1, nh} */
    const reel_llm_tensor *a = reel_llm_desc_tensor(hf, "blk.0.ssm_a");
    assert_int_equal(a->type, REEL_DTYPE_F32);
    assert_int_equal(a->ne[0], 1);
    assert_int_equal(a->ne[1], 4);
    assert_true(fabsf(((const float *)a->data)[1] -
                      fx_a_from_log(fx_find(&c->m, "blk.0.ssm_a")->data[1])) < 1e-6f);
    const reel_llm_tensor *cv = reel_llm_desc_tensor(hf, "blk.2.ssm_conv1d.weight");
    assert_int_equal(cv->n_dims, 2);
    assert_int_equal(cv->ne[0], 4);
    assert_int_equal(cv->ne[1], 32);
    const reel_llm_tensor *nw = reel_llm_desc_tensor(hf, "blk.0.ssm_norm.weight");
    assert_int_equal(nw->n_dims, 1);
    assert_int_equal(nw->ne[0], 16);
    /* tokenizer files */
    const reel_llm_vocab *v = reel_llm_desc_vocab(hf);
    assert_non_null(v->tokenizer_json);
    assert_true(tu_contains(v->tokenizer_json, "\"merges\""));
    assert_string_equal(v->pre_regex, "\\p{N}| ?\\p{L}+");
    assert_null(v->pre);
    assert_int_equal(v->eos_id, 4); /* tokenizer_config's eos_token "<|im_end|>" */
    int has2 = 0, has4 = 0;
    for (int i = 0; i < v->n_eog; i++) has2 |= v->eog_ids[i] == 2, has4 |= v->eog_ids[i] == 4;
    assert_true(has2 && has4); /* generation_config.json [2, 4] */
    reel_llm_desc_free(hf);
    reel_llm_desc_free(gg);
    free(gp);
}

static void test_bf16_sharded(void **state)
{
    ctx *c = *state;
    char *gp = reel_xasprintf("%s/m.gguf", c->dir);
    fx_write_gguf(&c->m, gp);
    reel_llm_desc *gg = reel_llm_desc_load(gp);
    fx_hf_opts o = {.bf16 = 1,
                    .sharded = 1,
                    .no_pattern = 1,
                    .no_num_layers = 1,
                    .no_head_dim = 1,
                    .layers_block_type =
                        "[\"linear_attention\", \"mlp\", \"mamba\", \"full_attention\", \"MLP\"]"};
    reel_llm_desc *hf = load_hf(c, "hf", &o);
    if (!hf) fail_msg("%s", reel_last_error());
    compare(hf, gg, 1.0f / 128); /* BF16 keeps 8 bits of mantissa */
    const reel_llm_tensor *t = reel_llm_desc_tensor(hf, "blk.0.ssm_in.weight");
    assert_int_equal(t->type, REEL_DTYPE_BF16);
    assert_int_equal(t->nbytes, 16 * 52 * 2);
    t = reel_llm_desc_tensor(hf, "blk.0.attn_norm.weight");
    assert_int_equal(t->type, REEL_DTYPE_F32);
    assert_int_equal(reel_llm_desc_hparams(hf)->head_dim, 8); /* from q_proj: 16 rows / 2 heads */
    reel_llm_desc_free(hf);
    reel_llm_desc_free(gg);
    free(gp);
}

static void test_config_errors(void **state)
{
    ctx *c = *state;
    fx_hf_opts o = {.no_num_layers = 1, .extra_config = "\"num_hidden_layers\": 52"};
    const char *e = hf_error(c, "a", &o);
    assert_true(tu_contains(e, "\"num_hidden_layers\" is 52 but the layer pattern has 5 layers"));
    o = (fx_hf_opts){.layers_block_type = "[\"mamba\", \"mlp\", \"mamba\", \"mlp\", \"mlp\"]"};
    e = hf_error(c, "b", &o);
    assert_true(tu_contains(e, "disagree at layer 3"));
    o = (fx_hf_opts){.no_pattern = 1};
    e = hf_error(c, "c", &o);
    assert_true(tu_contains(e, "neither \"hybrid_override_pattern\" nor \"layers_block_type\""));
    o = (fx_hf_opts){.no_pattern = 1, .layers_block_type = "[\"mamba\", \"conv\"]"};
    e = hf_error(c, "d", &o);
    assert_true(tu_contains(e, "\"layers_block_type\"[1] is not one of"));
    o = (fx_hf_opts){.extra_config = "\"mlp_hidden_act\": \"silu\""};
    e = hf_error(c, "act", &o);
    assert_true(tu_contains(e, "mlp_hidden_act 'silu' is not supported (relu2 is)"));
    /* wrong head count: the in_proj shape no longer matches (expand is ignored) */
    c->m.nh = 2;
    c->m.P = 8;
    e = hf_error(c, "e", NULL);
    assert_true(tu_contains(e, "tensor 'blk.0.ssm_in.weight': shape {16, 52}, expected {16, 50}"));
    c->m.nh = 4;
    c->m.P = 4;
    /* a tensor in a dtype reel does not compute */
    char *p = reel_xasprintf("%s/f", c->dir);
    fx_write_hf(&c->m, p, NULL);
    char *sp = reel_xasprintf("%s/model.safetensors", p);
    const char hdr[] = "{\"x\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
    uint8_t buf[8 + sizeof hdr - 1 + 16] = {0};
    buf[0] = sizeof hdr - 1;
    memcpy(buf + 8, hdr, sizeof hdr - 1);
    tu_write_file(sp, buf, sizeof buf);
    assert_null(reel_llm_desc_load(p));
    assert_true(tu_contains(reel_last_error(), "tensor 'x': dtype I64 is not supported"));
    free(sp);
    /* model_type */
    sp = reel_xasprintf("%s/config.json", p);
    const char *cfg = "{\"model_type\": \"llama\"}";
    tu_write_file(sp, cfg, strlen(cfg));
    assert_null(reel_llm_desc_load(p));
    assert_int_equal(reel_last_error_code(), REEL_EUNSUPPORTED);
    assert_true(tu_contains(reel_last_error(), "model_type 'llama' is not supported"));
    cfg = "{\"model_type\": \"nemotron_h\", \"hybrid_override_pattern\": \"M\"}";
    tu_write_file(sp, cfg, strlen(cfg));
    assert_null(reel_llm_desc_load(p));
    assert_true(tu_contains(reel_last_error(), "\"hidden_size\" is missing"));
    tu_write_file(sp, "{\"model_type\": ", 15);
    assert_null(reel_llm_desc_load(p));
    assert_true(tu_contains(reel_last_error(), "config.json"));
    free(sp);
    free(p);
}

static void test_missing_pieces(void **state)
{
    ctx *c = *state;
    char *p = reel_xasprintf("%s/g", c->dir);
    fx_write_hf(&c->m, p, NULL);
    char *sp = reel_xasprintf("%s/model.safetensors", p);
    assert_int_equal(remove(sp), 0);
    assert_null(reel_llm_desc_load(p));
    assert_int_equal(reel_last_error_code(), REEL_ENOTFOUND);
    assert_true(tu_contains(reel_last_error(), "no model.safetensors"));
    free(sp);
    free(p);
    /* an index naming a tensor its shard lacks */
    fx_hf_opts o = {.sharded = 1};
    p = reel_xasprintf("%s/h", c->dir);
    fx_write_hf(&c->m, p, &o);
    sp = reel_xasprintf("%s/model.safetensors.index.json", p);
    const char *idx =
        "{\"weight_map\": {\"lm_head.weight\": \"model-00001-of-00002.safetensors\"}}";
    tu_write_file(sp, idx, strlen(idx));
    assert_null(reel_llm_desc_load(p));
    assert_true(tu_contains(reel_last_error(), "tensor 'lm_head.weight' listed in the index"));
    idx = "{\"weight_map\": {\"lm_head.weight\": \"../evil.safetensors\"}}";
    tu_write_file(sp, idx, strlen(idx));
    assert_null(reel_llm_desc_load(p));
    assert_true(tu_contains(reel_last_error(), "is not a .safetensors file name in the folder"));
    free(sp);
    free(p);
    assert_null(reel_llm_desc_load("/nonexistent/model"));
    assert_int_equal(reel_last_error_code(), REEL_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_as_gguf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bf16_sharded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_pieces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
