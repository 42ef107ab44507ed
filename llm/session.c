/* Sessions: the hybrid state of one sequence (KV cache of the attention layers, conv and SSM
 * state of the Mamba layers), batched decoding, snapshots. */
#include "llm/engine-impl.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

reel_llm_session_params reel_llm_session_default_params(void)
{
    reel_llm_session_params p = {0};
    p.kv_type = REEL_DTYPE_F16;
    return p;
}

static void *try_calloc(size_t n, size_t size)
{
    return n && size ? calloc(n, size) : NULL;
}

/* the buffers the kernels sweep by the megabyte (a batch's activations, the SSM state each
 * token reads and writes): on huge pages, zeroed */
static void *try_huge(size_t n, size_t size)
{
    size_t bytes;
    return n && size && reel_mul_size(n, size, &bytes) == 0 ? reel_huge_alloc(bytes, "session")
                                                            : NULL;
}

static size_t kv_bytes(const reel_llm_session *s, int64_t rows)
{
    const model_config *c = &s->m->c;
    return (size_t)rows * (size_t)c->nkv * (size_t)c->hd * (s->kv_type == REEL_DTYPE_F16 ? 2 : 4);
}

reel_llm_session *reel_llm_session_init(reel_llm_model *m, const reel_llm_session_params *params)
{
    reel_llm_session_params p = params ? *params : reel_llm_session_default_params();
    const model_config *c = &m->c;
    if (p.kv_type != REEL_DTYPE_F16 && p.kv_type != REEL_DTYPE_F32) {
        reel_set_error(REEL_EINVAL, "session: KV cache type must be F16 or F32");
        return NULL;
    }
    if (p.n_ctx < 0 || p.ssd_chunk < 0 || p.max_batch < 0) {
        reel_set_error(REEL_EINVAL, "session: negative context, chunk or batch size");
        return NULL;
    }
    if (p.n_ctx == 0) {
        p.n_ctx = 4096;
        if (m->hp->context_length > 0 && m->hp->context_length < p.n_ctx)
            p.n_ctx = m->hp->context_length;
    }
    if (p.n_ctx > ((int64_t)1 << 30)) {
        reel_set_error(REEL_ERANGE, "session: context of %lld positions is too large",
                       (long long)p.n_ctx);
        return NULL;
    }
    reel_llm_session *s = reel_xcalloc(1, sizeof *s);
    s->m = m;
    s->n_ctx = p.n_ctx;
    s->kv_type = p.kv_type;
    s->chunk = p.ssd_chunk ? p.ssd_chunk : 1; /* CPU: the recurrence (see llm.h) */
    s->max_batch = p.max_batch ? p.max_batch : 256;
    const size_t B = (size_t)s->max_batch;
    s->conv_state = reel_xcalloc((size_t)c->n_mamba + 1, sizeof(float *));
    s->ssm_state = reel_xcalloc((size_t)c->n_mamba + 1, sizeof(float *));
    s->k_cache = reel_xcalloc((size_t)c->n_attn + 1, sizeof(void *));
    s->v_cache = reel_xcalloc((size_t)c->n_attn + 1, sizeof(void *));
    for (int i = 0; i < c->n_mamba; i++) {
        if (c->K > 1 && !(s->conv_state[i] = try_calloc(reeli_conv_floats(c), sizeof(float))))
            goto oom;
        if (!(s->ssm_state[i] = try_huge(reeli_ssm_floats(c), sizeof(float)))) goto oom;
    }
    for (int i = 0; i < c->n_attn; i++) {
        if (!(s->k_cache[i] = try_calloc(kv_bytes(s, s->n_ctx), 1))) goto oom;
        if (!(s->v_cache[i] = try_calloc(kv_bytes(s, s->n_ctx), 1))) goto oom;
    }
    size_t ywide = (size_t)(c->Di > c->na * c->hd ? c->Di : c->na * c->hd);
    if (!(s->x = try_huge(B * (size_t)c->H, sizeof(float))) ||
        !(s->xn = try_huge(B * (size_t)c->H, sizeof(float))) ||
        !(s->out = try_huge(B * (size_t)c->H, sizeof(float))) ||
        !(s->proj = try_huge(B * (size_t)c->max_width, sizeof(float))) ||
        !(s->y = try_huge(B * (ywide ? ywide : 1), sizeof(float))) ||
        (c->n_mamba && !(s->conv = try_huge(B * (size_t)c->Dc, sizeof(float)))) ||
        (c->n_mamba && !(s->dt = try_calloc(B * (size_t)c->nh, sizeof(float)))) ||
        !(s->logits = try_calloc((size_t)c->V, sizeof(float))))
        goto oom;
    if (c->n_moe) {
        const size_t fw = (size_t)(c->Fe > c->Fs ? c->Fe : c->Fs);
        if (!(s->router = try_calloc(B * (size_t)c->E, sizeof(float))) ||
            !(s->sel = try_calloc(B * (size_t)c->k_used, sizeof(int32_t))) ||
            !(s->selw = try_calloc(B * (size_t)c->k_used, sizeof(float))) ||
            !(s->moe_x = try_calloc(B * (size_t)c->H, sizeof(float))) ||
            !(s->moe_h = try_calloc(B * fw, sizeof(float))) ||
            !(s->moe_y = try_calloc(B * (size_t)c->H, sizeof(float))) ||
            !(s->moe_tok = try_calloc(B, sizeof(int64_t))) ||
            !(s->moe_w = try_calloc(B, sizeof(float))))
            goto oom;
    }
    s->logits_cap = 1;
    return s;
oom:
    reel_llm_session_free(s);
    reel_set_error(REEL_ENOMEM, "session: no memory for a context of %lld positions",
                   (long long)p.n_ctx);
    return NULL;
}

void reel_llm_session_free(reel_llm_session *s)
{
    if (!s) return;
    const model_config *c = &s->m->c;
    for (int i = 0; i < c->n_mamba; i++) {
        free(s->conv_state[i]);
        reel_huge_free(s->ssm_state[i]);
    }
    for (int i = 0; i < c->n_attn; i++) {
        free(s->k_cache[i]);
        free(s->v_cache[i]);
    }
    free(s->conv_state), free(s->ssm_state), free(s->k_cache), free(s->v_cache);
    reel_huge_free(s->x), reel_huge_free(s->xn), reel_huge_free(s->out);
    reel_huge_free(s->proj), reel_huge_free(s->y), reel_huge_free(s->conv), free(s->dt);
    free(s->logits);
    free(s->router), free(s->sel), free(s->selw), free(s->moe_x), free(s->moe_h), free(s->moe_y);
    free(s->moe_tok), free(s->moe_w);
    free(s);
}

int reel_llm_session_decode(reel_llm_session *s, const int32_t *tokens, int64_t n, int all_logits)
{
    const model_config *c = &s->m->c;
    if (n < 1 || !tokens) return reel_set_error(REEL_EINVAL, "decode: no tokens");
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->V)
            return reel_set_error(REEL_EINVAL,
                                  "decode: token %lld is id %d, outside the "
                                  "vocabulary [0, %d)",
                                  (long long)i, tokens[i], c->V);
    if (s->pos + n > s->n_ctx)
        return reel_set_error(REEL_ERANGE,
                              "decode: context full: %lld tokens already and %lld "
                              "new exceed the context of %lld",
                              (long long)s->pos, (long long)n, (long long)s->n_ctx);
    int64_t rows = all_logits ? n : 1;
    if (rows > s->logits_cap) {
        float *l = realloc(s->logits, (size_t)rows * (size_t)c->V * sizeof(float));
        if (!l)
            return reel_set_error(REEL_ENOMEM, "decode: no memory for %lld rows of logits",
                                  (long long)rows);
        s->logits = l;
        s->logits_cap = rows;
    }
    s->n_logits = 0;
    for (int64_t done = 0; done < n;) {
        int64_t T = n - done < s->max_batch ? n - done : s->max_batch;
        int last = done + T == n;
        /* logits rows: all of them, or only the very last token of the call */
        int want = all_logits ? 1 : (last ? 0 : -1);
        int rc = reeli_forward_batch(s, tokens + done, T, want, all_logits ? done : 0);
        if (rc < 0) return rc;
        s->pos += T;
        done += T;
    }
    s->n_logits = rows;
    return 0;
}

/* Room for rows logits rows in s (kept as they are when there is already). */
static int logits_room(reel_llm_session *s, int64_t rows)
{
    if (rows <= s->logits_cap) return 0;
    float *l = realloc(s->logits, (size_t)rows * (size_t)s->m->c.V * sizeof(float));
    if (!l)
        return reel_set_error(REEL_ENOMEM, "decode: no memory for %lld rows of logits",
                              (long long)rows);
    s->logits = l;
    s->logits_cap = rows;
    return 0;
}

int reel_llm_session_decode_multi(reel_llm_session *const *s, const int32_t *tokens, int n)
{
    if (n < 1 || !s || !tokens) return reel_set_error(REEL_EINVAL, "decode: no sessions");
    const model_config *c = &s[0]->m->c;
    if (n > s[0]->max_batch)
        return reel_set_error(REEL_EINVAL,
                              "decode: %d sessions at once, more than the first one's batch of %d",
                              n, s[0]->max_batch);
    for (int i = 0; i < n; i++) {
        if (s[i]->m != s[0]->m)
            return reel_set_error(REEL_EINVAL, "decode: session %d has another model", i);
        for (int j = 0; j < i; j++)
            if (s[j] == s[i])
                return reel_set_error(REEL_EINVAL, "decode: session %d is also session %d", i, j);
        if (tokens[i] < 0 || tokens[i] >= c->V)
            return reel_set_error(REEL_EINVAL,
                                  "decode: session %d's token is id %d, outside the vocabulary "
                                  "[0, %d)",
                                  i, tokens[i], c->V);
        if (s[i]->pos + 1 > s[i]->n_ctx)
            return reel_set_error(REEL_ERANGE,
                                  "decode: context full: session %d holds %lld tokens of %lld", i,
                                  (long long)s[i]->pos, (long long)s[i]->n_ctx);
    }
    for (int i = 0; i < n; i++)
        if (logits_room(s[i], i == 0 ? n : 1) < 0) return REEL_ENOMEM;
    for (int i = 0; i < n; i++) s[i]->n_logits = 0;
    int rc = reeli_forward_multi(s, tokens, n);
    if (rc < 0) return rc;
    for (int i = 1; i < n; i++)
        memcpy(s[i]->logits, s[0]->logits + (size_t)i * (size_t)c->V, (size_t)c->V * sizeof(float));
    for (int i = 0; i < n; i++) {
        s[i]->pos += 1;
        s[i]->n_logits = 1;
    }
    return 0;
}

const float *reel_llm_session_logits(const reel_llm_session *s, int64_t i)
{
    if (s->n_logits == 0) return NULL;
    if (i == -1) i = s->n_logits - 1;
    if (i < 0 || i >= s->n_logits) return NULL;
    return s->logits + i * s->m->c.V;
}

int64_t reel_llm_session_pos(const reel_llm_session *s)
{
    return s->pos;
}

int64_t reel_llm_session_n_ctx(const reel_llm_session *s)
{
    return s->n_ctx;
}

int reel_llm_session_max_batch(const reel_llm_session *s)
{
    return s->max_batch;
}

reel_llm_model *reel_llm_session_model(const reel_llm_session *s)
{
    return s->m;
}

void reel_llm_session_reset(reel_llm_session *s)
{
    const model_config *c = &s->m->c;
    for (int i = 0; i < c->n_mamba; i++) {
        if (s->conv_state[i]) memset(s->conv_state[i], 0, reeli_conv_floats(c) * sizeof(float));
        memset(s->ssm_state[i], 0, reeli_ssm_floats(c) * sizeof(float));
    }
    /* KV rows at or past pos are never read before they are written again */
    s->pos = 0;
    s->n_logits = 0;
}

/* ---- snapshots ------------------------------------------------------------------------------- */

struct reel_llm_snapshot {
    const reel_llm_model *m;
    reel_dtype kv_type;
    int64_t pos;
    int has_logits;
    size_t bytes;
    unsigned char *data; /* conv states | ssm states | K rows | V rows (per layer) | logits */
};

reel_llm_snapshot *reel_llm_session_snapshot(const reel_llm_session *s)
{
    const model_config *c = &s->m->c;
    const size_t conv = reeli_conv_floats(c) * sizeof(float),
                 ssm = reeli_ssm_floats(c) * sizeof(float);
    const size_t kv = kv_bytes(s, s->pos);
    size_t bytes = (size_t)c->n_mamba * (conv + ssm) + (size_t)c->n_attn * 2 * kv +
                   (size_t)c->V * sizeof(float);
    reel_llm_snapshot *snap = calloc(1, sizeof *snap);
    unsigned char *d = snap ? malloc(bytes) : NULL;
    if (!d) {
        free(snap);
        reel_set_error(REEL_ENOMEM, "snapshot: no memory for %zu bytes", bytes);
        return NULL;
    }
    snap->m = s->m, snap->kv_type = s->kv_type, snap->pos = s->pos, snap->bytes = bytes;
    snap->data = d;
    for (int i = 0; i < c->n_mamba; i++) {
        if (conv) memcpy(d, s->conv_state[i], conv);
        memcpy(d + conv, s->ssm_state[i], ssm);
        d += conv + ssm;
    }
    for (int i = 0; i < c->n_attn; i++) {
        memcpy(d, s->k_cache[i], kv);
        memcpy(d + kv, s->v_cache[i], kv);
        d += 2 * kv;
    }
    const float *last = reel_llm_session_logits(s, -1);
    snap->has_logits = last != NULL;
    if (last) memcpy(d, last, (size_t)c->V * sizeof(float));
    return snap;
}

int reel_llm_session_restore(reel_llm_session *s, const reel_llm_snapshot *snap)
{
    const model_config *c = &s->m->c;
    if (snap->m != s->m || snap->kv_type != s->kv_type)
        return reel_set_error(REEL_EINVAL, "restore: the snapshot comes from a session of "
                                           "another model or KV cache type");
    if (snap->pos > s->n_ctx)
        return reel_set_error(REEL_EINVAL,
                              "restore: the snapshot holds %lld positions, more "
                              "than this session's context of %lld",
                              (long long)snap->pos, (long long)s->n_ctx);
    const size_t conv = reeli_conv_floats(c) * sizeof(float),
                 ssm = reeli_ssm_floats(c) * sizeof(float);
    const size_t kv = kv_bytes(s, snap->pos);
    const unsigned char *d = snap->data;
    for (int i = 0; i < c->n_mamba; i++) {
        if (conv) memcpy(s->conv_state[i], d, conv);
        memcpy(s->ssm_state[i], d + conv, ssm);
        d += conv + ssm;
    }
    for (int i = 0; i < c->n_attn; i++) {
        memcpy(s->k_cache[i], d, kv);
        memcpy(s->v_cache[i], d + kv, kv);
        d += 2 * kv;
    }
    s->pos = snap->pos;
    s->n_logits = snap->has_logits ? 1 : 0;
    if (snap->has_logits) memcpy(s->logits, d, (size_t)c->V * sizeof(float));
    return 0;
}

void reel_llm_snapshot_free(reel_llm_snapshot *snap)
{
    if (!snap) return;
    free(snap->data);
    free(snap);
}

size_t reel_llm_snapshot_size(const reel_llm_snapshot *snap)
{
    return snap->bytes + sizeof *snap;
}
