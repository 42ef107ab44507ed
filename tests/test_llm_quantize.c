/* reel quantize: the tensors it writes equal what reel convert writes from the same weights
 * (same GGML quantizers, bit for bit), the F32-kept tensors stay F32, a quantized tiny model
 * loads and its logits stay close to the F32 reference (top-1 agreement on the golden
 * prompts), and bad input gives a clear error and the right exit code. */
#include "testutil.h"
#include "core/core.h"
#include "kernels/kernels.h"
#include "llm/gguf.h"
#include "llm/llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_result reel(const char *a, const char *b, const char *c, const char *d, const char *e)
{
    char *argv[] = {(char *)tu_reel_bin(), (char *)a, (char *)b, (char *)c, (char *)d, (char *)e,
                    NULL};
    return tu_run(argv, NULL);
}

static void must(tu_result r, const char *what)
{
    if (r.status != 0) fail_msg("%s: exit %d: %s", what, r.status, r.err);
    tu_result_free(&r);
}

/* every tensor of a equals b's (name, type, shape, bytes) */
static void same_tensors(const char *pa, const char *pb)
{
    reel_gguf *a = reel_gguf_open(pa), *b = reel_gguf_open(pb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(reel_gguf_n_tensors(a), reel_gguf_n_tensors(b));
    for (int64_t i = 0; i < reel_gguf_n_tensors(a); i++) {
        const reel_gguf_tensor *x = reel_gguf_tensor_at(a, i);
        const reel_gguf_tensor *y = reel_gguf_tensor_find(b, x->name);
        if (!y) fail_msg("%s: no tensor %s", pb, x->name);
        if (x->type != y->type || x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes))
            fail_msg("tensor %s differs: %s vs %s", x->name, reel_dtype_name(x->type),
                     reel_dtype_name(y->type));
    }
    reel_gguf_free(a);
    reel_gguf_free(b);
}

static void test_quantize_tiny(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir();
    const char *names[] = {"tiny-a", "tiny-b", "tiny-c"};
    const char *types[] = {"q8_0", "q4_0"};
    for (int m = 0; m < 3; m++) {
        char src[1024], f32[1100], conv[1100], quant[1100], gpath[1100];
        snprintf(src, sizeof src, "%s/tests/data/models/%s", tu_source_dir(), names[m]);
        snprintf(f32, sizeof f32, "%s/%s-f32.gguf", tmp, names[m]);
        must(reel("convert", src, f32, "--type", "f32"), "convert f32");
        snprintf(gpath, sizeof gpath, "%s/golden.json", src);
        json_t *g = reel_json_load_file(gpath, 16 << 20);
        assert_non_null(g);
        for (int k = 0; k < 2; k++) {
            snprintf(conv, sizeof conv, "%s/%s-conv-%s.gguf", tmp, names[m], types[k]);
            snprintf(quant, sizeof quant, "%s/%s-%s.gguf", tmp, names[m], types[k]);
            must(reel("convert", src, conv, "--type", types[k]), "convert");
            must(reel("quantize", f32, quant, types[k], "-q"), "quantize");
            same_tensors(conv, quant);

            reel_llm_model_params mp = reel_llm_model_default_params();
            mp.n_threads = 2;
            reel_llm_model *model = reel_llm_model_load(quant, &mp);
            if (!model) fail_msg("%s", reel_last_error());
            const reel_llm_desc *d = reel_llm_model_desc(model);
            assert_int_equal(reel_llm_desc_tensor(d, "blk.0.ssm_in.weight") ? 1 : 0,
                             reel_llm_desc_tensor(d, "blk.0.ssm_in.weight") != NULL);
            assert_int_equal(reel_llm_desc_tensor(d, "output_norm.weight")->type,
                             REEL_DTYPE_F32);
            reel_llm_session_params sp = reel_llm_session_default_params();
            sp.n_ctx = 256;
            reel_llm_session *s = reel_llm_session_init(model, &sp);
            assert_non_null(s);
            /* the F32 references (transformers) of the golden prompts */
            const json_t *seqs = json_object_get(g, "sequences");
            int agree = 0, total = 0;
            double worst = 0, amax = 0;
            for (size_t q = 0; q < json_array_size(seqs); q++) {
                const json_t *seq = json_array_get(seqs, q);
                const json_t *toks = json_object_get(seq, "tokens");
                const int64_t n = (int64_t)json_array_size(toks);
                int32_t *ids = malloc((size_t)n * sizeof *ids);
                for (int64_t i = 0; i < n; i++)
                    ids[i] = (int32_t)json_integer_value(json_array_get(toks, (size_t)i));
                reel_llm_session_reset(s);
                assert_int_equal(reel_llm_session_decode(s, ids, n, 1), 0);
                const json_t *rows = json_object_get(seq, "logits");
                for (int64_t t = 0; t < n; t++) {
                    const float *l = reel_llm_session_logits(s, t);
                    const json_t *row = json_array_get(rows, (size_t)t);
                    size_t bl = 0, br = 0;
                    for (size_t i = 0; i < json_array_size(row); i++) {
                        const double r = json_number_value(json_array_get(row, i));
                        worst = fmax(worst, fabs(l[i] - r));
                        amax = fmax(amax, fabs(r));
                        if (l[i] > l[bl]) bl = i;
                        if (r > json_number_value(json_array_get(row, br))) br = i;
                    }
                    agree += bl == br;
                    total++;
                }
                free(ids);
            }
            printf("%s %s (reel quantize): vs F32 max |dlogit| %.3g of max |logit| %.3g, top-1 "
                   "agreement %d/%d\n",
                   names[m], types[k], worst, amax, agree, total);
            if (k == 0) { /* Q8_0 stays close to F32 */
                assert_true(worst <= 0.25 * amax);
                assert_true(agree * 10 >= total * 8);
            }
            /* against the reference with the same rounded weights (gguf-py's quantizer and
             * dequantizer, float math): only the int8 activations differ */
            const json_t *ref = json_object_get(g, types[k]);
            const json_t *toks = json_object_get(ref, "tokens");
            const int64_t n = (int64_t)json_array_size(toks), first = json_integer_value(
                                                                    json_object_get(ref, "first"));
            int32_t *ids = malloc((size_t)n * sizeof *ids);
            for (int64_t i = 0; i < n; i++)
                ids[i] = (int32_t)json_integer_value(json_array_get(toks, (size_t)i));
            reel_llm_session_reset(s);
            assert_int_equal(reel_llm_session_decode(s, ids, n, 1), 0);
            double wq = 0, aq = 0;
            for (int64_t t = first; t < n; t++) {
                const float *l = reel_llm_session_logits(s, t);
                const json_t *row = json_array_get(json_object_get(ref, "logits"), (size_t)(t - first));
                for (size_t i = 0; i < json_array_size(row); i++) {
                    const double r = json_number_value(json_array_get(row, i));
                    wq = fmax(wq, fabs(l[i] - r));
                    aq = fmax(aq, fabs(r));
                }
            }
            free(ids);
            printf("%s %s vs the same weights in float math: max |dlogit| %.3g of %.3g\n",
                   names[m], types[k], wq, aq);
            assert_true(wq <= 0.2 * aq);
            reel_llm_session_free(s);
            reel_llm_model_free(model);
        }
        json_decref(g);
    }
    tu_rmtree(tmp);
    free(tmp);
}

static void test_quantize_keeps_f32(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir(), src[1024], out[1100];
    snprintf(src, sizeof src, "%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    snprintf(out, sizeof out, "%s/b-q4.gguf", tmp);
    must(reel("quantize", src, out, "Q4_0", "--quiet"), "quantize");
    reel_gguf *g = reel_gguf_open(out);
    assert_non_null(g);
    int n_q4 = 0;
    for (int64_t i = 0; i < reel_gguf_n_tensors(g); i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(g, i);
        const int f32 = t->n_dims < 2 || strstr(t->name, "norm") || strstr(t->name, "conv1d") ||
                        strstr(t->name, "ssm_a") || strstr(t->name, "ssm_d");
        if (f32) {
            if (t->type != REEL_DTYPE_F32) fail_msg("%s is %s", t->name, reel_dtype_name(t->type));
        } else {
            n_q4 += t->type == REEL_DTYPE_Q4_0;
        }
    }
    assert_true(n_q4 > 0);
    int64_t ft = -1;
    assert_int_equal(reel_gguf_value_int(reel_gguf_find(g, "general.file_type"), &ft), 0);
    assert_int_equal(ft, 2); /* LLAMA_FTYPE_MOSTLY_Q4_0 */
    reel_gguf_free(g);
    tu_rmtree(tmp);
    free(tmp);
}

static void test_quantize_errors(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir(), bad[1100], out[1100], src[1024];
    snprintf(src, sizeof src, "%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    snprintf(bad, sizeof bad, "%s/bad.gguf", tmp);
    snprintf(out, sizeof out, "%s/out.gguf", tmp);
    tu_write_file(bad, "GGUF\3\0\0\0garbage", 15);
    tu_result r = reel("quantize", bad, out, "q8_0", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "bad.gguf"));
    tu_result_free(&r);
    r = reel("quantize", "/nonexistent/in.gguf", out, "q8_0", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "/nonexistent/in.gguf"));
    tu_result_free(&r);
    r = reel("quantize", src, out, "q3_x", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "q3_x"));
    tu_result_free(&r);
    r = reel("quantize", src, out, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    FILE *f = fopen(out, "rb"); /* nothing half-written is left behind */
    assert_null(f);
    r = reel("quantize", "--help", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "q4_0"));
    tu_result_free(&r);
    tu_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_tiny),
        cmocka_unit_test(test_quantize_keeps_f32),
        cmocka_unit_test(test_quantize_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
