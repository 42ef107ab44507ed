/* reel logits / reel generate end to end on the tiny-b HF fixture against transformers
 * reference (tests/data/models/tiny-b/golden.json). */
#include "testutil.h"
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char model[1024];
static json_t *golden;

static int setup(void **state)
{
    (void)state;
    snprintf(model, sizeof model, "%s/tests/data/models/tiny-b", tu_source_dir());
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/data/models/tiny-b/golden.json", tu_source_dir());
    golden = reel_json_load_file(p, 16 << 20);
    return golden ? 0 : -1;
}
static int teardown(void **state)
{
    (void)state;
    json_decref(golden);
    return 0;
}

static tu_result reel(const char **args)
{
    char *argv[32] = {(char *)tu_reel_bin()};
    int n = 1;
    for (; args[n - 1] && n < 31; n++) argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    return tu_run(argv, NULL);
}

/* "1,2,3" from a JSON array of ints */
static char *csv(const json_t *arr)
{
    char *s = calloc(1, json_array_size(arr) * 12 + 1);
    for (size_t i = 0; i < json_array_size(arr); i++)
        sprintf(s + strlen(s), "%s%lld", i ? "," : "",
                (long long)json_integer_value(json_array_get(arr, i)));
    return s;
}
/* "1 2 3\n" */
static char *spaced(const json_t *arr)
{
    char *s = calloc(1, json_array_size(arr) * 12 + 2);
    for (size_t i = 0; i < json_array_size(arr); i++)
        sprintf(s + strlen(s), "%s%lld", i ? " " : "",
                (long long)json_integer_value(json_array_get(arr, i)));
    strcat(s, "\n");
    return s;
}

static void test_logits(void **state)
{
    (void)state;
    const json_t *seq = json_array_get(json_object_get(golden, "sequences"), 2);
    char *ids = csv(json_object_get(seq, "tokens"));
    tu_result r = reel((const char *[]){"logits", "-m", model, "--tokens", ids, "--all", NULL});
    assert_int_equal(r.status, 0);
    json_t *out = reel_json_parse(r.out, strlen(r.out), "reel logits");
    assert_non_null(out);
    assert_int_equal(reel_json_int(out, "n_vocab", 0), 512);
    const json_t *got = json_object_get(out, "logits"), *want = json_object_get(seq, "logits");
    assert_int_equal(json_array_size(got), json_array_size(want));
    double worst = 0;
    for (size_t t = 0; t < json_array_size(want); t++)
        for (size_t i = 0; i < 512; i++)
            worst =
                fmax(worst, fabs(json_number_value(json_array_get(json_array_get(got, t), i)) -
                                 json_number_value(json_array_get(json_array_get(want, t), i))));
    printf("reel logits vs transformers: max |dlogit| = %.3g\n", worst);
    assert_true(worst <= 1e-4);
    json_decref(out);
    tu_result_free(&r);
    /* --top 3: best first, the argmax of the reference row */
    r = reel((const char *[]){"logits", "-m", model, "--tokens", ids, "--top", "3", NULL});
    assert_int_equal(r.status, 0);
    out = reel_json_parse(r.out, strlen(r.out), "reel logits --top");
    const json_t *top = json_object_get(out, "top");
    assert_int_equal(json_array_size(top), json_array_size(want));
    for (size_t t = 0; t < json_array_size(want); t++) {
        const json_t *row = json_array_get(want, t);
        size_t best = 0;
        for (size_t i = 1; i < 512; i++)
            if (json_number_value(json_array_get(row, i)) >
                json_number_value(json_array_get(row, best)))
                best = i;
        const json_t *first = json_array_get(json_array_get(top, t), 0);
        assert_int_equal(json_integer_value(json_array_get(first, 0)), best);
        assert_int_equal(json_array_size(json_array_get(top, t)), 3);
    }
    json_decref(out);
    tu_result_free(&r);
    free(ids);
}

static void test_generate_greedy(void **state)
{
    (void)state;
    const json_t *gr = json_object_get(golden, "greedy");
    char *prompt = csv(json_object_get(gr, "prompt")),
         *want = spaced(json_object_get(gr, "tokens"));
    tu_result r = reel((const char *[]){"generate", "-m", model, "--tokens", prompt, "-n", "32",
                                        "--temp", "0", "--ids", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, want);
    tu_result_free(&r);
    free(prompt), free(want);
    /* text prompt through the model's tokenizer (BOS added) */
    const json_t *tx = json_object_get(golden, "text");
    want = spaced(json_object_get(tx, "greedy"));
    r = reel((const char *[]){"generate", "-m", model, "-p",
                              json_string_value(json_object_get(tx, "prompt")), "-n", "16",
                              "--temp", "0", "--ids", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, want);
    tu_result_free(&r);
    free(want);
}

/* Hugging Face directories, tokenizer included; tiny-a's greedy text reaches </s> (id 2) after 6
 * tokens, where generation must stop */
static void test_generate_hf(void **state)
{
    (void)state;
    const char *names[] = {"tiny-a", "tiny-c"};
    for (int i = 0; i < 2; i++) {
        char dir[1024], gpath[1100];
        snprintf(dir, sizeof dir, "%s/tests/data/models/%s", tu_source_dir(), names[i]);
        snprintf(gpath, sizeof gpath, "%s/golden.json", dir);
        json_t *g = reel_json_load_file(gpath, 16 << 20);
        const json_t *tx = json_object_get(g, "text"), *ids = json_object_get(tx, "greedy");
        /* expected: the reference continuation up to (not including) the first </s> */
        json_t *cut = json_array();
        for (size_t k = 0; k < json_array_size(ids); k++) {
            if (json_integer_value(json_array_get(ids, k)) == 2) break;
            json_array_append(cut, json_array_get(ids, k));
        }
        char *want = spaced(cut);
        tu_result r = reel((const char *[]){"generate", "-m", dir, "-p",
                                            json_string_value(json_object_get(tx, "prompt")), "-n",
                                            "16", "--temp", "0", "--ids", "-v", NULL});
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, want);
        if (json_array_size(cut) < json_array_size(ids))
            assert_true(tu_contains(r.err, "end of generation"));
        tu_result_free(&r);
        free(want);
        json_decref(cut);
        json_decref(g);
    }
}

static void test_generate_seeded(void **state)
{
    (void)state;
    tu_result a = reel((const char *[]){"generate", "-m", model, "-p", "The robot", "-n", "24",
                                        "--seed", "5", "-t", "1", NULL});
    tu_result b = reel((const char *[]){"generate", "-m", model, "-p", "The robot", "-n", "24",
                                        "--seed", "5", "-t", "2", NULL});
    tu_result c = reel((const char *[]){"generate", "-m", model, "-p", "The robot", "-n", "24",
                                        "--seed", "6", "-t", "2", "--ids", NULL});
    assert_int_equal(a.status, 0);
    assert_int_equal(c.status, 0);
    assert_true(strlen(a.out) > 1);
    assert_string_equal(a.out, b.out);
    tu_result_free(&a), tu_result_free(&b), tu_result_free(&c);
    /* a context too small for the request stops at the limit, with what was generated */
    a = reel((const char *[]){"generate", "-m", model, "--tokens", "1,2,3", "--ctx", "6", "-n",
                              "20", "--ids", "-v", NULL});
    assert_int_equal(a.status, 0);
    assert_true(tu_contains(a.err, "context full"));
    tu_result_free(&a);
}

static void test_bench(void **state)
{
    (void)state;
    tu_result r = reel(
        (const char *[]){"bench", "-m", model, "-p", "8", "-n", "4", "-r", "1", "-t", "1", NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "| pp8 |") && tu_contains(r.out, "| tg4 |"));
    assert_true(tu_contains(r.out, "M-*M"));
    assert_true(tu_contains(r.out, "| peak RSS |"));
    /* the last column is a size in bytes, never the "?" of a failed getrusage */
    assert_true(tu_contains(r.out, " MiB |") || tu_contains(r.out, " GiB |"));
    tu_result_free(&r);
    /* --json: one document, a result per test with positive rates */
    r = reel((const char *[]){"bench", "-m", model, "-p", "8", "-n", "2", "-r", "2", "-t", "1",
                              "--json", NULL});
    assert_int_equal(r.status, 0);
    json_error_t err;
    json_t *doc = json_loads(r.out, 0, &err);
    if (!doc) fail_msg("bench --json: %s in '%s'", err.text, r.out);
    assert_string_equal(json_string_value(json_object_get(doc, "pattern")), "M-*M");
    json_t *res = json_object_get(doc, "results");
    assert_int_equal(json_array_size(res), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 0), "test")), "pp8");
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 1), "test")), "tg2");
    for (size_t i = 0; i < 2; i++) {
        assert_true(json_real_value(json_object_get(json_array_get(res, i), "tps")) > 0);
        assert_true(json_integer_value(json_object_get(json_array_get(res, i), "peak_rss_bytes")) >
                    1000000);
    }
    json_decref(doc);
    tu_result_free(&r);
    r = reel((const char *[]){"bench", "-m", model, "-p", "0", "-n", "0", NULL});
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    /* --bound: one share per decoded token, in order (test_cli_bench checks the byte counts) */
    r = reel((const char *[]){"bench", "-m", model, "-p", "0", "-n", "3", "-r", "2", "-t", "2",
                              "--bound", "--json", NULL});
    assert_int_equal(r.status, 0);
    doc = json_loads(r.out, 0, &err);
    if (!doc) fail_msg("bench --bound --json: %s in '%s'", err.text, r.out);
    res = json_object_get(doc, "results");
    assert_int_equal(json_array_size(res), 1);
    const json_t *b = json_object_get(json_array_get(res, 0), "bound");
    assert_int_equal(json_integer_value(json_object_get(b, "pairs")), 6);
    const double share = json_real_value(json_object_get(b, "share_measured"));
    assert_true(json_real_value(json_object_get(b, "share_min")) <= share &&
                share <= json_real_value(json_object_get(b, "share_max")) && share > 0);
    assert_true(json_real_value(json_object_get(b, "weight_bytes")) > 1000 &&
                json_real_value(json_object_get(b, "state_read_bytes")) > 0 &&
                json_real_value(json_object_get(b, "state_written_bytes")) > 0 &&
                json_real_value(json_object_get(b, "read_bytes_per_s")) > 1e6);
    json_decref(doc);
    tu_result_free(&r);
    r = reel(
        (const char *[]){"bench", "-m", model, "-p", "4", "-n", "2", "-r", "1", "--bound", NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "decode vs the memory bound") &&
                tu_contains(r.out, "median of the 2 pairs"));
    tu_result_free(&r);
    r = reel((const char *[]){"bench", "-m", model, "-p", "4", "-n", "0", "--bound", NULL});
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "--bound"));
    tu_result_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    const char *cases[][8] = {
        {"logits", "--tokens", "1,2", NULL},               /* no model */
        {"logits", "-m", model, NULL},                     /* no tokens */
        {"logits", "-m", model, "--tokens", "1,,2", NULL}, /* bad list */
        {"logits", "-m", model, "--tokens", "1,2,", NULL},
        {"logits", "-m", model, "--tokens", "1", "--top", "0", NULL},
        {"logits", "-m", model, "--tokens", "1", "--all", "--top", "2"},
        {"generate", "-m", model, NULL}, /* no prompt */
        {"generate", "-m", model, "-p", "x", "--temp", "hot", NULL},
        {"generate", "-m", model, "-p", "x", "--system", "s", NULL},
        {"convert", model, NULL},                                  /* no output */
        {"convert", model, "/tmp/x.gguf", "--type", "q3_k", NULL}, /* not a type reel writes */
        {"convert", model, "a.gguf", "b.gguf", NULL},
        /* a seed past 2^64-1 is a usage error, not silently clamped */
        {"generate", "-m", model, "-p", "x", "--seed", "99999999999999999999999", NULL},
        {"generate", "-m", model, "-p", "x", "--seed", "-1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_result r = reel(cases[i]);
        if (r.status != 2) fail_msg("case %zu: exit %d, stderr %s", i, r.status, r.err);
        assert_true(tu_contains(r.err, "reel: "));
        tu_result_free(&r);
    }
    tu_result r = reel((const char *[]){"generate", "-m", model, "-p", "x", "--seed",
                                        "99999999999999999999999", NULL});
    assert_true(tu_contains(r.err, "--seed expects an integer from 0 to 18446744073709551615"));
    tu_result_free(&r);
    r = reel((const char *[]){"logits", "-m", model, "--tokens", "1,99999", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "outside the vocabulary"));
    tu_result_free(&r);
    r = reel((const char *[]){"logits", "-m", "/nonexistent/m.gguf", "--tokens", "1", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "/nonexistent/m.gguf"));
    tu_result_free(&r);
    r = reel((const char *[]){"convert", "/nonexistent/dir", "/tmp/never.gguf", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "/nonexistent/dir"));
    tu_result_free(&r);
    r = reel((const char *[]){"convert", "--help", NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "--type"));
    tu_result_free(&r);
    r = reel((const char *[]){"generate", "--help", NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "--top-p") && tu_contains(r.out, "Example"));
    tu_result_free(&r);
    r = reel((const char *[]){"logits", "--help", NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "--top K"));
    tu_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits),      cmocka_unit_test(test_generate_greedy),
        cmocka_unit_test(test_generate_hf), cmocka_unit_test(test_generate_seeded),
        cmocka_unit_test(test_bench),       cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
