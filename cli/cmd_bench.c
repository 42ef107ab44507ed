/* reel bench: prompt-processing and generation speed of the in-process engine, llama-bench
 * style (pp = one prompt of P tokens, tg = N single-token steps, each after a prefill of D). */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* With --bound: every decoded token of tgN sits between two read passes over the weights it
 * reads (same threads, same pages), and the token's bytes per second over the mean rate of its
 * two passes gives one share, so that both sides see the same moment of a shared machine's
 * bandwidth, from both sides in time. */
typedef struct {
    reel_llm_token_bytes tb; /* summed over the pairs (divided by n for the mean) */
    double *share, *rate;    /* per pair: share of the read rate, read rate (bytes/s) */
    long n;
} bound;

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Ranks [lo, hi] (0-based) of the sorted n values that cover their median with probability
 * >= 95% whatever the distribution: x(j-1) and x(n-j) with 1 - 2 P(B <= j-1) >= 0.95 for B ~
 * binomial(n, 1/2), j as large as that allows; 0 when no such pair exists (n < 6). */
static int median_ci_ranks(long n, long *lo, long *hi)
{
    if (n < 6) return 0;
    long j = 0;
    if (n > 1000) { /* 2^-n underflows: the normal approximation of the same rank */
        j = (long)floor(n / 2.0 - 0.98 * sqrt((double)n));
    } else {
        double p = ldexp(1.0, (int)-n), cdf = 0; /* P(B = j) = C(n, j) / 2^n */
        while (j < n && cdf + p <= 0.025) {
            cdf += p;
            p = p * (double)(n - j) / (double)(j + 1);
            j++;
        }
    }
    if (j == 0 || j - 1 >= n - j) return 0;
    *lo = j - 1, *hi = n - j;
    return 1;
}

typedef struct {
    reel_llm_model *m;
    reel_llm_session *s;
    const int32_t *toks; /* depth prefill, then the test's tokens */
    long depth;
} bench;

/* One timed run: a reset, the untimed prefill of `depth` tokens, then the test. Returns the
 * seconds of the test itself, or < 0. */
static double run_once(bench *b, long n, int single, bound *bd)
{
    reel_llm_session_reset(b->s);
    if (b->depth && reel_llm_session_decode(b->s, b->toks, b->depth, 0) < 0) return -1;
    const int32_t *t = b->toks + b->depth;
    if (!single) {
        const double t0 = reel_now();
        if (reel_llm_session_decode(b->s, t, n, 0) < 0) return -1;
        return reel_now() - t0;
    }
    double busy = 0, before = 0;
    size_t pass_bytes = 0;
    if (bd) {
        const double r0 = reel_now();
        pass_bytes = reel_llm_model_read_weights(b->m);
        before = reel_now() - r0;
    }
    for (long i = 0; i < n; i++) {
        const reel_llm_token_bytes tb = reel_llm_session_token_bytes(b->s);
        const double t0 = reel_now();
        if (reel_llm_session_decode(b->s, t + i, 1, 0) < 0) return -1;
        const double dt = reel_now() - t0;
        busy += dt;
        if (!bd) continue;
        const double r0 = reel_now();
        reel_llm_model_read_weights(b->m);
        const double after = reel_now() - r0;
        const double rate = 2.0 * (double)pass_bytes / (before + after + 1e-12);
        const double bytes = tb.weights + tb.state_read + tb.state_written;
        bd->share[bd->n] = bytes / (dt + 1e-12) / rate;
        bd->rate[bd->n++] = rate;
        bd->tb.weights += tb.weights;
        bd->tb.state_read += tb.state_read;
        bd->tb.state_written += tb.state_written;
        before = after;
    }
    return busy;
}

/* Runs one test `reps` times; mean and standard deviation of tokens/s (test time only). */
static int measure(bench *b, long n, int single, int reps, bound *bd, double *mean, double *sd)
{
    double sum = 0, sum2 = 0;
    for (int r = 0; r < reps; r++) {
        const double busy = run_once(b, n, single, bd);
        if (busy < 0) return -1;
        const double tps = (double)n / (busy + 1e-12);
        sum += tps;
        sum2 += tps * tps;
    }
    *mean = sum / reps;
    *sd = reps > 1 ? sqrt(fmax(0.0, (sum2 - sum * sum / reps) / (reps - 1))) : 0;
    return 0;
}

/* The bytes a token of tgN moves, averaged over its positions depth..depth+n-1 (the KV rows
 * read grow by one row a position). */
static reel_llm_token_bytes mean_token_bytes(bench *b, long n)
{
    double rec = 0;
    reel_llm_model_token_bytes(b->m, &rec);
    reel_llm_token_bytes tb = reel_llm_session_token_bytes(b->s);
    const double kv_row = tb.state_written - rec;
    tb.state_read = rec + ((double)b->depth + 0.5 * (double)(n - 1)) * kv_row;
    return tb;
}

/* The --bound verdict: a share over 1 would mean decoding moved its bytes faster than a loop
 * that does nothing but read them, which a memory-bound token cannot do, so it is a measurement
 * error (the byte count, the read pass, or bandwidth that moved between a token and its
 * passes), never a result. */
typedef struct {
    double median, lo, hi, min, max, rate, w_share;
    reel_llm_token_bytes tb; /* means over the pairs */
    long over, has_ci;
    int valid;
} verdict;

static verdict judge(bound *bd)
{
    verdict v = {0};
    const long n = bd->n;
    v.tb =
        (reel_llm_token_bytes){bd->tb.weights / n, bd->tb.state_read / n, bd->tb.state_written / n};
    qsort(bd->share, (size_t)n, sizeof *bd->share, cmp_double);
    qsort(bd->rate, (size_t)n, sizeof *bd->rate, cmp_double);
    v.median = n % 2 ? bd->share[n / 2] : 0.5 * (bd->share[n / 2 - 1] + bd->share[n / 2]);
    v.rate = n % 2 ? bd->rate[n / 2] : 0.5 * (bd->rate[n / 2 - 1] + bd->rate[n / 2]);
    v.min = bd->share[0], v.max = bd->share[n - 1];
    long lo, hi;
    if ((v.has_ci = median_ci_ranks(n, &lo, &hi))) v.lo = bd->share[lo], v.hi = bd->share[hi];
    for (long i = 0; i < n; i++) v.over += bd->share[i] > 1.0;
    v.valid = v.median <= 1.0;
    const double total = v.tb.weights + v.tb.state_read + v.tb.state_written;
    v.w_share = v.median * v.tb.weights / total;
    return v;
}

static json_t *verdict_json(const verdict *v, long pairs)
{
    json_t *o =
        json_pack("{s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:f, s:f, s:I, s:b}", "bytes_per_token",
                  v->tb.weights + v->tb.state_read + v->tb.state_written, "weight_bytes",
                  v->tb.weights, "state_read_bytes", v->tb.state_read, "state_written_bytes",
                  v->tb.state_written, "read_bytes_per_s", v->rate, "pairs", (json_int_t)pairs,
                  "share_measured", v->median, "share_min", v->min, "share_max", v->max,
                  "pairs_over_100", (json_int_t)v->over, "valid", v->valid);
    json_object_set_new(o, "share", v->valid ? json_real(v->median) : json_null());
    json_object_set_new(o, "share_weights", v->valid ? json_real(v->w_share) : json_null());
    json_object_set_new(o, "share_ci95",
                        v->has_ci ? json_pack("[f, f]", v->lo, v->hi) : json_null());
    json_object_set_new(
        o, "error",
        v->valid ? json_null()
                 : json_string("measurement error: the median pair moved its bytes faster than "
                               "the read pass reads them, which a memory-bound token cannot do"));
    return o;
}

static void verdict_print(const verdict *v, long pairs, int nthreads)
{
    char wb[32], sr[32], sw[32], rate[32];
    reel_format_bytes(v->tb.weights, wb, sizeof wb);
    reel_format_bytes(v->tb.state_read, sr, sizeof sr);
    reel_format_bytes(v->tb.state_written, sw, sizeof sw);
    reel_format_bytes(v->rate, rate, sizeof rate);
    printf("\ndecode vs the memory bound: a token reads %s of weights and %s of state (recurrent "
           "state and KV rows), and writes %s, each counted once; %ld tokens, each between two "
           "read passes over the same weight pages on the same %d threads (median %s/s).\n",
           wb, sr, sw, pairs, nthreads, rate);
    if (!v->valid) {
        printf("measurement error: the median token moved its bytes at %.0f%% of its read "
               "passes' rate, more than a plain read loop reaches; this is not a result (the "
               "machine's bandwidth moved between tokens and passes, or the byte count is "
               "wrong). Rerun.\n",
               100 * v->median);
        return;
    }
    printf("decoding ran at %.0f%% of that read rate (weights only: %.0f%%), median of the %ld "
           "pairs",
           100 * v->median, 100 * v->w_share, pairs);
    if (v->has_ci && v->hi <= 1.0)
        printf(", 95%% CI %.0f-%.0f%%", 100 * v->lo, 100 * v->hi);
    else if (v->has_ci)
        printf(", 95%% CI from %.0f%% to past the read rate", 100 * v->lo);
    printf(".\n");
    if (v->over)
        printf("%ld of %ld pairs read faster than their passes (measurement noise, not results; "
               "kept in the median).\n",
               v->over, pairs);
}

static int run(int argc, char **argv)
{
    const char *model = NULL;
    long pp = 512, tg = 128, depth = 0, threads = 0, reps = 3, chunk = 0, batch = 0;
    int as_json = 0, warmup = 1, want_bound = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            as_json = 1;
        } else if (!strcmp(a, "--no-warmup")) {
            warmup = 0;
        } else if (!strcmp(a, "--bound")) {
            want_bound = 1;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) {
            model = argv[++i];
        } else if (!strcmp(a, "-p") && v) {
            if (reel_cli_parse_int("bench", a, argv[++i], 0, 1 << 20, &pp) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "-n") && v) {
            if (reel_cli_parse_int("bench", a, argv[++i], 0, 1 << 20, &tg) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "-d") && v) {
            if (reel_cli_parse_int("bench", a, argv[++i], 0, 1 << 20, &depth) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "-b") && v) {
            if (reel_cli_parse_int("bench", a, argv[++i], 1, 1 << 16, &batch) < 0)
                return REEL_EXIT_USAGE;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && v) {
            if (reel_cli_parse_int("bench", a, argv[++i], 0, 1024, &threads) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--chunk") && v) {
            if (reel_cli_parse_int("bench", a, argv[++i], 1, 1 << 16, &chunk) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "-r") && v) {
            if (reel_cli_parse_int("bench", a, argv[++i], 1, 100, &reps) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--backend") && v) {
            const char *b = argv[++i];
            if (!strcmp(b, "cuda")) {
                reel_cli_error("bench",
                               "the forward pass has no CUDA backend yet; use --backend cpu");
                return REEL_EXIT_FAIL;
            }
            if (strcmp(b, "cpu")) return reel_cli_usage("bench", "--backend expects cpu or cuda");
        } else {
            return reel_cli_usage("bench", "unknown or incomplete option '%s'", a);
        }
    }
    if (!model) return reel_cli_usage("bench", "missing -m MODEL");
    if (!pp && !tg) return reel_cli_usage("bench", "nothing to measure: -p 0 and -n 0");
    if (want_bound && !tg)
        return reel_cli_usage("bench", "--bound pairs the decoded tokens of tgN: give -n N > 0");

    int rc = REEL_EXIT_FAIL;
    json_t *doc = NULL, *results = NULL;
    bound bd = {0};
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = (int)threads;
    reel_llm_model *m = reel_llm_model_load(model, &mp);
    if (!m) return reel_cli_fail(model);
    reel_llm_session_params sp = reel_llm_session_default_params();
    const long n = pp > tg ? pp : tg;
    sp.n_ctx = depth + n + 1;
    sp.ssd_chunk = (int)chunk;
    sp.max_batch = (int)batch;
    reel_llm_session *s = reel_llm_session_init(m, &sp);
    int32_t *toks = reel_xmalloc((size_t)(depth + n + 1) * sizeof *toks);
    uint64_t x = 0x9e3779b97f4a7c15ull; /* fixed pseudo-random ids */
    const int V = reel_llm_model_n_vocab(m);
    for (long i = 0; i <= depth + n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        toks[i] = (int32_t)(x % (uint64_t)V);
    }
    if (!s) {
        rc = reel_cli_fail("bench");
        goto done;
    }
    bench b = {m, s, toks, depth};
    if (want_bound) {
        bd.share = reel_xmalloc((size_t)(tg * reps + 1) * sizeof *bd.share);
        bd.rate = reel_xmalloc((size_t)(tg * reps + 1) * sizeof *bd.rate);
    }
    const reel_llm_hparams *hp = reel_llm_model_hparams(m);
    char size[32];
    reel_format_bytes((double)reel_llm_desc_file_size(reel_llm_model_desc(m)), size, sizeof size);
    const char *name =
        strrchr(model, '/') && strrchr(model, '/')[1] ? strrchr(model, '/') + 1 : model;
    const int nthreads = threads > 0 ? (int)threads : reel_cpu_count();
    const int nbatch = reel_llm_session_max_batch(s);
    const double n_params = (double)reel_llm_desc_n_params(reel_llm_model_desc(m));
    char cpu[256];
    reel_kernels_cpu_describe(cpu, sizeof cpu);
    if (as_json) {
        doc = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:b}", "model", model,
                        "size_bytes", (json_int_t)reel_llm_desc_file_size(reel_llm_model_desc(m)),
                        "params", (json_int_t)n_params, "pattern", hp->pattern, "backend",
                        reel_kernels_ops()->name, "cpu_features", cpu, "threads", nthreads, "batch",
                        nbatch, "depth", (json_int_t)depth, "repetitions", (json_int_t)reps,
                        "warmup", warmup);
        results = json_array();
        json_object_set_new(doc, "results", results);
    } else {
        printf("backend %s (%s); prompts run in batches of %d tokens; tests after a prefill of "
               "%ld tokens\n\n",
               reel_kernels_ops()->name, cpu, nbatch, depth);
        printf("| model | size | params | pattern | backend | threads | test | t/s | peak RSS |\n");
        printf("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |\n");
    }
    const struct {
        long n;
        int single;
        const char *tag;
    } tests[] = {{pp, 0, "pp"}, {tg, 1, "tg"}};
    for (int k = 0; k < 2; k++) {
        if (!tests[k].n) continue;
        double mean, sd;
        /* one warm-up run (page faults of the mmap, first-touch of the caches) */
        bound *bp = want_bound && tests[k].single ? &bd : NULL;
        if ((warmup && measure(&b, tests[k].n, tests[k].single, 1, NULL, &mean, &sd) < 0) ||
            measure(&b, tests[k].n, tests[k].single, (int)reps, bp, &mean, &sd) < 0) {
            rc = reel_cli_fail("bench");
            goto done;
        }
        /* the process's high-water mark so far: weights touched plus the session's state */
        struct rusage ru;
        char rss[32] = "?";
        const double rss_bytes = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024 : 0;
        if (rss_bytes > 0) reel_format_bytes(rss_bytes, rss, sizeof rss);
        char test[48];
        if (depth)
            snprintf(test, sizeof test, "%s%ld @ d%ld", tests[k].tag, tests[k].n, depth);
        else
            snprintf(test, sizeof test, "%s%ld", tests[k].tag, tests[k].n);
        if (as_json) {
            json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:f, s:I}", "test", test, "n_tokens",
                                  (json_int_t)tests[k].n, "depth", (json_int_t)depth, "tps", mean,
                                  "tps_sd", sd, "peak_rss_bytes", (json_int_t)rss_bytes);
            if (tests[k].single) {
                const reel_llm_token_bytes tb = mean_token_bytes(&b, tests[k].n);
                json_object_set_new(o, "token_bytes",
                                    json_pack("{s:f, s:f, s:f}", "weights", tb.weights,
                                              "state_read", tb.state_read, "state_written",
                                              tb.state_written));
            }
            if (bp) {
                const verdict v = judge(&bd);
                json_object_set_new(o, "bound", verdict_json(&v, bd.n));
            }
            json_array_append_new(results, o);
            continue;
        }
        printf("| %s | %s | %.2f M | %s | %s | %d | %s | %.2f ± %.2f | %s |\n", name, size,
               n_params / 1e6, hp->pattern, reel_kernels_ops()->name, nthreads, test, mean, sd,
               rss);
        fflush(stdout);
    }
    if (bd.n && !as_json) {
        const verdict v = judge(&bd);
        verdict_print(&v, bd.n, nthreads);
    }
    if (doc) {
        char *text = json_dumps(doc, JSON_INDENT(2));
        puts(text);
        free(text);
    }
    rc = REEL_EXIT_OK;
done:
    free(bd.share);
    free(bd.rate);
    json_decref(doc);
    free(toks);
    reel_llm_session_free(s);
    reel_llm_model_free(m);
    return rc;
}

static const reel_cli_cmd reel_cmd_bench = {
    "bench",
    "prompt and generation speed of the in-process model (tokens/s)",
    "Usage: reel bench -m MODEL [-p 512] [-n 128] [-d 0] [-t THREADS] [-r 3] [-b 256]\n"
    "                  [--chunk Q] [--json] [--no-warmup] [--bound] [--backend cpu]\n\n"
    "Measures, after one warm-up run of each test, the mean and standard deviation over -r runs "
    "of:\n"
    "  ppP  one prompt of P tokens (tokens/s)\n"
    "  tgN  N single-token steps (tokens/s)\n"
    "each run from a fresh session that first takes a prefill of D tokens (-d, untimed; as\n"
    "llama-bench's -d), so -p 0 -n 128 -d 512 times decoding after a 512-token prompt. Token ids\n"
    "are fixed pseudo-random values, so runs are comparable. -p 0 or -n 0 skips a test. Prompts\n"
    "run in batches of -b tokens (default 256; printed, and \"batch\" in --json). --chunk sets\n"
    "the SSD chunk length of the prompt scan (1 = plain recurrence).\n"
    "The table is Markdown, one row per test; peak RSS is the process's resident high-water\n"
    "mark after the test (so -p 8192 -n 0 -r 1 --no-warmup shows the memory of a full 8K\n"
    "context in one pass; --no-warmup skips the warm-up runs). --json prints one JSON object\n"
    "instead: the model's facts, backend and cpu_features, batch, depth, and a \"results\" array\n"
    "with test, n_tokens, depth, tps, tps_sd, peak_rss_bytes per test, and for tgN the bytes a\n"
    "token moves (\"token_bytes\": weights, state_read, state_written; each byte once, the KV\n"
    "rows read averaged over the test's positions).\n\n"
    "--bound puts every decoded token of tgN between two passes of a plain read loop over the\n"
    "weight bytes a token reads (same threads, same pages of the same mapping) and reports\n"
    "decoding as a share of the mean rate of its two passes: a token's bytes (weights read,\n"
    "recurrent state and KV rows read, state and its KV row written, each once) over its time,\n"
    "over that rate. The median of all pairs and its 95% confidence interval are printed (in\n"
    "--json: \"bound\" in the tg result). A median over 100% means decoding beat a loop that only\n"
    "reads, which a memory-bound token cannot: it is reported as a measurement error (\"valid\":\n"
    "false, \"share\": null, \"error\"), never as a result. The t/s column stays decode time "
    "only.\n\n"
    "Example:\n"
    "  reel bench -m nano-4b-f16.gguf -p 256 -n 32 -t 8\n"
    "  reel bench -m nano-4b-q4_0.gguf -p 0 -n 64 -d 512 -t 2 --bound\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_bench)
