/* GBNF grammars: syntax, accept/reject, errors with line:column, and token masks checked
 * against a brute-force check of every token. */
#include "testutil.h"
#include "core/core.h"
#include "llm/grammar.h"

#include <stdlib.h>
#include <string.h>

static reel_grammar *compile(const char *text)
{
    reel_grammar *g = reel_grammar_compile(text, "test.gbnf");
    if (!g) fail_msg("compile failed: %s", reel_last_error());
    return g;
}

/* 1 if the whole string is a complete sentence of g. */
static int accepts(const reel_grammar *g, const char *s)
{
    reel_grammar_state *st = reel_grammar_state_init(g);
    int ok = reel_grammar_state_advance(st, s, strlen(s)) == 0 && reel_grammar_state_accepting(st);
    reel_grammar_state_free(st);
    return ok;
}

/* 1 if s is a prefix of some sentence. */
static int prefix_ok(const reel_grammar *g, const char *s)
{
    reel_grammar_state *st = reel_grammar_state_init(g);
    int ok = reel_grammar_state_advance(st, s, strlen(s)) == 0;
    reel_grammar_state_free(st);
    return ok;
}

static void test_basics(void **state)
{
    (void)state;
    reel_grammar *g = compile("root ::= \"a\" b* | \"x\"  # comment\n"
                              "b ::= [b-d] | \"\\n\"\n");
    assert_true(accepts(g, "a"));
    assert_true(accepts(g, "abcd\nb"));
    assert_true(accepts(g, "x"));
    assert_false(accepts(g, "xa"));
    assert_false(accepts(g, "ae"));
    assert_false(accepts(g, ""));
    assert_true(prefix_ok(g, ""));
    reel_grammar_free(g);

    g = compile("root ::= (\"ab\" | \"c\")+ \"!\"?\n");
    assert_true(accepts(g, "ab"));
    assert_true(accepts(g, "abcab!"));
    assert_false(accepts(g, "!"));
    assert_false(accepts(g, "a"));
    assert_true(prefix_ok(g, "a"));
    reel_grammar_free(g);
}

static void test_counted_repetition(void **state)
{
    (void)state;
    reel_grammar *g = compile("root ::= [0-9]{2,4} \"-\" [a]{3} [z]{2,}\n");
    assert_true(accepts(g, "12-aaazz"));
    assert_true(accepts(g, "1234-aaazzzzz"));
    assert_false(accepts(g, "1-aaazz"));
    assert_false(accepts(g, "12345-aaazz"));
    assert_false(accepts(g, "12-aazz"));
    assert_false(accepts(g, "12-aaaz"));
    reel_grammar_free(g);
    g = compile("root ::= \"x\"{0,2}\n");
    assert_true(accepts(g, ""));
    assert_true(accepts(g, "xx"));
    assert_false(accepts(g, "xxx"));
    reel_grammar_free(g);
}

/* A repetition operator after another applies to all the first one produced, even nothing. */
static void test_chained_repetition(void **state)
{
    (void)state;
    reel_grammar *g = compile("root ::= \"ab\"{2}* \"!\"\n");
    assert_true(accepts(g, "!"));
    assert_true(accepts(g, "abababab!"));
    assert_false(accepts(g, "ababab!"));
    reel_grammar_free(g);
    /* x{0} produces nothing; a following + must not look before it (fuzzer find) */
    g = reel_grammar_compile("root ::= \"x\" (\"a\"? \"b\"?){0,0} + \"y\"\n", "t");
    if (g) {
        assert_true(accepts(g, "xy"));
        reel_grammar_free(g);
    } else {
        assert_true(tu_contains(reel_last_error(), "left recursion"));
    }
}

static void test_unicode_classes(void **state)
{
    (void)state;
    /* a code point class is matched byte by byte: é is two bytes, 🎬 four */
    reel_grammar *g = compile("root ::= [a-zé-ê🎬]+ [^a-z]\n");
    assert_true(accepts(g, "abé1"));
    assert_true(accepts(g, "\xf0\x9f\x8e\xac"
                           "ê\xe2\x82\xac")); /* 🎬 ê € */
    assert_false(accepts(g, "ab"));
    assert_false(accepts(g, "ëa"));
    assert_true(prefix_ok(g, "a\xc3"));     /* half of é (or of the negated class) */
    assert_false(prefix_ok(g, "\xc3\x28")); /* invalid UTF-8 continuation */
    reel_grammar_free(g);
    g = compile("root ::= \"\\u00e9\" \"\\x41\" .\n");
    assert_true(accepts(g, "éA\xe4\xb8\xad"));
    assert_false(accepts(g, "éA"));
    reel_grammar_free(g);
}

static void test_errors(void **state)
{
    (void)state;
    struct {
        const char *text, *expect;
    } cases[] = {
        {"root ::= foo\n", "test.gbnf:1:10: undefined rule 'foo'"},
        {"a ::= \"x\"\n", "no 'root' rule"},
        {"root ::= \"x\n", "test.gbnf:1:10: unterminated literal"},
        {"root ::= [a-\n", "unterminated character class"},
        {"root ::= a\na ::= a \"x\"\n", "left recursion through rule 'a'"},
        {"root ::= b \"y\"\nb ::= c? root\nc ::= \"z\"\n", "left recursion"},
        {"root ::= \"x\"{3,1}\n", "n < m"},
        {"root ::= \"x\" )\n", "test.gbnf:1:14: unexpected character"},
        {"root ::= (\"x\"\n", "expected ')'"},
        {"root \"x\"\n", "expected '::='"},
        {"root ::= \"x\"\nroot ::= \"y\"\n", "test.gbnf:2:1: rule defined twice"},
        {"root ::= \"\\q\"\n", "unknown escape"},
        {"root ::= [z-a]\n", "reversed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        reel_grammar *g = reel_grammar_compile(cases[i].text, "test.gbnf");
        if (g) fail_msg("case %zu compiled: %s", i, cases[i].text);
        if (!tu_contains(reel_last_error(), cases[i].expect))
            fail_msg("case %zu: got '%s', want '%s'", i, reel_last_error(), cases[i].expect);
        assert_int_equal(reel_last_error_code(), REEL_EFORMAT);
    }
}

static void test_state_copy_and_done(void **state)
{
    (void)state;
    reel_grammar *g = compile("root ::= \"ab\" \"c\"?\n");
    reel_grammar_state *s = reel_grammar_state_init(g);
    assert_int_equal(reel_grammar_state_advance(s, "a", 1), 0);
    reel_grammar_state *c = reel_grammar_state_clone(s);
    assert_int_equal(reel_grammar_state_advance(s, "x", 1), REEL_EINVAL); /* unchanged */
    assert_int_equal(reel_grammar_state_advance(s, "b", 1), 0);
    assert_true(reel_grammar_state_accepting(s));
    assert_false(reel_grammar_state_done(s));
    assert_int_equal(reel_grammar_state_advance(s, "c", 1), 0);
    assert_true(reel_grammar_state_done(s));
    assert_false(reel_grammar_state_accepting(c));
    reel_grammar_state_copy(c, s);
    assert_true(reel_grammar_state_done(c));
    reel_grammar_state_free(s);
    reel_grammar_state_free(c);
    reel_grammar_free(g);
}

/* ---- token masks vs brute force ---- */

static uint64_t rng = 88172645463325252ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static const char *const PIECES[] = {
    "{",   "}",    "[",   "]",     "\"",        ",",    ":", "a",    "b",    "ab",       "ba",
    "\"a", "a\"",  "\":", "\",\"", "{\"",       "\"}",  "1", "12",   "-",    "0",        ".",
    "e",   "true", "tr",  "ue",    "null",      "nu",   " ", "\xc3", "\xa9", "\xc3\xa9", "é\"",
    "\\",  "\\n",  "\\u", "00",    "\"name\":", "name", "x", "}]",   "]}",   "\n"};

static void test_mask_matches_brute_force(void **state)
{
    (void)state;
    const char *gbnf =
        "root ::= \"{\" ( pair (\",\" pair)* )? \"}\"\n"
        "pair ::= str \":\" val\n"
        "val ::= str | num | \"true\" | \"null\" | \"[\" (val (\",\" val)*)? \"]\" | root\n"
        "str ::= \"\\\"\" ([a-zé] | \"\\\\n\")* \"\\\"\"\n"
        "num ::= \"-\"? [0-9]+ (\".\" [0-9]+)?\n";
    reel_grammar *g = compile(gbnf);
    /* vocabulary: the pieces, random concatenations of them, a special token and an EOS */
    enum { N = 400 };
    char *tok[N];
    size_t len[N];
    uint8_t special[N] = {0};
    int n = 0;
    for (size_t i = 0; i < sizeof PIECES / sizeof *PIECES; i++) {
        tok[n] = reel_xstrdup(PIECES[i]);
        len[n] = strlen(PIECES[i]);
        n++;
    }
    for (int c = 0x20; c < 0x7f; c++) { /* every printable byte, so the walk never starves */
        char one[2] = {(char)c, 0};
        tok[n] = reel_xstrdup(one);
        len[n] = 1;
        n++;
    }
    while (n < N - 2) {
        char buf[64] = "";
        int parts = 2 + (int)(next_rand() % 3);
        for (int k = 0; k < parts; k++)
            strcat(buf, PIECES[next_rand() % (sizeof PIECES / sizeof *PIECES)]);
        tok[n] = reel_xstrdup(buf);
        len[n] = strlen(buf);
        n++;
    }
    tok[n] = reel_xstrdup("<|im_end|>");
    len[n] = strlen(tok[n]);
    special[n] = 1;
    int32_t eos = n++;
    tok[n] = reel_xstrdup("{"); /* a special token whose text the grammar would accept */
    len[n] = 1;
    special[n] = 1;
    n++;
    reel_grammar_vocab *v =
        reel_grammar_vocab_init(n, (const char *const *)tok, len, special, &eos, 1);
    uint8_t mask[(N + 7) / 8];
    /* walk: at each step compare the mask with brute force, then take a random allowed token */
    for (int run = 0; run < 30; run++) {
        reel_grammar_state *s = reel_grammar_state_init(g);
        for (int step = 0; step < 40; step++) {
            int count = reel_grammar_mask(v, s, mask);
            int brute = 0;
            int allowed[N];
            int n_allowed = 0;
            for (int t = 0; t < n; t++) {
                int ok;
                if (t == eos)
                    ok = reel_grammar_state_accepting(s);
                else if (special[t])
                    ok = 0;
                else {
                    reel_grammar_state *c = reel_grammar_state_clone(s);
                    ok = reel_grammar_state_advance(c, tok[t], len[t]) == 0;
                    reel_grammar_state_free(c);
                }
                int bit = (mask[t >> 3] >> (t & 7)) & 1;
                if (ok != bit)
                    fail_msg("run %d step %d token %d '%s': mask %d brute %d", run, step, t, tok[t],
                             bit, ok);
                brute += ok;
                if (ok) allowed[n_allowed++] = t;
            }
            assert_int_equal(count, brute);
            assert_true(n_allowed > 0); /* this grammar never gets stuck */
            int t = allowed[next_rand() % (unsigned)n_allowed];
            if (t == eos) break;
            assert_int_equal(reel_grammar_state_advance(s, tok[t], len[t]), 0);
        }
        reel_grammar_state_free(s);
    }
    reel_grammar_vocab_free(v);
    for (int i = 0; i < n; i++) free(tok[i]);
    reel_grammar_free(g);
}

/* ---- counted repetition ---- */

static void test_counted_repeat_large_and_nullable(void **state)
{
    (void)state;
    reel_grammar *g = compile("root ::= \"x\"{2,9000} \"y\"\n");
    char *s = reel_xmalloc(9003);
    for (int n = 0; n <= 9001; n += (n < 5 || n > 8995) ? 1 : 997) {
        memset(s, 'x', (size_t)n);
        s[n] = 'y';
        s[n + 1] = '\0';
        if (accepts(g, s) != (n >= 2 && n <= 9000)) fail_msg("x{2,9000} with %d x", n);
    }
    free(s);
    reel_grammar_free(g);
    /* a repeat of something that can be empty (desugared differently) */
    g = compile("root ::= (\"a\"?){0,3} \"b\"\n");
    assert_true(accepts(g, "b"));
    assert_true(accepts(g, "aaab"));
    assert_false(accepts(g, "aaaab"));
    reel_grammar_free(g);
    /* nested counted repeats */
    g = compile("root ::= (\"[\" [0-9]{1,3} \"]\"){0,2}\n");
    assert_true(accepts(g, ""));
    assert_true(accepts(g, "[1][234]"));
    assert_false(accepts(g, "[1234]"));
    assert_false(accepts(g, "[1][2][3]"));
    assert_false(accepts(g, "[]"));
    reel_grammar_free(g);
}

/* x{m,n} must mean exactly what the same repetition written out by hand means. */
static void test_counted_repeat_matches_unrolled(void **state)
{
    (void)state;
    reel_grammar *a = compile("root ::= (\"ab\" | [a-c]){1,4} \"!\"? ([c] \"d\"?){0,3}\n");
    reel_grammar *b = compile("root ::= x (x (x x?)?)? \"!\"? (y (y y?)?)?\n"
                              "x ::= \"ab\" | [a-c]\ny ::= [c] \"d\"?\n");
    static const char alpha[] = "abcd!";
    char buf[16];
    for (int i = 0; i < 4000; i++) {
        int n = (int)(next_rand() % 12);
        for (int k = 0; k < n; k++) buf[k] = alpha[next_rand() % 5];
        buf[n] = '\0';
        if (accepts(a, buf) != accepts(b, buf) || prefix_ok(a, buf) != prefix_ok(b, buf))
            fail_msg("'%s': counted %d/%d, unrolled %d/%d", buf, accepts(a, buf), prefix_ok(a, buf),
                     accepts(b, buf), prefix_ok(b, buf));
    }
    reel_grammar_free(a);
    reel_grammar_free(b);
}

/* ---- masks on random grammars and vocabularies vs brute force ---- */

/* A random GBNF over a small alphabet: literals, classes (with a two-byte é), references to
 * later rules (so no left recursion), groups and every repetition operator. */
static void random_grammar(char *out, size_t cap)
{
    static const char *const atoms[] = {"\"a\"",  "\"b\"", "\"ab\"", "\"\\\"\"", "[a-c]",
                                        "[^a\"]", "\"é\"", "[bé]",   "\"c\""};
    static const char *const ops[] = {"",    "",      "",      "*",    "+",     "?",
                                      "{2}", "{0,3}", "{1,5}", "{2,}", "{0,12}"};
    size_t n = 0;
    int rules = 2 + (int)(next_rand() % 3);
    for (int r = 0; r < rules; r++) {
        n += (size_t)snprintf(out + n, cap - n, "%s ::= ", r == 0 ? "root" : "");
        if (r) n += (size_t)snprintf(out + n - 4, cap - n + 4, "r%d ::= ", r) - 4;
        int alts = 1 + (int)(next_rand() % 3);
        for (int a = 0; a < alts; a++) {
            if (a) n += (size_t)snprintf(out + n, cap - n, " | ");
            int items = 1 + (int)(next_rand() % 4);
            for (int i = 0; i < items; i++) {
                const char *op = ops[next_rand() % (sizeof ops / sizeof *ops)];
                unsigned kind = next_rand() % 6;
                if (kind == 0 && r + 1 < rules)
                    n += (size_t)snprintf(out + n, cap - n, " r%d%s",
                                          r + 1 + (int)(next_rand() % (unsigned)(rules - r - 1)),
                                          op);
                else if (kind == 1)
                    n += (size_t)snprintf(out + n, cap - n, " (%s %s | %s)%s",
                                          atoms[next_rand() % 9], atoms[next_rand() % 9],
                                          atoms[next_rand() % 9], op);
                else
                    n += (size_t)snprintf(out + n, cap - n, " %s%s", atoms[next_rand() % 9], op);
            }
        }
        n += (size_t)snprintf(out + n, cap - n, "\n");
    }
}

/* Compares the mask at state s with brute force; returns the number of allowed tokens and
 * fills allowed[]. */
static int check_one(reel_grammar_vocab *v, const reel_grammar_state *s, char **tok,
                     const size_t *len, int n, int32_t eos, int *allowed, const char *where,
                     int step)
{
    uint8_t *mask = reel_xmalloc(((size_t)n + 7) / 8);
    int count = reel_grammar_mask(v, s, mask);
    int n_allowed = 0;
    for (int t = 0; t < n; t++) {
        int ok;
        if (t == eos) {
            ok = reel_grammar_state_accepting(s);
        } else {
            reel_grammar_state *c = reel_grammar_state_clone(s);
            ok = reel_grammar_state_advance(c, tok[t], len[t]) == 0;
            reel_grammar_state_free(c);
        }
        int bit = (mask[t >> 3] >> (t & 7)) & 1;
        if (ok != bit)
            fail_msg("%s step %d token %d '%s': mask %d brute %d", where, step, t, tok[t], bit, ok);
        if (ok) allowed[n_allowed++] = t;
    }
    free(mask);
    assert_int_equal(count, n_allowed);
    return n_allowed;
}

/* Compares every mask along random walks with brute force. */
static void check_masks(const reel_grammar *g, reel_grammar_vocab *v, char **tok, const size_t *len,
                        int n, int32_t eos, int runs, int steps)
{
    int *allowed = reel_xmalloc((size_t)n * sizeof *allowed);
    for (int run = 0; run < runs; run++) {
        reel_grammar_state *s = reel_grammar_state_init(g);
        for (int step = 0; step < steps; step++) {
            int n_allowed = check_one(v, s, tok, len, n, eos, allowed, "random walk", step);
            if (n_allowed == 0) break;
            int t = allowed[next_rand() % (unsigned)n_allowed];
            if (t == eos) break;
            assert_int_equal(reel_grammar_state_advance(s, tok[t], len[t]), 0);
        }
        reel_grammar_state_free(s);
    }
    free(allowed);
}

static void test_mask_random_grammars(void **state)
{
    (void)state;
    /* vocabulary: every single byte of the alphabet and random strings of 2 to 7 bytes */
    static const char *const bytes[] = {"a", "b", "c", "d", "\"", "\\", "\xc3", "\xa9", "é", "ab"};
    enum { N = 300 };
    char *tok[N];
    size_t len[N];
    int n = 0;
    for (int i = 0; i < 10; i++) tok[n++] = reel_xstrdup(bytes[i]);
    /* long runs of one class reach the end of bounded repeats within a token */
    static const char *const runs[] = {
        "aaaaaaa", "abcabca", "bbbbbb", "ccccc", "\xc3\xa9\xc3\xa9\xc3\xa9", "bababab"};
    for (int i = 0; i < 6; i++) tok[n++] = reel_xstrdup(runs[i]);
    while (n < N - 1) {
        char buf[32] = "";
        int parts = 2 + (int)(next_rand() % 5);
        for (int k = 0; k < parts; k++) strcat(buf, bytes[next_rand() % 10]);
        buf[7] = '\0';
        tok[n++] = reel_xstrdup(buf);
    }
    tok[n++] = reel_xstrdup("<eos>");
    int32_t eos = n - 1;
    uint8_t special[N] = {0};
    special[eos] = 1;
    for (int i = 0; i < n; i++) len[i] = strlen(tok[i]);
    int tested = 0;
    for (int gi = 0; gi < 60; gi++) {
        char text[4096];
        random_grammar(text, sizeof text);
        reel_grammar *g = reel_grammar_compile(text, "random.gbnf");
        if (!g) continue; /* e.g. left recursion through an empty rule */
        tested++;
        /* each grammar with the default DFA, a tiny one (mostly unmemoized) and none at all */
        static const int limits[] = {4096, 6, 1};
        for (int li = 0; li < 3; li++) {
            reel_grammar_vocab *v =
                reel_grammar_vocab_init(n, (const char *const *)tok, len, special, &eos, 1);
            reel_grammar_vocab_set_dfa_limit(v, limits[li]);
            check_masks(g, v, tok, len, n, eos, 3, 25);
            reel_grammar_vocab_free(v);
        }
        reel_grammar_free(g);
    }
    assert_true(tested >= 30);
    /* an ambiguous grammar: many stacks at once (walked whole), fewer later (per stack) */
    reel_grammar *g =
        compile("root ::= (\"a\"? \"b\"?){40} [a-c\"]{0,9} \"\\\\\" (\"é\" | [a-b]){1,3}\n");
    reel_grammar_state *s = reel_grammar_state_init(g);
    assert_true(reel_grammar_state_n_stacks(s) > 64);
    reel_grammar_state_free(s);
    reel_grammar_vocab *v =
        reel_grammar_vocab_init(n, (const char *const *)tok, len, special, &eos, 1);
    check_masks(g, v, tok, len, n, eos, 10, 30);
    reel_grammar_vocab_free(v);
    reel_grammar_free(g);
    for (int i = 0; i < n; i++) free(tok[i]);
}

/* A long bounded string: exact masks, and the per-stack cache keeps trie walks rare (one per
 * position would mean the counted repeat or the cache broke). */
static void test_mask_bounded_string_cached(void **state)
{
    (void)state;
    reel_grammar *g = compile("root ::= \"{\\\"a\\\":\" str \",\\\"b\\\":\" str \"}\"\n"
                              "str ::= \"\\\"\" [a-z ]{0,300} \"\\\"\"\n");
    static const char *const words[] = {
        "the",   " cat",     " sat",    " on",         " a",        " mat", "\"",
        "\",",   "\",\"",    "b\":",    "}",           "{\"a\":\"", "x",    " ",
        "dog\"", "ab\",\"b", " catsat", "the cat sat", "a mat\""};
    enum { N = 64 };
    char *tok[N];
    size_t len[N];
    int n = 0;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) tok[n++] = reel_xstrdup(words[i]);
    for (int c = 0x20; c < 0x7f && n < N - 1; c++) { /* (fills up to N) */
        if (c == 'a' || c == 'b' || c == 'x' || c == '}' || c == '"' || c == ' ') continue;
        char one[2] = {(char)c, 0};
        tok[n++] = reel_xstrdup(one);
    }
    tok[n++] = reel_xstrdup("<eos>");
    int32_t eos = n - 1;
    uint8_t special[N] = {0};
    special[eos] = 1;
    for (int i = 0; i < n; i++) len[i] = strlen(tok[i]);
    reel_grammar_vocab *v =
        reel_grammar_vocab_init(n, (const char *const *)tok, len, special, &eos, 1);
    /* fill the first string with " cat" up to its bound, checking each mask */
    int allowed[N];
    reel_grammar_state *s = reel_grammar_state_init(g);
    assert_int_equal(reel_grammar_state_advance(s, "{\"a\":\"", 6), 0);
    int steps = 0;
    for (;; steps++) {
        int n_allowed = check_one(v, s, tok, len, n, eos, allowed, "bounded string", steps);
        int cat = 0;
        for (int i = 0; i < n_allowed; i++) cat |= allowed[i] == 1; /* token 1 is " cat" */
        if (!cat) break;
        assert_int_equal(reel_grammar_state_advance(s, " cat", 4), 0);
    }
    assert_int_equal(steps, 75); /* 300 / 4; then only the closing quote */
    /* about 500 here; a walk per position (no shared state) visits about 7000 */
    uint64_t visits = reel_grammar_vocab_visits(v);
    if (visits > 2000)
        fail_msg("%llu trie nodes visited for 75 positions of one string",
                 (unsigned long long)visits);
    reel_grammar_state_free(s);
    check_masks(g, v, tok, len, n, eos, 6, 200);
    reel_grammar_vocab_free(v);
    for (int i = 0; i < n; i++) free(tok[i]);
    reel_grammar_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_counted_repetition),
        cmocka_unit_test(test_unicode_classes),
        cmocka_unit_test(test_chained_repetition),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_state_copy_and_done),
        cmocka_unit_test(test_mask_matches_brute_force),
        cmocka_unit_test(test_counted_repeat_large_and_nullable),
        cmocka_unit_test(test_counted_repeat_matches_unrolled),
        cmocka_unit_test(test_mask_random_grammars),
        cmocka_unit_test(test_mask_bounded_string_cached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
