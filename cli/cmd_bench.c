/* reel bench: prompt-processing and generation speed of the in-process engine, llama-bench
 * style (pp = one prompt of P tokens, tg = N single-token steps from an empty context). */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* With --bound: each decoded token is followed by one read pass over the model's weights on
 * the same threads, and the pair gives one ratio (the token's bytes, weights and state, per
 * second over the read pass's), so that both sides see the same moment of a shared machine's
 * bandwidth. */
typedef struct {
    double token_bytes; /* weights, plus the recurrent state read and written */
    double weight_bytes, state_bytes;
    double *share, *rate; /* per pair: share of the read rate, read rate (bytes/s) */
    long n;
} bound;

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs one test `reps` times; mean and standard deviation of tokens/s (decode time only). */
static int measure(reel_llm_model *m, reel_llm_session *s, const int32_t *toks, long n, int single,
                   int reps, bound *bd, double *mean, double *sd)
{
    double sum = 0, sum2 = 0;
    for (int r = 0; r < reps; r++) {
        reel_llm_session_reset(s);
        double busy = 0;
        if (single) {
            for (long i = 0; i < n; i++) {
                const double t0 = reel_now();
                if (reel_llm_session_decode(s, toks + i, 1, 0) < 0) return -1;
                const double dt = reel_now() - t0;
                busy += dt;
                if (!bd) continue;
                const double r0 = reel_now();
                const size_t bytes = reel_llm_model_read_weights(m);
                const double rate = (double)bytes / (reel_now() - r0 + 1e-12);
                bd->share[bd->n] = bd->token_bytes / (dt + 1e-12) / rate;
                bd->rate[bd->n++] = rate;
            }
        } else {
            const double t0 = reel_now();
            if (reel_llm_session_decode(s, toks, n, 0) < 0) return -1;
            busy = reel_now() - t0;
        }
        double tps = (double)n / (busy + 1e-12);
        sum += tps;
        sum2 += tps * tps;
    }
    *mean = sum / reps;
    *sd = reps > 1 ? sqrt(fmax(0.0, (sum2 - sum * sum / reps) / (reps - 1))) : 0;
    return 0;
}

static int run(int argc, char **argv)
{
    const char *model = NULL;
    long pp = 512, tg = 128, threads = 0, reps = 3, chunk = 0;
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
    sp.n_ctx = (pp > tg ? pp : tg) + 1;
    sp.ssd_chunk = (int)chunk;
    reel_llm_session *s = reel_llm_session_init(m, &sp);
    long n = pp > tg ? pp : tg;
    int32_t *toks = reel_xmalloc((size_t)(n + 1) * sizeof *toks);
    uint64_t x = 0x9e3779b97f4a7c15ull; /* fixed pseudo-random ids */
    const int V = reel_llm_model_n_vocab(m);
    for (long i = 0; i <= n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        toks[i] = (int32_t)(x % (uint64_t)V);
    }
    if (!s) {
        rc = reel_cli_fail("bench");
        goto done;
    }
    if (want_bound) {
        bd.weight_bytes = reel_llm_model_token_bytes(m, &bd.state_bytes);
        bd.token_bytes = bd.weight_bytes + 2 * bd.state_bytes;
        bd.share = reel_xmalloc((size_t)(tg * reps + 1) * sizeof *bd.share);
        bd.rate = reel_xmalloc((size_t)(tg * reps + 1) * sizeof *bd.rate);
    }
    const reel_llm_hparams *hp = reel_llm_model_hparams(m);
    char size[32];
    reel_format_bytes((double)reel_llm_desc_file_size(reel_llm_model_desc(m)), size, sizeof size);
    const char *name =
        strrchr(model, '/') && strrchr(model, '/')[1] ? strrchr(model, '/') + 1 : model;
    int nthreads = threads > 0 ? (int)threads : reel_cpu_count();
    const double n_params = (double)reel_llm_desc_n_params(reel_llm_model_desc(m));
    if (as_json) {
        char cpu[256];
        reel_kernels_cpu_describe(cpu, sizeof cpu);
        doc = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:i, s:I}", "model", model, "size_bytes",
                        (json_int_t)reel_llm_desc_file_size(reel_llm_model_desc(m)), "params",
                        (json_int_t)n_params, "pattern", hp->pattern, "backend",
                        reel_kernels_ops()->name, "cpu_features", cpu, "threads", nthreads,
                        "repetitions", (json_int_t)reps);
        results = json_array();
        json_object_set_new(doc, "results", results);
    } else {
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
        bound *b = want_bound && tests[k].single ? &bd : NULL;
        if ((warmup && measure(m, s, toks, tests[k].n, tests[k].single, 1, NULL, &mean, &sd) < 0) ||
            measure(m, s, toks, tests[k].n, tests[k].single, (int)reps, b, &mean, &sd) < 0) {
            rc = reel_cli_fail("bench");
            goto done;
        }
        /* the process's high-water mark so far: weights touched plus the session's state */
        struct rusage ru;
        char rss[32] = "?";
        const double rss_bytes = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024 : 0;
        if (rss_bytes > 0) reel_format_bytes(rss_bytes, rss, sizeof rss);
        if (b) {
            qsort(bd.share, (size_t)bd.n, sizeof *bd.share, cmp_double);
            qsort(bd.rate, (size_t)bd.n, sizeof *bd.rate, cmp_double);
        }
        if (as_json) {
            char test[32];
            snprintf(test, sizeof test, "%s%ld", tests[k].tag, tests[k].n);
            json_t *o = json_pack("{s:s, s:I, s:f, s:f, s:I}", "test", test, "n_tokens",
                                  (json_int_t)tests[k].n, "tps", mean, "tps_sd", sd,
                                  "peak_rss_bytes", (json_int_t)rss_bytes);
            if (b)
                json_object_set_new(o, "bound",
                                    json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I}",
                                              "weight_bytes", bd.weight_bytes, "state_bytes",
                                              bd.state_bytes, "read_bytes_per_s", bd.rate[bd.n / 2],
                                              "share", bd.share[bd.n / 2], "share_min", bd.share[0],
                                              "share_max", bd.share[bd.n - 1], "share_weights",
                                              bd.share[bd.n / 2] * bd.weight_bytes / bd.token_bytes,
                                              "pairs", (json_int_t)bd.n));
            json_array_append_new(results, o);
            continue;
        }
        printf("| %s | %s | %.2f M | %s | %s | %d | %s%ld | %.2f ± %.2f | %s |\n", name, size,
               n_params / 1e6, hp->pattern, reel_kernels_ops()->name, nthreads, tests[k].tag,
               tests[k].n, mean, sd, rss);
        fflush(stdout);
    }
    if (bd.n && !as_json) {
        char wb[32], sb[32], rate[32];
        reel_format_bytes(bd.weight_bytes, wb, sizeof wb);
        reel_format_bytes(bd.state_bytes, sb, sizeof sb);
        reel_format_bytes(bd.rate[bd.n / 2], rate, sizeof rate);
        const double w = bd.weight_bytes / bd.token_bytes;
        printf(
            "\ndecode vs the memory bound: a token reads %s of weights and reads and writes %s of "
            "recurrent state; decoding moved those bytes at %.0f%% (%.0f-%.0f%%) of the rate a "
            "plain read loop over the weights reaches on the same %d threads (%s/s); counting "
            "the weights only, %.0f%%. Median (range) of %ld token / read-pass pairs.\n",
            wb, sb, 100 * bd.share[bd.n / 2], 100 * bd.share[0], 100 * bd.share[bd.n - 1], nthreads,
            rate, 100 * w * bd.share[bd.n / 2], bd.n);
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
    "Usage: reel bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r 3] [--chunk Q] [--json]\n"
    "                  [--no-warmup] [--bound] [--backend cpu]\n\n"
    "Measures, after one warm-up run, the mean and standard deviation over -r runs of:\n"
    "  ppP  one prompt of P tokens from an empty context (tokens/s)\n"
    "  tgN  N single-token steps from an empty context (tokens/s)\n"
    "Token ids are fixed pseudo-random values, so runs are comparable. -p 0 or -n 0 skips a\n"
    "test. --chunk sets the SSD chunk length of the prompt scan (1 = plain recurrence).\n"
    "The table is Markdown, one row per test; peak RSS is the process's resident high-water\n"
    "mark after the test (so -p 8192 -n 0 -r 1 --no-warmup shows the memory of a full 8K\n"
    "context in one pass; --no-warmup skips the warm-up run, for such one-shot measures). --json\n"
    "prints one JSON object instead: the model's facts and a \"results\" array with test,\n"
    "n_tokens, tps, tps_sd and peak_rss_bytes per test.\n\n"
    "--bound follows every decoded token of tgN with one pass of a plain read loop over the\n"
    "weights that token read (same threads, same pages) and reports decoding as a share of that\n"
    "read rate: how close generation runs to the machine's memory bandwidth. Each token is\n"
    "paired with the pass right after it, so a shared machine's bandwidth swings cancel out;\n"
    "the median and range over all pairs are printed (in --json: \"bound\" in the tg result).\n"
    "The t/s column stays decode time only.\n\n"
    "Example:\n"
    "  reel bench -m nano-4b-f16.gguf -p 256 -n 32 -t 8\n"
    "  reel bench -m nano-4b-q4_0.gguf -p 0 -n 64 -t 2 --bound\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_bench)
