/* reel bench's options and its --bound report on the tiny GGUF fixture: the depth and batch it
 * says it used, the bytes a token moves against a count made here from the model's shapes
 * (reel info --json), and no share over 100% given as a result. Timings are never asserted. */
#include "testutil.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char model[1024];

static tu_result reel(const char **args)
{
    char *argv[32] = {(char *)tu_reel_bin()};
    int n = 1;
    for (; args[n - 1]; n++) argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    return tu_run(argv, NULL);
}

static json_t *reel_json(const char **args)
{
    tu_result r = reel(args);
    if (r.status != 0) fail_msg("reel %s %s: status %d: %s", args[0], args[1], r.status, r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    if (!j) fail_msg("reel %s: not JSON: %.200s", args[0], r.out);
    tu_result_free(&r);
    return j;
}

static double num(const json_t *o, const char *path)
{
    char key[128];
    snprintf(key, sizeof key, "%s", path);
    const json_t *v = o;
    for (char *k = strtok(key, "."); k && v; k = strtok(NULL, ".")) v = json_object_get(v, k);
    if (!json_is_number(v)) fail_msg("no number at %s", path);
    return json_number_value(v);
}

/* The bytes of one decoded token from the shapes reel info reports, each byte once: every
 * matrix (all F16 in this file; the head tied to the embedding, so the embedding is read whole
 * once and its token row once more), the fp32 conv and SSM states of the Mamba layers read and
 * written, and one f16 K and V row a position of each attention layer (rows 0..pos-1 read, the
 * token's own written). */
typedef struct {
    double weights, state, kv_row;
} shapes;

static shapes count_from_info(void)
{
    const char *args[] = {"info", "--json", model, NULL};
    json_t *j = reel_json(args);
    const double H = num(j, "n_embd"), V = num(j, "n_vocab"), F = num(j, "n_ff");
    const double nm = num(j, "layers.mamba"), na = num(j, "layers.attention");
    const double nmlp = num(j, "layers.mlp");
    const double nh = num(j, "mamba.heads"), P = num(j, "mamba.head_dim");
    const double Di = num(j, "mamba.inner"), G = num(j, "mamba.groups");
    const double N = num(j, "mamba.state"), K = num(j, "mamba.conv");
    const double qh = num(j, "attention.heads"), kvh = num(j, "attention.kv_heads");
    const double hd = num(j, "attention.head_dim");
    const double elems = V * H + nm * (H * (2 * Di + 2 * G * N + nh) + Di * H) +
                         na * (2 * H * qh * hd + 2 * H * kvh * hd) + nmlp * 2 * H * F;
    /* every matrix is F16 and there is no separate head: the file's F16 bytes are these */
    assert_true(2 * elems == num(j, "tensor_types.F16.bytes"));
    shapes s = {2 * elems + 2 * H, 4 * nm * (nh * P * N + (Di + 2 * G * N) * (K - 1)),
                na * 2 * kvh * hd * 2};
    json_decref(j);
    return s;
}

static void test_json_bound(void **state)
{
    (void)state;
    const shapes s = count_from_info();
    const char *args[] = {"bench", "-m", model, "-p", "7",  "-n", "6",       "-d",     "5",
                          "-b",    "3",  "-t",  "1",  "-r", "2",  "--bound", "--json", NULL};
    json_t *j = reel_json(args);
    assert_int_equal((int)num(j, "batch"), 3);
    assert_int_equal((int)num(j, "depth"), 5);
    json_t *res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 2);
    json_t *pp = json_array_get(res, 0), *tg = json_array_get(res, 1);
    assert_string_equal(json_string_value(json_object_get(pp, "test")), "pp7 @ d5");
    assert_string_equal(json_string_value(json_object_get(tg, "test")), "tg6 @ d5");
    assert_null(json_object_get(pp, "bound"));
    /* tg6 after 5 tokens: positions 5..10, KV rows read 5..10, 7.5 on average */
    const double want_read = s.state + 7.5 * s.kv_row, want_written = s.state + s.kv_row;
    assert_true(num(tg, "token_bytes.weights") == s.weights);
    assert_true(num(tg, "token_bytes.state_read") == want_read);
    assert_true(num(tg, "token_bytes.state_written") == want_written);
    json_t *b = json_object_get(tg, "bound");
    assert_non_null(b);
    assert_true(num(b, "bytes_per_token") == s.weights + want_read + want_written);
    assert_true(num(b, "weight_bytes") == s.weights);
    assert_int_equal((int)num(b, "pairs"), 12); /* 6 tokens x 2 runs */
    assert_true(num(b, "read_bytes_per_s") > 0);
    const double measured = num(b, "share_measured");
    assert_true(measured > 0);
    assert_true(num(b, "share_min") <= measured && measured <= num(b, "share_max"));
    const json_t *share = json_object_get(b, "share"), *err = json_object_get(b, "error");
    if (measured > 1.0) { /* an error, never a result */
        assert_true(json_is_false(json_object_get(b, "valid")));
        assert_true(json_is_null(share));
        assert_true(json_is_string(err));
    } else {
        assert_true(json_is_true(json_object_get(b, "valid")));
        assert_true(json_is_number(share) && json_number_value(share) <= 1.0);
        assert_true(json_is_null(err));
    }
    const json_t *ci = json_object_get(b, "share_ci95"); /* 12 pairs: ranks 2 and 9 of 0..11 */
    assert_true(json_is_array(ci) && json_array_size(ci) == 2);
    const double lo = json_number_value(json_array_get(ci, 0));
    const double hi = json_number_value(json_array_get(ci, 1));
    assert_true(num(b, "share_min") <= lo && lo <= measured && measured <= hi &&
                hi <= num(b, "share_max"));
    json_decref(j);
}

/* Every percentage the text report prints is at most 100, except on the line that names it a
 * measurement error. */
static void test_text_bound(void **state)
{
    (void)state;
    const char *args[] = {"bench", "-m", model, "-p", "0", "-n",      "8", "-d",
                          "4",     "-t", "2",   "-r", "1", "--bound", NULL};
    tu_result r = reel(args);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "prompts run in batches of 256 tokens"));
    assert_true(tu_contains(r.out, "tg8 @ d4"));
    assert_true(tu_contains(r.out, "decode vs the memory bound"));
    assert_true(tu_contains(r.out, "each counted once"));
    int shares = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "measurement error")) continue;
        for (char *p = strchr(line, '%'); p; p = strchr(p + 1, '%')) {
            char *q = p;
            while (q > line && (q[-1] == '.' || (q[-1] >= '0' && q[-1] <= '9'))) q--;
            if (q == p) continue;
            shares++;
            if (atof(q) > 100) fail_msg("a figure over 100%% as a result: %s", line);
        }
    }
    assert_true(shares > 0 || tu_contains(r.out, "measurement error"));
    tu_result_free(&r);
}

static void test_usage(void **state)
{
    (void)state;
    const char *neg[] = {"bench", "-m", model, "-d", "-1", NULL};
    tu_result r = reel(neg);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    const char *nob[] = {"bench", "-m", model, "-n", "0", "--bound", NULL};
    r = reel(nob);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "--bound"));
    tu_result_free(&r);
    const char *zero[] = {"bench", "-m", model, "-b", "0", NULL};
    r = reel(zero);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
}

int main(void)
{
    snprintf(model, sizeof model, "%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_bound),
        cmocka_unit_test(test_text_bound),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
