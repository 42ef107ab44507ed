/* reel logits: one forward pass over given token ids, logits of every position as JSON (the
 * correctness check against reference implementations). */
#include "cli/cli.h"
#include "core/core.h"
#include "llm/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "1,2,3" -> ids (owned); count in *n. Usage error (printed) -> NULL. */
static int32_t *parse_tokens(const char *text, int64_t *n)
{
    int64_t cap = 16, k = 0;
    int32_t *ids = reel_xmalloc((size_t)cap * sizeof *ids);
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            reel_cli_usage("logits", "--tokens expects comma-separated token ids, got '%s'", text);
            free(ids);
            return NULL;
        }
        if (k == cap) ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        if (!ids) return NULL;
        ids[k++] = (int32_t)v;
        p = *end ? end + 1 : end;
        if (*end && !*p) {
            reel_cli_usage("logits", "--tokens ends with a comma: '%s'", text);
            free(ids);
            return NULL;
        }
    }
    if (k == 0) {
        reel_cli_usage("logits", "--tokens is empty");
        free(ids);
        return NULL;
    }
    *n = k;
    return ids;
}

typedef struct {
    float v;
    int id;
} scored;
static int by_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->id - y->id;
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *tokens = NULL;
    long top = 0, threads = 0, chunk = 0;
    int all = 0;
    reel_dtype kv = REEL_DTYPE_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) {
            model = argv[++i];
        } else if (!strcmp(a, "--tokens") && has) {
            tokens = argv[++i];
        } else if (!strcmp(a, "--all")) {
            all = 1;
        } else if (!strcmp(a, "--top") && has) {
            if (reel_cli_parse_int("logits", "--top", argv[++i], 1, 1 << 24, &top) < 0)
                return REEL_EXIT_USAGE;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) {
            if (reel_cli_parse_int("logits", a, argv[++i], 0, 1024, &threads) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--chunk") && has) {
            if (reel_cli_parse_int("logits", "--chunk", argv[++i], 1, 1 << 16, &chunk) < 0)
                return REEL_EXIT_USAGE;
        } else if (!strcmp(a, "--kv") && has) {
            const char *t = argv[++i];
            if (!strcmp(t, "f16"))
                kv = REEL_DTYPE_F16;
            else if (!strcmp(t, "f32"))
                kv = REEL_DTYPE_F32;
            else
                return reel_cli_usage("logits", "--kv expects f16 or f32, got '%s'", t);
        } else {
            return reel_cli_usage("logits", "unknown or incomplete option '%s'", a);
        }
    }
    if (!model) return reel_cli_usage("logits", "missing -m MODEL");
    if (!tokens) return reel_cli_usage("logits", "missing --tokens ID,ID,...");
    if (all && top) return reel_cli_usage("logits", "--all and --top exclude each other");
    int64_t n = 0;
    int32_t *ids = parse_tokens(tokens, &n);
    if (!ids) return REEL_EXIT_USAGE;

    int rc = REEL_EXIT_FAIL;
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = (int)threads;
    reel_llm_session *s = NULL;
    reel_llm_model *m = reel_llm_model_load(model, &mp);
    if (!m) {
        rc = reel_cli_fail(model);
        goto done;
    }
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.kv_type = kv;
    sp.ssd_chunk = (int)chunk;
    if (sp.n_ctx == 0 && n > 4096) sp.n_ctx = n;
    if (!(s = reel_llm_session_init(m, &sp)) || reel_llm_session_decode(s, ids, n, 1) < 0) {
        rc = reel_cli_fail("logits");
        goto done;
    }
    const int V = reel_llm_model_n_vocab(m);
    if (top) {
        int k = top < V ? (int)top : V;
        scored *sc = reel_xmalloc((size_t)V * sizeof *sc);
        printf("{\"n_vocab\": %d, \"top\": [", V);
        for (int64_t t = 0; t < n; t++) {
            const float *l = reel_llm_session_logits(s, t);
            for (int i = 0; i < V; i++) sc[i].v = l[i], sc[i].id = i;
            qsort(sc, (size_t)V, sizeof *sc, by_desc);
            printf("%s[", t ? ", " : "");
            for (int i = 0; i < k; i++) printf("%s[%d, %.9g]", i ? ", " : "", sc[i].id, sc[i].v);
            printf("]");
        }
        printf("]}\n");
        free(sc);
    } else {
        printf("{\"n_vocab\": %d, \"logits\": [", V);
        for (int64_t t = 0; t < n; t++) {
            const float *l = reel_llm_session_logits(s, t);
            printf("%s[", t ? ",\n" : "");
            for (int i = 0; i < V; i++) printf("%s%.9g", i ? "," : "", l[i]);
            printf("]");
        }
        printf("]}\n");
    }
    rc = fflush(stdout) == 0 ? REEL_EXIT_OK : REEL_EXIT_FAIL;
done:
    reel_llm_session_free(s);
    reel_llm_model_free(m);
    free(ids);
    return rc;
}

static const reel_cli_cmd reel_cmd_logits = {
    "logits",
    "logits of every position after a forward pass, as JSON (correctness checks)",
    "Usage: reel logits -m MODEL --tokens ID,ID,... [--all | --top K] [options]\n\n"
    "Runs the token ids through the model in one prompt pass and prints, for every position,\n"
    "the logits of the next token as JSON on stdout:\n"
    "  --all (default)  {\"n_vocab\": V, \"logits\": [[V floats], ...]}   one row per position\n"
    "  --top K          {\"n_vocab\": V, \"top\": [[[id, logit], ...K], ...]}  best first\n\n"
    "Options:\n"
    "  -m, --model M    GGUF file or Hugging Face model directory\n"
    "  --tokens LIST    comma-separated token ids, e.g. 1,394,418\n"
    "  -t, --threads N  compute threads (default: one per CPU); results do not depend on it\n"
    "  --kv f32|f16     KV cache type (default f32 here, for exact comparisons)\n"
    "  --chunk Q        prompt scan: 1 = the recurrence (default on the CPU), Q >= 2 = chunked\n"
    "                   SSD with chunks of Q tokens (same results up to fp32 rounding)\n\n"
    "Example:\n"
    "  reel logits -m tests/data/models/tiny-a --tokens 1,394,418 --top 5\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_logits)
