/* Private to llm/grammar-*.c: the compiled grammar, parse states, and the runtime steps that the
 * token masks reuse.
 *
 * Compiled form: every rule is a run of elements in one flat array:
 *     alt1 elements, ALT, alt2 elements, ..., END
 * An element is a rule reference (REF) or a byte set (SET: one byte out of a 256-bit set).
 * Character classes over code points become helper rules whose alternatives are UTF-8 byte
 * sequences, so the automaton reads bytes. Repetitions are desugared into right-recursive
 * helper rules (x* ::= x x* | empty), which run in constant stack depth; a bounded x{m,n}
 * becomes m references and one counted repeat element (REP) for the optional rest, whose stack
 * entry carries the number of repetitions started, so all positions inside x{0,n} share grammar
 * positions (what the mask caches key on).
 *
 * A parse state is a set of stacks of positions in the element array. The top of every stored
 * stack is a SET (the next byte it can take) or the stack is empty (the input so far is a
 * complete sentence). Feeding a byte keeps the stacks whose top set contains it, moves them one
 * element on and expands rule references at the top until every top is a SET again.
 */
#ifndef REEL_LLM_GRAMMAR_IMPL_H
#define REEL_LLM_GRAMMAR_IMPL_H

#include "llm/grammar.h"
#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { E_END = 0, E_ALT = 1, E_REF = 2, E_SET = 3, E_REP = 4 };

typedef struct {
    uint32_t type : 3;
    uint32_t value : 29; /* rule id (REF), set index (SET) or counted repeat index (REP) */
} elem;

/* A counted repeat x{0,max}: REP elements index these. x never matches the empty string (a
 * nullable x is desugared into nested optionals at compile time), so every repetition
 * consumes at least one byte. */
typedef struct {
    int item; /* rule id */
    int max;
} repeat;

/* A stack entry is an element position; a REP entry also carries how many repetitions have
 * started in its high bits. */
#define POS_BITS      18
#define POS_MASK      ((1u << POS_BITS) - 1)
#define MAX_ELEMS     ((int)POS_MASK)
#define ENTRY_POS(x)  ((x)&POS_MASK)
#define ENTRY_DONE(x) ((x) >> POS_BITS)

typedef struct {
    uint8_t bits[32];
} byteset;

#define MAX_STACKS 8192 /* more possible parses than this: the grammar is too ambiguous */
#define MAX_DEPTH  4096 /* nesting deeper than this is refused */

struct reel_grammar {
    elem *el; /* all rules, flattened */
    int n_el;
    int *rule_start; /* [n_rules] index of the rule's first element */
    int n_rules;
    char **rule_names;
    byteset *sets;
    int n_sets;
    repeat *reps;
    int n_reps;
    int root;
    uint64_t id; /* unique per compiled grammar: keys the mask cache */
};

struct reel_grammar_state {
    const reel_grammar *g;
    uint32_t *data; /* stacks back to back */
    uint32_t *off;  /* [n + 1] start of each stack in data */
    int n, cap_n;
    size_t cap_data;
    /* dedupe table: indices+1 into the stacks, open addressing */
    int *table;
    int table_cap;
    int overflow; /* too many stacks or too deep: treated as a rejection */
    /* scratch while expanding into this state: the stacks already continued through an empty
     * match, so ambiguous empty derivations are followed once instead of exponentially often */
    struct reel_grammar_state *seen;
};

static inline int set_has(const byteset *s, uint8_t b)
{
    return (s->bits[b >> 3] >> (b & 7)) & 1;
}

static inline uint64_t stack_hash(const uint32_t *s, int len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)len;
    for (int i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Empties a state (allocating its first buffers), keeping its capacity. */
void reeli_grammar_clear(reel_grammar_state *s);
/* Adds a stack unless already present: 1 if added (or the set has overflowed), 0 if present. */
int reeli_grammar_add_stack(reel_grammar_state *s, const uint32_t *st, int len);
/* Expands the top of the stack held in reeli_grammar_scratch()[0..len) until every top is a
 * SET, adding the results to out. */
void reeli_grammar_expand_scratch(reel_grammar_state *out, int len);
/* out = in advanced by one byte. out must be a different state. */
void reeli_grammar_advance_byte(reel_grammar_state *out, const reel_grammar_state *in, uint8_t b);
/* This thread's stack scratch, MAX_DEPTH + 2 entries. */
uint32_t *reeli_grammar_scratch(void);

#endif
