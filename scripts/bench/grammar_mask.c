/* Benchmark (not a test): token-mask time per step on a synthetic 131072-token byte-level
 * vocabulary while generating a scene plan under its JSON schema.
 *   build/bin/bench_grammar_mask [steps] [nomax|patterns]
 * Prints median / p90 / p99 / max milliseconds per mask, how many steps took over 1 and 3 ms,
 * and the total. With `nomax` the schema's maxLength bounds are dropped (unbounded strings);
 * with `patterns` a schema of the kind people copy from Pydantic and OpenAI strict mode:
 * decimal and exclusive bounds, patterns, a format, an enum. */
#include "core/core.h"
#include "llm/grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"maxLength\":80},"
    "\"logline\":{\"type\":\"string\",\"maxLength\":200},\"characters\":{\"type\":\"array\","
    "\"maxItems\":4,\"items\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\","
    "\"maxLength\":16},\"description\":{\"type\":\"string\",\"maxLength\":160}},\"required\":["
    "\"id\","
    "\"description\"]}},\"shots\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":8,\"items\":{"
    "\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":99}"
    ","
    "\"duration_s\":{\"type\":\"number\",\"minimum\":1,\"maximum\":20},\"camera\":{\"enum\":["
    "\"wide\","
    "\"medium\",\"close-up\",\"pan\",\"tilt\",\"dolly\",\"static\"]},\"prompt\":{\"type\":"
    "\"string\","
    "\"maxLength\":300}},\"required\":[\"id\",\"duration_s\",\"camera\",\"prompt\"]}}},"
    "\"required\":[\"title\",\"logline\",\"characters\",\"shots\"]}";

static const char *SCHEMA_PATTERNS =
    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"maxLength\":80},"
    "\"slug\":{\"type\":\"string\",\"pattern\":\"^[a-z][a-z0-9-]{2,30}$\"},"
    "\"released\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"shots\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":8,\"items\":{\"type\":\"object\","
    "\"properties\":{\"id\":{\"type\":\"string\",\"pattern\":\"^S[0-9]{2}-[A-Z]{1,3}$\"},"
    "\"seconds\":{\"type\":\"number\",\"minimum\":0.5,\"exclusiveMaximum\":8.25},"
    "\"gain_db\":{\"type\":\"number\",\"minimum\":-12.5,\"maximum\":3.75},"
    "\"camera\":{\"enum\":[\"wide\",\"medium\",\"close-up\",\"pan\"]},"
    "\"prompt\":{\"type\":\"string\",\"maxLength\":300}},"
    "\"required\":[\"id\",\"seconds\",\"gain_db\",\"camera\",\"prompt\"]}}},"
    "\"required\":[\"title\",\"slug\",\"released\",\"shots\"]}";

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 600;
    int nomax = argc > 2 && strcmp(argv[2], "nomax") == 0;
    int patterns = argc > 2 && strcmp(argv[2], "patterns") == 0;
    if (steps < 1) steps = 1;
    enum { V = 131072 };
    char **tok = malloc(V * sizeof *tok);
    size_t *len = malloc(V * sizeof *len);
    int n = 0;
    for (int b = 0; b < 256; b++) {
        tok[n] = malloc(2);
        tok[n][0] = (char)b;
        len[n++] = 1;
    }
    static const char *punct[] = {"\"",  "\",", "\":", "\":\"", "},{", "}]", "]}",
                                  "{\"", ",\"", "\"}", ".",     ", ",  ". ", "!",
                                  "?",   "-",   "'s",  "\n",    "  "};
    while (n < V) {
        char buf[32];
        int k = 0, kind = (int)(rnd() % 10);
        if (kind == 0) {
            const char *p = punct[rnd() % (sizeof punct / sizeof *punct)];
            k = snprintf(buf, sizeof buf, "%s%s", p, rnd() % 2 ? "" : punct[rnd() % 5]);
        } else if (kind == 1) {
            k = snprintf(buf, sizeof buf, "%u", rnd() % 1000);
        } else if (kind == 2) {
            static const char *mb[] = {"é", "ü", "ñ", "中", "文", "の", "🎬", "—", "’"};
            k = snprintf(buf, sizeof buf, "%s%s", mb[rnd() % 9], mb[rnd() % 9]);
        } else {
            if (rnd() % 2) buf[k++] = ' ';
            int wl = 2 + (int)(rnd() % 9);
            for (int i = 0; i < wl; i++)
                buf[k++] = (char)((i == 0 && rnd() % 5 == 0 ? 'A' : 'a') + rnd() % 26);
            buf[k] = '\0';
        }
        tok[n] = malloc((size_t)k + 1);
        memcpy(tok[n], buf, (size_t)k + 1);
        len[n++] = (size_t)k;
    }
    int32_t eos = 2;
    char *text = reel_xstrdup(patterns ? SCHEMA_PATTERNS : SCHEMA);
    if (nomax) { /* ,"maxLength":N} -> } */
        char *p;
        while ((p = strstr(text, ",\"maxLength\":")) != NULL) {
            char *q = strchr(p, '}');
            memmove(p, q, strlen(q) + 1);
        }
    }
    json_t *schema = reel_json_parse(text, strlen(text), "schema");
    free(text);
    reel_grammar *g = reel_grammar_from_json_schema(schema);
    if (!g) {
        fprintf(stderr, "%s\n", reel_last_error());
        return 1;
    }
    double t0 = reel_now();
    reel_grammar_vocab *v =
        reel_grammar_vocab_init(V, (const char *const *)tok, len, NULL, &eos, 1);
    printf("vocab trie: %d tokens, built in %.1f ms\n", V, (reel_now() - t0) * 1e3);
    uint8_t *mask = malloc(V / 8);
    double *times = malloc((size_t)steps * sizeof *times);
    int32_t *allowed = malloc(V * sizeof *allowed);
    int done = 0, docs = 0;
    while (done < steps) {
        reel_grammar_state *s = reel_grammar_state_init(g);
        int digits = 0; /* digits just written */
        for (;;) {
            double a = reel_now();
            int count = reel_grammar_mask(v, s, mask);
            times[done++] = (reel_now() - a) * 1e3;
            if (count <= 0 || done >= steps) break;
            int na = 0;
            for (int t = 0; t < V; t++)
                if ((mask[t >> 3] >> (t & 7)) & 1) allowed[na++] = t;
            /* prefer longer tokens, like a language model writing words */
            int t = allowed[rnd() % (unsigned)na];
            for (int tries = 0; tries < 3 && len[t] < 3; tries++) t = allowed[rnd() % (unsigned)na];
            /* and end numbers after a few digits (a fraction could otherwise run for ever) */
            for (int tries = 0; tries < 50 && digits >= 4 && tok[t][0] >= '0' && tok[t][0] <= '9';
                 tries++)
                t = allowed[rnd() % (unsigned)na];
            if (t == eos) break;
            for (size_t i = 0; i < len[t]; i++)
                digits = tok[t][i] >= '0' && tok[t][i] <= '9' ? digits + 1 : 0;
            if (reel_grammar_state_advance(s, tok[t], len[t]) != 0) {
                fprintf(stderr, "mask allowed a token the grammar refused\n");
                return 1;
            }
        }
        reel_grammar_state_free(s);
        docs++;
    }
    double total = 0;
    int over1 = 0, over3 = 0;
    for (int i = 0; i < steps; i++) {
        total += times[i];
        over1 += times[i] > 1.0;
        over3 += times[i] > 3.0;
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_double);
    printf("%s: %d mask steps over %d documents: median %.3f ms, p90 %.3f ms, p99 %.3f ms, max "
           "%.3f ms; "
           "%d steps > 1 ms, %d > 3 ms; total %.1f ms\n",
           patterns ? "patterns and decimal bounds"
           : nomax  ? "no maxLength"
                    : "maxLength",
           steps, docs, times[steps / 2], times[steps * 9 / 10], times[steps * 99 / 100],
           times[steps - 1], over1, over3, total);
    return 0;
}
