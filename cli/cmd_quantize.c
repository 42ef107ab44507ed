/* reel quantize: rewrites a GGUF model with its weight matrices in another TYPE, one type for
 * all ("pure") or a llama.cpp-like mix (q4_k_m, ...); which tensor gets which type is
 * llm/quantize.c's choice. Metadata is copied as is (general.file_type updated). Tensors are
 * converted while the output is written (one in memory at a time), rows split over the core
 * thread pool; the output is written atomically. */
#include "cli/cli.h"
#include "core/core.h"
#include "kernels/kernels.h"
#include "llm/gguf.h"
#include "llm/quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- conversion, called by the writer as it reaches each tensor ------------------------------ */
typedef struct {
    const reel_gguf_tensor *t;
    reel_dtype out;
    uint8_t *dst;
    float **rows; /* one row buffer per pool thread */
    int failed;
} qz_ctx;

static void qz_body(void *arg, int64_t begin, int64_t end, int thread)
{
    qz_ctx *c = arg;
    if (reel_llm_quant_rows(c->out, c->dst, c->t->type, c->t->data, c->t->ne[0], begin, end,
                            c->rows[thread]) < 0)
        c->failed = 1; /* each thread only ever sets it: a benign flag */
}

typedef struct {
    const reel_gguf *g;
    const char *src;
    reel_pool *pool;
    float **rows;
    reel_dtype *out; /* [n_tensors] */
    reel_progress *prog;
    uint64_t done_bytes;
    const char *bad; /* the tensor that failed to convert, if any */
} qz_run;

typedef struct {
    qz_run *run;
    int64_t index;
} qz_item;

static int qz_fill(void *ctx, const char *name, void *dst, size_t nbytes)
{
    (void)nbytes;
    qz_item *it = ctx;
    qz_run *r = it->run;
    const reel_gguf_tensor *t = reel_gguf_tensor_at(r->g, it->index);
    qz_ctx c = {t, r->out[it->index], dst, r->rows, 0};
    reel_pool_parallel_for(r->pool, (int64_t)(t->nbytes / reel_dtype_row_bytes(t->type, t->ne[0])),
                           qz_body, &c);
    if (c.failed) {
        r->bad = name;
        return reel_set_error(REEL_EUNSUPPORTED, "tensor '%s': cannot convert %s to %s", name,
                              reel_dtype_name(t->type), reel_dtype_name(c.out));
    }
    r->done_bytes += t->nbytes;
    if (r->prog) reel_progress_update(r->prog, r->done_bytes);
    return 0;
}

static void usage_types(char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < reel_llm_qtype_count() && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", reel_llm_qtype_at(i)->name);
}

static int run(int argc, char **argv)
{
    const char *pos[3] = {0};
    int n_pos = 0;
    long threads = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--threads")) {
            if (i + 1 >= argc) return reel_cli_usage("quantize", "%s needs a value", argv[i]);
            if (reel_cli_parse_int("quantize", argv[i], argv[i + 1], 1, 1024, &threads) < 0)
                return REEL_EXIT_USAGE;
            i++;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return reel_cli_usage("quantize", "unknown option '%s'", argv[i]);
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[i];
        } else {
            return reel_cli_usage("quantize", "unexpected argument '%s'", argv[i]);
        }
    }
    if (n_pos < 3) return reel_cli_usage("quantize", "expects IN.gguf OUT.gguf TYPE");
    const reel_llm_qtype *q = reel_llm_qtype_find(pos[2]);
    if (!q) {
        char list[256];
        usage_types(list, sizeof list);
        return reel_cli_usage("quantize", "TYPE must be one of %s; got '%s'", list, pos[2]);
    }
    const char *src = pos[0], *dst = pos[1];

    int rc = REEL_EXIT_FAIL;
    reel_gguf_writer *w = NULL;
    reel_pool *pool = NULL;
    float **rows = NULL;
    reel_dtype *outs = NULL;
    qz_item *items = NULL;
    int n_threads = 0;
    qz_run r = {0};
    reel_gguf *g = reel_gguf_open(src);
    if (!g) {
        reel_cli_error("quantize", "%s", reel_last_error());
        return REEL_EXIT_FAIL;
    }
    if (!reel_gguf_find(g, "general.architecture")) {
        reel_cli_error(src, "no general.architecture: not a model GGUF");
        goto done;
    }
    pool = reel_pool_init((int)threads);
    if (!pool) {
        rc = reel_cli_fail("quantize");
        goto done;
    }
    n_threads = reel_pool_size(pool);
    w = reel_gguf_writer_init();
    for (int64_t i = 0; i < reel_gguf_n_kv(g); i++) {
        const char *key = reel_gguf_kv_key(g, i);
        int e = !strcmp(key, "general.file_type")
                    ? reel_gguf_writer_set_u32(w, key, q->ftype)
                    : reel_gguf_writer_set(w, key, reel_gguf_kv_value(g, i));
        if (e < 0) {
            rc = reel_cli_fail(dst);
            goto done;
        }
    }
    if (!reel_gguf_find(g, "general.file_type") &&
        reel_gguf_writer_set_u32(w, "general.file_type", q->ftype) < 0) {
        rc = reel_cli_fail(dst);
        goto done;
    }
    const int64_t nt = reel_gguf_n_tensors(g);
    int64_t widest = 1;
    uint64_t total = 0, out_bytes = 0;
    int64_t per_type[REEL_DTYPE_COUNT] = {0};
    outs = reel_xcalloc((size_t)nt + 1, sizeof *outs);
    items = reel_xcalloc((size_t)nt + 1, sizeof *items);
    r = (qz_run){g, src, pool, NULL, outs, NULL, 0, NULL};
    reel_llm_quant_plan_gguf(g, q, outs);
    for (int64_t i = 0; i < nt; i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(g, i);
        const reel_dtype out = outs[i];
        if (out != t->type && !reel_kernels_dtype_supported(t->type)) {
            reel_cli_error(src, "tensor '%s': type %s cannot be decoded, so not requantized",
                           t->name,
                           reel_dtype_name(t->type) ? reel_dtype_name(t->type) : "unknown");
            goto done;
        }
        int64_t nel = 1;
        for (int d = 0; d < t->n_dims; d++) nel *= t->ne[d];
        const size_t nbytes = reel_dtype_row_bytes(out, nel);
        int e;
        if (out == t->type) { /* copied from the mapping */
            e = reel_gguf_writer_add_tensor(w, t->name, out, t->n_dims, t->ne, t->data, t->nbytes);
        } else {
            items[i] = (qz_item){&r, i};
            e = reel_gguf_writer_add_tensor_fill(w, t->name, out, t->n_dims, t->ne, nbytes, qz_fill,
                                                 &items[i]);
            if (t->ne[0] > widest) widest = t->ne[0];
            total += t->nbytes;
        }
        if (e < 0) {
            rc = reel_cli_fail(dst);
            goto done;
        }
        out_bytes += out == t->type ? t->nbytes : nbytes;
        if ((int)out >= 0 && (int)out < REEL_DTYPE_COUNT) per_type[out]++;
    }
    rows = reel_xcalloc((size_t)n_threads, sizeof *rows);
    for (int i = 0; i < n_threads; i++) rows[i] = reel_xmalloc((size_t)widest * sizeof(float));
    r.rows = rows;
    if (!quiet) r.prog = reel_progress_init("quantize", total, "B");
    if (reel_gguf_writer_write(w, dst) < 0) {
        if (r.bad)
            reel_cli_error(src, "%s", reel_last_error());
        else
            rc = reel_cli_fail(dst);
        goto done;
    }
    if (r.prog) reel_progress_finish(r.prog), r.prog = NULL;
    char a[32], b[32], counts[512];
    size_t o = 0;
    counts[0] = 0;
    for (int ty = 0; ty < REEL_DTYPE_COUNT && o < sizeof counts; ty++)
        if (per_type[ty])
            o += (size_t)snprintf(counts + o, sizeof counts - o, "%s%s %lld", o ? ", " : "",
                                  reel_dtype_name(ty) ? reel_dtype_name(ty) : "?",
                                  (long long)per_type[ty]);
    printf("%s: %s, %lld tensors (%s), %s -> %s\n", dst, q->name, (long long)nt, counts,
           reel_format_bytes((double)reel_gguf_size(g), a, sizeof a),
           reel_format_bytes((double)out_bytes, b, sizeof b));
    rc = REEL_EXIT_OK;
done:
    reel_progress_cancel(r.prog);
    if (rows)
        for (int i = 0; i < n_threads; i++) free(rows[i]);
    free(rows);
    free(outs);
    free(items);
    reel_gguf_writer_free(w);
    reel_pool_free(pool);
    reel_gguf_free(g);
    return rc;
}

static const reel_cli_cmd reel_cmd_quantize = {
    "quantize",
    "rewrite a GGUF model with quantized weight matrices (q4_k_m, q8_0, ...)",
    "Usage: reel quantize IN.gguf OUT.gguf TYPE [-t N] [-q]\n\n"
    "Reads a GGUF model and writes a copy whose weight matrices are quantized, in GGML's block\n"
    "layouts, so llama.cpp reads the result. TYPE is a mix, chosen per tensor as llama-quantize\n"
    "does:\n"
    "  q4_k_m   Q4_K; Q6_K for output.weight and for attn_v / ffn_down on \"more bits\" layers\n"
    "  q5_k_m   the same with Q5_K\n"
    "  q4_k_s   Q4_K; Q6_K output; Q5_K for the first 4 attn_v and ffn_down in the first\n"
    "           eighth of the layers\n"
    "  q5_k_s   Q5_K; Q6_K output\n"
    "or one type for every matrix, token_embd and output included (llama-quantize --pure):\n"
    "  q8_0 (8.5 bits per weight), q6_k (6.56), q5_1 (6), q5_0 (5.5), q5_k (5.5), q4_k (4.5),\n"
    "  iq4_nl (4.5), q4_0 (4.5), f16, bf16, f32.\n\n"
    "Rules, as llama-quantize's:\n"
    "  - \"more bits\": i < n/8, i >= 7n/8 or (i - n/8) % 3 == 2; for attn_v, i counts the\n"
    "    attn_v tensors by layer and n is their number; for ffn_down, i counts the ffn_down\n"
    "    tensors (the layer number in MoE models) and n is the number of layers. Nemotron-3-\n"
    "    Nano-4B: 9 of its 17 ffn_down, 2 of its 4 attn_v.\n"
    "  - models with exactly 8 experts: attn_k and attn_v Q8_0, attn_output Q5_K (q4_k_*).\n"
    "  - K types need rows of whole 256-blocks; other rows fall back: Q4_K -> Q5_0, Q5_K ->\n"
    "    Q5_1, Q6_K -> Q8_0 (with H = 3136, most matrices of the 4B become Q5_0 in q4_k_m);\n"
    "    rows that are not whole 32-blocks become F16.\n"
    "  - 1-D tensors, *_norm weights, ssm_conv1d, ssm_a, ssm_d, the MoE router and biases\n"
    "    stay F32.\n"
    "Quantized inputs are decoded and requantized. Q8_0, Q4_0, Q5_0 and Q5_1 are bit-exact with\n"
    "GGML's reference quantizers; the K types and IQ4_NL use reel's own search (round-trip\n"
    "error at or below llama-quantize's without an importance matrix). Metadata is copied and\n"
    "general.file_type set to llama.cpp's number for TYPE. Each tensor is converted as the\n"
    "output is written (one in memory at a time), to a temporary name renamed when complete.\n"
    "The summary line counts the tensors written in each type.\n\n"
    "Options:\n"
    "  -t, --threads N  threads (default: one per CPU)\n"
    "  -q, --quiet      no progress display\n\n"
    "Example:\n"
    "  reel quantize nano-4b-f16.gguf nano-4b-q4_k_m.gguf q4_k_m\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_quantize)
