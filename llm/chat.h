/* reel llm: chat prompt formats of the Nemotron-H checkpoints.
 *
 * Renders a conversation into the prompt text a model expects, byte for byte what its published
 * Jinja chat template gives (goldens rendered with jinja2 in tests/data/chat):
 *   - REEL_LLM_CHAT_NEMOTRON3: Nemotron-3 (Nano 4B, 30B-A3B): ChatML `<|im_start|>role\n...
 *     <|im_end|>\n`, every assistant turn opens with a think block, earlier turns' reasoning is
 *     cut to `<think></think>` (truncate_history_thinking), prompt ends `<think>\n` (thinking on)
 *     or `<think></think>` (off).
 *   - REEL_LLM_CHAT_NANO_V2: Nemotron Nano 9B v2: `<SPECIAL_10>System\n`, `<SPECIAL_11>User\n`,
 *     `<SPECIAL_11>Assistant\n ... \n<SPECIAL_12>\n`; /think and /no_think in system/user text pick
 *     the mode and are removed from it.
 * Neither template emits BOS: the tokenizer adds it (REEL_LLM_TOK_ADD_SPECIAL).
 * Tool definitions and assistant tool calls are not rendered; tool-result messages are.
 *
 *     reel_llm_chat_msg msgs[] = {{"system", "You are helpful.", NULL}, {"user", "Hi", NULL}};
 *     reel_llm_chat_params p = reel_llm_chat_default_params();
 *     p.format = reel_llm_chat_detect(vocab->chat_template);
 *     char *prompt;
 *     if (reel_llm_chat_render(msgs, 2, &p, &prompt, NULL) == 0) { ...; free(prompt); }
 *
 * All functions are thread-safe (no shared state).
 */
#ifndef REEL_LLM_CHAT_H
#define REEL_LLM_CHAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum reel_llm_chat_format {
    REEL_LLM_CHAT_UNKNOWN = 0,
    REEL_LLM_CHAT_NEMOTRON3 = 1,
    REEL_LLM_CHAT_NANO_V2 = 2,
} reel_llm_chat_format;

typedef struct reel_llm_chat_msg {
    const char *role;              /* "system", "user", "assistant", "tool" (others: ChatML) */
    const char *content;           /* UTF-8 text; NULL is the same as "" */
    const char *reasoning_content; /* assistant reasoning (Nemotron-3 renders it), or NULL */
} reel_llm_chat_msg;

typedef struct reel_llm_chat_params {
    reel_llm_chat_format format;
    int enable_thinking;           /* -1 default: on, unless the last /think or /no_think marker
                                      in a system/user message says otherwise; 0 off; 1 on */
    int truncate_history_thinking; /* Nemotron-3: reduce assistant turns before the last user
                                      message to `<think></think>` + answer (default 1) */
    int add_generation_prompt;     /* end with the opening of the assistant turn (default 1) */
} reel_llm_chat_params;

/* {UNKNOWN, -1, 1, 1}. */
reel_llm_chat_params reel_llm_chat_default_params(void);

/* Format of a Jinja chat template text (from GGUF tokenizer.chat_template or
 * tokenizer_config.json), REEL_LLM_CHAT_UNKNOWN if it is NULL or neither. */
reel_llm_chat_format reel_llm_chat_detect(const char *chat_template);

/* "nemotron3", "nano-v2" ("unknown" for others). Static string. */
const char *reel_llm_chat_format_name(reel_llm_chat_format f);

/* Parses a format name ("nemotron3", "nano-v2"); REEL_LLM_CHAT_UNKNOWN if not one. */
reel_llm_chat_format reel_llm_chat_format_parse(const char *name);

/* Renders n messages. On success returns 0, *out is a malloc'ed NUL-terminated string (free()
 * it) and *len (if not NULL) its length. REEL_EINVAL (with reel_last_error()) for an unknown
 * format or a message without a role. */
int reel_llm_chat_render(const reel_llm_chat_msg *msgs, size_t n, const reel_llm_chat_params *p,
                         char **out, size_t *len);

typedef struct reel_llm_tokenizer reel_llm_tokenizer; /* llm/tokenizer.h */

/* Ids that end an assistant turn in format f (docs/model.md §5): the tokenizer's EOS and the
 * turn-end token, `<|im_end|>` (Nemotron-3) or `<SPECIAL_12>` (Nano-v2), those the vocabulary has.
 * Writes up to max ids to ids and returns how many there are. */
int reel_llm_chat_stop_ids(reel_llm_chat_format f, const reel_llm_tokenizer *tok, int32_t *ids,
                           int max);

#ifdef __cplusplus
}
#endif

#endif
