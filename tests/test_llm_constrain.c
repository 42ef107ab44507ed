/* Constrained decoding on the tiny golden models: seeded generations under several JSON schemas
 * all parse and validate (the random-weight model would otherwise write noise), a GBNF grammar
 * is obeyed, and an exhausted token budget fails instead of returning a partial document. */
#include "testutil.h"
#include "core/core.h"
#include "llm/constrain.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static reel_llm_model *model;
static reel_llm_tokenizer *tok;

static int setup(void **state)
{
    (void)state;
    char *path = reel_xasprintf("%s/tests/data/models/tiny-a", tu_source_dir());
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = 1;
    model = reel_llm_model_load(path, &mp);
    if (!model) fail_msg("%s", reel_last_error());
    tok = reel_llm_tokenizer_load(path, NULL);
    if (!tok) fail_msg("%s", reel_last_error());
    free(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    reel_llm_tokenizer_free(tok);
    reel_llm_model_free(model);
    return 0;
}

/* Prefills a short prompt and generates under g with the given seed. */
static int generate(const reel_grammar *g, uint64_t seed, int n_predict, char **out)
{
    reel_llm_session *s = reel_llm_session_init(model, NULL);
    int32_t prompt[] = {1, 40, 41, 42};
    assert_int_equal(reel_llm_session_decode(s, prompt, 4, 0), 0);
    reel_llm_sampler_params sp = reel_llm_sampler_default_params();
    sp.temp = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0;
    sp.seed = seed;
    reel_llm_sampler *smp = reel_llm_sampler_init(&sp);
    reel_llm_constraint *c = reel_llm_constraint_init(tok, g);
    int rc = reel_llm_generate_constrained(s, smp, tok, c, n_predict, NULL, NULL, out, NULL);
    reel_llm_constraint_free(c);
    reel_llm_sampler_free(smp);
    reel_llm_session_free(s);
    return rc;
}

static const char *SCHEMAS[] = {
    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"maxLength\":10},"
    "\"shots\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,\"items\":{\"type\":\"object\","
    "\"properties\":{\"id\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9},"
    "\"camera\":{\"enum\":[\"wide\",\"close-up\"]},\"seconds\":{\"type\":\"number\",\"minimum\":1,"
    "\"maximum\":5}},\"required\":[\"id\",\"camera\"]}}},\"required\":[\"title\",\"shots\"]}",
    "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"boolean\"},\"next\":"
    "{\"anyOf\":[{\"type\":\"null\"},{\"$ref\":\"#/$defs/n\"}]}},\"required\":[\"v\",\"next\"]}},"
    "\"$ref\":\"#/$defs/n\"}",
    "{\"type\":\"array\",\"maxItems\":3,\"items\":{\"type\":\"string\",\"minLength\":1,"
    "\"maxLength\":3}}",
};

static void test_schema_generations_validate(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof *SCHEMAS; i++) {
        json_t *schema = reel_json_parse(SCHEMAS[i], strlen(SCHEMAS[i]), "schema");
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        assert_non_null(g);
        int ok = 0, budget = 0;
        for (uint64_t seed = 0; seed < 200; seed++) {
            char *text = NULL;
            int rc = generate(g, seed * 7919 + i, 400, &text);
            if (rc == REEL_ERANGE) { /* a random model may ramble until the budget ends */
                budget++;
                continue;
            }
            if (rc < 0) fail_msg("schema %zu seed %d: %s", i, (int)seed, reel_last_error());
            json_t *v = reel_json_parse(text, strlen(text), "output");
            if (!v) fail_msg("schema %zu seed %d: not JSON: %s", i, (int)seed, text);
            if (reel_json_schema_validate(schema, v) < 0)
                fail_msg("schema %zu seed %d: %s: %s", i, (int)seed, text, reel_last_error());
            json_decref(v);
            free(text);
            ok++;
        }
        /* nearly every generation completes; none that completes is invalid */
        if (ok < 150)
            fail_msg("schema %zu: only %d of 200 completed (%d hit the budget)", i, ok, budget);
        reel_grammar_free(g);
        json_decref(schema);
    }
}

/* The schema corpus (tests/data/schemas): 50 seeded generations per schema; every one that
 * completes parses and validates. */
static void test_corpus_generations_validate(void **state)
{
    (void)state;
    char *dir = reel_xasprintf("%s/tests/data/schemas", tu_source_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n_schemas = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        char *path = reel_xasprintf("%s/%s", dir, e->d_name);
        json_t *doc = reel_json_load_file(path, 1 << 20);
        if (!doc) fail_msg("%s: %s", path, reel_last_error());
        const json_t *schema = json_object_get(doc, "schema");
        reel_grammar *g = reel_grammar_from_json_schema(schema);
        if (!g) fail_msg("%s: %s", e->d_name, reel_last_error());
        int ok = 0;
        for (uint64_t seed = 0; seed < 50; seed++) {
            char *text = NULL;
            int rc = generate(g, seed * 104729 + len, 600, &text);
            if (rc == REEL_ERANGE) continue; /* the budget ran out: a random model rambles */
            if (rc < 0) fail_msg("%s seed %d: %s", e->d_name, (int)seed, reel_last_error());
            json_t *v = reel_json_parse(text, strlen(text), "output");
            if (!v) fail_msg("%s seed %d: not JSON: %s", e->d_name, (int)seed, text);
            if (reel_json_schema_validate(schema, v) < 0)
                fail_msg("%s seed %d: %s: %s", e->d_name, (int)seed, text, reel_last_error());
            json_decref(v);
            free(text);
            ok++;
        }
        if (ok < 10) fail_msg("%s: only %d of 50 generations completed", e->d_name, ok);
        print_message("%s: %d of 50 completed, all valid\n", e->d_name, ok);
        reel_grammar_free(g);
        json_decref(doc);
        free(path);
        n_schemas++;
    }
    closedir(d);
    free(dir);
    assert_true(n_schemas >= 8);
}

static void test_gbnf_and_budget(void **state)
{
    (void)state;
    reel_grammar *g = reel_grammar_compile("root ::= \"yes\" | \"no\" | [0-9]{3}\n", "t");
    for (uint64_t seed = 0; seed < 20; seed++) {
        char *text;
        assert_int_equal(generate(g, seed, 10, &text), 0);
        assert_true(strcmp(text, "yes") == 0 || strcmp(text, "no") == 0 ||
                    (strlen(text) == 3 && strspn(text, "0123456789") == 3));
        free(text);
    }
    reel_grammar_free(g);
    /* a grammar that needs more tokens than the budget fails, with no partial output */
    g = reel_grammar_compile("root ::= \"[\" [a-z]{40} \"]\"\n", "t");
    char *text = (char *)1;
    assert_int_equal(generate(g, 1, 5, &text), REEL_ERANGE);
    assert_null(text);
    assert_true(tu_contains(reel_last_error(), "not complete after 5 tokens"));
    reel_grammar_free(g);
}

/* A constrained generation saved halfway (session snapshot + automaton position) and restored
 * continues exactly as it did the first time. */
static void test_snapshot_restore(void **state)
{
    (void)state;
    const char *text = "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\","
                       "\"maxItems\":3,\"items\":{\"type\":\"string\",\"maxLength\":5}}},"
                       "\"required\":[\"tags\"]}";
    json_t *schema = reel_json_parse(text, strlen(text), "schema");
    reel_grammar *g = reel_grammar_from_json_schema(schema);
    reel_llm_session *s = reel_llm_session_init(model, NULL);
    int32_t prompt[] = {1, 50, 51};
    assert_int_equal(reel_llm_session_decode(s, prompt, 3, 0), 0);
    reel_llm_sampler_params sp = reel_llm_sampler_default_params();
    sp.temp = 1.0f;
    sp.seed = 77;
    reel_llm_sampler *smp = reel_llm_sampler_init(&sp);
    reel_llm_constraint *c = reel_llm_constraint_init(tok, g);
    int n_vocab = reel_llm_model_n_vocab(model);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    /* five sampled tokens by hand */
    for (int i = 0; i < 5 && !reel_llm_constraint_done(c); i++) {
        memcpy(logits, reel_llm_session_logits(s, -1), (size_t)n_vocab * sizeof *logits);
        assert_true(reel_llm_constraint_apply(c, logits, n_vocab) > 0);
        int32_t id = reel_llm_sampler_sample(smp, logits, n_vocab);
        assert_int_equal(reel_llm_constraint_accept(c, id), 0);
        assert_int_equal(reel_llm_session_decode(s, &id, 1, 0), 0);
    }
    reel_llm_snapshot *snap = reel_llm_session_snapshot(s);
    reel_grammar_state *pos = reel_llm_constraint_snapshot(c);
    char *first = NULL, *second = NULL;
    reel_llm_sampler *greedy = reel_llm_sampler_init(NULL);
    assert_int_equal(
        reel_llm_generate_constrained(s, greedy, tok, c, 200, NULL, NULL, &first, NULL), 0);
    assert_int_equal(reel_llm_session_restore(s, snap), 0);
    assert_int_equal(reel_llm_constraint_restore(c, pos), 0);
    assert_int_equal(
        reel_llm_generate_constrained(s, greedy, tok, c, 200, NULL, NULL, &second, NULL), 0);
    assert_string_equal(first, second);
    /* a position from another grammar is refused */
    reel_grammar *other = reel_grammar_compile("root ::= \"x\"\n", "t");
    reel_grammar_state *op = reel_grammar_state_init(other);
    assert_int_equal(reel_llm_constraint_restore(c, op), REEL_EINVAL);
    reel_grammar_state_free(op);
    reel_grammar_free(other);
    free(first);
    free(second);
    free(logits);
    reel_grammar_state_free(pos);
    reel_llm_snapshot_free(snap);
    reel_llm_sampler_free(greedy);
    reel_llm_sampler_free(smp);
    reel_llm_constraint_free(c);
    reel_llm_session_free(s);
    reel_grammar_free(g);
    json_decref(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_generations_validate),
        cmocka_unit_test(test_corpus_generations_validate),
        cmocka_unit_test(test_gbnf_and_budget),
        cmocka_unit_test(test_snapshot_restore),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
