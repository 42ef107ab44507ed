/* The tiny Nemotron-H model of llm_fixture.h. */
#include "testutil.h"
#include "llm_fixture.h"

#include "core/core.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 12345;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFF) / 65536.0f - 0.5f;
}

static fx_tensor *add(fx_model *m, const char *name, const char *hf, int nd, int64_t a, int64_t b)
{
    assert_true(m->n < FX_MAX_TENSORS);
    fx_tensor *t = &m->t[m->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->hf, sizeof t->hf, "%s", hf);
    t->n_dims = nd;
    t->ne[0] = a;
    t->ne[1] = nd > 1 ? b : 1;
    t->ne[2] = t->ne[3] = 1;
    t->n = t->ne[0] * t->ne[1];
    t->data = malloc((size_t)t->n * sizeof(float));
    for (int64_t i = 0; i < t->n; i++) t->data[i] = frand();
    return t;
}

static fx_tensor *addl(fx_model *m, int l, const char *name, const char *hf, int nd, int64_t a,
                       int64_t b)
{
    char g[64], h[96];
    snprintf(g, sizeof g, "blk.%d.%s", l, name);
    snprintf(h, sizeof h, "backbone.layers.%d.%s", l, hf);
    return add(m, g, h, nd, a, b);
}

static void build(fx_model *m);

void fx_model_init(fx_model *m)
{
    memset(m, 0, sizeof *m);
    m->H = 16, m->nh = 4, m->P = 4, m->G = 2, m->N = 4, m->K = 4;
    m->na = 2, m->nkv = 1, m->hd = 8, m->F = 24, m->V = 40;
    m->pattern = "M-M*-";
    build(m);
}

void fx_model_init_wide(fx_model *m)
{
    memset(m, 0, sizeof *m);
    m->H = 256, m->nh = 8, m->P = 32, m->G = 2, m->N = 16, m->K = 4;
    m->na = 4, m->nkv = 2, m->hd = 20, m->F = 288, m->V = 40;
    m->pattern = "M-*M-*-M*-";
    build(m);
    /* matrices at about unit gain (uniform +-0.5 over 256 inputs would amplify 4.6x per layer
     * and make the logits chaotic in the weights) */
    for (int i = 0; i < m->n; i++) {
        fx_tensor *t = &m->t[i];
        if (t->n_dims == 2 && t->ne[0] >= 40 && !strstr(t->name, "norm"))
            for (int64_t k = 0; k < t->n; k++) t->data[k] *= 0.25f;
    }
}

static void build(fx_model *m)
{
    rng = 12345;
    m->L = (int)strlen(m->pattern);
    int Di = m->nh * m->P, Dc = Di + 2 * m->G * m->N;
    add(m, "token_embd.weight", "backbone.embeddings.weight", 2, m->H, m->V);
    for (int l = 0; l < m->L; l++) {
        addl(m, l, "attn_norm.weight", "norm.weight", 1, m->H, 0);
        switch (m->pattern[l]) {
        case 'M': {
            addl(m, l, "ssm_in.weight", "mixer.in_proj.weight", 2, m->H,
                 2 * Di + 2 * m->G * m->N + m->nh);
            addl(m, l, "ssm_conv1d.weight", "mixer.conv1d.weight", 2, m->K, Dc);
            addl(m, l, "ssm_conv1d.bias", "mixer.conv1d.bias", 1, Dc, 0);
            addl(m, l, "ssm_dt.bias", "mixer.dt_bias", 1, m->nh, 0);
            fx_tensor *a = addl(m, l, "ssm_a", "mixer.A_log", 2, 1, m->nh);
            for (int i = 0; i < m->nh; i++) a->data[i] = 0.1f * (float)(i + 1) + 0.5f * a->data[i];
            addl(m, l, "ssm_d", "mixer.D", 2, 1, m->nh);
            addl(m, l, "ssm_norm.weight", "mixer.norm.weight", 2, Di / m->G, m->G);
            addl(m, l, "ssm_out.weight", "mixer.out_proj.weight", 2, Di, m->H);
            break;
        }
        case '*':
            addl(m, l, "attn_q.weight", "mixer.q_proj.weight", 2, m->H, m->na * m->hd);
            addl(m, l, "attn_k.weight", "mixer.k_proj.weight", 2, m->H, m->nkv * m->hd);
            addl(m, l, "attn_v.weight", "mixer.v_proj.weight", 2, m->H, m->nkv * m->hd);
            addl(m, l, "attn_output.weight", "mixer.o_proj.weight", 2, m->na * m->hd, m->H);
            break;
        case '-':
            addl(m, l, "ffn_up.weight", "mixer.up_proj.weight", 2, m->H, m->F);
            addl(m, l, "ffn_down.weight", "mixer.down_proj.weight", 2, m->F, m->H);
            break;
        }
    }
    add(m, "output_norm.weight", "backbone.norm_f.weight", 1, m->H, 0);
    add(m, "output.weight", "lm_head.weight", 2, m->H, m->V);
}

static float *scratch[FX_MAX_TENSORS];

void fx_model_free(fx_model *m)
{
    for (int i = 0; i < m->n; i++) free(m->t[i].data);
    for (int i = 0; i < FX_MAX_TENSORS; i++) {
        free(scratch[i]);
        scratch[i] = NULL;
    }
    memset(m, 0, sizeof *m);
}

fx_tensor *fx_find(fx_model *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    return NULL;
}

float fx_a_from_log(float a_log)
{
    return -expf(a_log);
}

/* The tokenizer: control tokens, a few byte-level pieces, filler. */
#define FX_NTOK 40
static const char *token_text(int i, char *buf)
{
    static const char *fixed[] = {"<unk>",
                                  "<s>",
                                  "</s>",
                                  "<|im_start|>",
                                  "<|im_end|>",
                                  "<think>",
                                  "</think>",
                                  "a",
                                  "b",
                                  "c",
                                  "d",
                                  "\xc4\xa0",
                                  "\xc4\x8a",
                                  "ab",
                                  "cd",
                                  "\xc4\xa0"
                                  "a",
                                  "abcd"};
    if (i < (int)(sizeof fixed / sizeof *fixed)) return fixed[i];
    sprintf(buf, "x%d", i);
    return buf;
}
static const char *MERGES[] = {"a b", "c d", "\xc4\xa0 a", "ab cd"};
#define FX_NMERGES 4
#define FX_TEMPLATE                                                                                \
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"

reel_gguf_writer *fx_gguf_writer(fx_model *m, int skip)
{
    reel_gguf_writer *w = reel_gguf_writer_init();
    int Di = m->nh * m->P;
    assert_int_equal(reel_gguf_writer_set_str(w, "general.architecture", "nemotron_h"), 0);
    assert_int_equal(reel_gguf_writer_set_str(w, "general.name", "tiny"), 0);
    reel_gguf_writer_set_u32(w, "nemotron_h.block_count", (uint32_t)m->L);
    reel_gguf_writer_set_u64(w, "nemotron_h.context_length", 1u << 20);
    reel_gguf_writer_set_u32(w, "nemotron_h.embedding_length", (uint32_t)m->H);
    int32_t hkv[16], ff[16];
    for (int l = 0; l < m->L; l++) {
        hkv[l] = m->pattern[l] == '*' ? m->nkv : 0;
        ff[l] = m->pattern[l] == '-' ? m->F : 0;
    }
    reel_gguf_writer_set_array(w, "nemotron_h.feed_forward_length", REEL_GGUF_TYPE_INT32, ff,
                               (uint64_t)m->L);
    reel_gguf_writer_set_u32(w, "nemotron_h.attention.head_count", (uint32_t)m->na);
    reel_gguf_writer_set_array(w, "nemotron_h.attention.head_count_kv", REEL_GGUF_TYPE_INT32, hkv,
                               (uint64_t)m->L);
    reel_gguf_writer_set_u32(w, "nemotron_h.attention.key_length", (uint32_t)m->hd);
    reel_gguf_writer_set_u32(w, "nemotron_h.attention.value_length", (uint32_t)m->hd);
    reel_gguf_writer_set_f32(w, "nemotron_h.attention.layer_norm_rms_epsilon", 1e-5f);
    reel_gguf_writer_set_u32(w, "nemotron_h.ssm.conv_kernel", (uint32_t)m->K);
    reel_gguf_writer_set_u32(w, "nemotron_h.ssm.state_size", (uint32_t)m->N);
    reel_gguf_writer_set_u32(w, "nemotron_h.ssm.group_count", (uint32_t)m->G);
    reel_gguf_writer_set_u32(w, "nemotron_h.ssm.inner_size", (uint32_t)Di);
    reel_gguf_writer_set_u32(w, "nemotron_h.ssm.time_step_rank", (uint32_t)m->nh);
    reel_gguf_writer_set_u32(w, "nemotron_h.vocab_size", (uint32_t)m->V);
    reel_gguf_writer_set_u32(w, "nemotron_h.rope.dimension_count", 78); /* meaningless */
    reel_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    reel_gguf_writer_set_str(w, "tokenizer.ggml.pre", "pixtral");
    const char *toks[FX_NTOK];
    char bufs[FX_NTOK][16];
    int32_t types[FX_NTOK];
    for (int i = 0; i < FX_NTOK; i++) {
        toks[i] = token_text(i, bufs[i]);
        types[i] = i < 7 ? 3 : 1;
    }
    reel_gguf_writer_set_array_str(w, "tokenizer.ggml.tokens", toks, FX_NTOK);
    reel_gguf_writer_set_array(w, "tokenizer.ggml.token_type", REEL_GGUF_TYPE_INT32, types,
                               FX_NTOK);
    reel_gguf_writer_set_array_str(w, "tokenizer.ggml.merges", MERGES, FX_NMERGES);
    reel_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    reel_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    reel_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    reel_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    reel_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
    reel_gguf_writer_set_str(w, "tokenizer.chat_template", FX_TEMPLATE);
    for (int i = 0; i < m->n; i++) {
        if (i == skip) continue;
        fx_tensor *t = &m->t[i];
        const float *data = t->data;
        if (strstr(t->name, "ssm_a")) {
            if (!scratch[i]) scratch[i] = malloc((size_t)t->n * sizeof(float));
            for (int64_t k = 0; k < t->n; k++) scratch[i][k] = fx_a_from_log(t->data[k]);
            data = scratch[i];
        }
        assert_int_equal(reel_gguf_writer_add_tensor(w, t->name, REEL_DTYPE_F32, t->n_dims, t->ne,
                                                     data, (size_t)t->n * 4),
                         0);
    }
    return w;
}

void fx_write_gguf(fx_model *m, const char *path)
{
    reel_gguf_writer *w = fx_gguf_writer(m, -1);
    if (reel_gguf_writer_write(w, path) < 0) fail_msg("%s", reel_last_error());
    reel_gguf_writer_free(w);
}

/* ---- HF directory ----------------------------------------------------------------------- */

static int hf_is_matrix(const fx_tensor *t)
{
    return t->n_dims == 2 && strstr(t->name, "_norm") == NULL &&
           strstr(t->name, "conv1d") == NULL && strstr(t->name, "ssm_a") == NULL &&
           strstr(t->name, "ssm_d") == NULL;
}

/* HF (PyTorch) shape of a tensor. */
static int hf_shape(const fx_model *m, const fx_tensor *t, int64_t *shape)
{
    if (strstr(t->name, "ssm_conv1d.weight")) {
        shape[0] = t->ne[1], shape[1] = 1, shape[2] = t->ne[0];
        return 3;
    }
    if (strstr(t->name, "ssm_a") || strstr(t->name, "ssm_d") || strstr(t->name, "ssm_norm")) {
        shape[0] = t->n;
        return 1;
    }
    (void)m;
    for (int i = 0; i < t->n_dims; i++) shape[i] = t->ne[t->n_dims - 1 - i];
    return t->n_dims;
}

static uint16_t to_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    b += 0x7FFF + ((b >> 16) & 1);
    return (uint16_t)(b >> 16);
}

static void write_shard(fx_model *m, const char *path, int first, int last, int bf16,
                        json_t *weight_map, const char *fname)
{
    json_t *hdr = json_object();
    json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
    size_t off = 0;
    for (int i = first; i < last; i++) {
        fx_tensor *t = &m->t[i];
        int64_t shape[4];
        int nd = hf_shape(m, t, shape);
        json_t *sh = json_array();
        for (int k = 0; k < nd; k++) json_array_append_new(sh, json_integer(shape[k]));
        int b = bf16 && hf_is_matrix(t);
        size_t nb = (size_t)t->n * (b ? 2 : 4);
        json_object_set_new(hdr, t->hf,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", b ? "BF16" : "F32", "shape", sh,
                                      "data_offsets", (json_int_t)off, (json_int_t)(off + nb)));
        off += nb;
        if (weight_map) json_object_set_new(weight_map, t->hf, json_string(fname));
    }
    char *text = json_dumps(hdr, JSON_COMPACT);
    size_t hn = strlen(text);
    size_t padded = (hn + 7) / 8 * 8;
    size_t total = 8 + padded + off;
    uint8_t *buf = calloc(1, total);
    for (int k = 0; k < 8; k++) buf[k] = (uint8_t)((uint64_t)padded >> (8 * k));
    memcpy(buf + 8, text, hn);
    memset(buf + 8 + hn, ' ', padded - hn);
    uint8_t *p = buf + 8 + padded;
    for (int i = first; i < last; i++) {
        fx_tensor *t = &m->t[i];
        int b = bf16 && hf_is_matrix(t);
        for (int64_t k = 0; k < t->n; k++) {
            if (b) {
                uint16_t h = to_bf16(t->data[k]);
                memcpy(p, &h, 2);
                p += 2;
            } else {
                memcpy(p, &t->data[k], 4);
                p += 4;
            }
        }
    }
    tu_write_file(path, buf, total);
    free(buf);
    free(text);
    json_decref(hdr);
}

static void write_json(const char *dir, const char *name, json_t *v)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = json_dumps(v, JSON_INDENT(2));
    tu_write_file(path, text, strlen(text));
    free(text);
    json_decref(v);
}

void fx_write_hf(fx_model *m, const char *dir, const fx_hf_opts *o)
{
    static const fx_hf_opts none;
    if (!o) o = &none;
    assert_int_equal(reel_mkdir_p(dir), 0);
    char path[1024];
    /* config.json, written as text so tests can append members */
    char cfg[4096];
    int n = snprintf(cfg, sizeof cfg,
                     "{\n  \"architectures\": [\"NemotronHForCausalLM\"],\n"
                     "  \"model_type\": \"nemotron_h\",\n  \"hidden_size\": %d,\n"
                     "  \"vocab_size\": %d,\n  \"mamba_num_heads\": %d,\n"
                     "  \"mamba_head_dim\": %d,\n  \"n_groups\": %d,\n  \"ssm_state_size\": %d,\n"
                     "  \"conv_kernel\": %d,\n  \"chunk_size\": 8,\n  \"expand\": 2,\n"
                     "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
                     "  \"intermediate_size\": %d,\n"
                     "  \"layer_norm_epsilon\": 1e-05,\n  \"max_position_embeddings\": 4096,\n"
                     "  \"tie_word_embeddings\": false,\n  \"bos_token_id\": 1,\n"
                     "  \"eos_token_id\": 2,\n  \"pad_token_id\": 0,\n  \"rope_theta\": 10000,\n"
                     "  \"mamba_hidden_act\": \"silu\",\n  \"use_conv_bias\": true,\n"
                     "  \"num_experts_per_tok\": 2,\n  \"n_routed_experts\": 8",
                     m->H, m->V, m->nh, m->P, m->G, m->N, m->K, m->na, m->nkv, m->F);
    if (o->layers_block_type)
        n += snprintf(cfg + n, sizeof cfg - (size_t)n, ",\n  \"layers_block_type\": %s",
                      o->layers_block_type);
    if (!o->no_pattern)
        n += snprintf(cfg + n, sizeof cfg - (size_t)n, ",\n  \"hybrid_override_pattern\": \"%s\"",
                      m->pattern);
    if (!o->no_head_dim)
        n += snprintf(cfg + n, sizeof cfg - (size_t)n, ",\n  \"head_dim\": %d", m->hd);
    if (!o->no_num_layers)
        n += snprintf(cfg + n, sizeof cfg - (size_t)n, ",\n  \"num_hidden_layers\": %d", m->L);
    if (o->extra_config) n += snprintf(cfg + n, sizeof cfg - (size_t)n, ",\n  %s", o->extra_config);
    snprintf(cfg + n, sizeof cfg - (size_t)n, "\n}\n");
    snprintf(path, sizeof path, "%s/config.json", dir);
    tu_write_file(path, cfg, strlen(cfg));

    if (o->sharded) {
        json_t *wm = json_object();
        int half = m->n / 2;
        snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
        write_shard(m, path, 0, half, o->bf16, wm, "model-00001-of-00002.safetensors");
        snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
        write_shard(m, path, half, m->n, o->bf16, wm, "model-00002-of-00002.safetensors");
        write_json(dir, "model.safetensors.index.json",
                   json_pack("{s:{s:i},s:o}", "metadata", "total_size", 0, "weight_map", wm));
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        write_shard(m, path, 0, m->n, o->bf16, NULL, NULL);
    }

    /* tokenizer.json */
    json_t *vocab = json_object(), *added = json_array(), *merges = json_array();
    char buf[16];
    for (int i = 0; i < FX_NTOK; i++) {
        const char *s = token_text(i, buf);
        if (i < 7)
            json_array_append_new(added,
                                  json_pack("{s:i,s:s,s:b}", "id", i, "content", s, "special", 1));
        json_object_set_new(vocab, s, json_integer(i));
    }
    for (int i = 0; i < FX_NMERGES; i++) json_array_append_new(merges, json_string(MERGES[i]));
    write_json(dir, "tokenizer.json",
               json_pack("{s:s,s:o,s:{s:s,s:[{s:s,s:{s:s},s:s},{s:s}]},s:{s:s,s:o,s:o}}", "version",
                         "1.0", "added_tokens", added, "pre_tokenizer", "type", "Sequence",
                         "pretokenizers", "type", "Split", "pattern", "Regex", "\\p{N}| ?\\p{L}+",
                         "behavior", "Isolated", "type", "ByteLevel", "model", "type", "BPE",
                         "vocab", vocab, "merges", merges));
    write_json(dir, "tokenizer_config.json",
               json_pack("{s:b,s:b,s:s,s:{s:s},s:s,s:s,s:s}", "add_bos_token", 1, "add_eos_token",
                         0, "bos_token", "<s>", "eos_token", "content", "<|im_end|>", "unk_token",
                         "<unk>", "pad_token", "<unk>", "chat_template", FX_TEMPLATE));
    write_json(dir, "generation_config.json",
               json_pack("{s:i,s:[i,i]}", "bos_token_id", 1, "eos_token_id", 2, 4));
}
