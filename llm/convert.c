/* Writes a checkpoint as GGUF (llm/convert.h): the metadata llama.cpp's converter writes, then
 * every tensor in its planned type, produced by fill callbacks while the file is written. */
#include "llm/convert.h"

#include "core/core.h"
#include "llm/gguf.h"
#include "llm/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((rc = (call)) < 0) goto fail;                                                          \
    } while (0)

static int write_metadata(reel_gguf_writer *w, const reel_llm_hparams *hp, const reel_llm_vocab *v)
{
    int rc = 0;
    char key[128];
    /* the layers decide: transformers 5 writes MoE defaults (num_experts_per_tok, ...) into
     * every NemotronH config, so a dense checkpoint may be described as nemotron_h_moe */
    const char *a = "nemotron_h";
    for (int l = 0; l < hp->n_layer; l++)
        if (hp->layer_kind[l] == REEL_LLM_LAYER_MOE) a = "nemotron_h_moe";
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
    CHECK(reel_gguf_writer_set_str(w, "general.architecture", a));
    CHECK(reel_gguf_writer_set_u32(w, K("block_count"), (uint32_t)hp->n_layer));
    CHECK(reel_gguf_writer_set_u32(w, K("context_length"),
                                   (uint32_t)(hp->context_length > 0 ? hp->context_length : 4096)));
    CHECK(reel_gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)hp->n_embd));
    int32_t *ff = reel_xcalloc((size_t)hp->n_layer, sizeof *ff);
    int32_t *kv = reel_xcalloc((size_t)hp->n_layer, sizeof *kv);
    for (int l = 0; l < hp->n_layer; l++) {
        ff[l] = hp->layer_kind[l] == REEL_LLM_LAYER_MLP   ? hp->n_ff
                : hp->layer_kind[l] == REEL_LLM_LAYER_MOE ? hp->n_ff_exp
                                                          : 0;
        kv[l] = hp->layer_kind[l] == REEL_LLM_LAYER_ATTN ? hp->n_head_kv : 0;
    }
    rc = reel_gguf_writer_set_array(w, K("feed_forward_length"), REEL_GGUF_TYPE_INT32, ff,
                                    (uint64_t)hp->n_layer);
    if (rc == 0)
        rc = reel_gguf_writer_set_array(w, K("attention.head_count_kv"), REEL_GGUF_TYPE_INT32, kv,
                                        (uint64_t)hp->n_layer);
    free(ff);
    free(kv);
    if (rc < 0) goto fail;
    CHECK(reel_gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)hp->n_head));
    CHECK(reel_gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)hp->head_dim));
    CHECK(reel_gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)hp->head_dim));
    CHECK(reel_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), hp->norm_eps));
    /* some llama.cpp builds (llama-cpp-python 0.3.36) also read the non-RMS key for nemotron_h */
    CHECK(reel_gguf_writer_set_f32(w, K("attention.layer_norm_epsilon"), hp->norm_eps));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.conv_kernel"), (uint32_t)hp->ssm_d_conv));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.state_size"), (uint32_t)hp->ssm_d_state));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.group_count"), (uint32_t)hp->ssm_n_groups));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.inner_size"), (uint32_t)hp->ssm_d_inner));
    CHECK(reel_gguf_writer_set_u32(w, K("ssm.time_step_rank"), (uint32_t)hp->ssm_n_heads));
    CHECK(reel_gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)hp->n_vocab));
    if (!strcmp(a, "nemotron_h_moe")) {
        CHECK(reel_gguf_writer_set_u32(w, K("expert_count"), (uint32_t)hp->n_expert));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_used_count"), (uint32_t)hp->n_expert_used));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_feed_forward_length"), (uint32_t)hp->n_ff_exp));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_shared_feed_forward_length"),
                                       (uint32_t)hp->n_ff_shexp));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_shared_count"), hp->n_ff_shexp > 0 ? 1 : 0));
        CHECK(reel_gguf_writer_set_f32(w, K("expert_weights_scale"), hp->expert_weights_scale));
        CHECK(reel_gguf_writer_set_bool(w, K("expert_weights_norm"), hp->expert_weights_norm));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_group_count"), 1));
        CHECK(reel_gguf_writer_set_u32(w, K("expert_group_used_count"), 1));
    }
#undef K
    if (!v || v->n_tokens <= 0) return 0;
    CHECK(reel_gguf_writer_set_str(w, "tokenizer.ggml.model", v->model ? v->model : "gpt2"));
    CHECK(reel_gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre ? v->pre : "pixtral"));
    /* ids without a token (holes in a tokenizer.json) become unused "[PAD<id>]" entries */
    char **names = reel_xcalloc((size_t)v->n_tokens, sizeof *names);
    int32_t *types = reel_xcalloc((size_t)v->n_tokens, sizeof *types);
    for (int i = 0; i < v->n_tokens; i++) {
        names[i] = v->tokens[i] ? reel_xstrdup(v->tokens[i]) : reel_xasprintf("[PAD%d]", i);
        types[i] = !v->tokens[i] ? 5 : v->token_type ? v->token_type[i] : 1;
    }
    rc = reel_gguf_writer_set_array_str(w, "tokenizer.ggml.tokens", (const char *const *)names,
                                        (uint64_t)v->n_tokens);
    if (rc == 0)
        rc = reel_gguf_writer_set_array(w, "tokenizer.ggml.token_type", REEL_GGUF_TYPE_INT32, types,
                                        (uint64_t)v->n_tokens);
    for (int i = 0; i < v->n_tokens; i++) free(names[i]);
    free(names);
    free(types);
    if (rc < 0) goto fail;
    if (v->n_merges > 0)
        CHECK(reel_gguf_writer_set_array_str(
            w, "tokenizer.ggml.merges", (const char *const *)v->merges, (uint64_t)v->n_merges));
    const struct {
        const char *key;
        int32_t id;
    } ids[] = {{"tokenizer.ggml.bos_token_id", v->bos_id},
               {"tokenizer.ggml.eos_token_id", v->eos_id},
               {"tokenizer.ggml.unknown_token_id", v->unk_id},
               {"tokenizer.ggml.padding_token_id", v->pad_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id >= 0) CHECK(reel_gguf_writer_set_u32(w, ids[i].key, (uint32_t)ids[i].id));
    CHECK(reel_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos));
    CHECK(reel_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos));
    if (v->chat_template)
        CHECK(reel_gguf_writer_set_str(w, "tokenizer.chat_template", v->chat_template));
    return 0;
fail:
    return reel_error_prefix("metadata");
}

/* ---- tensors ----------------------------------------------------------------------------------
 */

/* One tensor of the output: a tensor of the description, or (n_src > 1) the E per-expert
 * tensors of an HF MoE layer stacked as {n_in, n_out, E}. */
typedef struct {
    char name[96];
    const reel_llm_tensor **src; /* [n_src], each converted to out one after the other */
    int n_src;
    reel_dtype out;
    int n_dims;
    int64_t ne[4];
} cv_tensor;

typedef struct {
    reel_pool *pool;
    float **rows; /* one row buffer per pool thread */
    reel_progress *prog;
    uint64_t done, total;
} cv_run;

typedef struct {
    cv_run *run;
    const cv_tensor *t;
} cv_item;

typedef struct {
    const reel_llm_tensor *t;
    reel_dtype out;
    uint8_t *dst;
    float **rows;
    int failed;
} cv_rows;

static void rows_body(void *arg, int64_t begin, int64_t end, int thread)
{
    cv_rows *c = arg;
    if (reel_llm_quant_rows(c->out, c->dst, c->t->type, c->t->data, c->t->ne[0], begin, end,
                            c->rows[thread]) < 0)
        c->failed = 1; /* each thread only ever sets it: a benign flag */
}

static int fill(void *ctx, const char *name, void *dst, size_t nbytes)
{
    (void)nbytes;
    const cv_item *it = ctx;
    const cv_tensor *t = it->t;
    cv_run *r = it->run;
    uint8_t *p = dst;
    for (int j = 0; j < t->n_src; j++) {
        const reel_llm_tensor *s = t->src[j];
        const int64_t n0 = s->ne[0], rows = reel_llm_tensor_nelements(s) / (n0 ? n0 : 1);
        cv_rows c = {s, t->out, p, r->rows, 0};
        reel_pool_parallel_for(r->pool, rows, rows_body, &c);
        if (c.failed)
            return reel_set_error(REEL_EUNSUPPORTED, "tensor %s: type %s cannot be converted to %s",
                                  name, reel_dtype_name(s->type), reel_dtype_name(t->out));
        p += reel_dtype_row_bytes(t->out, reel_llm_tensor_nelements(s));
        r->done += s->nbytes;
        if (r->prog) reel_progress_update(r->prog, r->done);
    }
    return 0;
}

/* The output tensors of d, in order: HF per-expert tensors become one stacked tensor (at the
 * place of expert 0), the flat gated-norm weight its GGUF shape. *n gets the count. */
static cv_tensor *plan_tensors(const reel_llm_desc *d, int *n)
{
    const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
    const int nt = reel_llm_desc_n_tensors(d);
    cv_tensor *ts = reel_xcalloc((size_t)nt + 1, sizeof *ts);
    int k = 0;
    for (int i = 0; i < nt; i++) {
        const reel_llm_tensor *t = reel_llm_desc_tensor_at(d, i);
        cv_tensor *o = &ts[k];
        int layer, expert;
        char which[8];
        if (sscanf(t->name, "blk.%d.ffn_%4[a-z]_exps.%d.weight", &layer, which, &expert) == 3) {
            /* HF keeps one tensor per expert; GGUF stacks them as {n_in, n_out, E} */
            if (expert != 0) continue;
            const int E = hp->n_expert;
            if (E < 1) {
                reel_set_error(REEL_EFORMAT, "%s: per-expert tensor in a model without experts",
                               t->name);
                goto fail;
            }
            o->src = reel_xcalloc((size_t)E, sizeof *o->src);
            for (int j = 0; j < E; j++) {
                char en[96];
                snprintf(en, sizeof en, "blk.%d.ffn_%s_exps.%d.weight", layer, which, j);
                const reel_llm_tensor *e = reel_llm_desc_tensor(d, en);
                if (!e || e->ne[0] != t->ne[0] || e->ne[1] != t->ne[1] || e->type != t->type) {
                    free(o->src);
                    reel_set_error(REEL_EFORMAT, "%s: missing, or unlike expert 0", en);
                    goto fail;
                }
                o->src[j] = e;
            }
            o->n_src = E;
            snprintf(o->name, sizeof o->name, "blk.%d.ffn_%s_exps.weight", layer, which);
            o->n_dims = 3;
            o->ne[0] = t->ne[0], o->ne[1] = t->ne[1], o->ne[2] = E, o->ne[3] = 1;
        } else {
            o->src = reel_xcalloc(1, sizeof *o->src);
            o->src[0] = t;
            o->n_src = 1;
            snprintf(o->name, sizeof o->name, "%s", t->name);
            o->n_dims = t->n_dims;
            memcpy(o->ne, t->ne, sizeof o->ne);
            /* HF's flat [Di] gated-norm weight is {Di/G, G} in GGUF (same element order) */
            if (o->n_dims == 1 && ends_with(t->name, "ssm_norm.weight") && hp->ssm_n_groups > 1 &&
                o->ne[0] % hp->ssm_n_groups == 0) {
                o->ne[1] = hp->ssm_n_groups;
                o->ne[0] /= hp->ssm_n_groups;
                o->n_dims = 2;
            }
        }
        k++;
    }
    *n = k;
    return ts;
fail:
    for (int i = 0; i < k; i++) free(ts[i].src);
    free(ts);
    return NULL;
}

int reel_llm_convert(const char *src, const char *dst, const reel_llm_qtype *q,
                     const reel_llm_convert_opts *opts, reel_llm_convert_info *info)
{
    const reel_llm_convert_opts none = {0};
    if (!opts) opts = &none;
    if (info) memset(info, 0, sizeof *info);
    if (!q) return reel_set_error(REEL_EINVAL, "convert: no weight type");
    int rc = 0, n = 0, n_threads = 0;
    reel_gguf_writer *w = NULL;
    cv_tensor *ts = NULL;
    cv_item *items = NULL;
    reel_llm_qtensor *qts = NULL;
    cv_run r = {0};
    reel_llm_desc *d = reel_llm_desc_load(src);
    if (!d) return reel_last_error_code(); /* the message names src */
    const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
    int has_mlp = 0, has_moe = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        has_mlp |= hp->layer_kind[l] == REEL_LLM_LAYER_MLP;
        has_moe |= hp->layer_kind[l] == REEL_LLM_LAYER_MOE;
    }
    if (has_mlp && has_moe) {
        /* GGUF marks both by feed_forward_length > 0 and tells them apart by the architecture */
        rc = reel_set_error(REEL_EUNSUPPORTED,
                            "%s: a model with both MLP and MoE layers cannot be written as GGUF",
                            src);
        goto done;
    }
    ts = plan_tensors(d, &n);
    if (!ts) {
        rc = reel_error_prefix("%s", src);
        goto done;
    }
    w = reel_gguf_writer_init();
    if ((rc = write_metadata(w, hp, reel_llm_desc_vocab(d))) < 0) {
        reel_error_prefix("%s", dst);
        goto done;
    }
    if ((rc = reel_gguf_writer_set_u32(w, "general.file_type", q->ftype)) < 0) goto done;
    qts = reel_xcalloc((size_t)n + 1, sizeof *qts);
    for (int i = 0; i < n; i++)
        qts[i] = (reel_llm_qtensor){ts[i].name, ts[i].src[0]->type, ts[i].n_dims, ts[i].ne[0]};
    const reel_llm_qmodel qm = {qts, n, hp->n_layer, has_moe ? hp->n_expert : 0};
    items = reel_xcalloc((size_t)n + 1, sizeof *items);
    int64_t widest = 1;
    for (int i = 0; i < n; i++) {
        cv_tensor *t = &ts[i];
        t->out = reel_llm_quant_type(&qm, i, q);
        const reel_llm_tensor *s0 = t->src[0];
        if (t->n_src == 1 && t->out == s0->type) { /* copied from the mapping */
            rc = reel_gguf_writer_add_tensor(w, t->name, t->out, t->n_dims, t->ne, s0->data,
                                             s0->nbytes);
        } else {
            int64_t nel = 1;
            for (int k = 0; k < t->n_dims; k++) nel *= t->ne[k];
            items[i] = (cv_item){&r, t};
            rc = reel_gguf_writer_add_tensor_fill(w, t->name, t->out, t->n_dims, t->ne,
                                                  reel_dtype_row_bytes(t->out, nel), fill,
                                                  &items[i]);
            if (s0->ne[0] > widest) widest = s0->ne[0];
            for (int j = 0; j < t->n_src; j++) r.total += t->src[j]->nbytes;
        }
        if (rc < 0) {
            reel_error_prefix("%s", dst);
            goto done;
        }
        if (info) {
            int64_t nel = 1;
            for (int k = 0; k < t->n_dims; k++) nel *= t->ne[k];
            info->bytes_out += reel_dtype_row_bytes(t->out, nel);
            if ((int)t->out >= 0 && (int)t->out < REEL_DTYPE_COUNT) info->per_type[t->out]++;
            info->n_tensors++;
        }
    }
    r.pool = reel_pool_init(opts->threads);
    if (!r.pool) {
        rc = reel_error_prefix("convert");
        goto done;
    }
    n_threads = reel_pool_size(r.pool);
    r.rows = reel_xcalloc((size_t)n_threads, sizeof *r.rows);
    for (int i = 0; i < n_threads; i++) r.rows[i] = reel_xmalloc((size_t)widest * sizeof(float));
    if (opts->label) r.prog = reel_progress_init(opts->label, r.total, "B");
    if ((rc = reel_gguf_writer_write(w, dst)) < 0) goto done;
    if (r.prog) reel_progress_finish(r.prog), r.prog = NULL;
done:
    if (rc < 0 && info) memset(info, 0, sizeof *info);
    reel_progress_cancel(r.prog);
    if (r.rows)
        for (int i = 0; i < n_threads; i++) free(r.rows[i]);
    free(r.rows);
    reel_pool_free(r.pool);
    for (int i = 0; i < n; i++) free(ts[i].src);
    free(ts);
    free(items);
    free(qts);
    reel_gguf_writer_free(w);
    reel_llm_desc_free(d);
    return rc;
}
