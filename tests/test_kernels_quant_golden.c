/* reel's quantizers against an independent reference, byte for byte: the rows of
 * tests/data/quant/quantize_goldens.json were quantized by gguf-py's numpy reference
 * (scripts/golden/make_quant_goldens.py). Every type reel claims to write exactly as GGML does
 * (Q8_0, Q4_0, Q5_0, Q5_1, F16, BF16) must give the same bytes for every case: random data at
 * several scales, zeros, negative maxima, rounding ties, magnitudes near the f16 limits. */
#include "testutil.h"

#include "core/core.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    reel_dtype type;
} TYPES[] = {
    {"Q8_0", REEL_DTYPE_Q8_0}, {"Q4_0", REEL_DTYPE_Q4_0}, {"Q5_0", REEL_DTYPE_Q5_0},
    {"Q5_1", REEL_DTYPE_Q5_1}, {"F16", REEL_DTYPE_F16},   {"BF16", REEL_DTYPE_BF16},
};

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static void test_quantizers_match_gguf_py(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/quant/quantize_goldens.json", tu_source_dir());
    json_t *all = reel_json_load_file(path, 1 << 22);
    assert_non_null(all);
    const int64_t n = json_integer_value(json_object_get(all, "n"));
    assert_int_equal(n, 256);
    json_t *cases = json_object_get(all, "cases");
    assert_true(json_array_size(cases) >= 10);
    float x[256];
    unsigned char got[1024], want[1024];
    size_t i, compared = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *bits = json_object_get(c, "bits");
        assert_int_equal(json_array_size(bits), 256);
        for (int k = 0; k < 256; k++) {
            uint32_t b = (uint32_t)json_integer_value(json_array_get(bits, (size_t)k));
            memcpy(&x[k], &b, 4);
        }
        for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
            const char *hex =
                json_string_value(json_object_get(json_object_get(c, "expected"), TYPES[t].name));
            assert_non_null(hex);
            const size_t bytes = reel_dtype_row_bytes(TYPES[t].type, n);
            assert_int_equal(strlen(hex), 2 * bytes);
            assert_true(bytes <= sizeof want);
            for (size_t k = 0; k < bytes; k++)
                want[k] = (unsigned char)(hex_nibble(hex[2 * k]) << 4 | hex_nibble(hex[2 * k + 1]));
            memset(got, 0xA5, sizeof got);
            assert_int_equal(reel_kernels_quantize_row(TYPES[t].type, x, got, n), 0);
            for (size_t k = 0; k < bytes; k++) {
                if (got[k] != want[k]) {
                    print_error("%s, case '%s': byte %zu is %02x, gguf-py wrote %02x\n",
                                TYPES[t].name, name, k, got[k], want[k]);
                    fail();
                }
            }
            compared++;
        }
    }
    assert_int_equal(compared, json_array_size(cases) * (sizeof TYPES / sizeof TYPES[0]));
    json_decref(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantizers_match_gguf_py),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
