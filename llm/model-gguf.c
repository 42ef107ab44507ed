/* GGUF metadata to a model description: hyperparameters and vocabulary (docs/model.md §4.1,
 * §5), and the file's tensors into the tensor table. */
#include "llm/model-impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct meta {
    const reel_gguf *g;
    const char *file;
    const char *arch;
} meta;

static const reel_gguf_value *mfind(const meta *m, const char *suffix, char *key, size_t ksize)
{
    snprintf(key, ksize, "%s.%s", m->arch, suffix);
    return reel_gguf_find(m->g, key);
}

/* An integer "<arch>.suffix" in [lo, hi]; def (if >= 0... see required) when absent. */
static int meta_int(const meta *m, const char *suffix, int required, int64_t def, int64_t lo,
                    int64_t hi, int64_t *out)
{
    char key[256];
    const reel_gguf_value *v = mfind(m, suffix, key, sizeof key);
    if (!v) {
        if (required)
            return reel_set_error(REEL_EFORMAT, "%s: metadata key '%s' is missing", m->file, key);
        *out = def;
        return 0;
    }
    int64_t x;
    if (reel_gguf_value_int(v, &x) < 0) return reel_error_prefix("%s: %s", m->file, key);
    if (x < lo || x > hi)
        return reel_set_error(REEL_EFORMAT,
                              "%s: %s = %" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
                              m->file, key, x, lo, hi);
    *out = x;
    return 0;
}

/* A per-layer integer: an array of n_layer integers or a scalar applied to every layer. Absent:
 * all zero. */
static int meta_layer_ints(const meta *m, const char *suffix, int n_layer, int64_t *out)
{
    char key[256];
    const reel_gguf_value *v = mfind(m, suffix, key, sizeof key);
    for (int i = 0; i < n_layer; i++) out[i] = 0;
    if (!v) return 0;
    if (v->type != REEL_GGUF_TYPE_ARRAY) {
        int64_t x;
        if (reel_gguf_value_int(v, &x) < 0) return reel_error_prefix("%s: %s", m->file, key);
        if (x < 0 || x > INT32_MAX)
            return reel_set_error(REEL_EFORMAT, "%s: %s = %" PRId64 " is out of range", m->file,
                                  key, x);
        for (int i = 0; i < n_layer; i++) out[i] = x;
        return 0;
    }
    if (v->n != (uint64_t)n_layer)
        return reel_set_error(REEL_EFORMAT, "%s: %s has %" PRIu64 " entries, block_count is %d",
                              m->file, key, v->n, n_layer);
    for (int i = 0; i < n_layer; i++) {
        if (reel_gguf_array_int(v, (uint64_t)i, &out[i]) < 0)
            return reel_error_prefix("%s: %s[%d]", m->file, key, i);
        if (out[i] < 0 || out[i] > INT32_MAX)
            return reel_set_error(REEL_EFORMAT, "%s: %s[%d] = %" PRId64 " is out of range", m->file,
                                  key, i, out[i]);
    }
    return 0;
}

static const char *gstr(const reel_gguf *g, const char *key)
{
    const reel_gguf_value *v = reel_gguf_find(g, key);
    return v && v->type == REEL_GGUF_TYPE_STRING ? v->str : NULL;
}

static int gguf_hparams(reel_llm_desc *d)
{
    const reel_gguf *g = d->gguf;
    reel_llm_hparams *hp = &d->hp;
    const char *arch = gstr(g, "general.architecture");
    if (!arch)
        return reel_set_error(REEL_EFORMAT,
                              "%s: metadata key 'general.architecture' is missing "
                              "or not a string",
                              d->path);
    if (strcmp(arch, "nemotron_h") != 0 && strcmp(arch, "nemotron_h_moe") != 0)
        return reel_set_error(REEL_EUNSUPPORTED,
                              "%s: architecture '%.64s' is not supported "
                              "(reel runs nemotron_h and nemotron_h_moe)",
                              d->path, arch);
    snprintf(hp->arch, sizeof hp->arch, "%s", arch);
    int moe = strcmp(arch, "nemotron_h_moe") == 0;
    meta m = {g, d->path, arch};
    int64_t L, H, v;
    if (meta_int(&m, "block_count", 1, 0, 1, 4096, &L) < 0) return REEL_EFORMAT;
    if (meta_int(&m, "embedding_length", 1, 0, 1, REELI_DIM_LIMIT, &H) < 0) return REEL_EFORMAT;
    hp->n_layer = (int)L;
    hp->n_embd = (int)H;
    int64_t *hkv = reel_xcalloc((size_t)L, sizeof *hkv), *ff = reel_xcalloc((size_t)L, sizeof *ff);
    int rc = meta_layer_ints(&m, "attention.head_count_kv", (int)L, hkv);
    if (rc == 0) rc = meta_layer_ints(&m, "feed_forward_length", (int)L, ff);
    if (rc < 0) goto out;
    hp->layer_kind = reel_xcalloc((size_t)L, sizeof *hp->layer_kind);
    hp->pattern = reel_xcalloc((size_t)L + 1, 1);
    for (int i = 0; i < L; i++) {
        /* llama.cpp's rule: attention iff head_count_kv > 0, MLP/MoE iff feed_forward > 0 */
        reel_llm_layer_kind k = REEL_LLM_LAYER_MAMBA;
        if (hkv[i] > 0 && ff[i] > 0) {
            rc = reel_set_error(REEL_EFORMAT,
                                "%s: layer %d has both attention heads and a "
                                "feed-forward size",
                                d->path, i);
            goto out;
        }
        if (hkv[i] > 0) {
            k = REEL_LLM_LAYER_ATTN;
            if (hp->n_head_kv && hp->n_head_kv != hkv[i]) {
                rc = reel_set_error(REEL_EUNSUPPORTED,
                                    "%s: attention layers with different KV "
                                    "head counts are not supported",
                                    d->path);
                goto out;
            }
            hp->n_head_kv = (int)hkv[i];
        } else if (ff[i] > 0) {
            k = moe ? REEL_LLM_LAYER_MOE : REEL_LLM_LAYER_MLP;
            if (hp->n_ff && hp->n_ff != ff[i]) {
                rc = reel_set_error(REEL_EUNSUPPORTED,
                                    "%s: MLP layers with different sizes are "
                                    "not supported",
                                    d->path);
                goto out;
            }
            hp->n_ff = (int)ff[i];
        }
        hp->layer_kind[i] = k;
        hp->pattern[i] = reel_llm_layer_kind_char(k);
    }
    int64_t x;
    if ((rc = meta_int(&m, "attention.head_count", 0, 0, 0, REELI_DIM_LIMIT, &x)) < 0) goto out;
    hp->n_head = (int)x;
    if ((rc = meta_int(&m, "attention.key_length", 0, 0, 0, REELI_DIM_LIMIT, &x)) < 0) goto out;
    if (x == 0 && (rc = meta_int(&m, "attention.value_length", 0, 0, 0, REELI_DIM_LIMIT, &x)) < 0)
        goto out;
    hp->head_dim = (int)x;
    if ((rc = meta_int(&m, "ssm.conv_kernel", 0, 0, 0, 1024, &x)) < 0) goto out;
    hp->ssm_d_conv = (int)x;
    if ((rc = meta_int(&m, "ssm.state_size", 0, 0, 0, REELI_DIM_LIMIT, &x)) < 0) goto out;
    hp->ssm_d_state = (int)x;
    if ((rc = meta_int(&m, "ssm.group_count", 0, 0, 0, REELI_DIM_LIMIT, &x)) < 0) goto out;
    hp->ssm_n_groups = (int)x;
    if ((rc = meta_int(&m, "ssm.inner_size", 0, 0, 0, REELI_DIM_LIMIT, &x)) < 0) goto out;
    hp->ssm_d_inner = (int)x;
    if ((rc = meta_int(&m, "ssm.time_step_rank", 0, 0, 0, REELI_DIM_LIMIT, &x)) < 0) goto out;
    hp->ssm_n_heads = (int)x;
    if ((rc = meta_int(&m, "context_length", 0, 0, 0, INT64_MAX, &hp->context_length)) < 0)
        goto out;
    if ((rc = meta_int(&m, "vocab_size", 0, 0, 0, INT32_MAX, &v)) < 0) goto out;
    hp->n_vocab = (int)v;
    char key[256];
    const reel_gguf_value *ev = mfind(&m, "attention.layer_norm_rms_epsilon", key, sizeof key);
    double eps = 1e-5;
    if (ev && reel_gguf_value_float(ev, &eps) < 0) {
        rc = reel_error_prefix("%s: %s", d->path, key);
        goto out;
    }
    hp->norm_eps = (float)eps;
    if (moe) {
        if ((rc = meta_int(&m, "expert_count", 0, 0, 0, 65536, &x)) < 0) goto out;
        hp->n_expert = (int)x;
        if ((rc = meta_int(&m, "expert_used_count", 0, 0, 0, 65536, &x)) < 0) goto out;
        hp->n_expert_used = (int)x;
        if ((rc = meta_int(&m, "expert_feed_forward_length", 0, hp->n_ff, 0, REELI_DIM_LIMIT, &x)) <
            0)
            goto out;
        hp->n_ff_exp = (int)x;
        if ((rc = meta_int(&m, "expert_shared_feed_forward_length", 0, 0, 0, REELI_DIM_LIMIT, &x)) <
            0)
            goto out;
        hp->n_ff_shexp = (int)x;
        if ((rc = meta_int(&m, "expert_weights_norm", 0, 0, 0, 1, &x)) < 0) goto out;
        hp->expert_weights_norm = (int)x;
        const reel_gguf_value *sv = mfind(&m, "expert_weights_scale", key, sizeof key);
        double s = 1.0;
        if (sv && reel_gguf_value_float(sv, &s) < 0) {
            rc = reel_error_prefix("%s: %s", d->path, key);
            goto out;
        }
        hp->expert_weights_scale = (float)s;
    }
out:
    free(hkv);
    free(ff);
    return rc;
}

/* Copies an array of strings into one owned blob; *out[i] point into it. */
static char **copy_strings(reel_llm_desc *d, const reel_gguf_value *v)
{
    size_t total = 0;
    for (uint64_t i = 0; i < v->n; i++) total += (size_t)v->items[i].n + 1;
    char *blob = reeli_desc_own(d, reel_xmalloc(total ? total : 1));
    char **out = reel_xcalloc(v->n ? (size_t)v->n : 1, sizeof *out);
    for (uint64_t i = 0; i < v->n; i++) {
        out[i] = blob;
        memcpy(blob, v->items[i].str, (size_t)v->items[i].n + 1);
        blob += v->items[i].n + 1;
    }
    return out;
}

static int gguf_special(reel_llm_desc *d, const char *what, int32_t *out)
{
    char key[96];
    snprintf(key, sizeof key, "tokenizer.ggml.%s", what);
    const reel_gguf_value *v = reel_gguf_find(d->gguf, key);
    *out = -1;
    if (!v) return 0;
    int64_t x;
    if (reel_gguf_value_int(v, &x) < 0) return reel_error_prefix("%s: %s", d->path, key);
    if (x < 0 || x >= d->vocab.n_tokens)
        return reel_set_error(REEL_EFORMAT, "%s: %s = %" PRId64 " is not a token id (%d tokens)",
                              d->path, key, x, d->vocab.n_tokens);
    *out = (int32_t)x;
    return 0;
}

static int gguf_vocab(reel_llm_desc *d)
{
    const reel_gguf *g = d->gguf;
    reel_llm_vocab *v = &d->vocab;
    v->bos_id = v->eos_id = v->unk_id = v->pad_id = -1;
    const char *s = gstr(g, "tokenizer.ggml.model");
    v->model = s ? reel_xstrdup(s) : NULL;
    s = gstr(g, "tokenizer.ggml.pre");
    v->pre = s ? reel_xstrdup(s) : NULL;
    s = gstr(g, "tokenizer.chat_template");
    v->chat_template = s ? reel_xstrdup(s) : NULL;
    const reel_gguf_value *tok = reel_gguf_find(g, "tokenizer.ggml.tokens");
    if (tok) {
        if (tok->type != REEL_GGUF_TYPE_ARRAY || tok->arr_type != REEL_GGUF_TYPE_STRING)
            return reel_set_error(REEL_EFORMAT,
                                  "%s: tokenizer.ggml.tokens is not an array of "
                                  "strings",
                                  d->path);
        if (tok->n > INT32_MAX) return reel_set_error(REEL_EFORMAT, "%s: too many tokens", d->path);
        v->n_tokens = (int)tok->n;
        v->tokens = copy_strings(d, tok);
    }
    v->token_type = reel_xcalloc(v->n_tokens ? (size_t)v->n_tokens : 1, sizeof *v->token_type);
    const reel_gguf_value *tt = reel_gguf_find(g, "tokenizer.ggml.token_type");
    for (int i = 0; i < v->n_tokens; i++) v->token_type[i] = 1;
    if (tt) {
        if (tt->type != REEL_GGUF_TYPE_ARRAY || tt->n != (uint64_t)v->n_tokens)
            return reel_set_error(REEL_EFORMAT,
                                  "%s: tokenizer.ggml.token_type must be an array of "
                                  "%d integers (one per token)",
                                  d->path, v->n_tokens);
        for (int i = 0; i < v->n_tokens; i++) {
            int64_t x;
            if (reel_gguf_array_int(tt, (uint64_t)i, &x) < 0)
                return reel_error_prefix("%s: tokenizer.ggml.token_type", d->path);
            if (x < 0 || x > 6)
                return reel_set_error(REEL_EFORMAT,
                                      "%s: tokenizer.ggml.token_type[%d] = %" PRId64
                                      " is not a token type (0..6)",
                                      d->path, i, x);
            v->token_type[i] = (int32_t)x;
        }
    }
    const reel_gguf_value *mg = reel_gguf_find(g, "tokenizer.ggml.merges");
    if (mg) {
        if (mg->type != REEL_GGUF_TYPE_ARRAY || mg->arr_type != REEL_GGUF_TYPE_STRING ||
            mg->n > INT32_MAX)
            return reel_set_error(REEL_EFORMAT,
                                  "%s: tokenizer.ggml.merges is not an array of "
                                  "strings",
                                  d->path);
        v->n_merges = (int)mg->n;
        v->merges = copy_strings(d, mg);
    }
    int32_t eot, eom;
    if (gguf_special(d, "bos_token_id", &v->bos_id) < 0 ||
        gguf_special(d, "eos_token_id", &v->eos_id) < 0 ||
        gguf_special(d, "unknown_token_id", &v->unk_id) < 0 ||
        gguf_special(d, "padding_token_id", &v->pad_id) < 0 ||
        gguf_special(d, "eot_token_id", &eot) < 0 || gguf_special(d, "eom_token_id", &eom) < 0)
        return REEL_EFORMAT;
    const reel_gguf_value *b = reel_gguf_find(g, "tokenizer.ggml.add_bos_token");
    v->add_bos = b && b->type == REEL_GGUF_TYPE_BOOL ? (int)b->u64 : 0;
    b = reel_gguf_find(g, "tokenizer.ggml.add_eos_token");
    v->add_eos = b && b->type == REEL_GGUF_TYPE_BOOL ? (int)b->u64 : 0;
    reeli_vocab_eog(v, eot, eom);
    return 0;
}

/* d->gguf is open: hparams, vocabulary, tensors. */
int reeli_desc_load_gguf(reel_llm_desc *d)
{
    d->format = "gguf";
    if (!d->gguf) return reel_last_error_code();
    d->file_size = reel_gguf_size(d->gguf);
    int rc = gguf_hparams(d);
    if (rc == 0) rc = gguf_vocab(d);
    if (rc < 0) return rc;
    int64_t n = reel_gguf_n_tensors(d->gguf);
    if (n > INT32_MAX) return reel_set_error(REEL_EFORMAT, "%s: too many tensors", d->path);
    for (int64_t i = 0; i < n; i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(d->gguf, i);
        reeli_desc_add(d, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    return 0;
}
