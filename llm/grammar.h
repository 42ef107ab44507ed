/* reel llm: grammars for constrained decoding — GBNF and JSON Schema compiled to a byte-level
 * pushdown automaton, with a token mask computed over a vocabulary trie.
 *
 * A grammar is written in llama.cpp's GBNF syntax:
 *
 *     root   ::= "{" ws "\"name\":" ws string ws "}"
 *     string ::= "\"" ( [^"\\\x00-\x1f] | "\\" ["\\/bfnrt] )* "\""
 *     ws     ::= [ \t\n]*          # comments run to the end of the line
 *
 * Rules, alternation `|`, grouping `( )`, repetition `*` `+` `?` `{m}` `{m,}` `{m,n}`, literals
 * with escapes (\n \t \r \\ \" \xHH \uHHHH \UHHHHHHHH), character classes with ranges and
 * negation ([a-z0-9_], [^"]), `.` (any character) and comments. Character classes are over
 * Unicode code points; they are compiled into UTF-8 byte sequences, so the automaton consumes
 * bytes and a token may end in the middle of a character. The start rule is `root`.
 *
 *     reel_grammar *g = reel_grammar_compile(text, "plan.gbnf");     // NULL + error on failure
 *     reel_grammar_state *s = reel_grammar_state_init(g);
 *     reel_grammar_state_advance(s, "{", 1);                         // 0, or REEL_EINVAL: rejected
 *     reel_grammar_state_free(s);
 *     reel_grammar_free(g);
 *
 * Thread safety: a compiled grammar is immutable and may be shared; states are not.
 */
#ifndef REEL_LLM_GRAMMAR_H
#define REEL_LLM_GRAMMAR_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reel_grammar reel_grammar;
typedef struct reel_grammar_state reel_grammar_state;

/* Compiles GBNF text. `where` names the source in errors ("FILE:LINE:COL: what"). Rejects
 * undefined rules, a missing root, left recursion and malformed syntax. NULL + reel_last_error().
 */
reel_grammar *reel_grammar_compile(const char *text, const char *where);

/* Frees a grammar (NULL is a no-op). States made from it must be freed first. */
void reel_grammar_free(reel_grammar *g);

/* Number of rules after desugaring (for diagnostics and tests). */
int reel_grammar_n_rules(const reel_grammar *g);

/* A parse position: the set of possible pushdown stacks after the bytes fed so far. */
reel_grammar_state *reel_grammar_state_init(const reel_grammar *g);
reel_grammar_state *reel_grammar_state_clone(const reel_grammar_state *s);
/* Copies src into dst (same grammar); cheap, no allocation once dst has grown. */
void reel_grammar_state_copy(reel_grammar_state *dst, const reel_grammar_state *src);
void reel_grammar_state_free(reel_grammar_state *s);

/* Feeds bytes. Returns 0, or REEL_EINVAL (state unchanged) if the grammar cannot accept them. */
int reel_grammar_state_advance(reel_grammar_state *s, const void *bytes, size_t n);

/* 1 if the bytes fed so far form a complete sentence of the grammar (EOS may be sampled). */
int reel_grammar_state_accepting(const reel_grammar_state *s);

/* 1 if no further byte can be accepted (complete and nothing may follow, or dead). */
int reel_grammar_state_done(const reel_grammar_state *s);

/* The grammar a state belongs to (borrowed). */
const reel_grammar *reel_grammar_state_grammar(const reel_grammar_state *s);

/* Number of possible parses (stacks) the state holds: 1 for an unambiguous grammar, 0 when
 * dead. A diagnostic: large values mean an ambiguous grammar and slower steps. */
int reel_grammar_state_n_stacks(const reel_grammar_state *s);

/* ---- token masks ---- */

/* A vocabulary prepared for masking: each token's bytes in a trie. Tokens with `special` set
 * (control tokens) are never allowed by a grammar, except the end-of-generation ids, which are
 * allowed exactly when the state is accepting. */
typedef struct reel_grammar_vocab reel_grammar_vocab;

/* Builds the trie. token_bytes[i]/token_len[i] are the bytes token i decodes to; special may be
 * NULL; eog_ids lists end-of-generation ids. Copies what it needs. */
reel_grammar_vocab *reel_grammar_vocab_init(int n_tokens, const char *const *token_bytes,
                                            const size_t *token_len, const uint8_t *special,
                                            const int32_t *eog_ids, int n_eog);
void reel_grammar_vocab_free(reel_grammar_vocab *v);

/* Computes which tokens may come next: mask has (n_tokens + 7) / 8 bytes, bit i set = allowed.
 * Returns the number of allowed tokens (0 means the grammar is stuck: a bug or an exhausted
 * budget for the caller to report). Exact: equal to advancing a copy of s by each token.
 * Walks the trie with the automaton, pruning every branch the grammar rejects, and caches:
 * whole states; per stack, the tokens decided by its top entries alone (so a string's mask is
 * shared by every object it sits in, and by every position of a bounded string until the end
 * is in reach of one token), with only the tokens that run past those entries walked against
 * the rest of the stack; and a lazy DFA of parse states, so a walk costs one table load per
 * trie node. Memory is bounded: at most 4096 DFA states (1 KiB each) holding at most 32 MiB
 * of stacks (see reel_grammar_vocab_set_dfa_limit), and 160 cached masks of n_tokens / 8 bytes
 * with at most 4096 trie positions each. Not thread-safe per vocab (it holds the caches); use
 * one vocab object per thread. */
int reel_grammar_mask(reel_grammar_vocab *v, const reel_grammar_state *s, uint8_t *mask);

/* Caps the lazy DFA at max_dfa_states parse states (default 4096, about 1 KiB each plus their
 * stacks; at least 1). Past the cap masks stay exact and get slower. Drops the current DFA. */
void reel_grammar_vocab_set_dfa_limit(reel_grammar_vocab *v, int max_dfa_states);

/* Trie nodes visited so far by reel_grammar_mask's walks (what its cache misses cost): a
 * diagnostic for tests and benchmarks. */
uint64_t reel_grammar_vocab_visits(const reel_grammar_vocab *v);

/* ---- JSON Schema ---- */

/* Translates a JSON Schema into GBNF text (owned by the caller, free()). The subset is listed
 * keyword by keyword at the top of llm/schema.c: types, enum/const, anyOf, disjoint oneOf, allOf
 * and $ref (merged), not (of a type or of string values), decimal and exclusive bounds,
 * multipleOf, string lengths in code points, pattern, format, prefixItems, uniqueItems (small
 * item sets), additional and pattern properties, min/maxProperties, dependentRequired. A
 * keyword or combination the grammar cannot keep exactly fails with its name and JSON pointer
 * (never ignored). Output is compact JSON (no whitespace). NULL + reel_last_error() on failure. */
char *reel_json_schema_to_gbnf(const json_t *schema);

/* Compiles a schema straight to a grammar (reel_json_schema_to_gbnf + reel_grammar_compile). */
reel_grammar *reel_grammar_from_json_schema(const json_t *schema);

/* Validates a JSON value against the same schema subset. Returns 0, or REEL_EFORMAT with the
 * JSON pointer of the first violation and what was expected. */
int reel_json_schema_validate(const json_t *schema, const json_t *value);
/* The same, stopping with REEL_ECANCELED soon after *cancel becomes nonzero (a Ctrl-C flag).
 * Self-referencing schemas end anyway: a fixed budget of steps and a depth limit. */
int reel_json_schema_validate_cancel(const json_t *schema, const json_t *value,
                                     const volatile sig_atomic_t *cancel);

#endif
