/* The model store and the hub client without a network: references, the file picker, the tree
 * listing parser (unsafe and hidden paths left out), the safetensors set, resolving, listing,
 * removing and the record of verified files. The downloads are tested through the binary in
 * test_cli_pull. */
#include "testutil.h"
#include "core/core.h"
#include "core/hub.h"
#include "core/store.h"

#include <stdlib.h>
#include <string.h>

static void test_ref_parse(void **state)
{
    (void)state;
    reel_model_ref r;
    assert_int_equal(reel_model_ref_parse("unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q4_K_M", &r), 0);
    assert_string_equal(r.repo, "unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF");
    assert_string_equal(r.owner, "unsloth");
    assert_string_equal(r.name, "NVIDIA-Nemotron-3-Nano-4B-GGUF");
    assert_string_equal(r.sel, "Q4_K_M");
    assert_false(reel_model_sel_is_file(r.sel));
    reel_model_ref_free(&r);
    assert_int_equal(reel_model_ref_parse("a/b.c_d:sub/x.gguf", &r), 0);
    assert_string_equal(r.sel, "sub/x.gguf");
    assert_true(reel_model_sel_is_file(r.sel));
    reel_model_ref_free(&r);
    assert_int_equal(reel_model_ref_parse("owner/Llama-3.2-1B", &r), 0);
    assert_null(r.sel);
    reel_model_ref_free(&r);
    static const char *bad[] = {"noslash",    "/abs/x",
                                "./x/y",      "a/b/c",
                                "a/b:",       "a/b:../x.gguf",
                                "a/b:/x",     "openai:http://h/x",
                                "a/.hidden",  "-a/b",
                                "a/b:x//y",   "a b/c",
                                "a/b:\x01q4", "",
                                "a/",         "/b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(reel_model_ref_parse(bad[i], &r), REEL_EINVAL);
        assert_null(r.repo);
    }
}

static int pick(const char *sel, const char *const *names, size_t n)
{
    return reel_store_pick("o/r", sel, names, n);
}

static void test_pick(void **state)
{
    (void)state;
    const char *names[] = {"README.md",   "m-IQ4_XS.gguf",     "m-Q4_K_M.gguf",  "m-Q4_K_S.gguf",
                           "m-Q8_0.gguf", "m-UD-Q4_K_XL.gguf", "sub/m-F16.gguf", "mmproj-F16.GGUF"};
    size_t n = sizeof names / sizeof *names;
    assert_int_equal(pick("Q4_K_M", names, n), 2);
    assert_int_equal(pick("q4_k_m", names, n), 2);
    assert_int_equal(pick("Q8_0", names, n), 4);
    assert_int_equal(pick("UD-Q4_K_XL", names, n), 5);
    assert_int_equal(pick("IQ4_XS", names, n), 1);
    assert_int_equal(pick("Q4_XS", names, n), REEL_ENOTFOUND); /* not a word of IQ4_XS */
    assert_int_equal(pick("Q4_K", names, n), REEL_ENOTFOUND);  /* not a word of Q4_K_M */
    assert_true(tu_contains(reel_last_error(), "m-Q4_K_M.gguf"));
    assert_false(tu_contains(reel_last_error(), "README.md"));
    assert_int_equal(pick("F16", names, n), REEL_EINVAL); /* sub/m-F16.gguf and mmproj-F16.GGUF */
    assert_true(tu_contains(reel_last_error(), "matches 2 files"));
    assert_int_equal(pick(NULL, names, n), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "o/r:Q4_K_M"));
    assert_int_equal(pick("README.md", names, n), 0);
    assert_int_equal(pick("m-F16.gguf", names, n), 6); /* the last part of a path */
    assert_int_equal(pick("sub/m-F16.gguf", names, n), 6);
    assert_int_equal(pick("x.gguf", names, n), REEL_ENOTFOUND);
    assert_true(tu_contains(reel_last_error(), "no file named 'x.gguf'"));
    const char *one[] = {"config.json", "only-Q4_0.gguf"};
    assert_int_equal(pick(NULL, one, 2), 1);
    const char *none[] = {"config.json"};
    assert_int_equal(pick(NULL, none, 1), REEL_ENOTFOUND);
    assert_int_equal(pick("Q4_0", NULL, 0), REEL_ENOTFOUND);
}

static const char TREE[] =
    "[{\"type\":\"file\",\"oid\":\"a63\",\"size\":1519,\"path\":\".gitattributes\"},"
    " {\"type\":\"directory\",\"oid\":\"b1\",\"size\":0,\"path\":\"sub\"},"
    " {\"type\":\"file\",\"oid\":\"c2\",\"size\":10,\"path\":\"config.json\"},"
    " {\"type\":\"file\",\"oid\":\"d3\",\"size\":99,\"path\":\"m-Q4_K_M.gguf\","
    "  \"lfs\":{\"oid\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\","
    "  \"size\":12345678901,\"pointerSize\":134}},"
    " {\"type\":\"file\",\"size\":5,\"path\":\"sub/w.safetensors\","
    "  "
    "\"lfs\":{\"oid\":\"sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"}}"
    ","
    " {\"type\":\"file\",\"size\":5,\"path\":\"../up.gguf\"},"
    " {\"type\":\"file\",\"size\":5,\"path\":\"/abs.gguf\"},"
    " {\"type\":\"file\",\"size\":5,\"path\":\"a/./b.gguf\"},"
    " {\"type\":\"file\",\"size\":5,\"path\":\"a\\\\b.gguf\"},"
    " {\"type\":\"file\",\"size\":5,\"path\":\"sub/.hidden\"},"
    " {\"type\":\"file\",\"size\":5,\"path\":\"bad-sum.gguf\",\"lfs\":{\"oid\":\"xyz\"}}]";

static void test_parse_tree(void **state)
{
    (void)state;
    reel_hub_file *f;
    size_t n;
    assert_int_equal(reel_hub_parse_tree(TREE, strlen(TREE), "tree", &f, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(f[0].path, "config.json");
    assert_string_equal(f[0].oid, "c2");
    assert_string_equal(f[0].sha256, "");
    assert_string_equal(f[1].path, "m-Q4_K_M.gguf");
    assert_true(f[1].size == 12345678901ull); /* lfs.size wins */
    assert_string_equal(f[1].sha256,
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_string_equal(f[2].path, "sub/w.safetensors");
    assert_string_equal(f[2].oid, "");
    assert_int_equal(strlen(f[2].sha256), 64);
    assert_string_equal(f[3].path, "bad-sum.gguf");
    assert_string_equal(f[3].sha256, "");
    reel_hub_files_free(f, n);

    static const char *bad[] = {"{}", "[1]", "[{\"size\":1}]", "[{\"path\":3}]", "not json", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(reel_hub_parse_tree(bad[i], strlen(bad[i]), "t", &f, &n), REEL_EFORMAT);
        assert_null(f);
        assert_int_equal(n, 0);
    }
    assert_int_equal(reel_hub_parse_tree("[]", 2, "t", &f, &n), 0);
    assert_int_equal(n, 0);
    reel_hub_files_free(f, n);
}

static void test_safetensors_set(void **state)
{
    (void)state;
    reel_hub_file files[] = {
        {.path = "README.md"},
        {.path = "config.json"},
        {.path = "model-00001-of-00002.safetensors"},
        {.path = "model-00002-of-00002.safetensors"},
        {.path = "model.safetensors.index.json"},
        {.path = "original/consolidated.safetensors"},
        {.path = "tokenizer.json"},
        {.path = "chat_template.jinja"},
        {.path = "pytorch_model.bin"},
    };
    size_t *pick, n = reel_hub_safetensors_set(files, 9, &pick);
    assert_int_equal(n, 6);
    size_t want[] = {1, 2, 3, 4, 6, 7};
    for (size_t i = 0; i < n; i++) assert_int_equal(pick[i], want[i]);
    free(pick);
    /* weights only in a subfolder: not a safetensors repository */
    n = reel_hub_safetensors_set(files + 5, 1, &pick);
    assert_int_equal(n, 0);
    free(pick);
}

static void put(const char *root, const char *rel, const char *text)
{
    char *p = reel_xasprintf("%s/%s", root, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    assert_int_equal(reel_mkdir_p(p), 0);
    *slash = '/';
    tu_write_file(p, text, strlen(text));
    free(p);
}

static void test_store(void **state)
{
    (void)state;
    char *root = tu_tmpdir();
    setenv("REEL_MODELS", root, 1);
    char *r = reel_store_root();
    assert_string_equal(r, root);
    free(r);
    unsetenv("REEL_MODELS");
    setenv("XDG_DATA_HOME", "/x", 1);
    r = reel_store_root();
    assert_string_equal(r, "/x/reel/models");
    free(r);
    unsetenv("XDG_DATA_HOME");
    setenv("REEL_MODELS", root, 1);

    put(root, "o/g/m-Q4_K_M.gguf", "1234");
    put(root, "o/g/m-Q8_0.gguf", "12345678");
    put(root, "o/g/m-Q6_K.gguf.part", "12");
    put(root, "o/g/.reel-pull.json", "{}");
    put(root, "o/st/config.json", "{}");
    put(root, "o/st/model.safetensors", "w");
    put(root, "p/one/only-F16.gguf", "x");

    char *path;
    assert_int_equal(reel_store_resolve("o/g:Q4_K_M", &path), 0);
    assert_true(tu_contains(path, "/o/g/m-Q4_K_M.gguf"));
    free(path);
    assert_int_equal(reel_store_resolve("o/g", &path), REEL_EINVAL);         /* two GGUF files */
    assert_int_equal(reel_store_resolve("o/g:Q6_K", &path), REEL_ENOTFOUND); /* unfinished */
    assert_true(tu_contains(reel_last_error(), "run 'reel pull o/g:Q6_K'"));
    assert_int_equal(reel_store_resolve("o/st", &path), 0); /* the Hugging Face folder */
    assert_true(tu_contains(path, "/o/st") && !tu_contains(path, "config"));
    free(path);
    assert_int_equal(reel_store_resolve("p/one", &path), 0);
    free(path);
    assert_int_equal(reel_store_resolve("q/none", &path), REEL_ENOTFOUND);
    assert_null(path);

    /* a model argument: existing paths and non-references pass through untouched */
    assert_int_equal(reel_store_model_arg(root, &path), 0);
    assert_null(path);
    assert_int_equal(reel_store_model_arg("openai:http://h/v1#m", &path), 0);
    assert_null(path);
    assert_int_equal(reel_store_model_arg("o/g:Q8_0", &path), 0);
    assert_true(tu_contains(path, "m-Q8_0.gguf"));
    free(path);
    assert_int_equal(reel_store_model_arg("models/x.gguf", &path), REEL_ENOTFOUND);
    assert_true(tu_contains(reel_last_error(), "no such file or folder"));

    reel_store_item *items;
    size_t n;
    assert_int_equal(reel_store_list(root, &items, &n), 0);
    assert_int_equal(n, 6);
    assert_string_equal(items[0].repo, "o/g");
    assert_string_equal(items[0].file, "m-Q4_K_M.gguf");
    assert_int_equal(items[0].size, 4);
    assert_string_equal(items[1].file, "m-Q6_K.gguf"); /* the .part, under its final name */
    assert_true(items[1].partial);
    assert_string_equal(items[5].repo, "p/one");
    reel_store_items_free(items, n);

    /* the record of verified files */
    char *dir = reel_xasprintf("%s/o/g", root);
    assert_false(reel_store_is_verified(dir, "m-Q8_0.gguf", "abc"));
    assert_int_equal(reel_store_mark_verified(dir, "m-Q8_0.gguf", "abc"), 0);
    assert_true(reel_store_is_verified(dir, "m-Q8_0.gguf", "abc"));
    assert_false(reel_store_is_verified(dir, "m-Q8_0.gguf", "abd"));
    put(root, "o/g/m-Q8_0.gguf", "123456789"); /* changed size */
    assert_false(reel_store_is_verified(dir, "m-Q8_0.gguf", "abc"));
    assert_int_equal(reel_store_forget(dir, "m-Q8_0.gguf"), 0);

    uint64_t freed;
    assert_int_equal(reel_store_remove("o/g:Q6_K", &freed), 0); /* an unfinished download */
    assert_int_equal(freed, 2);
    assert_int_equal(reel_store_remove("o/g:Q8_0", &freed), 0);
    assert_int_equal(freed, 9);
    assert_int_equal(reel_store_remove("o/g:Q4_K_M", &freed), 0);
    assert_false(reel_file_exists(dir)); /* its last model file: the folder goes */
    assert_int_equal(reel_store_remove("o/st", &freed), 0);
    assert_int_equal(freed, 3);
    char *owner = reel_xasprintf("%s/o", root);
    assert_false(reel_file_exists(owner));
    assert_int_equal(reel_store_remove("o/st", &freed), REEL_ENOTFOUND);
    free(owner);
    free(dir);
    unsetenv("REEL_MODELS");
    tu_rmtree(root);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_parse),  cmocka_unit_test(test_pick),
        cmocka_unit_test(test_parse_tree), cmocka_unit_test(test_safetensors_set),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
