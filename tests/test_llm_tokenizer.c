/* Tokenizer against Hugging Face `tokenizers` goldens (tests/data/tokenizer, made by
 * scripts/golden/make_tokenizer.py): every string's ids, decode, the same tokenizer rebuilt from
 * GGUF-style arrays and from "a b" merges, streaming decode, flags and damaged input. */
#include "testutil.h"

#include "core/core.h"
#include "llm/model.h"
#include "llm/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

static char *tok_json;
static size_t tok_json_len;
static json_t *goldens; /* array of objects */

static char *data_path(const char *rel)
{
    return reel_xasprintf("%s/tests/data/tokenizer/%s", tu_source_dir(), rel);
}

static int setup(void **state)
{
    (void)state;
    char *p = data_path("tokenizer.json");
    assert_int_equal(reel_file_read(p, 16 << 20, &tok_json, &tok_json_len), 0);
    free(p);
    p = data_path("golden.jsonl");
    char *g;
    size_t gl;
    assert_int_equal(reel_file_read(p, 64 << 20, &g, &gl), 0);
    free(p);
    goldens = json_array();
    char *line = g;
    while (line < g + gl) {
        char *nl = memchr(line, '\n', (size_t)(g + gl - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(g + gl - line);
        if (n) {
            json_t *o = json_loadb(line, n, 0, NULL);
            assert_non_null(o);
            json_array_append_new(goldens, o);
        }
        line += n + 1;
    }
    free(g);
    assert_true(json_array_size(goldens) >= 2000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(tok_json);
    json_decref(goldens);
    return 0;
}

static unsigned char *unhex(const char *h, size_t *n)
{
    size_t l = strlen(h) / 2;
    unsigned char *b = malloc(l + 1);
    for (size_t i = 0; i < l; i++) sscanf(h + 2 * i, "%2hhx", &b[i]);
    b[l] = 0;
    *n = l;
    return b;
}

static int ids_equal(const int32_t *ids, size_t n, json_t *arr)
{
    if (json_array_size(arr) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(arr, i)) != ids[i]) return 0;
    return 1;
}

static void print_mismatch(size_t k, const unsigned char *in, size_t n, const int32_t *ids,
                           size_t nids, json_t *want)
{
    printf("golden %zu: input '%.*s'\n  got :", k, (int)n, (const char *)in);
    for (size_t i = 0; i < nids; i++) printf(" %d", (int)ids[i]);
    printf("\n  want:");
    for (size_t i = 0; i < json_array_size(want); i++)
        printf(" %d", (int)json_integer_value(json_array_get(want, i)));
    printf("\n");
}

/* Checks the tokenizer against every golden; skip_lrstrip leaves out strings using the added
 * tokens whose lstrip/rstrip flags GGUF arrays cannot carry. */
static void check_goldens(const reel_llm_tokenizer *tok, const char *key, uint32_t flags,
                          int skip_lrstrip, int check_decode)
{
    size_t bad = 0, checked = 0;
    for (size_t k = 0; k < json_array_size(goldens); k++) {
        json_t *g = json_array_get(goldens, k);
        size_t n;
        unsigned char *in = unhex(json_string_value(json_object_get(g, "hex")), &n);
        if (skip_lrstrip && (strstr((char *)in, "<mask>") || strstr((char *)in, "[[sep]]") ||
                             strstr((char *)in, "<|tool|>") || strstr((char *)in, "reel_token"))) {
            free(in);
            continue;
        }
        json_t *want = json_object_get(g, key);
        if (!want) want = json_object_get(g, "ids");
        int32_t *ids;
        size_t nids;
        assert_int_equal(reel_llm_tokenizer_encode(tok, (char *)in, n, flags, &ids, &nids), 0);
        checked++;
        if (!ids_equal(ids, nids, want)) {
            if (bad++ < 5) print_mismatch(k, in, n, ids, nids, want);
        } else if (check_decode) {
            char *dec;
            size_t dl, wl;
            assert_int_equal(reel_llm_tokenizer_decode(tok, ids, nids, 0, &dec, &dl), 0);
            json_t *dh = json_object_get(g, "dec");
            unsigned char *wdec = unhex(json_string_value(dh), &wl);
            if (dl != wl || memcmp(dec, wdec, dl) != 0) {
                if (bad++ < 5) printf("golden %zu: decode differs: '%s' vs '%s'\n", k, dec, wdec);
            }
            free(wdec);
            free(dec);
        }
        free(ids);
        free(in);
    }
    printf("%s: %zu strings checked, %zu mismatches\n", key, checked, bad);
    assert_int_equal(bad, 0);
    assert_true(checked > 1500);
}

static void test_json_goldens(void **state)
{
    (void)state;
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json(tok_json, tok_json_len, "t.json");
    assert_non_null(tok);
    assert_int_equal(reel_llm_tokenizer_bos(tok), 1);
    assert_int_equal(reel_llm_tokenizer_find(tok, "<|im_end|>"), 11);
    check_goldens(tok, "ids", REEL_LLM_TOK_DEFAULT, 0, 1);
    check_goldens(tok, "nosp", REEL_LLM_TOK_ADD_SPECIAL, 0, 0);
    reel_llm_tokenizer_free(tok);
}

/* The same file with ignore_merges on ("im" ids when they differ). */
static void test_ignore_merges(void **state)
{
    (void)state;
    json_t *root = json_loadb(tok_json, tok_json_len, 0, NULL);
    json_object_set_new(json_object_get(root, "model"), "ignore_merges", json_true());
    char *s = json_dumps(root, JSON_COMPACT);
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json(s, strlen(s), "im.json");
    assert_non_null(tok);
    check_goldens(tok, "im", REEL_LLM_TOK_DEFAULT, 0, 0);
    reel_llm_tokenizer_free(tok);
    free(s);
    json_decref(root);
}

/* Merges written as "a b" strings instead of ["a", "b"]. */
static void test_string_merges(void **state)
{
    (void)state;
    json_t *root = json_loadb(tok_json, tok_json_len, 0, NULL);
    json_t *merges = json_object_get(json_object_get(root, "model"), "merges");
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *m = json_array_get(merges, i);
        char *t = reel_xasprintf("%s %s", json_string_value(json_array_get(m, 0)),
                                 json_string_value(json_array_get(m, 1)));
        json_array_set_new(merges, i, json_string(t));
        free(t);
    }
    char *s = json_dumps(root, JSON_COMPACT);
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json(s, strlen(s), "str.json");
    assert_non_null(tok);
    check_goldens(tok, "ids", REEL_LLM_TOK_DEFAULT, 0, 0);
    reel_llm_tokenizer_free(tok);
    free(s);
    json_decref(root);
}

/* GGUF-style arrays built from the JSON: tokens by id, token types, "a b" merges, pre name. */
static void test_gguf_arrays(void **state)
{
    (void)state;
    json_t *root = json_loadb(tok_json, tok_json_len, 0, NULL);
    json_t *vocab = json_object_get(json_object_get(root, "model"), "vocab");
    json_t *merges = json_object_get(json_object_get(root, "model"), "merges");
    json_t *added = json_object_get(root, "added_tokens");
    int n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) if (json_integer_value(val) + 1 > n) n =
        (int)json_integer_value(val) + 1;
    for (size_t i = 0; i < json_array_size(added); i++) {
        int id = (int)json_integer_value(json_object_get(json_array_get(added, i), "id"));
        if (id + 1 > n) n = id + 1;
    }
    reel_llm_vocab v;
    memset(&v, 0, sizeof v);
    v.n_tokens = n;
    v.tokens = calloc((size_t)n, sizeof *v.tokens);
    v.token_type = calloc((size_t)n, sizeof *v.token_type);
    json_object_foreach(vocab, key, val)
    {
        v.tokens[json_integer_value(val)] = (char *)key;
        v.token_type[json_integer_value(val)] = 1;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        int id = (int)json_integer_value(json_object_get(a, "id"));
        v.tokens[id] = (char *)json_string_value(json_object_get(a, "content"));
        v.token_type[id] = json_is_true(json_object_get(a, "special")) ? (id == 0 ? 2 : 3) : 4;
    }
    v.n_merges = (int)json_array_size(merges);
    v.merges = calloc((size_t)v.n_merges, sizeof *v.merges);
    for (int i = 0; i < v.n_merges; i++) {
        json_t *m = json_array_get(merges, (size_t)i);
        v.merges[i] = reel_xasprintf("%s %s", json_string_value(json_array_get(m, 0)),
                                     json_string_value(json_array_get(m, 1)));
    }
    v.model = "gpt2";
    v.pre = "pixtral";
    v.bos_id = 1, v.eos_id = 2, v.unk_id = 0, v.pad_id = -1;
    v.add_bos = 1;
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init(&v);
    assert_non_null(tok);
    check_goldens(tok, "ids", REEL_LLM_TOK_DEFAULT, 1, 1);
    reel_llm_tokenizer_free(tok);

    /* the names llama.cpp's converter writes for the same regexes: the same ids */
    static const char *const same[][2] = {
        {"gpt-2", "gpt2"}, {"phi-2", "gpt2"}, {"llama-v3", "llama3"}, {"falcon3", "llama-bpe"}};
    static const char text[] = "Hello  world 12345 it's\n\tdone!! 3.14 \xc3\xa9t\xc3\xa9";
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int32_t *a, *b;
        size_t na, nb;
        v.pre = (char *)same[i][0];
        reel_llm_tokenizer *t1 = reel_llm_tokenizer_init(&v);
        v.pre = (char *)same[i][1];
        reel_llm_tokenizer *t2 = reel_llm_tokenizer_init(&v);
        assert_non_null(t1);
        assert_non_null(t2);
        assert_int_equal(
            reel_llm_tokenizer_encode(t1, text, sizeof text - 1, REEL_LLM_TOK_DEFAULT, &a, &na), 0);
        assert_int_equal(
            reel_llm_tokenizer_encode(t2, text, sizeof text - 1, REEL_LLM_TOK_DEFAULT, &b, &nb), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        free(a);
        free(b);
        reel_llm_tokenizer_free(t1);
        reel_llm_tokenizer_free(t2);
    }

    /* unknown pre name and a broken merge are clear errors */
    v.pre = "no-such-pre";
    assert_null(reel_llm_tokenizer_init(&v));
    assert_true(tu_contains(reel_last_error(), "no-such-pre"));
    v.pre = "pixtral";
    char *saved = v.merges[5];
    v.merges[5] = "nospace";
    assert_null(reel_llm_tokenizer_init(&v));
    assert_true(tu_contains(reel_last_error(), "merges[5]"));
    v.merges[5] = saved;

    /* the vocabulary the tokenizer_json path takes: HF dir with the raw text */
    char *js = malloc(tok_json_len + 1);
    memcpy(js, tok_json, tok_json_len);
    js[tok_json_len] = 0;
    v.tokenizer_json = js;
    tok = reel_llm_tokenizer_init(&v);
    assert_non_null(tok);
    int32_t *ids;
    size_t nids;
    assert_int_equal(reel_llm_tokenizer_encode(tok, "Hi", 2, REEL_LLM_TOK_DEFAULT, &ids, &nids), 0);
    assert_true(nids >= 2);
    assert_int_equal(ids[0], 1);
    free(ids);
    reel_llm_tokenizer_free(tok);
    free(js);

    for (int i = 0; i < v.n_merges; i++) free(v.merges[i]);
    free(v.merges);
    free(v.tokens);
    free(v.token_type);
    json_decref(root);
}

/* Other pre-tokenizer shapes (GPT-2 ByteLevel regex with prefix space, llama3 with
 * ignore_merges, every Split behaviour, String patterns, empty matches) over the same vocabulary:
 * tests/data/tokenizer/variants.jsonl. */
static void test_variants(void **state)
{
    (void)state;
    char *p = data_path("variants.jsonl");
    char *g;
    size_t gl;
    assert_int_equal(reel_file_read(p, 16 << 20, &g, &gl), 0);
    free(p);
    int n_variants = 0;
    for (char *line = g; line < g + gl;) {
        char *nl = memchr(line, '\n', (size_t)(g + gl - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(g + gl - line);
        json_t *v = len ? json_loadb(line, len, 0, NULL) : NULL;
        line += len + 1;
        if (!v) continue;
        json_t *root = json_loadb(tok_json, tok_json_len, 0, NULL);
        json_object_set(root, "pre_tokenizer", json_object_get(v, "pre_tokenizer"));
        json_object_set(json_object_get(root, "model"), "ignore_merges",
                        json_object_get(v, "ignore_merges"));
        char *s = json_dumps(root, JSON_COMPACT);
        reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json(s, strlen(s), "variant");
        if (!tok) printf("%s\n", reel_last_error());
        assert_non_null(tok);
        json_t *cases = json_object_get(v, "cases");
        size_t bad = 0;
        for (size_t k = 0; k < json_array_size(cases); k++) {
            json_t *c = json_array_get(cases, k);
            size_t n;
            unsigned char *in = unhex(json_string_value(json_array_get(c, 0)), &n);
            int32_t *ids;
            size_t nids;
            assert_int_equal(
                reel_llm_tokenizer_encode(tok, (char *)in, n, REEL_LLM_TOK_DEFAULT, &ids, &nids),
                0);
            if (!ids_equal(ids, nids, json_array_get(c, 1)) && bad++ < 3)
                print_mismatch(k, in, n, ids, nids, json_array_get(c, 1));
            free(ids);
            free(in);
        }
        printf("variant %s: %zu cases, %zu mismatches\n",
               json_string_value(json_object_get(v, "name")), json_array_size(cases), bad);
        assert_int_equal(bad, 0);
        assert_true(json_array_size(cases) >= 200);
        n_variants++;
        reel_llm_tokenizer_free(tok);
        free(s);
        json_decref(root);
        json_decref(v);
    }
    free(g);
    assert_int_equal(n_variants, 7);
}

/* One tokenizer shared by several threads encoding at once (the header promises this). */
typedef struct thr_arg {
    const reel_llm_tokenizer *tok;
    size_t start, bad;
} thr_arg;

static void *thr_main(void *p)
{
    thr_arg *a = p;
    size_t n = json_array_size(goldens);
    for (size_t k = a->start; k < n; k += 3) {
        json_t *g = json_array_get(goldens, k);
        size_t len, nids;
        unsigned char *in = unhex(json_string_value(json_object_get(g, "hex")), &len);
        int32_t *ids;
        if (reel_llm_tokenizer_encode(a->tok, (char *)in, len, REEL_LLM_TOK_DEFAULT, &ids, &nids) <
                0 ||
            !ids_equal(ids, nids, json_object_get(g, "ids")))
            a->bad++;
        else
            free(ids);
        free(in);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json(tok_json, tok_json_len, "t.json");
    assert_non_null(tok);
    pthread_t th[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thr_arg){tok, (size_t)i % 3, 0};
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    reel_llm_tokenizer_free(tok);
}

static void test_stream_decode(void **state)
{
    (void)state;
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json(tok_json, tok_json_len, "t.json");
    assert_non_null(tok);
    const char *text = "Emoji 👨‍👩‍👧‍👦 and 天地玄黄 <|im_end|> done ü";
    int32_t *ids;
    size_t nids;
    assert_int_equal(
        reel_llm_tokenizer_encode(tok, text, strlen(text), REEL_LLM_TOK_PARSE_SPECIAL, &ids, &nids),
        0);
    reel_llm_detok *s = reel_llm_detok_init(tok, 0);
    char out[512];
    size_t o = 0;
    int held_somewhere = 0;
    for (size_t i = 0; i < nids; i++) {
        const char *t;
        size_t l, raw;
        const char *rb;
        assert_int_equal(reel_llm_detok_push(s, ids[i], &t, &l), 0);
        reel_llm_tokenizer_token_bytes(tok, ids[i], &rb, &raw);
        if (l != raw) held_somewhere = 1;
        /* everything released so far is whole UTF-8 */
        size_t cl;
        char *c = reel_llm_utf8_sanitize(t, l, &cl);
        assert_int_equal(cl, l);
        free(c);
        memcpy(out + o, t, l);
        o += l;
    }
    const char *t;
    size_t l;
    reel_llm_detok_flush(s, &t, &l);
    assert_int_equal(l, 0);
    assert_int_equal(o, strlen(text));
    assert_memory_equal(out, text, o);
    assert_true(held_somewhere); /* the CJK/emoji bytes were split across byte tokens */
    /* an unknown id is an error naming it, and leaves the stream alone */
    assert_int_equal(reel_llm_detok_push(s, 999999, &t, &l), REEL_ERANGE);
    assert_true(tu_contains(reel_last_error(), "999999"));
    /* a lone lead byte is released at flush */
    int32_t e2 = -1;
    for (int32_t i = 0; i < reel_llm_tokenizer_n_vocab(tok); i++) {
        const char *d;
        size_t dl;
        if (reel_llm_tokenizer_token_bytes(tok, i, &d, &dl) == 0 && dl == 1 &&
            (unsigned char)d[0] == 0xE2)
            e2 = i;
    }
    assert_true(e2 >= 0);
    assert_int_equal(reel_llm_detok_push(s, e2, &t, &l), 0);
    assert_int_equal(l, 0);
    reel_llm_detok_flush(s, &t, &l);
    assert_int_equal(l, 1);
    reel_llm_detok_free(s);

    /* skip special on decode */
    char *dec;
    size_t dl;
    assert_int_equal(
        reel_llm_tokenizer_decode(tok, ids, nids, REEL_LLM_TOK_SKIP_SPECIAL, &dec, &dl), 0);
    assert_null(strstr(dec, "<|im_end|>"));
    assert_non_null(strstr(dec, "done"));
    free(dec);
    int32_t badid[2] = {5, -3};
    assert_int_equal(reel_llm_tokenizer_decode(tok, badid, 2, 0, &dec, &dl), REEL_ERANGE);
    free(ids);
    reel_llm_tokenizer_free(tok);
}

static void test_utf8_sanitize(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"a\xff"
         "b",
         3,
         "a\xEF\xBF\xBD"
         "b"},
        {"\xe2\x82"
         "a",
         3,
         "\xEF\xBF\xBD"
         "a"},
        {"\xf0\x80\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xed\xa0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xf0\x9f\x98", 3, "\xEF\xBF\xBD"},
        {"\xc3\xa9", 2, "\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        char *s = reel_llm_utf8_sanitize(cases[i].in, cases[i].n, &n);
        assert_string_equal(s, cases[i].out);
        free(s);
    }
}

static void test_bad_json(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{",
        "{}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{},\"merges\":[]}}",
        "{\"model\":{\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a c\"]}}",
        "{\"model\":{\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
        "{\"model\":{\"vocab\":{\"a\":-4},\"merges\":[]}}",
        "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
        "\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}",
        "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Whitespace\"}"
        "}",
        "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]}}",
        /* the post-processor names id 5, which no token has */
        "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":6,"
        "\"content\":\"<s>\"}],\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"post_processor\":"
        "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},"
        "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"ids\":[5]}}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reel_clear_error();
        reel_llm_tokenizer *t = reel_llm_tokenizer_init_json(bad[i], strlen(bad[i]), "bad.json");
        if (t) printf("accepted bad input %zu\n", i);
        assert_null(t);
        assert_true(tu_contains(reel_last_error(), "bad.json"));
    }
}

/* Encoding speed on ordinary English text (the licence texts), reported, and a floor that only
 * a gross regression would break. */
static void test_speed(void **state)
{
    (void)state;
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json(tok_json, tok_json_len, "t.json");
    assert_non_null(tok);
    size_t cap = 4 << 20, n = 0;
    char *text = malloc(cap);
    /* English prose from the goldens' inputs, repeated to 4 MB */
    while (n < cap - 4096) {
        for (size_t k = 0; k < json_array_size(goldens) && n < cap - 4096; k++) {
            size_t l;
            unsigned char *in =
                unhex(json_string_value(json_object_get(json_array_get(goldens, k), "hex")), &l);
            int ascii = 1;
            for (size_t i = 0; i < l; i++)
                ascii &= in[i] >= 9 && in[i] < 127 && !strchr("<[_", in[i]);
            if (ascii && l > 20) {
                memcpy(text + n, in, l);
                n += l;
                text[n++] = '\n';
            }
            free(in);
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int32_t *ids;
    size_t nids;
    assert_int_equal(reel_llm_tokenizer_encode(tok, text, n, 0, &ids, &nids), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("encode: %.1f MB in %.3f s = %.1f MB/s (%zu ids)\n", n / 1e6, s, n / 1e6 / s, nids);
    assert_true(n / 1e6 / s > 1.0);
    char *dec;
    size_t dl;
    assert_int_equal(reel_llm_tokenizer_decode(tok, ids, nids, 0, &dec, &dl), 0);
    assert_int_equal(dl, n);
    assert_memory_equal(dec, text, n);
    free(dec);
    free(ids);
    free(text);
    reel_llm_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_sanitize), cmocka_unit_test(test_json_goldens),
        cmocka_unit_test(test_ignore_merges), cmocka_unit_test(test_string_merges),
        cmocka_unit_test(test_gguf_arrays),   cmocka_unit_test(test_variants),
        cmocka_unit_test(test_threads),       cmocka_unit_test(test_stream_decode),
        cmocka_unit_test(test_bad_json),      cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
