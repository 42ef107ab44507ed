/* Golden tests of the Nemotron-H forward pass against transformers' own implementation
 * (tests/data/models/<name>/golden.json, written by scripts/golden/make_tiny_models.py):
 * logits of every position, greedy continuations, and the engine's own invariants (prefill +
 * decode = longer prefill, snapshot/restore, thread-count independence, context limit). */
#include "testutil.h"
#include "core/core.h"
#include "kernels/kernels.h"
#include "llm/llm.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *NAMES[] = {"tiny-a", "tiny-b", "tiny-c", "tiny-moe"};
enum { N_NAMES = 4 };

typedef struct {
    json_t *golden;
    char path[1024];
} fixture;

static json_t *golden_of(const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/data/models/%s/golden.json", tu_source_dir(), name);
    json_t *g = reel_json_load_file(p, 16 << 20);
    if (!g) fail_msg("%s", reel_last_error());
    return g;
}

static int32_t *ids_of(const json_t *arr, int64_t *n)
{
    *n = (int64_t)json_array_size(arr);
    int32_t *ids = malloc((size_t)*n * sizeof *ids + 1);
    for (int64_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

static reel_llm_model *load(const char *path, int threads)
{
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = threads;
    reel_llm_model *m = reel_llm_model_load(path, &mp);
    if (!m) fail_msg("%s", reel_last_error());
    return m;
}

static reel_llm_session *session(reel_llm_model *m, reel_dtype kv, int chunk, int batch)
{
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.kv_type = kv;
    sp.ssd_chunk = chunk;
    sp.max_batch = batch;
    sp.n_ctx = 256;
    reel_llm_session *s = reel_llm_session_init(m, &sp);
    assert_non_null(s);
    return s;
}

/* max |logit - reference| over the positions of a sequence that the reference lists (all, or
 * from "first" on) */
static double seq_diff(reel_llm_session *s, const json_t *seq)
{
    int64_t n;
    int32_t *ids = ids_of(json_object_get(seq, "tokens"), &n);
    reel_llm_session_reset(s);
    assert_int_equal(reel_llm_session_decode(s, ids, n, 1), 0);
    const json_t *rows = json_object_get(seq, "logits");
    const int64_t first = reel_json_int(seq, "first", 0);
    assert_int_equal(json_array_size(rows), n - first);
    double worst = 0;
    for (int64_t t = first; t < n; t++) {
        const float *l = reel_llm_session_logits(s, t);
        const json_t *row = json_array_get(rows, (size_t)(t - first));
        for (size_t i = 0; i < json_array_size(row); i++)
            worst = fmax(worst, fabs(l[i] - json_number_value(json_array_get(row, i))));
    }
    free(ids);
    return worst;
}

/* how many positions of a sequence have the reference's argmax as their argmax (the session
 * holds the logits of the last seq_diff() of the same sequence) */
static void top1(reel_llm_session *s, const json_t *seq, int *agree, int *total, double *amax)
{
    const json_t *rows = json_object_get(seq, "logits");
    const int64_t first = reel_json_int(seq, "first", 0);
    for (size_t t = 0; t < json_array_size(rows); t++) {
        const float *l = reel_llm_session_logits(s, first + (int64_t)t);
        const json_t *row = json_array_get(rows, t);
        size_t best_l = 0, best_r = 0;
        for (size_t i = 0; i < json_array_size(row); i++) {
            const double r = json_number_value(json_array_get(row, i));
            *amax = fmax(*amax, fabs(r));
            if (l[i] > l[best_l]) best_l = i;
            if (r > json_number_value(json_array_get(row, best_r))) best_r = i;
        }
        *agree += best_l == best_r;
        (*total)++;
    }
}

static void greedy(reel_llm_session *s, const int32_t *prompt, int64_t n, int32_t *out, int count)
{
    reel_llm_session_reset(s);
    assert_int_equal(reel_llm_session_decode(s, prompt, n, 0), 0);
    reel_llm_sampler *smp = reel_llm_sampler_init(NULL);
    for (int i = 0; i < count; i++) {
        out[i] = reel_llm_sampler_sample(smp, reel_llm_session_logits(s, -1), 512);
        assert_int_equal(reel_llm_session_decode(s, &out[i], 1, 0), 0);
    }
    reel_llm_sampler_free(smp);
}

/* logits (F32 weights) and greedy continuations against transformers */
static void check_model(const char *path, const json_t *g, const char *label)
{
    reel_llm_model *m = load(path, 2);
    /* the default prompt path (the recurrence on the CPU, one batch), chunked SSD with the
     * model's chunk_size, and chunks of 3 in batches of 4 tokens (several passes over the
     * layers, state carried between them); GGUF files carry no chunk_size: 8 then */
    const int hint = reel_llm_model_hparams(m)->ssm_chunk_size >= 2
                         ? reel_llm_model_hparams(m)->ssm_chunk_size
                         : 8;
    const int variants[][2] = {{0, 0}, {hint, 0}, {3, 4}};
    for (int v = 0; v < 3; v++) {
        reel_llm_session *s = session(m, REEL_DTYPE_F32, variants[v][0], variants[v][1]);
        double worst = 0;
        const json_t *seqs = json_object_get(g, "sequences");
        for (size_t i = 0; i < json_array_size(seqs); i++)
            worst = fmax(worst, seq_diff(s, json_array_get(seqs, i)));
        printf("%s: chunk %d batch %d: max |dlogit| = %.3g\n", label, variants[v][0],
               variants[v][1], worst);
        assert_true(worst <= 1e-4);
        reel_llm_session_free(s);
    }
    reel_llm_session *s = session(m, REEL_DTYPE_F32, 0, 0);
    const json_t *gr = json_object_get(g, "greedy");
    int64_t n, ne;
    int32_t *prompt = ids_of(json_object_get(gr, "prompt"), &n);
    int32_t *expect = ids_of(json_object_get(gr, "tokens"), &ne);
    int32_t got[32];
    assert_int_equal(ne, 32);
    greedy(s, prompt, n, got, 32);
    assert_memory_equal(got, expect, sizeof got);
    free(prompt), free(expect);
    const json_t *tx = json_object_get(g, "text");
    prompt = ids_of(json_object_get(tx, "ids"), &n);
    expect = ids_of(json_object_get(tx, "greedy"), &ne);
    greedy(s, prompt, n, got, (int)ne);
    assert_memory_equal(got, expect, (size_t)ne * sizeof *got);
    free(prompt), free(expect);
    reel_llm_session_free(s);
    reel_llm_model_free(m);
}

static void test_hf_dirs(void **state)
{
    (void)state;
    for (int i = 0; i < N_NAMES; i++) {
        json_t *g = golden_of(NAMES[i]);
        char p[1024];
        snprintf(p, sizeof p, "%s/tests/data/models/%s", tu_source_dir(), NAMES[i]);
        check_model(p, g, NAMES[i]);
        json_decref(g);
    }
}

/* The logits of every position of ids from `reel logits` run with REEL_CPU=cpu (a child process:
 * the kernel table is chosen once per process), n_vocab in *vocab (free the result). */
static float *child_logits(const char *model, const int32_t *ids, int64_t n, const char *cpu,
                           int64_t *vocab)
{
    char *tokens = malloc((size_t)n * 12 + 1);
    size_t len = 0;
    for (int64_t i = 0; i < n; i++)
        len += (size_t)sprintf(tokens + len, "%s%d", i ? "," : "", (int)ids[i]);
    char *argv[] = {(char *)tu_reel_bin(),
                    "logits",
                    "-m",
                    (char *)model,
                    "--tokens",
                    tokens,
                    "--all",
                    "--kv",
                    "f32",
                    "-t",
                    "2",
                    NULL};
    const char *was = getenv("REEL_CPU");
    char *saved = was ? strdup(was) : NULL;
    setenv("REEL_CPU", cpu, 1);
    tu_result r = tu_run(argv, NULL);
    if (saved) {
        setenv("REEL_CPU", saved, 1);
        free(saved);
    } else {
        unsetenv("REEL_CPU");
    }
    if (r.status != 0) fail_msg("REEL_CPU=%s reel logits %s: %s", cpu, model, r.err);
    json_error_t err;
    json_t *doc = json_loads(r.out, 0, &err);
    if (!doc) fail_msg("reel logits: %s", err.text);
    *vocab = json_integer_value(json_object_get(doc, "n_vocab"));
    const json_t *rows = json_object_get(doc, "logits");
    assert_int_equal(json_array_size(rows), n);
    float *l = malloc((size_t)(n * *vocab) * sizeof(float));
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < *vocab; i++)
            l[t * *vocab + i] = (float)json_number_value(
                json_array_get(json_array_get(rows, (size_t)t), (size_t)i));
    json_decref(doc);
    tu_result_free(&r);
    free(tokens);
    return l;
}

/* max |session logit - ref| over every position of ids (the session holds them all), and the
 * largest |ref| in *amax */
static double diff_all(reel_llm_session *s, const float *ref, int64_t n, int64_t vocab,
                       double *amax)
{
    double worst = 0;
    *amax = 0;
    for (int64_t t = 0; t < n; t++) {
        const float *l = reel_llm_session_logits(s, t);
        for (int64_t i = 0; i < vocab; i++) {
            worst = fmax(worst, fabs(l[i] - ref[t * vocab + i]));
            *amax = fmax(*amax, fabs(ref[t * vocab + i]));
        }
    }
    return worst;
}

/* reel convert to GGUF F32 / F16 / BF16 / Q8_0 / Q4_0, then the converted files against the
 * reference (the others against the reference run with its matrices rounded the same way:
 * 16-bit floats, or gguf-py's Q8_0 / Q4_0 quantizer and back) */
static void test_gguf_converted(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir();
    for (int i = 0; i < N_NAMES; i++) {
        json_t *g = golden_of(NAMES[i]);
        const char *types[] = {"f32", "f16", "bf16", "q8_0", "q4_0"};
        /* the MoE reference has no rounded variants: F32 (experts stacked by the converter) */
        const int n_types = json_object_get(g, "f16") ? 5 : 1;
        for (int k = 0; k < n_types; k++) {
            char src[1024], dst[1100];
            snprintf(src, sizeof src, "%s/tests/data/models/%s", tu_source_dir(), NAMES[i]);
            snprintf(dst, sizeof dst, "%s/%s-%s.gguf", tmp, NAMES[i], types[k]);
            char *argv[] = {(char *)tu_reel_bin(), "convert", src, dst, "--type",
                            (char *)types[k],      NULL};
            tu_result r = tu_run(argv, NULL);
            if (r.status != 0) fail_msg("reel convert %s: %s", src, r.err);
            tu_result_free(&r);
            if (k == 0) {
                check_model(dst, g, dst);
                continue;
            }
            reel_llm_model *m = load(dst, 2);
            assert_int_equal(
                reel_llm_desc_tensor(reel_llm_model_desc(m), "blk.0.attn_norm.weight")->type,
                REEL_DTYPE_F32);
            reel_llm_session *s = session(m, REEL_DTYPE_F32, 0, 0);
            double d = seq_diff(s, json_object_get(g, types[k]));
            printf("%s: max |dlogit| = %.3g\n", dst, d);
            /* the SIMD Q8_0/Q4_0 kernels (AVX2, AVX-512 VNNI, ARM64's NEON levels) quantize
             * activations to int8 per block (as GGML's CPU backend does), so they are close to
             * the float reference, not exact (the scalar table, REEL_CPU=scalar:
             * test_llm_forward_golden_scalar, checks 1e-4).
             * Held tightly instead against a reference forward pass on the same weights whose
             * matmuls round the activations the same way: the scalar table with the exact
             * integer-dot reference (REEL_CPU=scalar-q8, kernels/cpu/matmul-q8act.c), and where
             * the CPU has VNNI (interleaved tiles here) also the AVX2 row-major kernels. */
            const int int8_act = (reel_kernels_cpu()->avx2 || reel_kernels_cpu()->neon) && k >= 3;
            if (int8_act) {
                int agree = 0, total = 0;
                double amax = 0;
                top1(s, json_object_get(g, types[k]), &agree, &total, &amax);
                printf("%s: int8 activations: max |dlogit| %.3g of max |logit| %.3g, top-1 "
                       "agreement %d/%d with F32\n",
                       dst, d, amax, agree, total);
                int64_t n, vocab;
                int32_t *ids = ids_of(json_object_get(json_object_get(g, types[k]), "tokens"), &n);
                reel_llm_session_reset(s);
                assert_int_equal(reel_llm_session_decode(s, ids, n, 1), 0);
                const int vnni = reel_kernels_cpu()->avx512vnni && reel_kernels_cpu()->avx512vl;
                for (int c = 0; c < 1 + vnni; c++) {
                    const char *cpu = c ? "avx2" : "scalar-q8";
                    float *ref = child_logits(dst, ids, n, cpu, &vocab);
                    double ra;
                    const double dr = diff_all(s, ref, n, vocab, &ra);
                    printf("%s: against REEL_CPU=%s: max |dlogit| %.3g of max |logit| %.3g "
                           "(%.2g)\n",
                           dst, cpu, dr, ra, dr / ra);
                    /* Tolerance 1e-4 of max |logit|: both sides quantize the same activations to
                     * the same int8 values and take exact integer dots, so they differ by fp32
                     * summation order in the matmuls and the other ops (a few fp32 ulps); such a
                     * difference may still move an activation
                     * across a rounding boundary of its int8 grid (one step, 1/254 of its block's
                     * range, on one element) and pass through the later layers, which the margin
                     * leaves room for. An activation scale of amax / 128 instead of / 127 moves
                     * every quantized matmul by 0.8%. */
                    assert_true(dr <= 1e-4 * ra);
                    free(ref);
                }
                free(ids);
                assert_true(agree * 10 >= total * 9);
            } else {
                assert_true(d <= 1e-4);
            }
            reel_llm_session_free(s);
            reel_llm_model_free(m);
        }
        json_decref(g);
    }
    tu_rmtree(tmp);
    free(tmp);
}

/* F16 weights from a GGUF written by an independent converter (scripts/golden/hf_to_gguf.py) */
static void test_gguf_f16(void **state)
{
    (void)state;
    json_t *g = golden_of("tiny-b");
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    reel_llm_model *m = load(p, 2);
    assert_int_equal(reel_llm_desc_tensor(reel_llm_model_desc(m), "blk.0.ssm_in.weight")->type,
                     REEL_DTYPE_F16);
    reel_llm_session *s = session(m, REEL_DTYPE_F32, 0, 0);
    double d = seq_diff(s, json_object_get(g, "f16"));
    printf("tiny-b-f16.gguf: max |dlogit| = %.3g\n", d);
    assert_true(d <= 1e-4);
    /* the F16 KV cache stays close to the F32 one */
    reel_llm_session *s16 = session(m, REEL_DTYPE_F16, 0, 0);
    d = seq_diff(s16, json_object_get(g, "f16"));
    printf("tiny-b-f16.gguf, F16 KV cache: max |dlogit| = %.3g\n", d);
    assert_true(d <= 0.05);
    reel_llm_session_free(s16);
    reel_llm_session_free(s);
    reel_llm_model_free(m);
    json_decref(g);
}

static char *gguf_path(void) /* (an HF directory: the same engine whatever the format) */
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/tests/data/models/tiny-b", tu_source_dir());
    return p;
}

/* prefill(T) then decode(1) equals prefill(T+1) (up to the chunked scan's rounding) */
static void test_prefill_then_decode(void **state)
{
    (void)state;
    reel_llm_model *m = load(gguf_path(), 2);
    const int32_t toks[] = {1, 40, 300, 17, 99, 256, 7, 480, 33, 21, 5};
    const int64_t n = 11;
    reel_llm_session *a = session(m, REEL_DTYPE_F32, 4, 0), *b = session(m, REEL_DTYPE_F32, 4, 0);
    for (int64_t T = 1; T < n; T++) {
        reel_llm_session_reset(a);
        reel_llm_session_reset(b);
        assert_int_equal(reel_llm_session_decode(a, toks, T, 0), 0);
        assert_int_equal(reel_llm_session_decode(a, toks + T, 1, 0), 0);
        assert_int_equal(reel_llm_session_decode(b, toks, T + 1, 0), 0);
        assert_int_equal(reel_llm_session_pos(a), T + 1);
        const float *la = reel_llm_session_logits(a, -1), *lb = reel_llm_session_logits(b, -1);
        double d = 0;
        for (int i = 0; i < 512; i++) d = fmax(d, fabs(la[i] - lb[i]));
        assert_true(d <= 1e-4);
    }
    reel_llm_session_free(a);
    reel_llm_session_free(b);
    reel_llm_model_free(m);
}

static void sample_run(reel_llm_session *s, reel_llm_sampler *smp, int32_t *out, int n,
                       float *last_logits)
{
    for (int i = 0; i < n; i++) {
        out[i] = reel_llm_sampler_sample(smp, reel_llm_session_logits(s, -1), 512);
        assert_int_equal(reel_llm_session_decode(s, &out[i], 1, 0), 0);
    }
    memcpy(last_logits, reel_llm_session_logits(s, -1), 512 * sizeof(float));
}

/* snapshot -> generate -> restore -> generate reproduces tokens and logits bit for bit */
static void test_snapshot_restore(void **state)
{
    (void)state;
    reel_llm_model *m = load(gguf_path(), 2);
    reel_llm_session *s = session(m, REEL_DTYPE_F16, 0, 0);
    const int32_t prompt[] = {1, 394, 418, 25, 511, 27};
    assert_int_equal(reel_llm_session_decode(s, prompt, 6, 0), 0);
    reel_llm_snapshot *snap = reel_llm_session_snapshot(s);
    assert_non_null(snap);
    assert_true(reel_llm_snapshot_size(snap) > 0);
    reel_llm_sampler_params sp = reel_llm_sampler_default_params();
    sp.seed = 7;
    reel_llm_sampler *smp = reel_llm_sampler_init(&sp);
    int32_t a[12], b[12];
    float la[512], lb[512];
    sample_run(s, smp, a, 12, la);
    assert_int_equal(reel_llm_session_pos(s), 18);
    assert_int_equal(reel_llm_session_restore(s, snap), 0);
    assert_int_equal(reel_llm_session_pos(s), 6);
    reel_llm_sampler_reset(smp, 7);
    sample_run(s, smp, b, 12, lb);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(la, lb, sizeof la);
    /* a second session of the same model restores the snapshot too */
    reel_llm_session *s2 = session(m, REEL_DTYPE_F16, 0, 0);
    assert_int_equal(reel_llm_session_restore(s2, snap), 0);
    reel_llm_sampler_reset(smp, 7);
    sample_run(s2, smp, b, 12, lb);
    assert_memory_equal(a, b, sizeof a);
    /* ... but not one with another KV type */
    reel_llm_session *s3 = session(m, REEL_DTYPE_F32, 0, 0);
    assert_int_equal(reel_llm_session_restore(s3, snap), REEL_EINVAL);
    reel_llm_session_free(s3);
    reel_llm_session_free(s2);
    reel_llm_sampler_free(smp);
    reel_llm_snapshot_free(snap);
    reel_llm_session_free(s);
    reel_llm_model_free(m);
}

/* 1 and 3 threads: identical logits bits and sampled tokens */
static void test_threads(void **state)
{
    (void)state;
    int32_t tok[2][16];
    float lg[2][512];
    const int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        reel_llm_model *m = load(gguf_path(), threads[k]);
        reel_llm_session *s = session(m, REEL_DTYPE_F16, 0, 0);
        const int32_t prompt[] = {1, 100, 200, 300, 400, 500, 60, 70, 80};
        assert_int_equal(reel_llm_session_decode(s, prompt, 9, 0), 0);
        reel_llm_sampler_params sp = reel_llm_sampler_default_params();
        sp.seed = 1234;
        reel_llm_sampler *smp = reel_llm_sampler_init(&sp);
        sample_run(s, smp, tok[k], 16, lg[k]);
        reel_llm_sampler_free(smp);
        reel_llm_session_free(s);
        reel_llm_model_free(m);
    }
    assert_memory_equal(tok[0], tok[1], sizeof tok[0]);
    assert_memory_equal(lg[0], lg[1], sizeof lg[0]);
}

static void test_limits(void **state)
{
    (void)state;
    reel_llm_model *m = load(gguf_path(), 1);
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.n_ctx = 8;
    reel_llm_session *s = reel_llm_session_init(m, &sp);
    const int32_t toks[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(reel_llm_session_decode(s, toks, 9, 0), REEL_ERANGE);
    assert_true(tu_contains(reel_last_error(), "context full"));
    assert_int_equal(reel_llm_session_pos(s), 0);
    assert_int_equal(reel_llm_session_decode(s, toks, 8, 0), 0);
    assert_int_equal(reel_llm_session_decode(s, toks, 1, 0), REEL_ERANGE);
    assert_int_equal(reel_llm_session_pos(s), 8);
    reel_llm_session_reset(s);
    const int32_t bad[2] = {1, 512};
    assert_int_equal(reel_llm_session_decode(s, bad, 2, 0), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "512"));
    const int32_t neg = -1;
    assert_int_equal(reel_llm_session_decode(s, &neg, 1, 0), REEL_EINVAL);
    assert_int_equal(reel_llm_session_decode(s, toks, 0, 0), REEL_EINVAL);
    assert_null(reel_llm_session_logits(s, -1));
    assert_int_equal(reel_llm_session_decode(s, toks, 3, 0), 0);
    assert_null(reel_llm_session_logits(s, 1)); /* only the last row was kept */
    assert_non_null(reel_llm_session_logits(s, 0));
    sp.kv_type = REEL_DTYPE_Q8_0;
    assert_null(reel_llm_session_init(m, &sp));
    reel_llm_session_free(s);
    reel_llm_model_free(m);
}

/* reel_llm_model_token_bytes against the description's own tensors (a second path to the same
 * count: every 2-D weight but the conv taps, one embedding row, routed experts k/E), the state
 * against the hyper-parameters; reel_llm_model_read_weights reads the bytes counted. */
static void test_token_bytes(void **state)
{
    (void)state;
    char gg[1024];
    snprintf(gg, sizeof gg, "%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    const char *paths[] = {gg, "tiny-moe", "tiny-c"};
    for (int k = 0; k < 3; k++) {
        char p[1024];
        if (k)
            snprintf(p, sizeof p, "%s/tests/data/models/%s", tu_source_dir(), paths[k]);
        else
            snprintf(p, sizeof p, "%s", paths[k]);
        reel_llm_model *m = load(p, 2);
        const reel_llm_desc *d = reel_llm_model_desc(m);
        const reel_llm_hparams *hp = reel_llm_model_hparams(m);
        const int tied = !reel_llm_desc_tensor(d, "output.weight");
        double want = 0;
        for (int i = 0; i < reel_llm_desc_n_tensors(d); i++) {
            const reel_llm_tensor *t = reel_llm_desc_tensor_at(d, i);
            if (t->n_dims < 2 || t->ne[0] == 1 || t->ne[1] == 1 || strstr(t->name, "conv1d") ||
                strstr(t->name, "ssm_norm"))
                continue;
            if (!strcmp(t->name, "token_embd.weight"))
                want += tied ? (double)t->nbytes * (1 + 1.0 / (double)t->ne[1])
                             : (double)t->nbytes / (double)t->ne[1];
            else if (strstr(t->name, "_exps"))
                want += (double)t->nbytes * hp->n_expert_used / hp->n_expert;
            else
                want += (double)t->nbytes;
        }
        int n_mamba = 0;
        for (int l = 0; l < hp->n_layer; l++) n_mamba += hp->layer_kind[l] == REEL_LLM_LAYER_MAMBA;
        const double dc = (double)hp->ssm_d_inner + 2.0 * hp->ssm_n_groups * hp->ssm_d_state;
        const double want_state = 4.0 * n_mamba *
                                  ((double)hp->ssm_n_heads * hp->ssm_head_dim * hp->ssm_d_state +
                                   dc * (hp->ssm_d_conv - 1));
        double st = -1;
        const double got = reel_llm_model_token_bytes(m, &st);
        if (fabs(got - want) > 1e-6 * want)
            fail_msg("%s: token bytes %.0f, want %.0f", paths[k], got, want);
        assert_true(n_mamba > 0 && st == want_state);
        assert_true(reel_llm_model_token_bytes(m, NULL) == got);
        /* the read pass reads exactly the bytes counted (one embedding row, not all of it) */
        assert_true((double)reel_llm_model_read_weights(m) == got);
        reel_llm_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_dirs),          cmocka_unit_test(test_gguf_converted),
        cmocka_unit_test(test_gguf_f16),         cmocka_unit_test(test_prefill_then_decode),
        cmocka_unit_test(test_snapshot_restore), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_limits),           cmocka_unit_test(test_token_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
