/* reel llm: byte-level BPE tokenizer, bit-exact with Hugging Face `tokenizers`.
 *
 * Built from the vocabulary a model description carries (llm/model.h, reel_llm_vocab): from the
 * raw tokenizer.json text when the model is a Hugging Face directory, else from the GGUF arrays
 * (tokens, token types, merges, pre-tokenizer name). Encoding runs, like HF:
 *   1. added tokens (special and not) are cut out of the text first, leftmost-longest, honouring
 *      lstrip / rstrip / single_word, in two passes (normalized=false tokens, then the others);
 *   2. the pre-tokenizer (Split with the file's regex, ByteLevel) cuts the rest into words; the
 *      regex runs on PCRE2 (UTF, UCP, JIT), with \s widened to Unicode White_Space as in
 *      Oniguruma, the engine HF uses;
 *   3. each word's bytes are merged by merge rank (priority queue, leftmost first on ties),
 *      optionally looking the whole word up first (`ignore_merges`);
 *   4. the post-processor adds BOS/EOS (TemplateProcessing, or add_bos/add_eos for GGUF).
 * Input that is not valid UTF-8 is first converted as Python's bytes.decode("utf-8", "replace")
 * does (each maximal invalid subpart becomes U+FFFD), so the ids are those HF gives for the string
 * Python would hand it.
 *
 *     reel_llm_tokenizer *tok = reel_llm_tokenizer_init(reel_llm_desc_vocab(desc));
 *     int32_t *ids; size_t n;
 *     if (!tok || reel_llm_tokenizer_encode(tok, "Hello", 5, REEL_LLM_TOK_DEFAULT, &ids, &n) < 0)
 *         fprintf(stderr, "reel: %s\n", reel_last_error());
 *     ...
 *     free(ids);
 *     reel_llm_tokenizer_free(tok);
 *
 * Thread safety: a tokenizer is immutable after init; every function below may be called from
 * several threads at once on the same tokenizer (each call keeps its own scratch and word cache).
 * A reel_llm_detok stream belongs to one thread at a time.
 */
#ifndef REEL_LLM_TOKENIZER_H
#define REEL_LLM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct reel_llm_vocab reel_llm_vocab; /* llm/model.h */
typedef struct reel_llm_tokenizer reel_llm_tokenizer;

/* Encode / decode flags. */
enum reel_llm_tok_flags {
    REEL_LLM_TOK_ADD_SPECIAL = 1 << 0,   /* run the post-processor (BOS, EOS) */
    REEL_LLM_TOK_PARSE_SPECIAL = 1 << 1, /* match special added tokens in the text (HF default);
                                            without it they are ordinary text, as HF's
                                            encode_special_tokens=True */
    REEL_LLM_TOK_DEFAULT = REEL_LLM_TOK_ADD_SPECIAL | REEL_LLM_TOK_PARSE_SPECIAL,
    REEL_LLM_TOK_SKIP_SPECIAL = 1 << 2, /* decode: leave special tokens out */
};

/* Builds a tokenizer from a model vocabulary: from vocab->tokenizer_json when set, else from the
 * GGUF arrays (model "gpt2"; pre "pixtral"/"tekken", "gpt2"/"default", "llama3"/"llama-bpe", or
 * vocab->pre_regex). Returns NULL and sets reel_last_error() ("tokenizer.json: model.merges[12]:
 * ...") on malformed or unsupported input. The vocab is not referenced after the call. */
reel_llm_tokenizer *reel_llm_tokenizer_init(const reel_llm_vocab *vocab);

/* Builds a tokenizer from tokenizer.json text (len bytes). `where` names the source in error
 * messages (e.g. the file path). Same ownership and errors as reel_llm_tokenizer_init. */
reel_llm_tokenizer *reel_llm_tokenizer_init_json(const char *json, size_t len, const char *where);

/* Loads the tokenizer of a model path: a GGUF file or a Hugging Face model directory (one with
 * config.json), both through reel_llm_desc_load; or just tokenizer files: a tokenizer.json file
 * or a directory without config.json, with tokenizer_config.json (add_bos_token, bos_token,
 * eos_token, chat_template) and chat_template.jinja read when present beside it. If
 * chat_template is not NULL it receives a malloc'ed copy of the model's chat template, or NULL
 * when it has none. NULL + reel_last_error() on failure. */
reel_llm_tokenizer *reel_llm_tokenizer_load(const char *path, char **chat_template);

/* Frees the tokenizer. NULL is a no-op. */
void reel_llm_tokenizer_free(reel_llm_tokenizer *tok);

/* Number of ids (highest id + 1; some ids below it may be unassigned). */
int32_t reel_llm_tokenizer_n_vocab(const reel_llm_tokenizer *tok);

/* Special ids, -1 when the tokenizer has none. */
int32_t reel_llm_tokenizer_bos(const reel_llm_tokenizer *tok);
int32_t reel_llm_tokenizer_eos(const reel_llm_tokenizer *tok);

/* Id of a token given its stored text ("<|im_end|>", "Ġthe"), or -1. */
int32_t reel_llm_tokenizer_find(const reel_llm_tokenizer *tok, const char *text);

/* Stored text of an id ("Ġthe"), NULL for an unassigned or out-of-range id. Borrowed: valid until
 * the tokenizer is freed. */
const char *reel_llm_tokenizer_token_text(const reel_llm_tokenizer *tok, int32_t id);

/* 1 if id is a special added token (control token), else 0. */
int reel_llm_tokenizer_is_special(const reel_llm_tokenizer *tok, int32_t id);

/* Bytes the id decodes to (ByteLevel decoder); *data is borrowed until the tokenizer is freed.
 * Returns 0, or REEL_ERANGE naming the id if it is out of range or unassigned. */
int reel_llm_tokenizer_token_bytes(const reel_llm_tokenizer *tok, int32_t id, const char **data,
                                   size_t *len);

/* Encodes len bytes of text (any bytes; see the UTF-8 note above). On success returns 0 and sets
 * *ids to a malloc'ed array of *n_ids ids (free() it; may be NULL when *n_ids is 0). Fails with
 * REEL_ENOMEM, or REEL_EFORMAT if the regex engine gives up (PCRE2 match limits). A byte the
 * vocabulary cannot express becomes the unknown token, or is dropped without one (as HF does). */
int reel_llm_tokenizer_encode(const reel_llm_tokenizer *tok, const char *text, size_t len,
                              uint32_t flags, int32_t **ids, size_t *n_ids);

/* Decodes ids to bytes (not NUL-terminated, but a NUL is appended after *len bytes). *out is
 * malloc'ed (free() it). Special tokens are kept unless REEL_LLM_TOK_SKIP_SPECIAL. The bytes may
 * hold invalid UTF-8 when the ids split a character. Returns 0, or REEL_ERANGE naming the first
 * unknown id (nothing allocated). */
int reel_llm_tokenizer_decode(const reel_llm_tokenizer *tok, const int32_t *ids, size_t n_ids,
                              uint32_t flags, char **out, size_t *len);

/* Streaming decoder: feed ids one at a time as they are generated and get back text that is
 * complete UTF-8 so far; a character split across tokens is held back until it completes, and a
 * sequence that can no longer complete is released as it is. */
typedef struct reel_llm_detok reel_llm_detok;

/* New stream over tok (borrowed: must outlive the stream). flags: REEL_LLM_TOK_SKIP_SPECIAL or 0.
 * Never NULL (aborts on OOM). */
reel_llm_detok *reel_llm_detok_init(const reel_llm_tokenizer *tok, uint32_t flags);
void reel_llm_detok_free(reel_llm_detok *s);

/* Adds one id. Sets *text / *len to the bytes now ready (borrowed, valid until the next call on s;
 * *len may be 0). Returns 0, or REEL_ERANGE for an unknown id (the stream is unchanged). */
int reel_llm_detok_push(reel_llm_detok *s, int32_t id, const char **text, size_t *len);

/* Returns whatever is still held back (an incomplete UTF-8 sequence at the end of the stream) and
 * empties the stream. Same ownership as push. */
void reel_llm_detok_flush(reel_llm_detok *s, const char **text, size_t *len);

/* Converts len bytes into valid UTF-8 exactly as Python's bytes.decode("utf-8", "replace"):
 * returns a malloc'ed NUL-terminated string (free() it) and its length in *out_len (if not NULL);
 * NULL with REEL_ENOMEM when out of memory. */
char *reel_llm_utf8_sanitize(const char *s, size_t len, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
