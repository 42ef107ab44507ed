#include "testutil.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static char *canon(const char *text)
{
    json_t *v = reel_json_parse(text, strlen(text), "test");
    assert_non_null(v);
    char *c = reel_json_canonical(v);
    json_decref(v);
    return c;
}

static void test_canonical_form(void **state)
{
    (void)state;
    char *c =
        canon("{ \"b\" : 1, \"a\" : [ true, null, 2.5, -0.0, 1.0 ], \"c\": {\"y\":1,\"x\":2} }");
    assert_string_equal(c, "{\"a\":[true,null,2.5,0.0,1.0],\"b\":1,\"c\":{\"x\":2,\"y\":1}}");
    free(c);
    c = canon("\"tab\\there \\u00e9 \\ud83c\\udfac \\u0001 \\\"q\\\" /\"");
    assert_string_equal(c, "\"tab\\there \xc3\xa9 \xf0\x9f\x8e\xac \\u0001 \\\"q\\\" /\"");
    free(c);
    c = canon("[0.1, 1e21, 123456789012345]");
    assert_string_equal(c, "[0.10000000000000001,1e+21,123456789012345]");
    free(c);
}

static void test_equal_data_equal_hash(void **state)
{
    (void)state;
    const char *a = "{\"prompt\":\"a cat\",\"seed\":7,\"size\":[640,360]}";
    const char *b = "{ \"size\" : [640, 360], \"seed\": 7, \"prompt\": \"a cat\" }";
    const char *c = "{\"prompt\":\"a cat\",\"seed\":8,\"size\":[640,360]}";
    json_t *va = reel_json_parse(a, strlen(a), "a"), *vb = reel_json_parse(b, strlen(b), "b"),
           *vc = reel_json_parse(c, strlen(c), "c");
    uint8_t ha[32], hb[32], hc[32];
    reel_json_hash(va, ha);
    reel_json_hash(vb, hb);
    reel_json_hash(vc, hc);
    assert_memory_equal(ha, hb, 32);
    assert_memory_not_equal(ha, hc, 32);
    json_decref(va);
    json_decref(vb);
    json_decref(vc);
}

static void test_parse_errors_have_position(void **state)
{
    (void)state;
    const char *bad = "{\n  \"a\": 1,\n  \"b\": ]\n}";
    assert_null(reel_json_parse(bad, strlen(bad), "plan.json"));
    assert_int_equal(reel_last_error_code(), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "plan.json:3:"));
    assert_null(reel_json_load_file("/nonexistent.json", 0));
    assert_int_equal(reel_last_error_code(), REEL_ENOTFOUND);
}

static void test_getters_and_save(void **state)
{
    (void)state;
    const char *t = "{\"s\":\"x\",\"i\":3,\"r\":2.0,\"f\":1.5,\"b\":true,\"bad\":[1]}";
    json_t *v = reel_json_parse(t, strlen(t), "t");
    assert_string_equal(reel_json_str(v, "s", "d"), "x");
    assert_string_equal(reel_json_str(v, "missing", "d"), "d");
    assert_int_equal(reel_json_int(v, "i", 0), 3);
    assert_int_equal(reel_json_int(v, "r", 0), 2);
    assert_int_equal(reel_json_int(v, "f", -1), -1);
    assert_true(tu_contains(reel_last_error(), "\"f\" must be an integer"));
    assert_true(reel_json_num(v, "f", 0) == 1.5);
    assert_int_equal(reel_json_bool(v, "b", 0), 1);
    assert_string_equal(reel_json_str(v, "bad", "d"), "d");
    assert_int_equal(reel_last_error_code(), REEL_EFORMAT);
    char *dir = tu_tmpdir();
    char *path = reel_xasprintf("%s/x.json", dir);
    assert_int_equal(reel_json_save_file(v, path), 0);
    json_t *w = reel_json_load_file(path, 0);
    assert_non_null(w);
    assert_true(json_equal(v, w));
    json_decref(w);
    json_decref(v);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_form),
        cmocka_unit_test(test_equal_data_equal_hash),
        cmocka_unit_test(test_parse_errors_have_position),
        cmocka_unit_test(test_getters_and_save),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
