/* JSON Schema numeric bounds, brute force: for each schema, thousands of numerals around each
 * bound (negative, zero, fractional, trailing zeros, exponent and malformed forms) are fed to
 * the grammar, and its answer must equal an exact decimal comparison with the bounds under the
 * numeral form documented in llm/schema-number.c; every accepted numeral must also pass the
 * validator (which compares doubles). */
#include "testutil.h"
#include "core/core.h"
#include "llm/grammar.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int integer;
    const char *lo, *hi; /* decimal text or NULL */
    int lo_excl, hi_excl;
    int multiple; /* 0: none */
} config;

static const config CONFIGS[] = {
    {0, "0.5", "8", 0, 0, 0},
    {0, "0", "1", 1, 1, 0},
    {0, "-273.15", "-0.001", 0, 1, 0},
    {0, "-2.5", "2.5", 1, 0, 0},
    {0, "2.5", "2.5", 0, 0, 0},
    {0, "-0.001", "0.001", 0, 0, 0},
    {0, "0.1", "0.3", 1, 1, 0},
    {0, "0.5", NULL, 0, 0, 0},
    {0, NULL, "-7.25", 0, 0, 0},
    {0, "-3", NULL, 1, 0, 0},
    {0, "-999.999", "999.999", 0, 0, 0},
    {0, "12345.678", "12345.679", 1, 1, 0},
    {0, "0", "0", 0, 0, 0},
    {0, "-0.5", "0", 0, 1, 0},
    {0, "99.99", "100.01", 0, 1, 0},
    {0, "-100000", "100000", 1, 1, 0},
    {1, "-5.5", "7.2", 0, 0, 0},
    {1, "-3.5", "1000", 1, 1, 0},
    {1, "0", "10", 1, 0, 0},
    {1, "-20", "-3", 0, 0, 0},
    {1, "-100", "100", 0, 0, 7},
    {1, NULL, NULL, 0, 0, 3},
    {1, "0", "1000", 0, 0, 25},
    {1, "0.5", "97", 1, 0, 4},
    {1, "-1234", "-17", 0, 1, 12},
};

/* ---- exact decimals ---- */

typedef struct {
    int neg, has_frac, has_exp, valid;
    char ip[64], fp[64]; /* whole digits without leading zeros ("" for 0), fraction without
                            trailing zeros */
    int frac_written;    /* fraction digits as written */
    int ip_written;      /* whole digits as written */
} num;

static num parse_num(const char *t)
{
    num n = {0};
    const char *p = t;
    if (*p == '-') n.neg = 1, p++;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9') return n; /* leading zero */
    const char *s = p;
    while (*p >= '0' && *p <= '9') p++;
    if (p == s || p - s > 60) return n;
    n.ip_written = (int)(p - s);
    while (*s == '0' && s < p) s++;
    memcpy(n.ip, s, (size_t)(p - s));
    if (*p == '.') {
        n.has_frac = 1;
        const char *f = ++p;
        while (*p >= '0' && *p <= '9') p++;
        if (p == f || p - f > 60) return n;
        n.frac_written = (int)(p - f);
        size_t k = (size_t)(p - f);
        while (k && f[k - 1] == '0') k--;
        memcpy(n.fp, f, k);
    }
    if (*p == 'e' || *p == 'E') {
        n.has_exp = 1;
        p++;
        if (*p == '+' || *p == '-') p++;
        const char *e = p;
        while (*p >= '0' && *p <= '9') p++;
        if (p == e) return n;
    }
    n.valid = *p == '\0';
    return n;
}

static int is_zero(const num *n)
{
    return !n->ip[0] && !n->fp[0];
}

/* Compares values of a and b (no exponents): -1, 0, 1. */
static int cmp_num(const num *a, const num *b)
{
    int sa = is_zero(a) ? 0 : a->neg ? -1 : 1, sb = is_zero(b) ? 0 : b->neg ? -1 : 1;
    if (sa != sb) return sa < sb ? -1 : 1;
    if (sa == 0) return 0;
    int mag;
    size_t la = strlen(a->ip), lb = strlen(b->ip);
    if (la != lb) {
        mag = la < lb ? -1 : 1;
    } else {
        int c = strcmp(a->ip, b->ip);
        if (!c) {
            /* fractions: compare padded */
            for (size_t i = 0; i < 64 && !c; i++) {
                char x = i < strlen(a->fp) ? a->fp[i] : '0', y = i < strlen(b->fp) ? b->fp[i] : '0';
                c = (x > y) - (x < y);
            }
        }
        mag = (c > 0) - (c < 0);
    }
    return sa > 0 ? mag : -mag;
}

/* The documented fraction digit limit for a number with exclusive bounds (-1: none). */
static int frac_limit(const config *c)
{
    int f = -1;
    const char *b[2] = {c->lo_excl ? c->lo : NULL, c->hi_excl ? c->hi : NULL};
    for (int i = 0; i < 2; i++) {
        if (!b[i]) continue;
        num n = parse_num(b[i]);
        int digits = n.ip[0] ? (int)strlen(n.ip) : 1;
        if (f < 0 || 15 - digits < f) f = 15 - digits;
    }
    return f;
}

static int expected(const config *c, const char *t)
{
    num n = parse_num(t);
    if (!n.valid || n.has_exp) return 0;    /* bounded numerals have no exponent */
    if (n.neg && is_zero(&n)) return 0;     /* no "-0" */
    if (c->integer && n.has_frac) return 0; /* integers without a fraction */
    if (n.ip_written > 15) return 0;        /* at most 15 whole digits */
    int fl = c->integer ? -1 : frac_limit(c);
    if (fl >= 0 && n.frac_written > fl) return 0;
    if (c->lo) {
        num lo = parse_num(c->lo);
        int r = cmp_num(&n, &lo);
        if (r < 0 || (r == 0 && c->lo_excl)) return 0;
    }
    if (c->hi) {
        num hi = parse_num(c->hi);
        int r = cmp_num(&n, &hi);
        if (r > 0 || (r == 0 && c->hi_excl)) return 0;
    }
    if (c->multiple && atoll(t) % c->multiple != 0) return 0;
    return 1;
}

static int accepts(const reel_grammar *g, const char *t)
{
    reel_grammar_state *s = reel_grammar_state_init(g);
    int ok = reel_grammar_state_advance(s, t, strlen(t)) == 0 && reel_grammar_state_accepting(s);
    reel_grammar_state_free(s);
    return ok;
}

static int n_checked, n_accepted;

static void check(const config *c, const json_t *schema, const reel_grammar *g, const char *t)
{
    int want = expected(c, t), got = accepts(g, t);
    if (want != got) {
        char *st = json_dumps(schema, JSON_COMPACT);
        fail_msg("%s: numeral '%s': grammar %s, expected %s", st, t, got ? "accepts" : "refuses",
                 want ? "accept" : "refuse");
    }
    if (got) {
        json_t *v = reel_json_parse(t, strlen(t), "numeral");
        if (!v || reel_json_schema_validate(schema, v) != 0) {
            char *st = json_dumps(schema, JSON_COMPACT);
            fail_msg("%s: accepted '%s' does not validate: %s", st, t, reel_last_error());
        }
        json_decref(v);
        n_accepted++;
    }
    n_checked++;
}

/* Numerals around x: x + k * 10^-j written with 0 to 20 fraction digits, and odd forms. */
static void around(const config *c, const json_t *schema, const reel_grammar *g, double x)
{
    char t[96];
    for (int j = 0; j <= 5; j++)
        for (int k = -12; k <= 12; k++) {
            double v = x + k * pow(10, -j);
            static const int FRAC[] = {0, 1, 2, 3, 4, 5, 6, 7, 13, 14, 15, 16, 20};
            for (size_t f = 0; f < sizeof FRAC / sizeof *FRAC; f++) {
                snprintf(t, sizeof t, "%.*f", FRAC[f], v);
                check(c, schema, g, t);
            }
            snprintf(t, sizeof t, "%.*f0", j + 1, v); /* a trailing zero */
            check(c, schema, g, t);
            snprintf(t, sizeof t, "%.3e", v); /* exponent form */
            check(c, schema, g, t);
            snprintf(t, sizeof t, "%.17g", v); /* what a double prints as */
            check(c, schema, g, t);
        }
    static const char *const odd[] = {"-0",
                                      "-0.0",
                                      "0.0",
                                      "00",
                                      "01",
                                      "-01.5",
                                      "1.",
                                      ".5",
                                      "-",
                                      "1e0",
                                      "+1",
                                      "0.000000000000001",
                                      "-0.000000000000001",
                                      "999999999999999",
                                      "1000000000000000",
                                      "-999999999999999.5"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) check(c, schema, g, odd[i]);
}

static void test_bounds_brute_force(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CONFIGS / sizeof *CONFIGS; i++) {
        const config *c = &CONFIGS[i];
        char text[256];
        int n = snprintf(text, sizeof text, "{\"type\":\"%s\"", c->integer ? "integer" : "number");
        if (c->lo)
            n += snprintf(text + n, sizeof text - (size_t)n, ",\"%s\":%s",
                          c->lo_excl ? "exclusiveMinimum" : "minimum", c->lo);
        if (c->hi)
            n += snprintf(text + n, sizeof text - (size_t)n, ",\"%s\":%s",
                          c->hi_excl ? "exclusiveMaximum" : "maximum", c->hi);
        if (c->multiple)
            n += snprintf(text + n, sizeof text - (size_t)n, ",\"multipleOf\":%d", c->multiple);
        snprintf(text + n, sizeof text - (size_t)n, "}");
        json_t *schema = reel_json_parse(text, strlen(text), "schema");
        assert_non_null(schema);
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        if (!g) fail_msg("%s: %s", text, reel_last_error());
        int before = n_checked;
        if (c->lo) around(c, schema, g, atof(c->lo));
        if (c->hi) around(c, schema, g, atof(c->hi));
        around(c, schema, g, 0);
        for (long long x = -150; x <= 150; x++) { /* whole numbers in a band */
            snprintf(text, sizeof text, "%lld", x);
            check(c, schema, g, text);
        }
        assert_true(n_checked - before > 1900);
        reel_grammar_free(g);
        json_decref(schema);
    }
    print_message("%d numerals checked, %d accepted\n", n_checked, n_accepted);
}

/* Unbounded numbers keep the general JSON form (exponents included). */
static void test_unbounded_forms(void **state)
{
    (void)state;
    json_t *schema = reel_json_parse("{\"type\":\"number\"}", 17, "schema");
    reel_grammar *g = reel_grammar_from_json_schema(schema);
    const char *good[] = {"0", "-0", "1.5e3", "-2E-7", "123456789012345", "0.25"};
    const char *bad[] = {"01", "1.", ".5", "+1", "1e", "--1", "1e+123"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) assert_true(accepts(g, good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_false(accepts(g, bad[i]));
    reel_grammar_free(g);
    json_decref(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_brute_force),
        cmocka_unit_test(test_unbounded_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
