/* Model descriptions: the tensor table, the public accessors, and the checks every source
 * (GGUF in model-gguf.c, HF directories in hfconfig.c and safetensors.c) goes through
 * (docs/model.md §4.3). */
#include "llm/model-impl.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers --------------------------------------------------------------------- */

void *reeli_desc_own(reel_llm_desc *d, void *p)
{
    if (d->n_owned == d->cap_owned) {
        d->cap_owned = d->cap_owned ? 2 * d->cap_owned : 64;
        d->owned = reel_xrealloc(d->owned, (size_t)d->cap_owned * sizeof *d->owned);
    }
    d->owned[d->n_owned++] = p;
    return p;
}

reel_llm_tensor *reeli_desc_add(reel_llm_desc *d, const char *name, reel_dtype type, int n_dims,
                                const int64_t *ne, const void *data, size_t nbytes)
{
    if (d->n_tensors == d->cap_tensors) {
        d->cap_tensors = d->cap_tensors ? 2 * d->cap_tensors : 256;
        d->tensors = reel_xrealloc(d->tensors, (size_t)d->cap_tensors * sizeof *d->tensors);
    }
    reel_llm_tensor *t = &d->tensors[d->n_tensors++];
    t->name = reeli_desc_own(d, reel_xstrdup(name));
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < 4; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    t->data = data;
    t->nbytes = nbytes;
    return t;
}

static uint16_t rd16(const void *p, size_t i)
{
    uint16_t v;
    memcpy(&v, (const uint8_t *)p + 2 * i, 2);
    return v;
}

static float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void reeli_to_f32(float *dst, const void *src, reel_dtype t, size_t n)
{
    switch (t) {
    case REEL_DTYPE_F32:
        memcpy(dst, src, n * 4);
        break;
    case REEL_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = half_to_f32(rd16(src, i));
        break;
    case REEL_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)rd16(src, i) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        break;
    default:
        REEL_ASSERT(!"reeli_to_f32: unsupported type");
    }
}

int64_t reel_llm_tensor_nelements(const reel_llm_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

char reel_llm_layer_kind_char(reel_llm_layer_kind k)
{
    switch (k) {
    case REEL_LLM_LAYER_MAMBA:
        return 'M';
    case REEL_LLM_LAYER_ATTN:
        return '*';
    case REEL_LLM_LAYER_MLP:
        return '-';
    case REEL_LLM_LAYER_MOE:
        return 'E';
    }
    return '?';
}

uint64_t reel_llm_hparams_state_bytes(const reel_llm_hparams *hp, int64_t ctx)
{
    uint64_t total = 0;
    uint64_t dc = (uint64_t)hp->ssm_d_inner + 2ull * (uint64_t)hp->ssm_n_groups * hp->ssm_d_state;
    for (int i = 0; i < hp->n_layer; i++) {
        if (hp->layer_kind[i] == REEL_LLM_LAYER_ATTN)
            total += 2ull * hp->n_head_kv * hp->head_dim * 2ull * (uint64_t)ctx;
        else if (hp->layer_kind[i] == REEL_LLM_LAYER_MAMBA)
            total += (uint64_t)(hp->ssm_d_conv > 0 ? hp->ssm_d_conv - 1 : 0) * dc * 4 +
                     (uint64_t)hp->ssm_n_heads * hp->ssm_head_dim * hp->ssm_d_state * 4;
    }
    return total;
}

/* ---- public accessors ------------------------------------------------------------------- */

void reel_llm_desc_free(reel_llm_desc *d)
{
    if (!d) return;
    reel_gguf_free(d->gguf);
    for (int i = 0; i < d->n_shards; i++) reeli_st_close(&d->shards[i]);
    free(d->shards);
    for (int i = 0; i < d->n_owned; i++) free(d->owned[i]);
    free(d->owned);
    free(d->tensors);
    free(d->order);
    free(d->hp.layer_kind);
    free(d->hp.pattern);
    reel_llm_vocab *v = &d->vocab;
    free(v->tokens);
    free(v->token_type);
    free(v->merges);
    free(v->model);
    free(v->pre);
    free(v->pre_regex);
    free(v->eog_ids);
    free(v->chat_template);
    free(v->tokenizer_json);
    free(d->path);
    free(d);
}

const reel_llm_hparams *reel_llm_desc_hparams(const reel_llm_desc *d)
{
    return &d->hp;
}

const reel_llm_vocab *reel_llm_desc_vocab(const reel_llm_desc *d)
{
    return &d->vocab;
}

const reel_llm_tensor *reel_llm_desc_tensor(const reel_llm_desc *d, const char *name)
{
    int lo = 0, hi = d->n_tensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(d->tensors[d->order[mid]].name, name);
        if (c == 0) return &d->tensors[d->order[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int reel_llm_desc_n_tensors(const reel_llm_desc *d)
{
    return d->n_tensors;
}

const reel_llm_tensor *reel_llm_desc_tensor_at(const reel_llm_desc *d, int i)
{
    return i >= 0 && i < d->n_tensors ? &d->tensors[i] : NULL;
}

const char *reel_llm_desc_path(const reel_llm_desc *d)
{
    return d->path;
}

const char *reel_llm_desc_format(const reel_llm_desc *d)
{
    return d->format;
}

uint64_t reel_llm_desc_file_size(const reel_llm_desc *d)
{
    return d->file_size;
}

int64_t reel_llm_desc_n_params(const reel_llm_desc *d)
{
    int64_t n = 0;
    for (int i = 0; i < d->n_tensors; i++) n += reel_llm_tensor_nelements(&d->tensors[i]);
    return n;
}

/* ---- end of generation ------------------------------------------------------------------ */

static void add_eog(reel_llm_vocab *v, int32_t id)
{
    if (id < 0) return;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog_ids[i] == id) return;
    v->eog_ids = reel_xrealloc(v->eog_ids, (size_t)(v->n_eog + 1) * sizeof *v->eog_ids);
    v->eog_ids[v->n_eog++] = id;
}

/* End-of-generation ids: eos, explicit eot/eom, and control tokens that end a chat turn. */
void reeli_vocab_eog(reel_llm_vocab *v, int32_t eot, int32_t eom)
{
    static const char *const TURN_END[] = {"</s>",       "<|im_end|>",    "<|end|>",
                                           "<|eot_id|>", "<|endoftext|>", "<SPECIAL_12>"};
    add_eog(v, v->eos_id);
    add_eog(v, eot);
    add_eog(v, eom);
    for (int i = 0; i < v->n_tokens; i++) {
        if (v->token_type[i] != 3) continue;
        for (size_t k = 0; k < sizeof TURN_END / sizeof *TURN_END; k++)
            if (strcmp(v->tokens[i], TURN_END[k]) == 0) add_eog(v, i);
    }
}

/* ---- checks common to every source ------------------------------------------------------ */

static const char *KIND_NAME[] = {"Mamba", "attention", "MLP", "MoE"};

static void shape_str(char *out, size_t size, int n, const int64_t *ne)
{
    size_t k = (size_t)snprintf(out, size, "{");
    for (int i = 0; i < n && k < size; i++)
        k += (size_t)snprintf(out + k, size - k, "%s%" PRId64, i ? ", " : "", ne[i]);
    if (k < size) snprintf(out + k, size - k, "}");
}

/* Dimensions of t without trailing 1s. */
static int effective_dims(const reel_llm_tensor *t)
{
    int n = 4;
    while (n > 1 && t->ne[n - 1] == 1) n--;
    return n;
}

/* Checks tensor `name` has shape exp (n dims, trailing 1s ignored) or, if alt_n > 0, alt.
 * what: the formula, for the message. */
static int expect(const reel_llm_desc *d, const char *name, int optional, const char *needed_by,
                  const char *what, int n, const int64_t *exp, int alt_n, const int64_t *alt)
{
    const reel_llm_tensor *t = reel_llm_desc_tensor(d, name);
    char e[128], a[128];
    shape_str(e, sizeof e, n, exp);
    if (!t) {
        if (optional) return 0;
        return reel_set_error(REEL_EFORMAT,
                              "%s: tensor '%s' is missing (needed by %s; expected "
                              "shape %s = %s)",
                              d->path, name, needed_by, e, what);
    }
    int tn = effective_dims(t);
    for (int pass = 0; pass < 2; pass++) {
        int m = pass ? alt_n : n;
        const int64_t *x = pass ? alt : exp;
        if (m <= 0) continue;
        int en = m;
        while (en > 1 && x[en - 1] == 1) en--;
        int ok = en == tn;
        for (int i = 0; ok && i < en; i++) ok = t->ne[i] == x[i];
        if (ok) return 0;
    }
    shape_str(a, sizeof a, t->n_dims, t->ne);
    return reel_set_error(REEL_EFORMAT, "%s: tensor '%s': shape %s, expected %s = %s", d->path,
                          name, a, e, what);
}

#define EXPECT(opt, what, ...)                                                                     \
    do {                                                                                           \
        const int64_t ex_[] = {__VA_ARGS__};                                                       \
        snprintf(nm, sizeof nm, "blk.%d.%s", i, tn);                                               \
        if (expect(d, nm, opt, by, what, (int)(sizeof ex_ / sizeof *ex_), ex_, 0, NULL) < 0)       \
            return REEL_EFORMAT;                                                                   \
    } while (0)

static int need_pos(const reel_llm_desc *d, const char *field, int v, const char *kind)
{
    if (v <= 0)
        return reel_set_error(REEL_EFORMAT, "%s: %s must be positive for %s layers (is %d)",
                              d->path, field, kind, v);
    return 0;
}

static int check_hparams(const reel_llm_desc *d)
{
    const reel_llm_hparams *hp = &d->hp;
    int has[4] = {0};
    for (int i = 0; i < hp->n_layer; i++) has[hp->layer_kind[i]] = 1;
    if (has[REEL_LLM_LAYER_MAMBA]) {
        if (need_pos(d, "ssm heads (nh)", hp->ssm_n_heads, "Mamba") < 0 ||
            need_pos(d, "ssm inner size (Di)", hp->ssm_d_inner, "Mamba") < 0 ||
            need_pos(d, "ssm groups (G)", hp->ssm_n_groups, "Mamba") < 0 ||
            need_pos(d, "ssm state size (N)", hp->ssm_d_state, "Mamba") < 0 ||
            need_pos(d, "ssm conv kernel (K)", hp->ssm_d_conv, "Mamba") < 0)
            return REEL_EFORMAT;
        if (hp->ssm_d_inner % hp->ssm_n_heads)
            return reel_set_error(REEL_EFORMAT,
                                  "%s: ssm inner size %d is not a multiple of the "
                                  "%d heads",
                                  d->path, hp->ssm_d_inner, hp->ssm_n_heads);
        if (hp->ssm_d_inner % hp->ssm_n_groups || hp->ssm_n_heads % hp->ssm_n_groups)
            return reel_set_error(REEL_EFORMAT,
                                  "%s: ssm inner size %d / heads %d are not "
                                  "multiples of the %d groups",
                                  d->path, hp->ssm_d_inner, hp->ssm_n_heads, hp->ssm_n_groups);
    }
    if (has[REEL_LLM_LAYER_ATTN]) {
        if (need_pos(d, "attention heads (na)", hp->n_head, "attention") < 0 ||
            need_pos(d, "KV heads (nkv)", hp->n_head_kv, "attention") < 0 ||
            need_pos(d, "head_dim (hd)", hp->head_dim, "attention") < 0)
            return REEL_EFORMAT;
        if (hp->n_head % hp->n_head_kv)
            return reel_set_error(REEL_EFORMAT,
                                  "%s: %d attention heads are not a multiple of the "
                                  "%d KV heads",
                                  d->path, hp->n_head, hp->n_head_kv);
    }
    if (has[REEL_LLM_LAYER_MLP] && need_pos(d, "feed-forward size (F)", hp->n_ff, "MLP") < 0)
        return REEL_EFORMAT;
    if (has[REEL_LLM_LAYER_MOE] &&
        (need_pos(d, "expert count", hp->n_expert, "MoE") < 0 ||
         need_pos(d, "experts used", hp->n_expert_used, "MoE") < 0 ||
         need_pos(d, "expert feed-forward size", hp->n_ff_exp, "MoE") < 0))
        return REEL_EFORMAT;
    if (hp->n_expert_used > hp->n_expert)
        return reel_set_error(REEL_EFORMAT, "%s: %d experts used of %d", d->path, hp->n_expert_used,
                              hp->n_expert);
    if (!(hp->norm_eps > 0 && hp->norm_eps < 1))
        return reel_set_error(REEL_EFORMAT, "%s: norm epsilon %g is out of range", d->path,
                              (double)hp->norm_eps);
    return 0;
}

static int check_tensors(reel_llm_desc *d)
{
    reel_llm_hparams *hp = &d->hp;
    const int64_t H = hp->n_embd;
    const reel_llm_tensor *emb = reel_llm_desc_tensor(d, "token_embd.weight");
    if (!emb)
        return reel_set_error(REEL_EFORMAT, "%s: tensor 'token_embd.weight' is missing", d->path);
    if (hp->n_vocab <= 0) hp->n_vocab = (int)(emb->ne[1] < INT32_MAX ? emb->ne[1] : 0);
    int64_t V = hp->n_vocab;
    const int64_t e2[] = {H, V}, e1[] = {H};
    if (expect(d, "token_embd.weight", 0, "the model", "{H, V}", 2, e2, 0, NULL) < 0 ||
        expect(d, "output_norm.weight", 0, "the model", "{H}", 1, e1, 0, NULL) < 0 ||
        expect(d, "output.weight", 1, "the model", "{H, V}", 2, e2, 0, NULL) < 0)
        return REEL_EFORMAT;
    if (d->vocab.n_tokens > V)
        return reel_set_error(REEL_EFORMAT,
                              "%s: the vocabulary has %d tokens but the embedding "
                              "only %" PRId64 " rows",
                              d->path, d->vocab.n_tokens, V);
    const int64_t nh = hp->ssm_n_heads, Di = hp->ssm_d_inner, G = hp->ssm_n_groups,
                  N = hp->ssm_d_state, K = hp->ssm_d_conv, Dc = Di + 2 * G * N;
    const int64_t q = (int64_t)hp->n_head * hp->head_dim,
                  kv = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t F = hp->n_ff, E = hp->n_expert, Fe = hp->n_ff_exp, Fs = hp->n_ff_shexp;
    char nm[160], by[64];
    const char *tn;
    for (int i = 0; i < hp->n_layer; i++) {
        reel_llm_layer_kind k = hp->layer_kind[i];
        snprintf(by, sizeof by, "%s layer %d", KIND_NAME[k], i);
        tn = "attn_norm.weight";
        EXPECT(0, "{H}", H);
        switch (k) {
        case REEL_LLM_LAYER_MAMBA: {
            tn = "ssm_in.weight";
            EXPECT(0, "{H, 2*Di + 2*G*N + nh}", H, 2 * Di + 2 * G * N + nh);
            tn = "ssm_conv1d.weight";
            EXPECT(0, "{K, Dc}", K, Dc);
            tn = "ssm_conv1d.bias";
            EXPECT(1, "{Dc}", Dc);
            tn = "ssm_dt.bias";
            EXPECT(0, "{nh}", nh);
            tn = "ssm_a";
            EXPECT(0, "{1, nh}", 1, nh);
            tn = "ssm_d";
            EXPECT(0, "{1, nh}", 1, nh);
            tn = "ssm_out.weight";
            EXPECT(0, "{Di, H}", Di, H);
            snprintf(nm, sizeof nm, "blk.%d.ssm_norm.weight", i);
            const int64_t ng[] = {Di / G, G}, flat[] = {Di};
            if (expect(d, nm, 0, by, "{Di/G, G}", 2, ng, 1, flat) < 0) return REEL_EFORMAT;
            break;
        }
        case REEL_LLM_LAYER_ATTN:
            tn = "attn_q.weight";
            EXPECT(0, "{H, na*hd}", H, q);
            tn = "attn_k.weight";
            EXPECT(0, "{H, nkv*hd}", H, kv);
            tn = "attn_v.weight";
            EXPECT(0, "{H, nkv*hd}", H, kv);
            tn = "attn_output.weight";
            EXPECT(0, "{na*hd, H}", q, H);
            break;
        case REEL_LLM_LAYER_MLP:
            tn = "ffn_up.weight";
            EXPECT(0, "{H, F}", H, F);
            tn = "ffn_down.weight";
            EXPECT(0, "{F, H}", F, H);
            break;
        case REEL_LLM_LAYER_MOE: {
            tn = "ffn_gate_inp.weight";
            EXPECT(0, "{H, n_expert}", H, E);
            tn = "exp_probs_b.bias";
            EXPECT(1, "{n_expert}", E);
            snprintf(nm, sizeof nm, "blk.%d.ffn_up_exps.weight", i);
            if (reel_llm_desc_tensor(d, nm)) {
                tn = "ffn_up_exps.weight";
                EXPECT(0, "{H, Fe, n_expert}", H, Fe, E);
                tn = "ffn_down_exps.weight";
                EXPECT(0, "{Fe, H, n_expert}", Fe, H, E);
            } else {
                char tb[64];
                for (int j = 0; j < E; j++) {
                    snprintf(tb, sizeof tb, "ffn_up_exps.%d.weight", j);
                    tn = tb;
                    EXPECT(0, "{H, Fe}", H, Fe);
                    snprintf(tb, sizeof tb, "ffn_down_exps.%d.weight", j);
                    EXPECT(0, "{Fe, H}", Fe, H);
                }
            }
            if (Fs > 0) {
                tn = "ffn_up_shexp.weight";
                EXPECT(0, "{H, Fs}", H, Fs);
                tn = "ffn_down_shexp.weight";
                EXPECT(0, "{Fs, H}", Fs, H);
            }
            break;
        }
        }
    }
    return 0;
}

static reel_llm_desc *sort_ctx;
static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(sort_ctx->tensors[*(const int *)a].name, sort_ctx->tensors[*(const int *)b].name);
}

int reeli_desc_finish(reel_llm_desc *d)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    d->order = reel_xcalloc(d->n_tensors ? (size_t)d->n_tensors : 1, sizeof *d->order);
    for (int i = 0; i < d->n_tensors; i++) d->order[i] = i;
    pthread_mutex_lock(&lock);
    sort_ctx = d;
    qsort(d->order, (size_t)d->n_tensors, sizeof *d->order, cmp_tensor);
    sort_ctx = NULL;
    pthread_mutex_unlock(&lock);
    for (int i = 1; i < d->n_tensors; i++)
        if (strcmp(d->tensors[d->order[i - 1]].name, d->tensors[d->order[i]].name) == 0)
            return reel_set_error(REEL_EFORMAT, "%s: tensor '%s' appears twice", d->path,
                                  d->tensors[d->order[i]].name);
    /* head_dim absent from the metadata: the q projection says it (never H/na) */
    for (int i = 0; d->hp.head_dim == 0 && d->hp.n_head > 0 && i < d->hp.n_layer; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", i);
        const reel_llm_tensor *q = reel_llm_desc_tensor(d, nm);
        if (q && q->ne[1] % d->hp.n_head == 0 && q->ne[1] / d->hp.n_head < REELI_DIM_LIMIT)
            d->hp.head_dim = (int)(q->ne[1] / d->hp.n_head);
    }
    int rc = check_hparams(d);
    if (rc == 0) rc = check_tensors(d);
    if (rc == 0 && d->hp.ssm_n_heads > 0)
        d->hp.ssm_head_dim = d->hp.ssm_d_inner / d->hp.ssm_n_heads;
    return rc;
}
