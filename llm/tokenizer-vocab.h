/* Private: the vocabulary struct the tokenizer is built from. The model loader (branch
 * llm-files) owns it in llm/model.h; until that header is in the tree this copy of the agreed
 * definition (MODEL_API.md) stands in for it, so the merge needs no edit. */
#ifndef REEL_LLM_TOKENIZER_VOCAB_H
#define REEL_LLM_TOKENIZER_VOCAB_H

#if defined(__has_include)
#if __has_include("llm/model.h")
#include "llm/model.h"
#define REEL_LLM_HAVE_MODEL_H 1
#endif
#endif

#ifndef REEL_LLM_HAVE_MODEL_H
#include <stdint.h>
struct reel_llm_vocab {
    int n_tokens;
    char **tokens;
    int32_t *token_type;
    int n_merges;
    char **merges;
    char *model;
    char *pre;
    char *pre_regex;
    int32_t bos_id, eos_id, unk_id, pad_id;
    int add_bos, add_eos;
    int32_t *eog_ids;
    int n_eog;
    char *chat_template;
    char *tokenizer_json;
};
#endif

#endif
