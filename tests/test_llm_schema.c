/* JSON Schema: translation to a grammar, validation, and the fail-closed promise — 200 seeded
 * random sentences of each schema's grammar all parse as JSON and validate against the schema.
 * Unsupported keywords fail with their JSON pointer. */
#include "testutil.h"
#include "core/core.h"
#include "llm/grammar.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *js(const char *text)
{
    json_t *v = reel_json_parse(text, strlen(text), "test");
    if (!v) fail_msg("bad test JSON: %s", reel_last_error());
    return v;
}

static uint64_t rng;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Byte vocabulary: token b is the single byte b; masks give the allowed next bytes. */
static reel_grammar_vocab *byte_vocab(void)
{
    static char bytes[256][1];
    const char *ptrs[256];
    size_t lens[256];
    for (int i = 0; i < 256; i++) {
        bytes[i][0] = (char)i;
        ptrs[i] = bytes[i];
        lens[i] = 1;
    }
    return reel_grammar_vocab_init(256, ptrs, lens, NULL, NULL, 0);
}

/* A random sentence of g, biased towards short structured output. NULL if the budget ran out. */
static char *random_sentence(const reel_grammar *g, reel_grammar_vocab *v)
{
    reel_grammar_state *s = reel_grammar_state_init(g);
    size_t cap = 8192, n = 0;
    char *out = reel_xmalloc(cap);
    uint8_t mask[32];
    for (;;) {
        if (reel_grammar_state_accepting(s) && (reel_grammar_state_done(s) || next_rand() % 4 == 0))
            break;
        int count = reel_grammar_mask(v, s, mask);
        if (count == 0) fail_msg("grammar stuck after '%.*s'", (int)n, out);
        if (n + 1 >= cap) {
            free(out);
            reel_grammar_state_free(s);
            return NULL;
        }
        int allowed[256], na = 0, structural[8], ns = 0, ascii[256], nascii = 0;
        for (int b = 0; b < 256; b++) {
            if (!((mask[b >> 3] >> (b & 7)) & 1)) continue;
            allowed[na++] = b;
            if (b >= 0x20 && b < 0x7f) ascii[nascii++] = b;
            if (strchr("\"],}", b) && b) structural[ns++] = b;
        }
        int b;
        uint32_t r = next_rand() % 100;
        if (ns && r < 25 && n > 2)
            b = structural[next_rand() % (unsigned)ns];
        else if (nascii && r < 95)
            b = ascii[next_rand() % (unsigned)nascii];
        else
            b = allowed[next_rand() % (unsigned)na];
        uint8_t c = (uint8_t)b;
        if (reel_grammar_state_advance(s, &c, 1) != 0)
            fail_msg("mask allowed byte 0x%02x after '%.*s' but the grammar refused it", c, (int)n,
                     out);
        out[n++] = (char)c;
    }
    out[n] = '\0';
    reel_grammar_state_free(s);
    return out;
}

static const char *SCHEMAS[] = {
    /* a scene plan, as reel plan uses */
    "{\"type\":\"object\",\"properties\":{"
    "\"title\":{\"type\":\"string\",\"maxLength\":12},"
    "\"style\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":6},"
    "\"shots\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,\"items\":{\"type\":\"object\","
    "\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":12},"
    "\"duration_s\":{\"type\":\"number\",\"minimum\":1,\"maximum\":8},"
    "\"camera\":{\"enum\":[\"wide\",\"close-up\",\"pan\"]},"
    "\"narration\":{\"type\":\"string\",\"maxLength\":10},"
    "\"characters\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":4},"
    "\"maxItems\":2}},"
    "\"required\":[\"id\",\"duration_s\",\"camera\"]}}},"
    "\"required\":[\"title\",\"shots\"]}",
    /* optional fields only, booleans and nulls */
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"},\"b\":{\"type\":\"null\"},"
    "\"c\":{\"type\":[\"integer\",\"null\"],\"minimum\":-20,\"maximum\":-3}}}",
    /* $ref recursion and anyOf */
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\","
    "\"minimum\":-1000,\"maximum\":99999},\"kids\":{\"type\":\"array\",\"maxItems\":2,"
    "\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"]}},"
    "\"anyOf\":[{\"$ref\":\"#/$defs/"
    "node\"},{\"const\":\"leaf\"},{\"type\":\"number\",\"minimum\":-2,\"maximum\":3}]}",
    /* enums of mixed values, unicode strings, nested arrays */
    "{\"type\":\"array\",\"minItems\":2,\"maxItems\":4,\"items\":{\"anyOf\":[{\"enum\":[\"é\",1.5,"
    "true,null,{\"k\":[1]}]},{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":2,"
    "\"maxLength\":3}}]}}",
    /* an unconstrained value */
    "{\"type\":\"object\",\"properties\":{\"any\":true,\"n\":{\"type\":\"number\"}},\"required\":["
    "\"any\"]}",
};

static void test_random_sentences_validate(void **state)
{
    (void)state;
    reel_grammar_vocab *v = byte_vocab();
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof *SCHEMAS; i++) {
        json_t *schema = js(SCHEMAS[i]);
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        if (!g) fail_msg("schema %zu: %s", i, reel_last_error());
        rng = 0x9E3779B97F4A7C15ull + i;
        int made = 0;
        for (int k = 0; k < 400 && made < 200; k++) {
            char *text = random_sentence(g, v);
            if (!text) continue;
            json_t *value = reel_json_parse(text, strlen(text), "sentence");
            if (!value) fail_msg("schema %zu: not JSON: %s (%s)", i, text, reel_last_error());
            if (reel_json_schema_validate(schema, value) != 0)
                fail_msg("schema %zu: invalid: %s (%s)", i, text, reel_last_error());
            json_decref(value);
            free(text);
            made++;
        }
        assert_int_equal(made, 200);
        reel_grammar_free(g);
        json_decref(schema);
    }
    reel_grammar_vocab_free(v);
}

/* Values the grammar must accept (compact JSON in schema property order) and reject. */
static void test_accept_reject(void **state)
{
    (void)state;
    json_t *schema = js(SCHEMAS[0]);
    reel_grammar *g = reel_grammar_from_json_schema(schema);
    const char *good[] = {
        "{\"title\":\"A\",\"shots\":[{\"id\":1,\"duration_s\":8,\"camera\":\"pan\"}]}",
        /* required properties first, in 'required' order, then optional ones by name */
        "{\"title\":\"\",\"shots\":[{\"id\":12,\"duration_s\":7.25,\"camera\":\"wide\","
        "\"characters\":[\"ann\"],\"narration\":\"hi\"}],\"style\":\"noir\"}",
    };
    const char *bad[] = {
        "{\"shots\":[]}", /* no title */
        "{\"title\":\"A\",\"shots\":[{\"id\":13,\"duration_s\":1,\"camera\":\"pan\"}]}",  /* id > 12
                                                                                           */
        "{\"title\":\"A\",\"shots\":[{\"id\":1,\"duration_s\":8.5,\"camera\":\"pan\"}]}", /* > 8 */
        "{\"title\":\"A\",\"shots\":[{\"id\":1,\"duration_s\":1,\"camera\":\"zoom\"}]}",
        "{\"title\":\"A\",\"shots\":[{\"id\":1,\"duration_s\":1,\"camera\":\"pan\"}],\"x\":1}",
        "{\"title\":\"A\",\"shots\":[]}", /* minItems 1 */
        "{\"title\":\"0123456789abc\",\"shots\":[{\"id\":1,\"duration_s\":1,\"camera\":\"pan\"}]}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        reel_grammar_state *s = reel_grammar_state_init(g);
        assert_int_equal(reel_grammar_state_advance(s, good[i], strlen(good[i])), 0);
        assert_true(reel_grammar_state_accepting(s));
        reel_grammar_state_free(s);
        json_t *v = js(good[i]);
        assert_int_equal(reel_json_schema_validate(schema, v), 0);
        json_decref(v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        reel_grammar_state *s = reel_grammar_state_init(g);
        int rc = reel_grammar_state_advance(s, bad[i], strlen(bad[i]));
        if (rc == 0 && reel_grammar_state_accepting(s)) fail_msg("grammar accepted bad[%zu]", i);
        reel_grammar_state_free(s);
        json_t *v = js(bad[i]);
        if (reel_json_schema_validate(schema, v) == 0) fail_msg("validator accepted bad[%zu]", i);
        json_decref(v);
    }
    reel_grammar_free(g);
    json_decref(schema);
}

/* ---- the corpus in tests/data/schemas: real-world-style schemas with valid and invalid
 * instances ---- */

/* Loads every JSON file in tests/data/schemas (sorted by name); returns how many. */
static int load_corpus(json_t **out, char **names, int cap)
{
    char *dir = reel_xasprintf("%s/tests/data/schemas", tu_source_dir());
    DIR *d = opendir(dir);
    if (!d) fail_msg("no %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        names[n++] = reel_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_name);
    for (int i = 0; i < n; i++) {
        char *path = reel_xasprintf("%s/%s", dir, names[i]);
        out[i] = reel_json_load_file(path, 1 << 20);
        if (!out[i]) fail_msg("%s: %s", path, reel_last_error());
        free(path);
    }
    free(dir);
    return n;
}

static int grammar_accepts(const reel_grammar *g, const char *text)
{
    reel_grammar_state *s = reel_grammar_state_init(g);
    int ok =
        reel_grammar_state_advance(s, text, strlen(text)) == 0 && reel_grammar_state_accepting(s);
    reel_grammar_state_free(s);
    return ok;
}

/* Every accepted string must parse and validate. */
static void accepted_must_validate(const json_t *schema, const char *text, const char *what)
{
    json_t *v = reel_json_parse(text, strlen(text), "accepted");
    if (!v) fail_msg("%s: the grammar accepted non-JSON '%s'", what, text);
    if (reel_json_schema_validate(schema, v) != 0)
        fail_msg("%s: the grammar accepted '%s', the validator refused it: %s", what, text,
                 reel_last_error());
    json_decref(v);
}

static void test_corpus(void **state)
{
    (void)state;
    json_t *docs[64];
    char *names[64];
    int n = load_corpus(docs, names, 64);
    assert_true(n >= 8);
    reel_grammar_vocab *vocab = byte_vocab();
    static const char POOL[] = "0123456789-.eE+\"\\{}[],:aZ_ /@T";
    int total_valid = 0, total_invalid = 0, total_random = 0, total_mutants = 0;
    for (int f = 0; f < n; f++) {
        const json_t *schema = json_object_get(docs[f], "schema");
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        if (!g) fail_msg("%s: %s", names[f], reel_last_error());
        const json_t *valid = json_object_get(docs[f], "valid"),
                     *invalid = json_object_get(docs[f], "invalid");
        assert_true(json_array_size(valid) > 0 && json_array_size(invalid) > 0);
        rng = 0x51A7E5EEDull + (uint64_t)f;
        for (size_t i = 0; i < json_array_size(valid); i++) {
            char *text = json_dumps(json_array_get(valid, i),
                                    JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
            if (!grammar_accepts(g, text))
                fail_msg("%s: valid[%zu] '%s' refused by the grammar", names[f], i, text);
            if (reel_json_schema_validate(schema, json_array_get(valid, i)) != 0)
                fail_msg("%s: valid[%zu]: %s", names[f], i, reel_last_error());
            /* byte mutations of a valid text: whatever the grammar still accepts validates */
            size_t len = strlen(text);
            for (int m = 0; m < 300; m++) {
                char *mut = reel_xmalloc(len + 2);
                memcpy(mut, text, len + 1);
                size_t at = next_rand() % len;
                char c = POOL[next_rand() % (sizeof POOL - 1)];
                switch (next_rand() % 3) {
                case 0:
                    mut[at] = c;
                    break;
                case 1:
                    memmove(mut + at + 1, mut + at, len - at + 1), mut[at] = c;
                    break;
                default:
                    memmove(mut + at, mut + at + 1, len - at);
                    break;
                }
                if (grammar_accepts(g, mut)) accepted_must_validate(schema, mut, names[f]);
                free(mut);
                total_mutants++;
            }
            free(text);
            total_valid++;
        }
        for (size_t i = 0; i < json_array_size(invalid); i++) {
            const json_t *v = json_array_get(invalid, i);
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
            if (reel_json_schema_validate(schema, v) == 0)
                fail_msg("%s: invalid[%zu] '%s' validated", names[f], i, text);
            if (grammar_accepts(g, text))
                fail_msg("%s: invalid[%zu] '%s' accepted by the grammar", names[f], i, text);
            free(text);
            total_invalid++;
        }
        /* random sentences of the grammar, byte by byte through the masks */
        int made = 0;
        for (int k = 0; k < 400 && made < 100; k++) {
            char *text = random_sentence(g, vocab);
            if (!text) continue;
            accepted_must_validate(schema, text, names[f]);
            free(text);
            made++;
        }
        if (made < 100) fail_msg("%s: only %d random sentences", names[f], made);
        total_random += made;
        reel_grammar_free(g);
        json_decref(docs[f]);
        free(names[f]);
    }
    reel_grammar_vocab_free(vocab);
    print_message("corpus: %d schemas, %d valid and %d invalid instances, %d random sentences, %d "
                  "mutants\n",
                  n, total_valid, total_invalid, total_random, total_mutants);
}

/* Masks stay exact under pattern, format and decimal-bound grammars: over a vocabulary of
 * random 1-4 byte tokens (ASCII, JSON punctuation, digits and pieces of UTF-8 characters), the
 * mask at each step of random sentences equals advancing a copy of the state by each token. */
static void test_masks_exact_with_patterns(void **state)
{
    (void)state;
    static const char *const SCHEMAS_P[] = {
        "{\"type\":\"object\",\"properties\":{\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-"
        "\\\\d{3}$\"},\"note\":{\"type\":\"string\",\"pattern\":\"ok|fine\"},\"w\":{\"type\":"
        "\"number\",\"exclusiveMinimum\":-1.25,\"maximum\":99.5},\"d\":{\"type\":\"string\","
        "\"format\":\"date\"}},\"required\":[\"sku\",\"note\",\"w\"]}",
        "{\"type\":\"array\",\"maxItems\":3,\"items\":{\"anyOf\":[{\"type\":\"string\",\"pattern\":"
        "\"^[^a-c\\\\s]+$\",\"maxLength\":6},{\"type\":\"string\",\"pattern\":\"x\\\\d?\\u00e9|^"
        "\\\\W\"}]}}",
        "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"format\":\"ipv6\"},"
        "\"maxProperties\":2}",
    };
    static const char POOL[] =
        "\"{}[],:-.0123456789eE abcxyzAZ\\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    enum { NT = 1000 };
    char *toks[NT];
    const char *ptrs[NT];
    size_t lens[NT];
    rng = 0xFEEDFACEull;
    for (int i = 0; i < NT; i++) {
        size_t n = i < 256 ? 1 : 1 + next_rand() % 4;
        toks[i] = reel_xmalloc(n);
        for (size_t k = 0; k < n; k++)
            toks[i][k] = i < 256 ? (char)i : POOL[next_rand() % (sizeof POOL - 1)];
        ptrs[i] = toks[i];
        lens[i] = n;
    }
    reel_grammar_vocab *tv = reel_grammar_vocab_init(NT, ptrs, lens, NULL, NULL, 0);
    reel_grammar_vocab *bv = byte_vocab();
    uint8_t mask[(NT + 7) / 8];
    int steps = 0;
    for (size_t i = 0; i < sizeof SCHEMAS_P / sizeof *SCHEMAS_P; i++) {
        json_t *schema = js(SCHEMAS_P[i]);
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        if (!g) fail_msg("schema %zu: %s", i, reel_last_error());
        for (int k = 0; k < 12; k++) {
            char *text = random_sentence(g, bv);
            if (!text) continue;
            accepted_must_validate(schema, text, "mask schema");
            /* replay the sentence; at each of its first 160 bytes compare the token mask with brute
             * force */
            reel_grammar_state *st = reel_grammar_state_init(g),
                               *probe = reel_grammar_state_clone(st);
            for (size_t pos = 0; text[pos] && pos < 160; pos++) {
                int count = reel_grammar_mask(tv, st, mask), brute = 0;
                for (int t = 0; t < NT; t++) {
                    reel_grammar_state_copy(probe, st);
                    int ok = reel_grammar_state_advance(probe, toks[t], lens[t]) == 0;
                    brute += ok;
                    if (ok != ((mask[t >> 3] >> (t & 7)) & 1))
                        fail_msg("schema %zu after '%.*s': token '%.*s' mask %d, advance %d", i,
                                 (int)pos, text, (int)lens[t], toks[t], !ok, ok);
                }
                assert_int_equal(count, brute);
                assert_int_equal(reel_grammar_state_advance(st, text + pos, 1), 0);
                steps++;
            }
            reel_grammar_state_free(probe);
            reel_grammar_state_free(st);
            free(text);
        }
        reel_grammar_free(g);
        json_decref(schema);
    }
    print_message("masks exact at %d positions over %d tokens\n", steps, NT);
    reel_grammar_vocab_free(tv);
    reel_grammar_vocab_free(bv);
    for (int i = 0; i < NT; i++) free(toks[i]);
}

static void test_integer_ranges_exact(void **state)
{
    (void)state;
    long long ranges[][2] = {{0, 0}, {1, 12},    {-5, 120}, {-999, -7},
                             {7, 7}, {95, 1005}, {0, 99999}};
    for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++) {
        long long lo = ranges[r][0], hi = ranges[r][1];
        char text[128];
        snprintf(text, sizeof text, "{\"type\":\"integer\",\"minimum\":%lld,\"maximum\":%lld}", lo,
                 hi);
        json_t *schema = js(text);
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        assert_non_null(g);
        for (long long x = lo - 30; x <= hi + 30; x += (hi - lo > 2000 ? 37 : 1)) {
            char num[32];
            snprintf(num, sizeof num, "%lld", x);
            reel_grammar_state *s = reel_grammar_state_init(g);
            int ok = reel_grammar_state_advance(s, num, strlen(num)) == 0 &&
                     reel_grammar_state_accepting(s);
            reel_grammar_state_free(s);
            if (ok != (x >= lo && x <= hi))
                fail_msg("range [%lld,%lld]: %lld gave %d", lo, hi, x, ok);
        }
        /* leading zeros are not JSON */
        reel_grammar_state *s = reel_grammar_state_init(g);
        assert_true(reel_grammar_state_advance(s, "01", 2) < 0 || !reel_grammar_state_accepting(s));
        reel_grammar_state_free(s);
        reel_grammar_free(g);
        json_decref(schema);
    }
}

static void test_unsupported_keywords_fail_closed(void **state)
{
    (void)state;
    json_t *s;
    reel_grammar *g;
    struct {
        const char *schema, *expect;
    } cases[] = {
        {"{\"type\":\"string\",\"pattern\":\"a(?=b)\"}", "at '#': 'pattern' /a(?=b)/: lookahead"},
        {"{\"type\":\"string\",\"pattern\":\"\\\\bword\"}", "word boundary '\\b'"},
        {"{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "backreference"},
        {"{\"type\":\"string\",\"pattern\":\"a^b\"}", "anchor '^' inside the pattern"},
        {"{\"type\":\"string\",\"pattern\":\"\\\\p{L}\"}", "Unicode property escape"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"color\"}}}",
         "at '/properties/a': 'format' 'color' is not supported"},
        {"{\"type\":\"array\",\"items\":{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}"
         "}",
         "at '/items': 'oneOf' branches 0 and 1 may both match"},
        {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},\"minProperties\":1}",
         "minProperties"},
        {"{\"type\":\"object\",\"properties\":{},\"required\":[\"x\"]}", "required property 'x'"},
        {"{\"$ref\":\"#/$defs/missing\"}", "points nowhere"},
        {"{\"$ref\":\"http://example.com/s.json\"}", "not supported"},
        {"{\"type\":\"widget\"}", "unknown type 'widget'"},
        {"{\"type\":\"integer\",\"minimum\":5,\"maximum\":1}", "no integer lies within the bounds"},
        {"{\"type\":\"integer\",\"exclusiveMinimum\":true}", "'exclusiveMinimum' must be a number"},
        {"{\"type\":\"number\",\"exclusiveMaximum\":0.30000000000000004}", "15 significant digits"},
        {"{\"type\":\"number\",\"multipleOf\":0.5}", "'multipleOf' is supported for integers"},
        {"{\"type\":\"integer\",\"multipleOf\":5000}", "'multipleOf' above 1000"},
        {"{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", "minItems"},
        {"{\"type\":\"object\",\"allOf\":[]}", "'allOf' must be a non-empty array"},
        {"{\"allOf\":[{\"type\":\"string\",\"pattern\":\"a\"},{\"pattern\":\"b\"}]}",
         "'allOf' parts with different 'pattern' do not merge"},
        {"{\"allOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "no type in common"},
        {"{\"not\":{\"const\":1}}", "'not' is supported as"},
        {"{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"type\":\"string\"}}",
         "'uniqueItems' is enforced only"},
        {"{\"type\":\"string\",\"pattern\":\"^(ab)+$\",\"maxLength\":5}",
         "'pattern' together with minLength/maxLength"},
        {"{\"type\":\"string\",\"format\":\"date\",\"maxLength\":5}",
         "'format' 'date' with minLength/maxLength"},
        {"{\"type\":\"object\",\"patternProperties\":{\"a\":{},\"b\":{}}}",
         "'patternProperties' is supported when each pattern matches at most 64 names"},
        {"{\"type\":\"string\",\"contentEncoding\":\"base64\"}",
         "keyword 'contentEncoding' is not supported"},
        {"[1,2]", "a schema must be an object"},
        /* found by fuzz_llm_schema: a $ref loop that matches nothing first is left recursion */
        {"{\"$defs\":{\"n\":{\"anyOf\":[{\"type\":\"null\"},{\"$ref\":\"#/$defs/n\"}]}},"
         "\"$ref\":\"#/$defs/n\"}",
         "at '/$defs/n/anyOf/1': $ref '#/$defs/n' comes back to itself before matching any text"},
        {"{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/b\"},{\"type\":\"null\"}]},"
         "\"b\":{\"anyOf\":[{\"type\":\"integer\"},{\"$ref\":\"#/$defs/a\"}]}},\"$ref\":\"#/$defs/"
         "a\"}",
         "$ref '#/$defs/a' comes back to itself"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        s = js(cases[i].schema);
        g = reel_grammar_from_json_schema(s);
        if (g) fail_msg("case %zu compiled", i);
        if (!tu_contains(reel_last_error(), cases[i].expect))
            fail_msg("case %zu: got '%s', want '%s'", i, reel_last_error(), cases[i].expect);
        json_decref(s);
    }
    /* recursion behind a bracket is fine, and the grammar nests */
    s = js("{\"$defs\":{\"l\":{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"array\",\"items\":"
           "{\"$ref\":\"#/$defs/l\"}}]}},\"$ref\":\"#/$defs/l\"}");
    g = reel_grammar_from_json_schema(s);
    assert_non_null(g);
    reel_grammar_state *st = reel_grammar_state_init(g);
    assert_int_equal(reel_grammar_state_advance(st, "[[null,[]],null]", 16), 0);
    assert_true(reel_grammar_state_accepting(st));
    reel_grammar_state_free(st);
    reel_grammar_free(g);
    json_decref(s);
    /* annotations are fine */
    s = js("{\"title\":\"T\",\"description\":\"d\",\"type\":\"boolean\",\"default\":true}");
    g = reel_grammar_from_json_schema(s);
    assert_non_null(g);
    reel_grammar_free(g);
    json_decref(s);
}

/* The validator on its own: keywords the grammar refuses are still checked (oneOf overlaps,
 * not, uniqueItems on any items, several patternProperties), and self-referencing schemas end
 * with an error instead of recursing without bound. */
static void test_validator_keywords(void **state)
{
    (void)state;
    static const struct {
        const char *schema, *value;
        int ok;
    } cases[] = {
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "1.5", 1},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "2", 0}, /* both match */
        {"{\"not\":{\"const\":3}}", "4", 1},
        {"{\"not\":{\"const\":3}}", "3", 0},
        {"{\"type\":\"array\",\"uniqueItems\":true}", "[1,\"1\",[1],{\"a\":1}]", 1},
        {"{\"type\":\"array\",\"uniqueItems\":true}", "[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1.0}]", 0},
        {"{\"type\":\"object\",\"patternProperties\":{\"^a\":{\"type\":\"integer\"},\"b$\":"
         "{\"minimum\":2}}}",
         "{\"ab\":3,\"xb\":2.5}", 1},
        {"{\"type\":\"object\",\"patternProperties\":{\"^a\":{\"type\":\"integer\"},\"b$\":"
         "{\"minimum\":2}}}",
         "{\"ab\":1}", 0},
        {"{\"type\":\"object\",\"dependentRequired\":{\"a\":[\"b\"]},\"additionalProperties\":"
         "true}",
         "{\"a\":1}", 0},
        {"{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}},"
         "{\"properties\":{\"b\":{\"type\":\"string\"}}}]}",
         "{\"a\":1,\"b\":\"x\"}", 1}, /* merged: both properties are listed */
        {"{\"type\":\"integer\",\"multipleOf\":3,\"exclusiveMaximum\":9}", "6", 1},
        {"{\"type\":\"integer\",\"multipleOf\":3,\"exclusiveMaximum\":9}", "9", 0},
        {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":2}", "\"\\u00e9\\ud83d\\ude00\"", 1},
        {"{\"type\":\"string\",\"format\":\"ipv4\"}", "\"10.0.0.1\"", 1},
        {"{\"type\":\"string\",\"format\":\"ipv4\"}", "\"10.0.0.01\"", 0},
        {"{\"$ref\":\"#\"}", "1", 0},
        {"{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}", "1", 0},
        {"{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/"
         "$defs/a\"}",
         "1", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *schema = js(cases[i].schema), *v = js(cases[i].value);
        int rc = reel_json_schema_validate(schema, v);
        if ((rc == 0) != cases[i].ok)
            fail_msg("case %zu: %s on %s gave %d (%s)", i, cases[i].value, cases[i].schema, rc,
                     reel_last_error());
        json_decref(schema);
        json_decref(v);
    }
}

/* A long validation (3000 array items, one step each) stops soon after the cancel flag is
 * raised, with REEL_ECANCELED; without the flag the same call succeeds, and a short one ends
 * before the first check. */
static void test_validator_cancel(void **state)
{
    (void)state;
    json_t *schema = js("{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}");
    json_t *v = json_array();
    for (int i = 0; i < 3000; i++) json_array_append_new(v, json_integer(i));
    volatile sig_atomic_t flag = 1;
    assert_int_equal(reel_json_schema_validate_cancel(schema, v, &flag), REEL_ECANCELED);
    assert_true(tu_contains(reel_last_error(), "interrupted"));
    flag = 0;
    assert_int_equal(reel_json_schema_validate_cancel(schema, v, &flag), 0);
    json_decref(v);
    v = js("[1, 2]");
    flag = 1;
    assert_int_equal(reel_json_schema_validate_cancel(schema, v, &flag), 0);
    json_decref(v);
    json_decref(schema);
}

static void test_validator_messages(void **state)
{
    (void)state;
    json_t *schema = js(SCHEMAS[0]);
    json_t *v = js("{\"title\":\"A\",\"shots\":[{\"id\":1,\"duration_s\":1,\"camera\":\"pan\","
                   "\"characters\":[\"toolong\"]}]}");
    assert_int_equal(reel_json_schema_validate(schema, v), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "/shots/0/characters/0"));
    assert_true(tu_contains(reel_last_error(), "maxLength 4"));
    json_decref(v);
    v = js("{\"title\":7,\"shots\":[]}");
    assert_int_equal(reel_json_schema_validate(schema, v), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "/title"));
    json_decref(v);
    json_decref(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_sentences_validate),
        cmocka_unit_test(test_accept_reject),
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_masks_exact_with_patterns),
        cmocka_unit_test(test_integer_ranges_exact),
        cmocka_unit_test(test_unsupported_keywords_fail_closed),
        cmocka_unit_test(test_validator_keywords),
        cmocka_unit_test(test_validator_messages),
        cmocka_unit_test(test_validator_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
