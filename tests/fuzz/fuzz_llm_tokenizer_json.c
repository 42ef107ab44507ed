/* Fuzz target: tokenizer.json parsing and encoding of arbitrary bytes.
 *
 * Input "JSON\0TEXT": JSON is parsed as a tokenizer.json; if it is accepted, TEXT is encoded with
 * every flag combination and decoded again. Input without a NUL is encoded with a built-in
 * byte-level tokenizer (all 256 bytes, a few merges, special tokens, the Tekken split), and then
 * decode(encode(x)) must give back x exactly as Python's bytes.decode("utf-8", "replace") does. */
#include "core/core.h"
#include "llm/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static reel_llm_tokenizer *builtin;

static const char *TEKKEN =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* The GPT-2 byte alphabet character for byte b, as UTF-8. */
static void byte_char(int b, char out[4])
{
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    int n = 0;
    for (int i = 0; i < b; i++) {
        int p = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE;
        n += !p;
    }
    int cp = printable ? b : 256 + n;
    if (cp < 0x80)
        out[0] = (char)cp, out[1] = 0;
    else
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

static reel_llm_tokenizer *make_builtin(void)
{
    json_t *vocab = json_object();
    const char *specials[] = {"<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"};
    json_t *added = json_array();
    for (int i = 0; i < 5; i++) {
        json_object_set_new(vocab, specials[i], json_integer(i));
        json_array_append_new(added, json_pack("{s:i,s:s,s:b,s:b,s:b,s:b,s:b}", "id", i, "content",
                                               specials[i], "special", 1, "lstrip", 0, "rstrip", 0,
                                               "normalized", 0, "single_word", 0));
    }
    for (int b = 0; b < 256; b++) {
        char c[4];
        byte_char(b, c);
        json_object_set_new(vocab, c, json_integer(5 + b));
    }
    const char *merges[][2] = {
        {"t", "h"}, {"th", "e"}, {"\xc4\xa0", "the"}, {"i", "n"}, {"\xc4\xa0", "\xc4\xa0"},
        {"e", "r"}};
    json_t *jm = json_array();
    int next = 5 + 256;
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        char *ab = reel_xasprintf("%s%s", merges[i][0], merges[i][1]);
        json_object_set_new(vocab, ab, json_integer(next++));
        free(ab);
        json_array_append_new(jm, json_pack("[s,s]", merges[i][0], merges[i][1]));
    }
    json_t *root = json_pack(
        "{s:o,s:{s:s,s:o,s:o,s:s},s:{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b}]},s:{s:s}}",
        "added_tokens", added, "model", "type", "BPE", "vocab", vocab, "merges", jm, "unk_token",
        "<unk>", "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "Split", "pattern",
        "Regex", TEKKEN, "behavior", "Isolated", "invert", 0, "type", "ByteLevel",
        "add_prefix_space", 0, "use_regex", 0, "decoder", "type", "ByteLevel");
    char *s = json_dumps(root, JSON_COMPACT);
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json(s, strlen(s), "builtin");
    free(s);
    json_decref(root);
    if (!tok) abort();
    return tok;
}

static void exercise(const reel_llm_tokenizer *tok, const char *text, size_t len, int check)
{
    for (uint32_t flags = 0; flags < 4; flags++) {
        int32_t *ids;
        size_t n;
        if (reel_llm_tokenizer_encode(tok, text, len, flags, &ids, &n) < 0) continue;
        char *dec;
        size_t dl;
        if (reel_llm_tokenizer_decode(tok, ids, n, 0, &dec, &dl) < 0) { /* ids are valid */
            fprintf(stderr, "%s\n", reel_last_error());
            abort();
        }
        if (check && flags == 0) {
            size_t cl;
            char *clean = reel_llm_utf8_sanitize(text, len, &cl);
            if (!clean) abort();
            if (cl != dl || memcmp(clean, dec, dl) != 0) abort();
            free(clean);
        }
        reel_llm_detok *s = reel_llm_detok_init(tok, REEL_LLM_TOK_SKIP_SPECIAL);
        for (size_t i = 0; i < n; i++) {
            const char *t;
            size_t l;
            if (reel_llm_detok_push(s, ids[i], &t, &l) < 0) abort();
        }
        reel_llm_detok_free(s);
        free(dec);
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, 0, size);
    if (!nul) {
        if (!builtin) builtin = make_builtin();
        exercise(builtin, (const char *)data, size, 1);
        return 0;
    }
    size_t jl = (size_t)(nul - (const char *)data);
    reel_llm_tokenizer *tok = reel_llm_tokenizer_init_json((const char *)data, jl, "fuzz");
    if (!tok) return 0;
    exercise(tok, nul + 1, size - jl - 1, 0);
    reel_llm_tokenizer_free(tok);
    return 0;
}
