/* reel llm: grammar-constrained decoding — only tokens the grammar accepts can be sampled.
 *
 * A constraint pairs a compiled grammar (llm/grammar.h) with a tokenizer's vocabulary. Before
 * each sampling step it masks the logits (disallowed tokens get -inf); after the step it feeds
 * the sampled token's bytes to the automaton. End-of-generation tokens are allowed exactly when
 * the text so far is a complete sentence. Every completed generation therefore parses; a
 * generation that runs out of tokens first fails (it is never returned as if complete).
 *
 *     reel_llm_constraint *c = reel_llm_constraint_init(tok, grammar);
 *     // prompt already decoded into session s
 *     char *json; size_t len;
 *     if (reel_llm_generate_constrained(s, smp, tok, c, 512, NULL, NULL, &json, &len) < 0) ...
 *
 * Thread safety: one constraint per generating thread; the grammar and tokenizer may be shared.
 */
#ifndef REEL_LLM_CONSTRAIN_H
#define REEL_LLM_CONSTRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "llm/generate.h" /* reel_llm_generate_constrained: the generation loop under a constraint */
#include "llm/grammar.h"
#include "llm/llm.h"
#include "llm/tokenizer.h"

typedef struct reel_llm_constraint reel_llm_constraint;

/* Builds the vocabulary trie from tok (borrowed; must outlive the constraint) and starts the
 * automaton of g (borrowed) at its beginning. End-of-generation ids: the tokenizer's EOS plus the
 * chat turn-end tokens it knows ("<|im_end|>", "<SPECIAL_12>"). Never NULL (aborts on OOM). */
reel_llm_constraint *reel_llm_constraint_init(const reel_llm_tokenizer *tok, const reel_grammar *g);
void reel_llm_constraint_free(reel_llm_constraint *c);

/* Sets logits[i] = -inf for every token the grammar does not allow next. Returns the number of
 * allowed tokens (> 0), or REEL_EINVAL if none is allowed (the grammar cannot continue with this
 * vocabulary). */
int reel_llm_constraint_apply(reel_llm_constraint *c, float *logits, int n_vocab);

/* Advances past token id. REEL_EINVAL if the grammar does not accept it (state unchanged). */
int reel_llm_constraint_accept(reel_llm_constraint *c, int32_t id);

/* 1 if id ends generation (EOS or a chat turn end). */
int reel_llm_constraint_is_eog(const reel_llm_constraint *c, int32_t id);

/* 1 if the text so far is complete; 1 from _done if nothing more can follow. */
int reel_llm_constraint_accepting(const reel_llm_constraint *c);
int reel_llm_constraint_done(const reel_llm_constraint *c);

/* Back to the start of the grammar. */
void reel_llm_constraint_reset(reel_llm_constraint *c);

/* The automaton's position, saved beside a session snapshot (reel_llm_session_snapshot):
 * restoring both resumes a constrained generation exactly where it was (backtracking, shared
 * prefixes). Owned by the caller: free with reel_grammar_state_free(). */
reel_grammar_state *reel_llm_constraint_snapshot(const reel_llm_constraint *c);

/* Puts the automaton back to a saved position. REEL_EINVAL if it belongs to another grammar. */
int reel_llm_constraint_restore(reel_llm_constraint *c, const reel_grammar_state *saved);

#endif
