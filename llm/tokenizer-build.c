/* Byte-level BPE tokenizer construction: from tokenizer.json (pre-tokenizer, post-processor,
 * added tokens, merges) or from GGUF tokenizer.ggml arrays (pre-tokenizer regexes by name).
 *
 * The rules follow Hugging Face `tokenizers` (AddedVocabulary, pre_tokenizers::split,
 * models::bpe::Word::merge_all, decoders::byte_level) so that ids match bit for bit; comments
 * name the HF behaviour each piece reproduces. */
#include "llm/tokenizer-impl.h"
#include "llm/tokenizer-vocab.h"

#include <jansson.h>
#include <pthread.h>

/* ---------------------------------------------------------------------------------------------
 * Regexes for GGUF pre-tokenizer names. */
static const char RE_TEKKEN[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ---------------------------------------------------------------------------------------------
 * GPT-2 byte <-> unicode alphabet: printable Latin-1 bytes map to themselves, the other 68 bytes
 * to U+0100.. in byte order. */
uint16_t reeli_byte_to_cp[256];
static int16_t cp_to_byte[324];

static void byte_tables_fill(void)
{
    for (int i = 0; i < 324; i++) cp_to_byte[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        int cp = printable ? b : 256 + n++;
        reeli_byte_to_cp[b] = (uint16_t)cp;
        cp_to_byte[cp] = (int16_t)b;
    }
}

static void byte_tables_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, byte_tables_fill);
}

/* Byte-level text -> raw bytes. Returns the byte count, or -1 if some character is outside the
 * alphabet (out must hold len bytes). */
static long bytelevel_to_raw(const char *text, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t bad;
        if (utf8_seq(s + i, len - i, &bad) == 0) return -1;
        i += (size_t)utf8_decode(s + i, &cp);
        if (cp >= 324 || cp_to_byte[cp] < 0) return -1;
        out[o++] = (char)cp_to_byte[cp];
    }
    return (long)o;
}

static char *pool_strndup(reel_arena *a, const char *s, size_t n)
{
    char *p = reel_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Translates an Oniguruma pattern (HF's engine) for PCRE2: Oniguruma's \s is Unicode White_Space,
 * which includes U+0085; PCRE2's (UCP) does not. */
static char *regex_translate(const char *src)
{
    size_t n = strlen(src);
    char *out = reel_xmalloc(n * 12 + 1);
    size_t o = 0;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '\\' && i + 1 < n) {
            char d = src[++i];
            const char *rep = NULL;
            if (d == 's')
                rep = in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
            else if (d == 'S' && !in_class)
                rep = "[^\\s\\x{85}]";
            if (rep) {
                memcpy(out + o, rep, strlen(rep));
                o += strlen(rep);
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            out[o++] = c;
            if (i + 1 < n && src[i + 1] == '^') out[o++] = src[++i];
            if (i + 1 < n && src[i + 1] == ']') out[o++] = src[++i];
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && src[i + 1] == ':') {
            const char *e = strstr(src + i + 2, ":]");
            if (e) {
                size_t k = (size_t)(e + 2 - (src + i));
                memcpy(out + o, src + i, k);
                o += k, i += k - 1;
                continue;
            }
        }
        if (in_class && c == ']') in_class = 0;
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

static pcre2_code *regex_compile(const char *pattern, int literal, const char *where)
{
    char *tr = literal ? reel_xstrdup(pattern) : regex_translate(pattern);
    int err;
    PCRE2_SIZE off;
    uint32_t opt = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)tr, PCRE2_ZERO_TERMINATED, opt, &err, &off, NULL);
    free(tr);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        reel_set_error(REEL_EFORMAT, "%s: pre-tokenizer regex: %s at offset %zu", where,
                       (const char *)msg, (size_t)off);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if unavailable */
    return re;
}

void reel_llm_tokenizer_free(reel_llm_tokenizer *tok)
{
    if (!tok) return;
    for (int i = 0; i < tok->n_steps; i++) pcre2_code_free(tok->steps[i].re);
    pcre2_code_free(tok->word_re);
    free(tok->text);
    free(tok->dec);
    free(tok->dec_len);
    free(tok->special);
    free(tok->model_text.slot);
    free(tok->model_raw.slot);
    free(tok->added_text.slot);
    free(tok->merges.slot);
    free(tok->added);
    free(tok->trie.edges.slot);
    free(tok->trie.term);
    reel_arena_free(tok->pool);
    free(tok);
}

static reel_llm_tokenizer *tok_new(void)
{
    byte_tables_init();
    reel_llm_tokenizer *tok = reel_xcalloc(1, sizeof *tok);
    tok->pool = reel_arena_init(0);
    tok->bos = tok->eos = tok->unk = -1;
    for (int i = 0; i < 256; i++) tok->byte_id[i] = tok->byte_fallback_id[i] = -1;
    return tok;
}

/* Sizes the id tables for n ids. */
static void tok_alloc_ids(reel_llm_tokenizer *tok, int32_t n)
{
    tok->n_vocab = n;
    tok->text = reel_xcalloc((size_t)n + 1, sizeof *tok->text);
    tok->dec = reel_xcalloc((size_t)n + 1, sizeof *tok->dec);
    tok->dec_len = reel_xcalloc((size_t)n + 1, sizeof *tok->dec_len);
    tok->special = reel_xcalloc((size_t)n + 1, 1);
}

/* Registers a model-vocabulary token. Returns 0 or an error for a duplicate id. */
static int add_model_token(reel_llm_tokenizer *tok, const char *text, size_t len, int32_t id,
                           const char *where)
{
    if (tok->text[id])
        return reel_set_error(REEL_EFORMAT, "%s: token id %d used twice", where, (int)id);
    char *t = pool_strndup(tok->pool, text, len);
    tok->text[id] = t;
    *smap_ref(&tok->model_text, t, len, 1) = id;
    char *raw = reel_arena_alloc(tok->pool, len + 1);
    long rl = bytelevel_to_raw(t, len, raw);
    if (rl >= 0) {
        int32_t *slot = smap_ref(&tok->model_raw, raw, (size_t)rl, 1);
        /* Two stored texts cannot map to the same bytes (the alphabet is a bijection). */
        *slot = id;
        if (rl == 1) tok->byte_id[(unsigned char)raw[0]] = id;
    }
    return 0;
}

static void trie_add(trie *t, const char *s, size_t len, int32_t idx)
{
    if (!t->cap_nodes) {
        t->cap_nodes = 64;
        t->term = reel_xmalloc(sizeof *t->term * 64);
        t->term[0] = -1;
        t->n_nodes = 1;
    }
    int32_t node = 0;
    t->first[(unsigned char)s[0]] = 1;
    for (size_t i = 0; i < len; i++) {
        if ((t->edges.n + 1) * 4 >= t->edges.cap * 3) {
            mmap_ old = t->edges;
            t->edges.cap = old.cap ? old.cap * 2 : 256;
            t->edges.slot = reel_xcalloc(t->edges.cap, sizeof *t->edges.slot);
            t->edges.n = 0;
            for (size_t k = 0; k < old.cap; k++)
                if (old.slot[k].key)
                    mmap_ref(&t->edges, old.slot[k].key - 1, 1)->new_id = old.slot[k].new_id;
            free(old.slot);
        }
        uint64_t key = ((uint64_t)node << 8) | (unsigned char)s[i];
        merge_val *e = mmap_ref(&t->edges, key, 1);
        if (!e->rank) {
            if (t->n_nodes == t->cap_nodes) {
                t->cap_nodes *= 2;
                t->term = reel_xrealloc(t->term, sizeof *t->term * (size_t)t->cap_nodes);
            }
            t->term[t->n_nodes] = -1;
            e->rank = 1;
            e->new_id = t->n_nodes++;
        }
        node = e->new_id;
    }
    t->term[node] = idx; /* a later duplicate content wins, as in HF's map */
}

/* Registers an added token (content must be non-empty). */
static int add_added_token(reel_llm_tokenizer *tok, const char *content, size_t len, int32_t id,
                           int special, int lstrip, int rstrip, int single_word, int normalized)
{
    if (len == 0) return 0; /* HF ignores empty added tokens */
    if (tok->n_added % 64 == 0)
        tok->added = reel_xrealloc(tok->added, sizeof *tok->added * ((size_t)tok->n_added + 64));
    char *c = pool_strndup(tok->pool, content, len);
    added_tok *a = &tok->added[tok->n_added];
    *a = (added_tok){c,
                     (uint32_t)len,
                     id,
                     (uint8_t)special,
                     (uint8_t)lstrip,
                     (uint8_t)rstrip,
                     (uint8_t)single_word,
                     (uint8_t)normalized};
    trie_add(&tok->trie, c, len, tok->n_added);
    tok->n_added++;
    *smap_ref(&tok->added_text, c, len, 1) = id;
    tok->text[id] = c; /* the added token's content is what HF decodes for this id */
    tok->special[id] = (uint8_t)special;
    if (single_word) tok->has_single_word = 1;
    return 0;
}

/* Fills the decode table (ByteLevel decoder: per token, its bytes if every character is in the
 * byte alphabet, else its UTF-8 text unchanged). */
static void build_decode_table(reel_llm_tokenizer *tok)
{
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        const char *t = tok->text[id];
        if (!t) continue;
        size_t len = strlen(t);
        char *raw = reel_arena_alloc(tok->pool, len + 1);
        long rl = bytelevel_to_raw(t, len, raw);
        if (rl < 0) {
            tok->dec[id] = t;
            tok->dec_len[id] = (uint32_t)len;
        } else {
            raw[rl] = 0;
            tok->dec[id] = raw;
            tok->dec_len[id] = (uint32_t)rl;
        }
    }
}

/* Adds merge (a, b) at rank; a later duplicate pair takes the later rank (HF collects the merges
 * into a map). */
static int add_merge(reel_llm_tokenizer *tok, const char *a, size_t la, const char *b, size_t lb,
                     int32_t rank, const char *where)
{
    int32_t ia = smap_get(&tok->model_text, a, la), ib = smap_get(&tok->model_text, b, lb);
    if (ia < 0 || ib < 0)
        return reel_set_error(REEL_EFORMAT, "%s: merge %d: token '%.*s' is not in the vocabulary",
                              where, (int)rank, (int)(ia < 0 ? la : lb), ia < 0 ? a : b);
    char stackbuf[256];
    char *ab = la + lb <= sizeof stackbuf ? stackbuf : reel_xmalloc(la + lb);
    memcpy(ab, a, la);
    memcpy(ab + la, b, lb);
    int32_t inew = smap_get(&tok->model_text, ab, la + lb);
    if (ab != stackbuf) free(ab);
    if (inew < 0)
        return reel_set_error(REEL_EFORMAT, "%s: merge %d: '%.*s%.*s' is not in the vocabulary",
                              where, (int)rank, (int)la, a, (int)lb, b);
    if ((tok->merges.n + 1) * 4 >= tok->merges.cap * 3) {
        mmap_ old = tok->merges;
        tok->merges.cap = old.cap ? old.cap * 2 : 1024;
        tok->merges.slot = reel_xcalloc(tok->merges.cap, sizeof *tok->merges.slot);
        tok->merges.n = 0;
        for (size_t k = 0; k < old.cap; k++)
            if (old.slot[k].key) {
                merge_val *v = mmap_ref(&tok->merges, old.slot[k].key - 1, 1);
                v->rank = old.slot[k].rank, v->new_id = old.slot[k].new_id;
            }
        free(old.slot);
    }
    merge_val *v = mmap_ref(&tok->merges, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib, 1);
    v->rank = rank;
    v->new_id = inew;
    return 0;
}

static int finish_common(reel_llm_tokenizer *tok, const char *where)
{
    build_decode_table(tok);
    if (tok->has_single_word) {
        tok->word_re = regex_compile("[\\p{Alphabetic}\\p{N}_]", 0, where);
        if (!tok->word_re) return REEL_EFORMAT;
    }
    if (tok->byte_fallback)
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            tok->byte_fallback_id[b] = smap_get(&tok->model_text, name, 6);
        }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * tokenizer.json */
static int json_flag(json_t *o, const char *key, int dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int parse_pre_tokenizer(reel_llm_tokenizer *tok, json_t *pt, const char *where, int depth)
{
    if (!pt || json_is_null(pt)) return 0;
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!json_is_object(pt) || !type)
        return reel_set_error(REEL_EFORMAT, "%s: pre_tokenizer: expected an object with a type",
                              where);
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(pt, "pretokenizers");
        if (!json_is_array(arr) || depth > 4)
            return reel_set_error(REEL_EFORMAT, "%s: pre_tokenizer: bad Sequence", where);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            int rc = parse_pre_tokenizer(tok, json_array_get(arr, i), where, depth + 1);
            if (rc < 0) return rc;
        }
        return 0;
    }
    if (tok->n_steps == (int)(sizeof tok->steps / sizeof tok->steps[0]))
        return reel_set_error(REEL_EUNSUPPORTED, "%s: pre_tokenizer: too many steps", where);
    pre_step *st = &tok->steps[tok->n_steps];
    memset(st, 0, sizeof *st);
    if (strcmp(type, "Split") == 0) {
        json_t *pat = json_object_get(pt, "pattern");
        const char *re = json_string_value(json_object_get(pat, "Regex"));
        const char *lit = json_string_value(json_object_get(pat, "String"));
        if (!re && !lit)
            return reel_set_error(REEL_EFORMAT, "%s: pre_tokenizer Split: no pattern", where);
        const char *beh = json_string_value(json_object_get(pt, "behavior"));
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                      "Contiguous"};
        st->behavior = -1;
        for (int i = 0; i < 5; i++)
            if (beh && strcmp(beh, names[i]) == 0) st->behavior = i;
        if (st->behavior < 0)
            return reel_set_error(REEL_EFORMAT, "%s: pre_tokenizer Split: bad behavior '%s'", where,
                                  beh ? beh : "(none)");
        st->invert = json_flag(pt, "invert", 0);
        st->kind = STEP_SPLIT;
        st->re = regex_compile(re ? re : lit, lit && !re, where);
        if (!st->re) return REEL_EFORMAT;
    } else if (strcmp(type, "ByteLevel") == 0) {
        st->kind = STEP_BYTELEVEL;
        /* HF requires add_prefix_space (we take a missing one as false, the modern setting);
         * use_regex defaults to true as in HF's deserializer */
        st->add_prefix_space = json_flag(pt, "add_prefix_space", 0);
        st->use_regex = json_flag(pt, "use_regex", 1);
        if (st->use_regex) {
            st->re = regex_compile(RE_GPT2, 0, where);
            if (!st->re) return REEL_EFORMAT;
        }
    } else {
        return reel_set_error(REEL_EUNSUPPORTED,
                              "%s: pre_tokenizer type '%s' is not supported "
                              "(byte-level BPE needs Split/ByteLevel)",
                              where, type);
    }
    tok->n_steps++;
    return 0;
}

/* Resolves a TemplateProcessing special token name to its ids. */
static int template_ids(json_t *specials, const char *name, int32_t *out, int *n, int max,
                        const char *where)
{
    json_t *ids = json_object_get(json_object_get(specials, name), "ids");
    if (!json_is_array(ids))
        return reel_set_error(REEL_EFORMAT, "%s: post_processor: special token '%s' has no ids",
                              where, name);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || *n >= max)
            return reel_set_error(REEL_EFORMAT, "%s: post_processor: bad ids for '%s'", where,
                                  name);
        out[(*n)++] = (int32_t)json_integer_value(v);
    }
    return 0;
}

static int parse_post_processor(reel_llm_tokenizer *tok, json_t *pp, const char *where, int depth,
                                int *seen)
{
    if (!pp || json_is_null(pp)) return 0;
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (!type) return reel_set_error(REEL_EFORMAT, "%s: post_processor: no type", where);
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(pp, "processors");
        if (!json_is_array(arr) || depth > 4)
            return reel_set_error(REEL_EFORMAT, "%s: post_processor: bad Sequence", where);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            int rc = parse_post_processor(tok, json_array_get(arr, i), where, depth + 1, seen);
            if (rc < 0) return rc;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) return 0; /* only trims offsets */
    if (strcmp(type, "TemplateProcessing") != 0)
        return reel_set_error(REEL_EUNSUPPORTED, "%s: post_processor type '%s' is not supported",
                              where, type);
    *seen = 1;
    json_t *single = json_object_get(pp, "single"),
           *specials = json_object_get(pp, "special_tokens");
    if (!json_is_array(single))
        return reel_set_error(REEL_EFORMAT, "%s: post_processor: no 'single' template", where);
    int after = 0;
    tok->n_prefix = tok->n_suffix = 0;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *item = json_array_get(single, i);
        json_t *sp = json_object_get(item, "SpecialToken");
        if (json_object_get(item, "Sequence")) {
            after = 1;
            continue;
        }
        const char *name = json_string_value(json_object_get(sp, "id"));
        if (!name)
            return reel_set_error(REEL_EFORMAT, "%s: post_processor: bad template item %zu", where,
                                  i);
        int rc = after ? template_ids(specials, name, tok->suffix, &tok->n_suffix, 4, where)
                       : template_ids(specials, name, tok->prefix, &tok->n_prefix, 4, where);
        if (rc < 0) return rc;
    }
    return 0;
}

static int check_id(json_t *v, int32_t max, int32_t *out)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x >= max) return -1;
    *out = (int32_t)x;
    return 0;
}

/* Upper bound on ids: keeps a corrupt file from asking for a huge table. */
#define MAX_VOCAB (1 << 22)

static reel_llm_tokenizer *build_json(const char *json, size_t len, const char *where,
                                      const reel_llm_vocab *v)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        reel_set_error(REEL_EFORMAT, "%s: line %d: %s", where, jerr.line, jerr.text);
        return NULL;
    }
    reel_llm_tokenizer *tok = tok_new();
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    const char *key;
    json_t *val;
    if (!json_is_object(model) || !json_is_object(vocab) || !json_is_array(merges)) {
        reel_set_error(REEL_EFORMAT, "%s: model: expected a BPE model with vocab and merges",
                       where);
        goto fail;
    }
    if (mtype && strcmp(mtype, "BPE") != 0) {
        reel_set_error(REEL_EUNSUPPORTED, "%s: model type '%s' is not supported (only BPE)", where,
                       mtype);
        goto fail;
    }
    const char *pfx = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *sfx = json_string_value(json_object_get(model, "end_of_word_suffix"));
    json_t *dropout = json_object_get(model, "dropout");
    if ((pfx && *pfx) || (sfx && *sfx) ||
        (json_is_number(dropout) && json_number_value(dropout) > 0)) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s: model: subword prefix/suffix or dropout are not "
                       "supported",
                       where);
        goto fail;
    }
    if (json_object_get(root, "normalizer") && !json_is_null(json_object_get(root, "normalizer"))) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s: normalizer is not supported (byte-level BPE "
                       "tokenizers have none)",
                       where);
        goto fail;
    }
    /* Size the id space. */
    int32_t n = 0;
    json_object_foreach(vocab, key, val)
    {
        int32_t id;
        if (check_id(val, MAX_VOCAB, &id) < 0) {
            reel_set_error(REEL_EFORMAT, "%s: model.vocab['%s']: bad id", where, key);
            goto fail;
        }
        if (id + 1 > n) n = id + 1;
    }
    if (added && !json_is_array(added)) {
        reel_set_error(REEL_EFORMAT, "%s: added_tokens: expected an array", where);
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        int32_t id;
        if (check_id(json_object_get(a, "id"), MAX_VOCAB, &id) < 0 ||
            !json_is_string(json_object_get(a, "content"))) {
            reel_set_error(REEL_EFORMAT, "%s: added_tokens[%zu]: bad id or content", where, i);
            goto fail;
        }
        if (id + 1 > n) n = id + 1;
    }
    tok_alloc_ids(tok, n);
    json_object_foreach(vocab, key, val)
    {
        if (add_model_token(tok, key, strlen(key), (int32_t)json_integer_value(val), where) < 0)
            goto fail;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        json_t *c = json_object_get(a, "content");
        add_added_token(tok, json_string_value(c), json_string_length(c),
                        (int32_t)json_integer_value(json_object_get(a, "id")),
                        json_flag(a, "special", 0), json_flag(a, "lstrip", 0),
                        json_flag(a, "rstrip", 0), json_flag(a, "single_word", 0),
                        json_flag(a, "normalized", !json_flag(a, "special", 0)));
    }
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t la, lb;
        char w[48];
        snprintf(w, sizeof w, "model.merges[%zu]", i);
        if (json_is_string(m)) {
            /* "a b": exactly one space (HF splits on ' ' and wants two parts) */
            a = json_string_value(m);
            const char *sp = memchr(a, ' ', json_string_length(m));
            if (!sp || memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - a))) {
                reel_set_error(REEL_EFORMAT, "%s: %s: expected \"a b\"", where, w);
                goto fail;
            }
            la = (size_t)(sp - a), b = sp + 1, lb = json_string_length(m) - la - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0)),
            la = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1)),
            lb = json_string_length(json_array_get(m, 1));
        } else {
            reel_set_error(REEL_EFORMAT, "%s: %s: expected \"a b\" or [\"a\", \"b\"]", where, w);
            goto fail;
        }
        if (add_merge(tok, a, la, b, lb, (int32_t)i, where) < 0) goto fail;
    }
    tok->ignore_merges = json_flag(model, "ignore_merges", 0);
    tok->fuse_unk = json_flag(model, "fuse_unk", 0);
    tok->byte_fallback = json_flag(model, "byte_fallback", 0);
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    if (unk) tok->unk = smap_get(&tok->model_text, unk, strlen(unk));
    if (parse_pre_tokenizer(tok, json_object_get(root, "pre_tokenizer"), where, 0) < 0) goto fail;
    int has_bl = 0;
    for (int i = 0; i < tok->n_steps; i++) has_bl |= tok->steps[i].kind == STEP_BYTELEVEL;
    if (!has_bl) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s: pre_tokenizer has no ByteLevel step; only "
                       "byte-level BPE is supported",
                       where);
        goto fail;
    }
    /* The decoder: ByteLevel, alone or in a Sequence (nothing else makes sense for byte-level
     * BPE; null keeps the byte-level decoding too). */
    json_t *dec = json_object_get(root, "decoder");
    const char *dtype = json_string_value(json_object_get(dec, "type"));
    if (dtype && strcmp(dtype, "Sequence") == 0) {
        json_t *list = json_object_get(dec, "decoders");
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *t = json_string_value(json_object_get(json_array_get(list, i), "type"));
            if (t && strcmp(t, "ByteLevel") == 0) dtype = t;
        }
    }
    if (dec && !json_is_null(dec) && (!dtype || strcmp(dtype, "ByteLevel") != 0)) {
        reel_set_error(REEL_EUNSUPPORTED, "%s: decoder type '%s' is not supported (only ByteLevel)",
                       where, dtype ? dtype : "?");
        goto fail;
    }
    int seen_template = 0;
    if (parse_post_processor(tok, json_object_get(root, "post_processor"), where, 0,
                             &seen_template) < 0)
        goto fail;
    for (int i = 0; i < tok->n_prefix; i++)
        if (tok->prefix[i] < 0 || tok->prefix[i] >= n || !tok->text[tok->prefix[i]]) {
            reel_set_error(REEL_EFORMAT, "%s: post_processor: id %d is not a token", where,
                           (int)tok->prefix[i]);
            goto fail;
        }
    for (int i = 0; i < tok->n_suffix; i++)
        if (tok->suffix[i] < 0 || tok->suffix[i] >= n || !tok->text[tok->suffix[i]]) {
            reel_set_error(REEL_EFORMAT, "%s: post_processor: id %d is not a token", where,
                           (int)tok->suffix[i]);
            goto fail;
        }
    if (v && v->bos_id >= 0 && v->bos_id < n && tok->text[v->bos_id]) tok->bos = v->bos_id;
    if (v && v->eos_id >= 0 && v->eos_id < n && tok->text[v->eos_id]) tok->eos = v->eos_id;
    if (tok->bos < 0)
        tok->bos = tok->n_prefix ? tok->prefix[0] : smap_get(&tok->added_text, "<s>", 3);
    if (tok->eos < 0) tok->eos = smap_get(&tok->added_text, "</s>", 4);
    /* Without a template post-processor, the vocabulary's add_bos/add_eos (tokenizer_config.json
     * add_bos_token, as transformers applies it) decide. */
    if (v && !seen_template) {
        if (v->add_bos && tok->bos >= 0) tok->prefix[tok->n_prefix++] = tok->bos;
        if (v->add_eos && tok->eos >= 0) tok->suffix[tok->n_suffix++] = tok->eos;
    }
    if (finish_common(tok, where) < 0) goto fail;
    json_decref(root);
    return tok;
fail:
    json_decref(root);
    reel_llm_tokenizer_free(tok);
    return NULL;
}

reel_llm_tokenizer *reel_llm_tokenizer_init_json(const char *json, size_t len, const char *where)
{
    return build_json(json, len, where ? where : "tokenizer.json", NULL);
}

/* GGUF arrays: tokenizer.ggml.{tokens,token_type,merges,pre}. */
static reel_llm_tokenizer *build_gguf(const reel_llm_vocab *v)
{
    const char *where = "tokenizer.ggml";
    if (v->model && strcmp(v->model, "gpt2") != 0) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s.model '%s' is not supported (only gpt2 byte-level "
                       "BPE)",
                       where, v->model);
        return NULL;
    }
    if (v->n_tokens <= 0 || v->n_tokens > MAX_VOCAB || !v->tokens || v->n_merges < 0 ||
        (v->n_merges > 0 && !v->merges)) {
        reel_set_error(REEL_EFORMAT, "%s: %d tokens: bad vocabulary", where, v->n_tokens);
        return NULL;
    }
    const char *re = v->pre_regex;
    int ignore_merges = 0;
    const char *pre = v->pre ? v->pre : "default";
    if (!re) {
        if (!strcmp(pre, "pixtral") || !strcmp(pre, "tekken"))
            re = RE_TEKKEN, ignore_merges = 1;
        else if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-bpe") || !strcmp(pre, "llama-v3") ||
                 !strcmp(pre, "falcon3"))
            re = RE_LLAMA3, ignore_merges = 1;
        else if (!strcmp(pre, "gpt2") || !strcmp(pre, "gpt-2") || !strcmp(pre, "phi-2") ||
                 !strcmp(pre, "default"))
            re = RE_GPT2; /* "gpt-2" and "phi-2" as llama.cpp's converter names GPT-2's regex */
        else {
            reel_set_error(REEL_EUNSUPPORTED,
                           "%s.pre '%s' is not a known pre-tokenizer (known: pixtral, tekken, "
                           "llama3, llama-bpe, llama-v3, falcon3, gpt2, gpt-2, phi-2, default)",
                           where, pre);
            return NULL;
        }
    }
    reel_llm_tokenizer *tok = tok_new();
    tok_alloc_ids(tok, v->n_tokens);
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const char *t = v->tokens[i];
        if (!t) {
            reel_set_error(REEL_EFORMAT, "%s.tokens[%d]: missing", where, (int)i);
            goto fail;
        }
        if (add_model_token(tok, t, strlen(t), i, where) < 0) goto fail;
    }
    for (int32_t i = 0; i < v->n_tokens; i++) {
        int type = v->token_type ? v->token_type[i] : 1;
        /* control and unknown tokens are special added tokens; user-defined ones are added
         * tokens that are not special (llama.cpp splits all three out before pre-tokenising). */
        if (type == 2 || type == 3 || type == 4)
            add_added_token(tok, v->tokens[i], strlen(v->tokens[i]), i, type != 4, 0, 0, 0, 0);
    }
    for (int i = 0; i < v->n_merges; i++) {
        const char *m = v->merges[i];
        const char *sp = m && m[0] ? strchr(m + 1, ' ') : NULL;
        if (!sp) {
            reel_set_error(REEL_EFORMAT, "%s.merges[%d]: expected \"a b\"", where, i);
            goto fail;
        }
        if (add_merge(tok, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), i, where) < 0) goto fail;
    }
    tok->ignore_merges = ignore_merges;
    tok->steps[0] = (pre_step){
        .kind = STEP_SPLIT, .behavior = SPLIT_ISOLATED, .re = regex_compile(re, 0, where)};
    if (!tok->steps[0].re) goto fail;
    tok->steps[1] = (pre_step){.kind = STEP_BYTELEVEL};
    tok->n_steps = 2;
    if (v->bos_id >= 0 && v->bos_id < v->n_tokens) tok->bos = v->bos_id;
    if (v->eos_id >= 0 && v->eos_id < v->n_tokens) tok->eos = v->eos_id;
    if (v->unk_id >= 0 && v->unk_id < v->n_tokens) tok->unk = v->unk_id;
    if (v->add_bos && tok->bos >= 0) tok->prefix[tok->n_prefix++] = tok->bos;
    if (v->add_eos && tok->eos >= 0) tok->suffix[tok->n_suffix++] = tok->eos;
    if (finish_common(tok, where) < 0) goto fail;
    return tok;
fail:
    reel_llm_tokenizer_free(tok);
    return NULL;
}

reel_llm_tokenizer *reeli_tokenizer_init_named(const reel_llm_vocab *v, const char *json_name)
{
    if (!v) {
        reel_set_error(REEL_EINVAL, "tokenizer: no vocabulary");
        return NULL;
    }
    if (v->tokenizer_json)
        return build_json(v->tokenizer_json, strlen(v->tokenizer_json),
                          json_name ? json_name : "tokenizer.json", v);
    return build_gguf(v);
}

reel_llm_tokenizer *reel_llm_tokenizer_init(const reel_llm_vocab *v)
{
    return reeli_tokenizer_init_named(v, NULL);
}
