/* JSON Schema "pattern": a table of (pattern, string, match) checked through both the grammar
 * (on the string's JSON text) and the validator, the constructs that must be refused by name,
 * and a differential check against PCRE2 (which agrees with ECMAScript on the ASCII subset
 * used) over random strings. */
#include "testutil.h"
#include "core/core.h"
#include "llm/grammar.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *pattern, *text;
    int match;
} CASES[] = {
    {"abc", "abc", 1},
    {"abc", "xabcx", 1},
    {"abc", "ab", 0},
    {"abc", "", 0},
    {"^abc", "abcd", 1},
    {"^abc", "xabc", 0},
    {"abc$", "xabc", 1},
    {"abc$", "abcx", 0},
    {"^abc$", "abc", 1},
    {"^abc$", "abcc", 0},
    {"^$", "", 1},
    {"^$", "a", 0},
    {"", "", 1},
    {"", "anything", 1},
    {"^a|b$", "ax", 1},
    {"^a|b$", "xb", 1},
    {"^a|b$", "xa", 0},
    {"^a|b$", "bx", 0},
    {"^(a|b)+$", "abba", 1},
    {"^(a|b)+$", "abc", 0},
    {"^(?:ab){2,3}$", "abab", 1},
    {"^(?:ab){2,3}$", "ababab", 1},
    {"^(?:ab){2,3}$", "ab", 0},
    {"^(?:ab){2,3}$", "abababab", 0},
    {"^a{3}$", "aaa", 1},
    {"^a{3}$", "aa", 0},
    {"^a{2,}$", "aaaa", 1},
    {"^a{2,}$", "a", 0},
    {"^a*?b+?c??$", "aabbc", 1},
    {"^a*?b+?c??$", "b", 1},
    {"^a*?b+?c??$", "ac", 0},
    {"^\\d+$", "0123", 1},
    {"^\\d+$", "12a", 0},
    {"^\\d+$", "\xd9\xa1", 0}, /* an Arabic-Indic digit is not \d */
    {"^\\D$", "a", 1},
    {"^\\D$", "5", 0},
    {"^\\w+$", "a_Z9", 1},
    {"^\\w+$", "a-b", 0},
    {"^\\w+$", "\xc3\xa9", 0},
    {"^\\W$", "-", 1},
    {"^\\W$", "\xc3\xa9", 1},
    {"^\\W$", "a", 0},
    {"^\\s$", " ", 1},
    {"^\\s$", "\t", 1},
    {"^\\s$", "\n", 1},
    {"^\\s$", "\xc2\xa0", 1},     /* U+00A0 */
    {"^\\s$", "\xe2\x80\xa8", 1}, /* U+2028 */
    {"^\\s$", "a", 0},
    {"^\\S$", "a", 1},
    {"^\\S$", " ", 0},
    {"^[a-c]$", "b", 1},
    {"^[a-c]$", "d", 0},
    {"^[^a-c]$", "d", 1},
    {"^[^a-c]$", "b", 0},
    {"^[^a-c]$", "\n", 1},
    {"^[^a-c]$", "\"", 1},
    {"^[^a-c]$", "\\", 1},
    {"^[^a-c]$", "\x1b", 1},
    {"^[\\d.-]+$", "1.5-2", 1},
    {"^[\\d.-]+$", "1,5", 0},
    {"^[\\]\\-]$", "]", 1},
    {"^[\\]\\-]$", "-", 1},
    {"^[\\]\\-]$", "a", 0},
    {"^[\\s\\d]+$", " 1\t2", 1},
    {"^[^\\d\\s]$", "x", 1},
    {"^[^\\d\\s]$", "7", 0},
    {"^.$", "a", 1},
    {"^.$", "\xc3\xa9", 1},
    {"^.$", "\xf0\x9f\x98\x80", 1},
    {"^.$", "\n", 0},
    {"^.$", "\r", 0},
    {"^.$", "\xe2\x80\xa8", 0},
    {"^[^]$", "\n", 1},
    {"^\\.$", ".", 1},
    {"^\\.$", "a", 0},
    {"^\\t\\n$", "\t\n", 1},
    {"^\\x41\\u0042\\u{43}$", "ABC", 1},
    {"^\\ud83d\\ude00$", "\xf0\x9f\x98\x80", 1},
    {"^\\cJ$", "\n", 1},
    {"^\"\\\\$", "\"\\", 1},
    {"^\"\\\\$", "\"", 0},
    {"^(a)(b)?$", "a", 1},
    {"^(a)(b)?$", "ab", 1},
    {"^(?<year>\\d{4})-(?<m>\\d{2})$", "2024-01", 1},
    {"colou?r", "my color", 1},
    {"colou?r", "colour", 1},
    {"colou?r", "colr", 0},
    {"^[\xf0\x9f\x98\x80-\xf0\x9f\x98\x82]$", "\xf0\x9f\x98\x81", 1},
    {"^[\xf0\x9f\x98\x80-\xf0\x9f\x98\x82]$", "\xf0\x9f\x98\x83", 0},
    {"^\xc3\xa9+$", "\xc3\xa9\xc3\xa9", 1},
    {"a{,3}", "xa{,3}", 1}, /* not a quantifier: literal text */
    {"a{,3}", "aaa", 0},
    {"^x{0}y$", "y", 1},
    {"^(|a)b$", "b", 1},
    {"^(|a)b$", "ab", 1},
    {"^[a-z0-9]+(?:-[a-z0-9]+)*$", "my-slug-2", 1},
    {"^[a-z0-9]+(?:-[a-z0-9]+)*$", "my--slug", 0},
    {"^\\+?[1-9]\\d{1,14}$", "+4712345678", 1},
    {"^\\+?[1-9]\\d{1,14}$", "0123", 0},
    {"^[A-Z]{2}\\d{2}[A-Z0-9]{1,30}$", "GB82WEST12345698765432", 1},
};

static const struct {
    const char *pattern, *expect;
} REFUSED[] = {
    {"a(?=b)", "lookahead"},
    {"a(?!b)", "lookahead"},
    {"(?<=a)b", "lookbehind"},
    {"(?<!a)b", "lookbehind"},
    {"(a)\\1", "backreference"},
    {"(?<n>a)\\k<n>", "named backreference"},
    {"\\bword", "word boundary '\\b'"},
    {"\\Bx", "word boundary '\\B'"},
    {"\\p{L}", "Unicode property escape"},
    {"a^b", "anchor '^' inside the pattern"},
    {"(^a)", "anchor '^' inside the pattern"},
    {"a$b", "anchor '$' inside the pattern"},
    {"*a", "nothing to repeat"},
    {"a**", "nothing to repeat"},
    {"a{2}{3}", "nothing to repeat"},
    {"(a", "missing ')'"},
    {"a)", "unmatched ')'"},
    {"[a", "unterminated character class"},
    {"[z-a]", "range out of order"},
    {"[]", "matches nothing"},
    {"a{1001}", "a count above 1000"},
    {"a{3,2}", "n < m"},
    {"\\q", "unknown escape"},
    {"(?i)a", "unknown group"},
    {"^+", "a quantified anchor"},
    {"\\", "'\\' at the end"},
};

static json_t *pattern_schema(const char *pattern)
{
    return json_pack("{s:s,s:s}", "type", "string", "pattern", pattern);
}

static int grammar_accepts(const reel_grammar *g, const json_t *str)
{
    char *text = json_dumps(str, JSON_ENCODE_ANY);
    reel_grammar_state *s = reel_grammar_state_init(g);
    int ok =
        reel_grammar_state_advance(s, text, strlen(text)) == 0 && reel_grammar_state_accepting(s);
    reel_grammar_state_free(s);
    free(text);
    return ok;
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        json_t *schema = pattern_schema(CASES[i].pattern);
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        if (!g) fail_msg("/%s/: %s", CASES[i].pattern, reel_last_error());
        json_t *str = json_string(CASES[i].text);
        assert_non_null(str);
        int by_grammar = grammar_accepts(g, str);
        int by_validator = reel_json_schema_validate(schema, str) == 0;
        if (by_grammar != CASES[i].match || by_validator != CASES[i].match)
            fail_msg("/%s/ on '%s': grammar %d, validator %d, expected %d", CASES[i].pattern,
                     CASES[i].text, by_grammar, by_validator, CASES[i].match);
        json_decref(str);
        reel_grammar_free(g);
        json_decref(schema);
    }
}

static void test_refused_constructs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof REFUSED / sizeof *REFUSED; i++) {
        json_t *schema = pattern_schema(REFUSED[i].pattern);
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        if (g) fail_msg("/%s/ compiled", REFUSED[i].pattern);
        if (!tu_contains(reel_last_error(), REFUSED[i].expect))
            fail_msg("/%s/: got '%s', want '%s'", REFUSED[i].pattern, reel_last_error(),
                     REFUSED[i].expect);
        assert_true(tu_contains(reel_last_error(), "'pattern'"));
        json_decref(schema);
    }
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* PCRE2 (unanchored search, $ only at the very end) against the validator and the grammar. */
static void test_against_pcre2(void **state)
{
    (void)state;
    static const char *const PATTERNS[] = {
        "^a+b?$",
        "ab|ba",
        "^(a|b)*0$",
        "[0-9]{2}",
        "^x[a-z]{1,3}y?$",
        "^(?:ab|a)(?:b|)$",
        "a.b",
        "\\d\\w",
        "^[^ab]*$",
        "^-?\\d+(\\.\\d+)?$",
        "(x|y|z){2}$",
        "^_",
        "b{2,}",
        "^(a(b(0|1))?)+$",
        "[-_]a|^b",
        "^\\W+\\d?$",
        "(ab)*?c??$",
        "^[a-c]{0,2}[x-z]+",
    };
    static const char ALPHA[] = "ab01-_ .xyz";
    int compared = 0, matched = 0;
    for (size_t p = 0; p < sizeof PATTERNS / sizeof *PATTERNS; p++) {
        int err;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)PATTERNS[p], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &err, &off, NULL);
        assert_non_null(re);
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        json_t *schema = pattern_schema(PATTERNS[p]);
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        if (!g) fail_msg("/%s/: %s", PATTERNS[p], reel_last_error());
        for (int k = 0; k < 600; k++) {
            char text[16];
            int len = (int)(next_rand() % 9);
            for (int i = 0; i < len; i++) text[i] = ALPHA[next_rand() % (sizeof ALPHA - 1)];
            text[len] = '\0';
            int want = pcre2_match(re, (PCRE2_SPTR)text, (PCRE2_SIZE)len, 0, 0, md, NULL) >= 0;
            json_t *str = json_string(text);
            int by_validator = reel_json_schema_validate(schema, str) == 0;
            int by_grammar = grammar_accepts(g, str);
            if (by_validator != want || by_grammar != want)
                fail_msg("/%s/ on '%s': PCRE2 %d, validator %d, grammar %d", PATTERNS[p], text,
                         want, by_validator, by_grammar);
            json_decref(str);
            compared++;
            matched += want;
        }
        reel_grammar_free(g);
        json_decref(schema);
        pcre2_match_data_free(md);
        pcre2_code_free(re);
    }
    print_message("%d strings compared with PCRE2, %d matches\n", compared, matched);
}

/* Lengths combine with a pattern when they can be kept exactly. */
static void test_pattern_with_lengths(void **state)
{
    (void)state;
    json_t *schema = json_pack("{s:s,s:s,s:i,s:i}", "type", "string", "pattern", "^[a-z_]+$",
                               "minLength", 3, "maxLength", 5);
    reel_grammar *g = reel_grammar_from_json_schema(schema);
    assert_non_null(g);
    const char *texts[] = {"ab", "abc", "abcde", "abcdef", "ab1"};
    int want[] = {0, 1, 1, 0, 0};
    for (int i = 0; i < 5; i++) {
        json_t *str = json_string(texts[i]);
        assert_int_equal(grammar_accepts(g, str), want[i]);
        assert_int_equal(reel_json_schema_validate(schema, str) == 0, want[i]);
        json_decref(str);
    }
    reel_grammar_free(g);
    json_decref(schema);
    /* the pattern's own lengths within the bounds: nothing to combine */
    schema =
        json_pack("{s:s,s:s,s:i}", "type", "string", "pattern", "^\\d{3}-\\d{4}$", "maxLength", 8);
    g = reel_grammar_from_json_schema(schema);
    assert_non_null(g);
    reel_grammar_free(g);
    json_decref(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_refused_constructs),
        cmocka_unit_test(test_against_pcre2),
        cmocka_unit_test(test_pattern_with_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
