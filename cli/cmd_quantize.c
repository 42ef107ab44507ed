/* reel quantize: rewrites a GGUF model with its weight matrices in another type (Q8_0, Q4_0,
 * F16, BF16, F32). Metadata is copied as is (general.file_type updated); the tensors that
 * llama.cpp's tools keep in F32 stay F32: 1-D tensors, *_norm.weight, ssm_conv1d, ssm_a,
 * ssm_d, the MoE router (ffn_gate_inp) and biases. Rows that are not whole 32-blocks fall back
 * to F16. Work is split over rows with the core thread pool; the output is written atomically. */
#include "cli/cli.h"
#include "core/core.h"
#include "kernels/kernels.h"
#include "llm/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int keep_f32(const reel_gguf_tensor *t)
{
    return t->n_dims < 2 || ends_with(t->name, "_norm.weight") || strstr(t->name, "ssm_conv1d") ||
           strstr(t->name, "ssm_a") || strstr(t->name, "ssm_d") ||
           strstr(t->name, "ffn_gate_inp") || !ends_with(t->name, ".weight");
}

/* llama.cpp's llama_ftype of a file whose matrices are `type` */
static uint32_t file_type(reel_dtype type)
{
    switch (type) {
    case REEL_DTYPE_F32: return 0;
    case REEL_DTYPE_F16: return 1;
    case REEL_DTYPE_Q4_0: return 2;
    case REEL_DTYPE_Q8_0: return 7;
    case REEL_DTYPE_BF16: return 32;
    default: return 0;
    }
}

typedef struct {
    const reel_gguf_tensor *t;
    reel_dtype out;
    uint8_t *dst;
    int64_t n0;
    float **rows; /* one row buffer per pool thread */
    int failed;
} qz_ctx;

static void qz_body(void *arg, int64_t begin, int64_t end, int thread)
{
    qz_ctx *c = arg;
    const size_t in_rb = reel_dtype_row_bytes(c->t->type, c->n0);
    const size_t out_rb = reel_dtype_row_bytes(c->out, c->n0);
    float *row = c->rows[thread];
    for (int64_t r = begin; r < end; r++) {
        if (reel_kernels_dequantize_row(c->t->type, (const uint8_t *)c->t->data + r * in_rb, row,
                                        c->n0) < 0 ||
            reel_kernels_quantize_row(c->out, row, c->dst + (size_t)r * out_rb, c->n0) < 0) {
            c->failed = 1; /* each thread only ever sets it: a benign flag */
            return;
        }
    }
}

static int parse_type(const char *s, reel_dtype *out)
{
    static const struct {
        const char *name;
        reel_dtype t;
    } types[] = {{"q8_0", REEL_DTYPE_Q8_0}, {"q4_0", REEL_DTYPE_Q4_0}, {"f16", REEL_DTYPE_F16},
                 {"bf16", REEL_DTYPE_BF16}, {"f32", REEL_DTYPE_F32}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcasecmp(s, types[i].name)) return *out = types[i].t, 0;
    return -1;
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
    reel_dtype type;
    if (parse_type(pos[2], &type) < 0) {
        if (!strcasecmp(pos[2], "q4_k_m") || !strcasecmp(pos[2], "q4_k") ||
            !strcasecmp(pos[2], "q6_k") || !strcasecmp(pos[2], "q5_0"))
            return reel_cli_usage("quantize",
                                  "type '%s' cannot be written yet (reel reads it, but its "
                                  "quantizer is missing); use q8_0 or q4_0",
                                  pos[2]);
        return reel_cli_usage("quantize", "TYPE must be q8_0, q4_0, f16, bf16 or f32, got '%s'",
                              pos[2]);
    }
    const char *src = pos[0], *dst = pos[1];

    int rc = REEL_EXIT_FAIL;
    reel_gguf_writer *w = NULL;
    reel_pool *pool = NULL;
    reel_progress *prog = NULL;
    void **bufs = NULL;
    float **rows = NULL;
    int n_bufs = 0, n_threads = 0;
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
        int r = !strcmp(key, "general.file_type")
                    ? reel_gguf_writer_set_u32(w, key, file_type(type))
                    : reel_gguf_writer_set(w, key, reel_gguf_kv_value(g, i));
        if (r < 0) {
            rc = reel_cli_fail(dst);
            goto done;
        }
    }
    if (!reel_gguf_find(g, "general.file_type") &&
        reel_gguf_writer_set_u32(w, "general.file_type", file_type(type)) < 0) {
        rc = reel_cli_fail(dst);
        goto done;
    }
    const int64_t nt = reel_gguf_n_tensors(g);
    int64_t widest = 1;
    uint64_t total = 0, done_bytes = 0, out_bytes = 0;
    for (int64_t i = 0; i < nt; i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(g, i);
        if (t->ne[0] > widest) widest = t->ne[0];
        total += t->nbytes;
    }
    bufs = reel_xcalloc((size_t)nt + 1, sizeof *bufs);
    rows = reel_xcalloc((size_t)n_threads, sizeof *rows);
    for (int i = 0; i < n_threads; i++) rows[i] = reel_xmalloc((size_t)widest * sizeof(float));
    if (!quiet) prog = reel_progress_init("quantize", total, "B");
    for (int64_t i = 0; i < nt; i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(g, i);
        reel_dtype out = keep_f32(t) ? REEL_DTYPE_F32 : type;
        if (reel_dtype_block(out) > 1 && t->ne[0] % reel_dtype_block(out)) out = REEL_DTYPE_F16;
        if (keep_f32(t) && t->type != REEL_DTYPE_F32 && !reel_kernels_dtype_supported(t->type))
            out = t->type; /* an F32-class tensor in a type reel cannot decode: copied as is */
        const void *data = t->data;
        size_t nbytes = t->nbytes;
        if (out != t->type) {
            if (!reel_kernels_dtype_supported(t->type)) {
                reel_cli_error(src, "tensor '%s': type %s cannot be decoded, so not requantized",
                               t->name,
                               reel_dtype_name(t->type) ? reel_dtype_name(t->type) : "unknown");
                goto done;
            }
            int64_t nel = 1;
            for (int d = 0; d < t->n_dims; d++) nel *= t->ne[d];
            nbytes = reel_dtype_row_bytes(out, nel);
            uint8_t *buf = malloc(nbytes ? nbytes : 1);
            if (!buf) {
                reel_cli_error(dst, "no memory for tensor '%s' (%zu bytes)", t->name, nbytes);
                goto done;
            }
            bufs[n_bufs++] = buf;
            qz_ctx c = {t, out, buf, t->ne[0], rows, 0};
            reel_pool_parallel_for(pool, nel / t->ne[0], qz_body, &c);
            if (c.failed) {
                reel_cli_error(src, "tensor '%s': cannot convert %s to %s", t->name,
                               reel_dtype_name(t->type), reel_dtype_name(out));
                goto done;
            }
            data = buf;
        }
        if (reel_gguf_writer_add_tensor(w, t->name, out, t->n_dims, t->ne, data, nbytes) < 0) {
            rc = reel_cli_fail(dst);
            goto done;
        }
        out_bytes += nbytes;
        done_bytes += t->nbytes;
        if (prog) reel_progress_update(prog, done_bytes);
    }
    if (reel_gguf_writer_write(w, dst) < 0) {
        rc = reel_cli_fail(dst);
        goto done;
    }
    if (prog) reel_progress_finish(prog), prog = NULL;
    char a[32], b[32];
    printf("%s: %lld tensors, matrices %s, %s -> %s\n", dst, (long long)nt, reel_dtype_name(type),
           reel_format_bytes((double)total, a, sizeof a),
           reel_format_bytes((double)out_bytes, b, sizeof b));
    rc = REEL_EXIT_OK;
done:
    reel_progress_cancel(prog);
    for (int i = 0; i < n_bufs; i++) free(bufs[i]);
    free(bufs);
    if (rows)
        for (int i = 0; i < n_threads; i++) free(rows[i]);
    free(rows);
    reel_gguf_writer_free(w);
    reel_pool_free(pool);
    reel_gguf_free(g);
    return rc;
}

static const reel_cli_cmd reel_cmd_quantize = {
    "quantize",
    "rewrite a GGUF model with quantized weight matrices (q8_0, q4_0)",
    "Usage: reel quantize IN.gguf OUT.gguf TYPE [-t N] [-q]\n\n"
    "Reads a GGUF model and writes a copy whose weight matrices are TYPE: q8_0 (8.5 bits per\n"
    "weight), q4_0 (4.5 bits), f16, bf16 or f32. Block layouts are GGML's, so llama.cpp reads\n"
    "the result. Like llama.cpp's tools, 1-D tensors, *_norm weights, ssm_conv1d, ssm_a, ssm_d,\n"
    "the MoE router and biases stay F32; every other matrix (token_embd and output included,\n"
    "as llama-quantize --pure does) gets TYPE, or F16 where a row is not whole 32-blocks.\n"
    "Quantized inputs are decoded and requantized. Metadata is copied; general.file_type is\n"
    "set. The output is written to a temporary name and renamed when complete; the converted\n"
    "tensors are held in memory until then.\n\n"
    "Options:\n"
    "  -t, --threads N  threads (default: one per CPU)\n"
    "  -q, --quiet      no progress display\n\n"
    "Example:\n"
    "  reel quantize nano-4b-f16.gguf nano-4b-q4_0.gguf q4_0\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_quantize)
