/* Hugging Face directories: config.json (docs/model.md §1), tokenizer.json, tokenizer_config.json,
 * generation_config.json (docs/model.md §5) and the safetensors shards, with HF tensor names mapped
 * to GGUF names and the normalisation rules of llm/model.h applied. */
#include "llm/model-impl.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CONFIG    (4u << 20)
#define MAX_TOKENIZER (256u << 20)

/* ---- config.json ------------------------------------------------------------------------ */

typedef struct cfg {
    const json_t *o;
    const char *file;
} cfg;

/* Integer member in [lo, hi]; *out = def when absent (error when required). */
static int cfg_int(const cfg *c, const char *key, int required, int64_t def, int64_t lo, int64_t hi,
                   int64_t *out)
{
    const json_t *v = json_object_get(c->o, key);
    if (!v || json_is_null(v)) {
        if (required) return reel_set_error(REEL_EFORMAT, "%s: \"%s\" is missing", c->file, key);
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return reel_set_error(REEL_EFORMAT, "%s: \"%s\" must be an integer", c->file, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return reel_set_error(REEL_EFORMAT,
                              "%s: \"%s\" = %" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
                              c->file, key, (int64_t)x, lo, hi);
    *out = x;
    return 0;
}

static int cfg_num(const cfg *c, const char *key, double def, double *out)
{
    const json_t *v = json_object_get(c->o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v))
        return reel_set_error(REEL_EFORMAT, "%s: \"%s\" must be a number", c->file, key);
    *out = json_number_value(v);
    return 0;
}

static int kind_from_word(const char *s, reel_llm_layer_kind *k)
{
    static const struct {
        const char *word;
        reel_llm_layer_kind kind;
    } W[] = {{"mamba", REEL_LLM_LAYER_MAMBA},
             {"linear_attention", REEL_LLM_LAYER_MAMBA},
             {"m", REEL_LLM_LAYER_MAMBA},
             {"attention", REEL_LLM_LAYER_ATTN},
             {"full_attention", REEL_LLM_LAYER_ATTN},
             {"*", REEL_LLM_LAYER_ATTN},
             {"mlp", REEL_LLM_LAYER_MLP},
             {"-", REEL_LLM_LAYER_MLP},
             {"moe", REEL_LLM_LAYER_MOE},
             {"e", REEL_LLM_LAYER_MOE}};
    for (size_t i = 0; i < sizeof W / sizeof *W; i++)
        if (strcasecmp(s, W[i].word) == 0) {
            *k = W[i].kind;
            return 0;
        }
    return -1;
}

static int kind_from_char(char ch, reel_llm_layer_kind *k)
{
    switch (ch) {
    case 'M':
        *k = REEL_LLM_LAYER_MAMBA;
        return 0;
    case '*':
        *k = REEL_LLM_LAYER_ATTN;
        return 0;
    case '-':
        *k = REEL_LLM_LAYER_MLP;
        return 0;
    case 'E':
        *k = REEL_LLM_LAYER_MOE;
        return 0;
    }
    return -1;
}

static int parse_pattern(reel_llm_desc *d, const cfg *c)
{
    reel_llm_hparams *hp = &d->hp;
    const json_t *pat = json_object_get(c->o, "hybrid_override_pattern");
    const json_t *list = json_object_get(c->o, "layers_block_type");
    if (pat && !json_is_null(pat) && !json_is_string(pat))
        return reel_set_error(REEL_EFORMAT, "%s: \"hybrid_override_pattern\" must be a string",
                              c->file);
    if (list && !json_is_null(list) && !json_is_array(list))
        return reel_set_error(REEL_EFORMAT, "%s: \"layers_block_type\" must be a list of strings",
                              c->file);
    if (!json_is_string(pat) && !json_is_array(list))
        return reel_set_error(REEL_EFORMAT,
                              "%s: neither \"hybrid_override_pattern\" nor "
                              "\"layers_block_type\" gives the layer pattern",
                              c->file);
    size_t L = json_is_string(pat) ? json_string_length(pat) : json_array_size(list);
    if (L == 0 || L > 4096)
        return reel_set_error(REEL_EFORMAT, "%s: the layer pattern has %zu layers", c->file, L);
    hp->n_layer = (int)L;
    hp->layer_kind = reel_xcalloc(L, sizeof *hp->layer_kind);
    hp->pattern = reel_xcalloc(L + 1, 1);
    for (size_t i = 0; i < L; i++) {
        reel_llm_layer_kind k;
        if (json_is_string(pat)) {
            char ch = json_string_value(pat)[i];
            if (kind_from_char(ch, &k) < 0)
                return reel_set_error(REEL_EFORMAT,
                                      "%s: \"hybrid_override_pattern\" has '%c' at "
                                      "layer %zu (expected M, *, - or E)",
                                      c->file, ch >= 32 && ch < 127 ? ch : '?', i);
        } else {
            const json_t *w = json_array_get(list, i);
            if (!json_is_string(w) || kind_from_word(json_string_value(w), &k) < 0)
                return reel_set_error(REEL_EFORMAT,
                                      "%s: \"layers_block_type\"[%zu] is not one of "
                                      "mamba, attention, mlp, moe",
                                      c->file, i);
        }
        hp->layer_kind[i] = k;
        hp->pattern[i] = reel_llm_layer_kind_char(k);
    }
    /* Both given: they must agree. */
    if (json_is_string(pat) && json_is_array(list)) {
        if (json_array_size(list) != L)
            return reel_set_error(REEL_EFORMAT,
                                  "%s: \"layers_block_type\" and "
                                  "\"hybrid_override_pattern\" differ in length",
                                  c->file);
        for (size_t i = 0; i < L; i++) {
            reel_llm_layer_kind k;
            const json_t *w = json_array_get(list, i);
            if (!json_is_string(w) || kind_from_word(json_string_value(w), &k) < 0 ||
                k != hp->layer_kind[i])
                return reel_set_error(REEL_EFORMAT,
                                      "%s: \"layers_block_type\" and "
                                      "\"hybrid_override_pattern\" disagree at "
                                      "layer %zu",
                                      c->file, i);
        }
    }
    int64_t nl = 0;
    if (cfg_int(c, "num_hidden_layers", 0, (int64_t)L, 0, 4096, &nl) < 0) return REEL_EFORMAT;
    if (nl != (int64_t)L)
        return reel_set_error(REEL_EFORMAT,
                              "%s: \"num_hidden_layers\" is %" PRId64 " but the "
                              "layer pattern has %zu layers",
                              c->file, nl, L);
    return 0;
}

static int parse_config(reel_llm_desc *d, const char *dir)
{
    char *path = reel_xasprintf("%s/config.json", dir);
    json_t *o = reel_json_load_file(path, MAX_CONFIG);
    int rc = 0;
    if (!o) {
        rc = reel_last_error_code();
        goto out;
    }
    cfg c = {o, path};
    reel_llm_hparams *hp = &d->hp;
    if (!json_is_object(o)) {
        rc = reel_set_error(REEL_EFORMAT, "%s: not a JSON object", path);
        goto out;
    }
    const char *mt = json_string_value(json_object_get(o, "model_type"));
    if (!mt || (strcmp(mt, "nemotron_h") != 0 && strcmp(mt, "nemotron_h_moe") != 0)) {
        rc = reel_set_error(REEL_EUNSUPPORTED,
                            "%s: model_type '%.64s' is not supported (reel "
                            "runs nemotron_h)",
                            path, mt ? mt : "(none)");
        goto out;
    }
    if ((rc = parse_pattern(d, &c)) < 0) goto out;
    /* MoE iff the pattern has 'E' layers: transformers 5 writes the MoE keys (with defaults)
     * into every nemotron_h config, dense ones included */
    int moe = strchr(hp->pattern, 'E') != NULL;
    snprintf(hp->arch, sizeof hp->arch, "%s", moe ? "nemotron_h_moe" : "nemotron_h");
    int has_m = strchr(hp->pattern, 'M') != NULL, has_a = strchr(hp->pattern, '*') != NULL;
    int has_f = strchr(hp->pattern, '-') != NULL;
    int64_t x, nh, P;
#define INT(key, req, def, lo, hi, field)                                                          \
    do {                                                                                           \
        if ((rc = cfg_int(&c, key, req, def, lo, hi, &x)) < 0) goto out;                           \
        field = (int)x;                                                                            \
    } while (0)
    INT("hidden_size", 1, 0, 1, REELI_DIM_LIMIT, hp->n_embd);
    INT("vocab_size", 0, 0, 0, INT32_MAX, hp->n_vocab);
    if ((rc = cfg_int(&c, "mamba_num_heads", has_m, 0, 0, REELI_DIM_LIMIT, &nh)) < 0) goto out;
    if ((rc = cfg_int(&c, "mamba_head_dim", has_m, 0, 0, REELI_DIM_LIMIT, &P)) < 0) goto out;
    hp->ssm_n_heads = (int)nh;
    hp->ssm_head_dim = (int)P;
    hp->ssm_d_inner = (int)(nh * P); /* never expand * hidden_size (docs/model.md §7.3) */
    if (nh * P > REELI_DIM_LIMIT) {
        rc =
            reel_set_error(REEL_EFORMAT, "%s: mamba_num_heads * mamba_head_dim is too large", path);
        goto out;
    }
    INT("n_groups", has_m, 0, 0, REELI_DIM_LIMIT, hp->ssm_n_groups);
    INT("ssm_state_size", has_m, 0, 0, REELI_DIM_LIMIT, hp->ssm_d_state);
    INT("conv_kernel", 0, 4, 1, 1024, hp->ssm_d_conv);
    INT("chunk_size", 0, 0, 0, REELI_DIM_LIMIT, hp->ssm_chunk_size);
    INT("num_attention_heads", has_a, 0, 0, REELI_DIM_LIMIT, hp->n_head);
    INT("num_key_value_heads", 0, hp->n_head, 0, REELI_DIM_LIMIT, hp->n_head_kv);
    INT("head_dim", 0, 0, 0, REELI_DIM_LIMIT, hp->head_dim); /* 0: taken from attn_q at load */
    INT("intermediate_size", has_f, 0, 0, REELI_DIM_LIMIT, hp->n_ff);
    if ((rc = cfg_int(&c, "max_position_embeddings", 0, 0, 0, INT64_MAX, &hp->context_length)) < 0)
        goto out;
    double eps;
    if ((rc = cfg_num(&c, "layer_norm_epsilon", 1e-5, &eps)) < 0) goto out;
    hp->norm_eps = (float)eps;
    if (moe) {
        INT("n_routed_experts", 1, 0, 1, 65536, hp->n_expert);
        INT("num_experts_per_tok", 1, 0, 1, 65536, hp->n_expert_used);
        INT("moe_intermediate_size", 1, 0, 1, REELI_DIM_LIMIT, hp->n_ff_exp);
        INT("moe_shared_expert_intermediate_size", 0, 0, 0, REELI_DIM_LIMIT, hp->n_ff_shexp);
        double s;
        if ((rc = cfg_num(&c, "routed_scaling_factor", 1.0, &s)) < 0) goto out;
        hp->expert_weights_scale = (float)s;
        const json_t *nt = json_object_get(o, "norm_topk_prob");
        hp->expert_weights_norm = nt ? json_is_true(nt) : 1;
    }
#undef INT
    /* activations are fixed by the architecture; refuse a config that says otherwise */
    const char *act = json_string_value(json_object_get(o, "mlp_hidden_act"));
    if (act && strcmp(act, "relu2") != 0) {
        rc = reel_set_error(REEL_EUNSUPPORTED,
                            "%s: mlp_hidden_act '%.32s' is not supported (relu2 "
                            "is)",
                            path, act);
        goto out;
    }
    act = json_string_value(json_object_get(o, "mamba_hidden_act"));
    if (act && strcmp(act, "silu") != 0) {
        rc = reel_set_error(REEL_EUNSUPPORTED,
                            "%s: mamba_hidden_act '%.32s' is not supported "
                            "(silu is)",
                            path, act);
        goto out;
    }
    const json_t *tie = json_object_get(o, "tie_word_embeddings");
    d->tie_embeddings = tie && json_is_true(tie);
    /* special ids as fallback for the tokenizer files */
    int64_t b, e, p;
    if (cfg_int(&c, "bos_token_id", 0, -1, -1, INT32_MAX, &b) == 0) d->vocab.bos_id = (int32_t)b;
    if (cfg_int(&c, "eos_token_id", 0, -1, -1, INT32_MAX, &e) == 0) d->vocab.eos_id = (int32_t)e;
    if (cfg_int(&c, "pad_token_id", 0, -1, -1, INT32_MAX, &p) == 0) d->vocab.pad_id = (int32_t)p;
    reel_clear_error();
out:
    json_decref(o);
    free(path);
    return rc;
}

/* ---- tensors ---------------------------------------------------------------------------- */

/* HF mixer member -> GGUF suffix. */
static const struct {
    const char *hf, *gguf;
} MIXER[] = {
    {"in_proj.weight", "ssm_in.weight"},
    {"conv1d.weight", "ssm_conv1d.weight"},
    {"conv1d.bias", "ssm_conv1d.bias"},
    {"dt_bias", "ssm_dt.bias"},
    {"A_log", "ssm_a"},
    {"D", "ssm_d"},
    {"norm.weight", "ssm_norm.weight"},
    {"out_proj.weight", "ssm_out.weight"},
    {"q_proj.weight", "attn_q.weight"},
    {"k_proj.weight", "attn_k.weight"},
    {"v_proj.weight", "attn_v.weight"},
    {"o_proj.weight", "attn_output.weight"},
    {"up_proj.weight", "ffn_up.weight"},
    {"down_proj.weight", "ffn_down.weight"},
    {"gate.weight", "ffn_gate_inp.weight"},
    {"gate.e_score_correction_bias", "exp_probs_b.bias"},
    {"shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
    {"shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
};

/* Maps an HF name to a GGUF name in out; returns 0, or -1 if the name is not a model tensor
 * reel knows (kept under its HF name). *layer gets the block index or -1. */
static int map_name(const char *hf, char *out, size_t size, int *layer)
{
    *layer = -1;
    const char *s = hf;
    if (strncmp(s, "backbone.", 9) == 0)
        s += 9;
    else if (strncmp(s, "model.", 6) == 0)
        s += 6;
    if (strcmp(hf, "lm_head.weight") == 0) {
        snprintf(out, size, "output.weight");
        return 0;
    }
    if (strcmp(s, "embeddings.weight") == 0 || strcmp(s, "embed_tokens.weight") == 0) {
        snprintf(out, size, "token_embd.weight");
        return 0;
    }
    if (strcmp(s, "norm_f.weight") == 0) {
        snprintf(out, size, "output_norm.weight");
        return 0;
    }
    int i, n = 0;
    if (sscanf(s, "layers.%d.%n", &i, &n) != 1 || n == 0 || i < 0) return -1;
    s += n;
    *layer = i;
    if (strcmp(s, "norm.weight") == 0) {
        snprintf(out, size, "blk.%d.attn_norm.weight", i);
        return 0;
    }
    if (strncmp(s, "mixer.", 6) != 0) return -1;
    s += 6;
    for (size_t k = 0; k < sizeof MIXER / sizeof *MIXER; k++)
        if (strcmp(s, MIXER[k].hf) == 0) {
            snprintf(out, size, "blk.%d.%s", i, MIXER[k].gguf);
            return 0;
        }
    /* optional projection biases (attention_bias, mlp_bias, mamba_proj_bias): x.bias for the
     * x.weight above */
    size_t sl = strlen(s);
    if (sl > 5 && sl < 64 && strcmp(s + sl - 5, ".bias") == 0) {
        char w[80];
        snprintf(w, sizeof w, "%.*s.weight", (int)(sl - 5), s);
        for (size_t k = 0; k < sizeof MIXER / sizeof *MIXER; k++)
            if (strcmp(w, MIXER[k].hf) == 0) {
                size_t gl = strlen(MIXER[k].gguf);
                snprintf(out, size, "blk.%d.%.*s.bias", i, (int)(gl - 7), MIXER[k].gguf);
                return 0;
            }
    }
    int j, m = 0;
    char what[32];
    if (sscanf(s, "experts.%d.%31[a-z_].weight%n", &j, what, &m) == 2 && s[m] == 0 && j >= 0 &&
        (strcmp(what, "up_proj") == 0 || strcmp(what, "down_proj") == 0)) {
        snprintf(out, size, "blk.%d.ffn_%s_exps.%d.weight", i, what[0] == 'u' ? "up" : "down", j);
        return 0;
    }
    return -1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Small tensors llama.cpp's converter keeps in F32; the loader converts them the same way. */
static int wants_f32(const char *gguf, int n_dims)
{
    return n_dims == 1 || ends_with(gguf, "norm.weight") || strstr(gguf, "ssm_conv1d") ||
           ends_with(gguf, ".ssm_a") || ends_with(gguf, ".ssm_d") ||
           ends_with(gguf, "ffn_gate_inp.weight");
}

static int add_hf_tensor(reel_llm_desc *d, const reeli_st_file *f, const reeli_st_tensor *st)
{
    if (st->dtype != REEL_DTYPE_F32 && st->dtype != REEL_DTYPE_F16 && st->dtype != REEL_DTYPE_BF16)
        return reel_set_error(REEL_EUNSUPPORTED,
                              "%s: tensor '%s': dtype %s is not supported "
                              "(F32, F16 and BF16 are)",
                              f->path, st->name, st->dtype_name);
    char name[256];
    int layer;
    if (map_name(st->name, name, sizeof name, &layer) < 0) {
        REEL_LOGW("%s: tensor '%s' is not part of a Nemotron-H model; kept under its name", f->path,
                  st->name);
        snprintf(name, sizeof name, "%s", st->name);
    }
    if (layer >= d->hp.n_layer)
        return reel_set_error(REEL_EFORMAT,
                              "%s: tensor '%s': layer %d is past the %d layers of "
                              "the pattern",
                              f->path, st->name, layer, d->hp.n_layer);
    /* PyTorch shape, slowest first -> ne, fastest first; size-1 dims squeezed for conv1d */
    int64_t ne[REELI_ST_MAX_DIMS];
    int nd = 0;
    for (int k = st->n_dims - 1; k >= 0; k--) {
        if (strstr(name, "ssm_conv1d.weight") && st->shape[k] == 1 && k != st->n_dims - 1) continue;
        ne[nd++] = st->shape[k];
    }
    if (nd == 0) ne[nd++] = 1;
    if (ends_with(name, ".ssm_a") || ends_with(name, ".ssm_d")) { /* [nh] -> {1, nh} */
        int64_t n = 1;
        for (int k = 0; k < nd; k++) n *= ne[k];
        ne[0] = 1, ne[1] = n, nd = 2;
    }
    if (nd > 4)
        return reel_set_error(REEL_EFORMAT, "%s: tensor '%s': %d dimensions (at most 4)", f->path,
                              st->name, nd);
    for (int k = 0; k < nd; k++)
        if (ne[k] == 0)
            return reel_set_error(REEL_EFORMAT, "%s: tensor '%s' is empty", f->path, st->name);
    size_t esize = st->dtype == REEL_DTYPE_F32 ? 4 : 2, n = st->nbytes / esize;
    if (wants_f32(name, nd) || ends_with(name, ".ssm_a")) {
        float *buf = reel_aligned_alloc(n ? n * 4 : 4, 64, 0, name);
        if (!buf) return reel_error_prefix("%s", f->path);
        reeli_desc_own(d, buf); /* aligned_alloc memory is free()-able (posix_memalign) */
        reeli_to_f32(buf, st->data, (reel_dtype)st->dtype, n);
        if (ends_with(name, ".ssm_a"))
            for (size_t k = 0; k < n; k++) buf[k] = -expf(buf[k]); /* A = -exp(A_log) */
        reeli_desc_add(d, name, REEL_DTYPE_F32, nd, ne, buf, n * 4);
        return 0;
    }
    const void *data = st->data;
    if ((uintptr_t)data % esize) { /* unaligned view: copy so typed access stays defined */
        void *buf = reel_aligned_alloc(st->nbytes ? st->nbytes : 1, 64, 0, name);
        if (!buf) return reel_error_prefix("%s", f->path);
        reeli_desc_own(d, buf);
        memcpy(buf, data, st->nbytes);
        data = buf;
    }
    reeli_desc_add(d, name, (reel_dtype)st->dtype, nd, ne, data, st->nbytes);
    return 0;
}

static int valid_shard_name(const char *s)
{
    return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           ends_with(s, ".safetensors");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Shard file names: from the index, model.safetensors, or every *.safetensors in dir. */
static int shard_names(const char *dir, char ***names, int *count, json_t **index)
{
    char *ip = reel_xasprintf("%s/model.safetensors.index.json", dir);
    *names = NULL;
    *count = 0;
    *index = NULL;
    int rc = 0;
    if (reel_file_exists(ip)) {
        json_t *o = reel_json_load_file(ip, MAX_CONFIG * 16);
        if (!o) {
            rc = reel_last_error_code();
            goto out;
        }
        json_t *wm = json_object_get(o, "weight_map");
        if (!json_is_object(wm)) {
            json_decref(o);
            rc = reel_set_error(REEL_EFORMAT, "%s: \"weight_map\" is missing", ip);
            goto out;
        }
        *index = o;
        const char *key;
        json_t *v;
        json_object_foreach(wm, key, v)
        {
            const char *fn = json_string_value(v);
            if (!fn || !valid_shard_name(fn)) {
                rc = reel_set_error(REEL_EFORMAT,
                                    "%s: weight_map[\"%.200s\"] is not a "
                                    ".safetensors file name in the folder",
                                    ip, key);
                goto out;
            }
            int seen = 0;
            for (int i = 0; i < *count && !seen; i++) seen = strcmp((*names)[i], fn) == 0;
            if (seen) continue;
            *names = reel_xrealloc(*names, (size_t)(*count + 1) * sizeof **names);
            (*names)[(*count)++] = reel_xstrdup(fn);
        }
    } else {
        char *one = reel_xasprintf("%s/model.safetensors", dir);
        int exists = reel_file_exists(one);
        free(one);
        if (exists) {
            *names = reel_xmalloc(sizeof **names);
            (*names)[(*count)++] = reel_xstrdup("model.safetensors");
        } else {
            DIR *dp = opendir(dir);
            struct dirent *e;
            while (dp && (e = readdir(dp)))
                if (e->d_name[0] != '.' && valid_shard_name(e->d_name)) {
                    *names = reel_xrealloc(*names, (size_t)(*count + 1) * sizeof **names);
                    (*names)[(*count)++] = reel_xstrdup(e->d_name);
                }
            if (dp) closedir(dp);
        }
    }
    if (*count == 0) {
        rc = reel_set_error(REEL_ENOTFOUND,
                            "%s: no model.safetensors, "
                            "model.safetensors.index.json or *.safetensors file",
                            dir);
        goto out;
    }
    qsort(*names, (size_t)*count, sizeof **names, cmp_str);
out:
    free(ip);
    return rc;
}

static int load_tensors(reel_llm_desc *d, const char *dir)
{
    char **names;
    int count;
    json_t *index;
    int rc = shard_names(dir, &names, &count, &index);
    if (rc < 0) goto out;
    d->shards = reel_xcalloc((size_t)count, sizeof *d->shards);
    for (int i = 0; i < count; i++) {
        char *p = reel_xasprintf("%s/%s", dir, names[i]);
        rc = reeli_st_open(&d->shards[d->n_shards++], p);
        free(p);
        if (rc < 0) goto out;
        d->file_size += d->shards[i].map.size;
    }
    if (index) { /* every tensor the index names must be in its shard */
        json_t *wm = json_object_get(index, "weight_map");
        const char *key;
        json_t *v;
        json_object_foreach(wm, key, v)
        {
            const reeli_st_file *f = NULL;
            for (int i = 0; i < d->n_shards; i++)
                if (ends_with(d->shards[i].path, json_string_value(v))) f = &d->shards[i];
            int found = 0;
            for (int k = 0; f && k < f->n_tensors && !found; k++)
                found = strcmp(f->tensors[k].name, key) == 0;
            if (!found) {
                rc = reel_set_error(REEL_EFORMAT,
                                    "%s: tensor '%.200s' listed in the index is "
                                    "not in the shard",
                                    f ? f->path : dir, key);
                goto out;
            }
        }
    }
    for (int i = 0; i < d->n_shards; i++)
        for (int k = 0; k < d->shards[i].n_tensors; k++)
            if ((rc = add_hf_tensor(d, &d->shards[i], &d->shards[i].tensors[k])) < 0) goto out;
out:
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
    json_decref(index);
    return rc;
}

/* ---- tokenizer files -------------------------------------------------------------------- */

static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static const char *split_regex(const json_t *pt)
{
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type) return NULL;
    if (strcmp(type, "Split") == 0)
        return json_string_value(json_object_get(json_object_get(pt, "pattern"), "Regex"));
    if (strcmp(type, "ByteLevel") == 0) {
        const json_t *ur = json_object_get(pt, "use_regex");
        return !ur || json_is_true(ur) ? GPT2_REGEX : NULL;
    }
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(pt, "pretokenizers");
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *r = split_regex(json_array_get(list, i));
            if (r) return r;
        }
    }
    return NULL;
}

static int32_t token_id(const reel_llm_vocab *v, const char *text)
{
    for (int i = 0; i < v->n_tokens; i++)
        if (v->tokens[i] && strcmp(v->tokens[i], text) == 0) return i;
    return -1;
}

static int set_token(reel_llm_desc *d, const char *file, int64_t id, const char *text, int32_t type)
{
    reel_llm_vocab *v = &d->vocab;
    if (id < 0 || id >= v->n_tokens)
        return reel_set_error(REEL_EFORMAT,
                              "%s: token id %" PRId64 " is outside the vocabulary "
                              "(%d)",
                              file, id, v->n_tokens);
    if (v->tokens[id] && strcmp(v->tokens[id], text) != 0 && type == 1)
        return reel_set_error(REEL_EFORMAT, "%s: token id %" PRId64 " is given twice", file, id);
    v->tokens[id] = reeli_desc_own(d, reel_xstrdup(text));
    v->token_type[id] = type;
    return 0;
}

static int parse_tokenizer_json(reel_llm_desc *d, const char *dir)
{
    reel_llm_vocab *v = &d->vocab;
    char *path = reel_xasprintf("%s/tokenizer.json", dir);
    char *text = NULL;
    size_t size;
    json_t *o = NULL;
    int rc = 0;
    if (!reel_file_exists(path)) goto out; /* no tokenizer: the description still loads */
    if ((rc = reel_file_read(path, MAX_TOKENIZER, &text, &size)) < 0) goto out;
    if (!(o = reel_json_parse(text, size, path))) {
        rc = reel_last_error_code();
        goto out;
    }
    const json_t *model = json_object_get(o, "model"), *vocab = json_object_get(model, "vocab");
    const json_t *merges = json_object_get(model, "merges"),
                 *added = json_object_get(o, "added_tokens");
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!type || strcmp(type, "BPE") != 0 || !json_is_object(vocab)) {
        rc = reel_set_error(REEL_EUNSUPPORTED,
                            "%s: model.type '%.32s' is not supported (reel "
                            "reads byte-level BPE with a vocab object)",
                            path, type ? type : "(none)");
        goto out;
    }
    v->model = reel_xstrdup("gpt2");
    /* ids are bounded by the entries there are (and the embedding rows) */
    int64_t limit = (int64_t)json_object_size(vocab) + (int64_t)json_array_size(added);
    if (d->hp.n_vocab > limit) limit = d->hp.n_vocab;
    int64_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)vocab, key, val)
    {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) >= limit) {
            rc = reel_set_error(REEL_EFORMAT, "%s: token '%.64s' has an invalid id", path, key);
            goto out;
        }
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i), *id = json_object_get(a, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= limit ||
            !json_is_string(json_object_get(a, "content"))) {
            rc = reel_set_error(REEL_EFORMAT,
                                "%s: added_tokens[%zu] needs an id within the "
                                "vocabulary and a content string",
                                path, i);
            goto out;
        }
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    v->n_tokens = (int)(max_id + 1);
    v->tokens = reel_xcalloc(v->n_tokens ? (size_t)v->n_tokens : 1, sizeof *v->tokens);
    v->token_type = reel_xcalloc(v->n_tokens ? (size_t)v->n_tokens : 1, sizeof *v->token_type);
    json_object_foreach((json_t *)vocab, key, val)
    {
        if ((rc = set_token(d, path, json_integer_value(val), key, 1)) < 0) goto out;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        int special = json_is_true(json_object_get(a, "special"));
        if ((rc = set_token(d, path, json_integer_value(json_object_get(a, "id")),
                            json_string_value(json_object_get(a, "content")), special ? 3 : 4)) < 0)
            goto out;
    }
    for (int i = 0; i < v->n_tokens; i++)
        if (!v->tokens[i]) { /* a gap in the ids */
            v->tokens[i] = reeli_desc_own(d, reel_xasprintf("[PAD%d]", i));
            v->token_type[i] = 5;
        }
    if (json_is_array(merges)) {
        size_t n = json_array_size(merges);
        v->merges = reel_xcalloc(n ? n : 1, sizeof *v->merges);
        for (size_t i = 0; i < n; i++) {
            const json_t *mg = json_array_get(merges, i);
            char *s;
            if (json_is_string(mg)) {
                s = reel_xstrdup(json_string_value(mg));
            } else if (json_is_array(mg) && json_array_size(mg) == 2 &&
                       json_is_string(json_array_get(mg, 0)) &&
                       json_is_string(json_array_get(mg, 1))) {
                s = reel_xasprintf("%s %s", json_string_value(json_array_get(mg, 0)),
                                   json_string_value(json_array_get(mg, 1)));
            } else {
                rc = reel_set_error(REEL_EFORMAT,
                                    "%s: model.merges[%zu] is not \"a b\" or "
                                    "[\"a\", \"b\"]",
                                    path, i);
                goto out;
            }
            v->merges[v->n_merges++] = reeli_desc_own(d, s);
        }
    }
    const char *re = split_regex(json_object_get(o, "pre_tokenizer"));
    v->pre_regex = re ? reel_xstrdup(re) : NULL;
    /* BOS added by the post-processor (TemplateProcessing starting with a special token) */
    const json_t *single = json_object_get(json_object_get(o, "post_processor"), "single");
    const char *first = json_string_value(
        json_object_get(json_object_get(json_array_get(single, 0), "SpecialToken"), "id"));
    if (first) {
        int32_t id = token_id(v, first);
        if (id >= 0) {
            v->add_bos = 1;
            v->bos_id = id;
        }
    }
    v->tokenizer_json = text;
    text = NULL;
out:
    json_decref(o);
    free(text);
    free(path);
    return rc;
}

/* A special token given as "text" or {"content": "text"}: its id, -2 if absent, -1 if unknown. */
static int32_t special_from(const reel_llm_vocab *v, const json_t *t)
{
    if (json_is_object(t)) t = json_object_get(t, "content");
    if (!json_is_string(t)) return -2;
    return token_id(v, json_string_value(t));
}

static int parse_tokenizer_config(reel_llm_desc *d, const char *dir)
{
    reel_llm_vocab *v = &d->vocab;
    char *path = reel_xasprintf("%s/tokenizer_config.json", dir);
    json_t *o = NULL;
    int rc = 0;
    if (reel_file_exists(path)) {
        if (!(o = reel_json_load_file(path, MAX_TOKENIZER))) {
            rc = reel_last_error_code();
            goto out;
        }
        const json_t *b = json_object_get(o, "add_bos_token");
        if (json_is_boolean(b)) v->add_bos = json_is_true(b);
        b = json_object_get(o, "add_eos_token");
        if (json_is_boolean(b)) v->add_eos = json_is_true(b);
        int32_t *ids[] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id};
        const char *keys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        for (int i = 0; i < 4; i++) {
            int32_t id = special_from(v, json_object_get(o, keys[i]));
            if (id >= 0) *ids[i] = id;
        }
        const json_t *ct = json_object_get(o, "chat_template");
        const char *tmpl = json_string_value(ct);
        for (size_t i = 0; !tmpl && i < json_array_size(ct); i++) { /* [{name, template}] */
            const json_t *e = json_array_get(ct, i);
            const char *name = json_string_value(json_object_get(e, "name"));
            if (i == 0 || (name && strcmp(name, "default") == 0))
                tmpl = json_string_value(json_object_get(e, "template"));
        }
        if (tmpl) v->chat_template = reel_xstrdup(tmpl);
    }
    if (!v->chat_template) { /* newer checkpoints: a separate chat_template.jinja */
        char *jp = reel_xasprintf("%s/chat_template.jinja", dir);
        char *text;
        size_t size;
        if (reel_file_exists(jp) && reel_file_read(jp, MAX_CONFIG, &text, &size) == 0)
            v->chat_template = text;
        free(jp);
    }
    int32_t *special[] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id};
    for (int i = 0; i < 4; i++)
        if (*special[i] >= v->n_tokens) *special[i] = -1;
    char *gp = reel_xasprintf("%s/generation_config.json", dir);
    if (reel_file_exists(gp)) {
        json_t *g = reel_json_load_file(gp, MAX_CONFIG);
        if (!g) {
            rc = reel_last_error_code();
            free(gp);
            goto out;
        }
        const json_t *e = json_object_get(g, "eos_token_id");
        size_t n = json_is_array(e) ? json_array_size(e) : 1;
        for (size_t i = 0; i < n; i++) {
            const json_t *x = json_is_array(e) ? json_array_get(e, i) : e;
            if (json_is_integer(x) && json_integer_value(x) >= 0 &&
                json_integer_value(x) < v->n_tokens) {
                int32_t id = (int32_t)json_integer_value(x);
                int seen = 0;
                for (int k = 0; k < v->n_eog; k++) seen |= v->eog_ids[k] == id;
                if (seen) continue;
                v->eog_ids = reel_xrealloc(v->eog_ids, (size_t)(v->n_eog + 1) * sizeof *v->eog_ids);
                v->eog_ids[v->n_eog++] = id;
            }
        }
        json_decref(g);
    }
    free(gp);
out:
    json_decref(o);
    free(path);
    return rc;
}

int reeli_hf_load(reel_llm_desc *d, const char *dir)
{
    d->format = "safetensors";
    int rc = parse_config(d, dir);
    if (rc == 0) rc = load_tensors(d, dir);
    if (rc == 0) rc = parse_tokenizer_json(d, dir);
    if (rc == 0) rc = parse_tokenizer_config(d, dir);
    if (rc == 0) {
        if (!d->vocab.token_type) d->vocab.token_type = reel_xcalloc(1, sizeof(int32_t));
        reeli_vocab_eog(&d->vocab, -1, -1);
    }
    return rc;
}
