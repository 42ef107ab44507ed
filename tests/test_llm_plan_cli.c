/* reel plan and reel generate --json-schema/--grammar on the tiny golden model: valid plans, exact
 * shot counts, seeded reproducibility, fail-closed on a small budget, usage errors. */
#include "testutil.h"
#include "core/core.h"
#include "llm/grammar.h"
#include "llm/plan.h"

#include <stdlib.h>
#include <string.h>

static char *model_path(void)
{
    return reel_xasprintf("%s/tests/data/models/tiny-a", tu_source_dir());
}

static tu_result plan(const char *const *extra)
{
    char *m = model_path();
    char *argv[32] = {(char *)tu_reel_bin(), "plan", "-m", m, "-t", "1", "--max-text", "24"};
    int n = 8;
    for (int i = 0; extra[i]; i++) argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    tu_result r = tu_run(argv, NULL);
    free(m);
    return r;
}

static void test_plans_validate(void **state)
{
    (void)state;
    for (int shots = 1; shots <= 3; shots++) {
        char shots_s[8], seed_s[8];
        snprintf(shots_s, sizeof shots_s, "%d", shots);
        snprintf(seed_s, sizeof seed_s, "%d", shots * 11);
        const char *args[] = {"--shots", shots_s,     "--seconds",         "6", "--seed",
                              seed_s,    "--compact", "a fox in the snow", NULL};
        tu_result r = plan(args);
        if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
        json_t *v = reel_json_parse(r.out, strlen(r.out), "plan");
        assert_non_null(v);
        json_t *schema = reel_llm_plan_schema(shots, 6, 24);
        if (reel_json_schema_validate(schema, v) < 0) fail_msg("%s", reel_last_error());
        assert_int_equal(json_array_size(json_object_get(v, "shots")), shots);
        for (size_t i = 0; i < json_array_size(json_object_get(v, "shots")); i++) {
            double d = json_number_value(
                json_object_get(json_array_get(json_object_get(v, "shots"), i), "duration_s"));
            assert_true(d >= 1 && d <= 6);
        }
        json_decref(schema);
        json_decref(v);
        tu_result_free(&r);
    }
}

static void test_same_seed_same_plan(void **state)
{
    (void)state;
    const char *args[] = {"--shots", "1", "--seed", "5", "--compact", "rain on a tin roof", NULL};
    tu_result a = plan(args), b = plan(args);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.out, b.out);
    const char *args2[] = {"--shots", "1", "--seed", "6", "--compact", "rain on a tin roof", NULL};
    tu_result c = plan(args2);
    assert_int_equal(c.status, 0);
    assert_string_not_equal(a.out, c.out);
    tu_result_free(&a);
    tu_result_free(&b);
    tu_result_free(&c);
}

static void test_budget_fails_closed(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *out = reel_xasprintf("%s/plan.json", dir);
    const char *args[] = {"-n", "20", "-o", out, "an idea", NULL};
    tu_result r = plan(args);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_true(tu_contains(r.err, "reel: plan: the output was not complete after 20 tokens"));
    assert_false(reel_file_exists(out));
    tu_result_free(&r);
    const char *ok[] = {"--shots", "1", "-o", out, "an idea", NULL};
    r = plan(ok);
    assert_int_equal(r.status, 0);
    json_t *v = reel_json_load_file(out, 0);
    assert_non_null(v);
    json_decref(v);
    tu_result_free(&r);
    tu_rmtree(dir);
    free(dir);
    free(out);
}

/* --durations narration: plans without duration_s, valid against the narrated schema */
static void test_durations_from_narration(void **state)
{
    (void)state;
    const char *args[] = {"--shots", "2",         "--durations",         "narration", "--seed",
                          "3",       "--compact", "a kite over the sea", NULL};
    tu_result r = plan(args);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    json_t *v = reel_json_parse(r.out, strlen(r.out), "plan");
    assert_non_null(v);
    json_t *narrated = reel_llm_plan_schema(2, REEL_LLM_PLAN_NARRATED, 24);
    if (reel_json_schema_validate(narrated, v) < 0) fail_msg("%s", reel_last_error());
    json_t *shots = json_object_get(v, "shots");
    assert_int_equal(json_array_size(shots), 2);
    for (size_t i = 0; i < json_array_size(shots); i++)
        assert_null(json_object_get(json_array_get(shots, i), "duration_s"));
    json_t *timed = reel_llm_plan_schema(2, 0, 24);
    assert_int_equal(reel_json_schema_validate(timed, v), REEL_EFORMAT);
    json_decref(timed);
    json_decref(narrated);
    json_decref(v);
    tu_result_free(&r);
    const char *bad[] = {"--durations", "never", "x", NULL};
    r = plan(bad);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "--durations: 'model' or 'narration', not 'never'"));
    tu_result_free(&r);
}

static void test_usage(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    tu_result r = plan(none);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "no idea"));
    tu_result_free(&r);
    const char *bad[] = {"--shots", "40", "x", NULL};
    r = plan(bad);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "--shots expects an integer from 1 to 12"));
    tu_result_free(&r);
    char *argv[] = {(char *)tu_reel_bin(), "plan", "-m", "/nonexistent.gguf", "x", NULL};
    r = tu_run(argv, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "reel: /nonexistent.gguf"));
    tu_result_free(&r);
}

static void test_generate_constrained(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), *m = model_path();
    char *schema = reel_xasprintf("%s/cat.json", dir), *gbnf = reel_xasprintf("%s/yn.gbnf", dir),
         *bad = reel_xasprintf("%s/bad.gbnf", dir), *pat = reel_xasprintf("%s/pat.json", dir);
    const char *schema_text = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\","
                              "\"maxLength\":8},\"age\":{\"type\":\"integer\",\"minimum\":0,"
                              "\"maximum\":30}},\"required\":[\"name\",\"age\"]}";
    tu_write_file(schema, schema_text, strlen(schema_text));
    tu_write_file(gbnf, "root ::= \"yes\" | \"no\"\n", strlen("root ::= \"yes\" | \"no\"\n"));
    tu_write_file(bad, "root ::= \"x\" (\n", strlen("root ::= \"x\" (\n"));
    tu_write_file(pat, "{\"type\":\"string\",\"pattern\":\"a(?=b)\"}",
                  strlen("{\"type\":\"string\",\"pattern\":\"a(?=b)\"}"));
    json_t *sv = reel_json_parse(schema_text, strlen(schema_text), "schema");
    for (int seed = 0; seed < 5; seed++) {
        char seed_s[8];
        snprintf(seed_s, sizeof seed_s, "%d", seed);
        char *argv[] = {(char *)tu_reel_bin(),
                        "generate",
                        "-m",
                        m,
                        "--chat",
                        "-p",
                        "a cat",
                        "--json-schema",
                        schema,
                        "-n",
                        "200",
                        "--seed",
                        seed_s,
                        "-t",
                        "1",
                        NULL};
        tu_result r = tu_run(argv, NULL);
        if (r.status != 0) fail_msg("seed %d: %s", seed, r.err);
        json_t *v = reel_json_parse(r.out, strlen(r.out), "out");
        assert_non_null(v);
        assert_int_equal(reel_json_schema_validate(sv, v), 0);
        json_decref(v);
        tu_result_free(&r);
    }
    json_decref(sv);
    char *a1[] = {(char *)tu_reel_bin(), "generate", "-m", m, "-p", "ok?", "--grammar", gbnf, NULL};
    tu_result r = tu_run(a1, NULL);
    assert_int_equal(r.status, 0);
    assert_true(strcmp(r.out, "yes\n") == 0 || strcmp(r.out, "no\n") == 0);
    tu_result_free(&r);
    char *a2[] = {(char *)tu_reel_bin(), "generate", "-m", m, "-p", "ok?", "--grammar", bad, NULL};
    r = tu_run(a2, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "bad.gbnf:2:1: expected ')'"));
    tu_result_free(&r);
    char *a3[] = {(char *)tu_reel_bin(), "generate", "-m", m, "-p", "x",
                  "--json-schema",       pat,        NULL};
    r = tu_run(a3, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "'pattern' /a(?=b)/: lookahead"));
    tu_result_free(&r);
    char *a4[] = {(char *)tu_reel_bin(), "generate", "-m", m,   "-p", "x",
                  "--json-schema",       schema,     "-n", "3", NULL};
    r = tu_run(a4, NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, ""); /* nothing partial on stdout */
    assert_true(tu_contains(r.err, "not complete after 3 tokens"));
    tu_result_free(&r);
    char *a5[] = {(char *)tu_reel_bin(), "generate", "-m",        m,    "-p", "x",
                  "--json-schema",       schema,     "--grammar", gbnf, NULL};
    r = tu_run(a5, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    tu_rmtree(dir);
    free(dir);
    free(m);
    free(schema);
    free(gbnf);
    free(bad);
    free(pat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans_validate),
        cmocka_unit_test(test_same_seed_same_plan),
        cmocka_unit_test(test_budget_fails_closed),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_generate_constrained),
        cmocka_unit_test(test_durations_from_narration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
