/* Private to llm/: tokenizer construction helpers shared by tokenizer-build.c and tokenizer-load.c.
 */
#ifndef REEL_LLM_TOKENIZER_VOCAB_H
#define REEL_LLM_TOKENIZER_VOCAB_H

#include "llm/model.h" /* reel_llm_vocab */
#include "llm/tokenizer.h"

/* reel_llm_tokenizer_init, naming the tokenizer.json source (a path) in error messages instead
 * of "tokenizer.json". */
reel_llm_tokenizer *reeli_tokenizer_init_named(const reel_llm_vocab *v, const char *json_name);

#endif
