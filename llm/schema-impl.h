/* Private declarations shared by the JSON Schema files: schema.c (to GBNF), schema-validate.c,
 * schema-number.c, schema-regex.c, schema-format.c, schema-compose.c and schema-text.c. */
#ifndef REEL_LLM_SCHEMA_IMPL_H
#define REEL_LLM_SCHEMA_IMPL_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

/* ---- text (schema-text.c) ---------------------------------------------------------------- */

/* A GBNF literal for raw bytes. */
void reeli_sb_literal(reel_strbuf *b, const char *s, size_t n);
/* A GBNF literal matching the compact JSON text of v. */
void reeli_sb_json_literal(reel_strbuf *b, const json_t *v);

/* Where generated helper rules go: definitions are appended to `rules`, names are made unique
 * with `counter`. */
typedef struct {
    reel_strbuf *rules;
    int *counter;
} reeli_rules;

/* A fresh rule name "<stem><n>" (caller frees). */
char *reeli_rule_name(reeli_rules *r, const char *stem);

/* Sets REEL_EUNSUPPORTED "JSON schema at 'PTR': MESSAGE" and returns -1. */
int reeli_schema_fail(const char *ptr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* GBNF for one JSON string character, any or restricted: every alternative decodes to exactly
 * one code point (no surrogate escapes), so counted repeats count code points. */
#define REELI_GBNF_CHAR_RULES                                                                      \
    "char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" u-nonsurrogate)\n"           \
    "u-nonsurrogate ::= [0-9a-cA-CefEF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}\n"

/* ---- numbers (schema-number.c) ----------------------------------------------------------- */

/* Appends to `out` a GBNF expression for the numerals of an integer (integer != 0) or a
 * number with the schema's minimum/maximum/exclusiveMinimum/exclusiveMaximum/multipleOf.
 * -1 with the error set (naming ptr) when the bounds cannot be translated exactly. */
int reeli_schema_number_gbnf(reeli_rules *r, const json_t *s, int integer, const char *ptr,
                             reel_strbuf *out);

/* ---- regular expressions (schema-regex.c) ------------------------------------------------ */

/* Appends to `out` a GBNF expression for the contents (between the quotes, JSON-escaped) of the
 * strings that `pattern` matches anywhere (ECMAScript semantics, unanchored unless ^/$), with a
 * length in code points within [min_len, max_len] (max_len < 0: none). -1 with the error set
 * naming the construct that has no finite automaton, or a length bound it cannot combine. */
int reeli_regex_gbnf(const char *pattern, long long min_len, long long max_len, const char *ptr,
                     reel_strbuf *out);

/* The strings `pattern` matches when they are finitely many (every top-level alternative
 * anchored at both ends, no unbounded repeat) and at most cap: 1 and *out (a new array of
 * strings); 0 when not; -1 with the error set when the pattern is refused. */
int reeli_regex_finite(const char *pattern, size_t cap, const char *ptr, json_t **out);

/* ---- code point sets (schema-charset.c) ------------------------------------------------- */

typedef struct {
    uint32_t lo, hi;
} reeli_cprange;

typedef struct {
    reeli_cprange *r; /* sorted and disjoint after reeli_cpset_normalize */
    int n;
} reeli_cpset;

void reeli_cpset_add(reeli_cpset *s, uint32_t lo, uint32_t hi);
/* Sorts and merges the ranges, and drops surrogates (no UTF-8 form). */
void reeli_cpset_normalize(reeli_cpset *s);
/* The complement within the code points (normalized). */
void reeli_cpset_negate(reeli_cpset *s);
/* Adds the ECMAScript class escape \c (d w s; upper case negated); 0 if c is not one. */
int reeli_cpset_add_class(reeli_cpset *s, char c);
/* Appends a GBNF expression for one character of s as JSON string text. */
void reeli_cpset_gbnf(reel_strbuf *b, const reeli_cpset *s);

/* ---- formats (schema-format.c) ----------------------------------------------------------- */

/* Appends to `out` a GBNF expression for the contents of a string in `format` with a length in
 * code points within [min_len, max_len] (max_len < 0: none), and to `rules` the format's rule
 * definitions unless `*emitted` shows them there already. -1 + error for an unknown format or
 * lengths the format's grammar cannot keep to. */
int reeli_format_gbnf(const char *format, long long min_len, long long max_len, const char *ptr,
                      reel_strbuf *out, reel_strbuf *rules, unsigned *emitted);

/* ---- references and composition (schema-compose.c) --------------------------------------- */

/* The schema a "#..." JSON pointer reference names inside root, or NULL. */
const json_t *reeli_schema_resolve(const json_t *root, const char *ref);

/* A schema equal to `s` with its "$ref" siblings and "allOf" merged in (new reference), or
 * `s` itself with a new reference when it has neither. NULL + error when the parts do not merge
 * into one schema. */
json_t *reeli_schema_merge(const json_t *root, const json_t *s, const char *ptr);

/* 1 if no JSON value can satisfy both schemas, judged by type, const/enum, and required
 * properties whose const/enum values differ (conservative: 0 when unsure). */
int reeli_schema_disjoint(const json_t *root, const json_t *a, const json_t *b);

/* ---- object and array shapes (schema-shapes.c) ------------------------------------------ */

#define REELI_MAX_OBJECT_RULES 5000

/* Appends a rule reference for the contents of a key (between its quotes) that is none of
 * names[0..n-1], written without escapes; depth is 0 (used in recursion). */
void reeli_key_except(reeli_rules *g, const char *const *names, size_t n, size_t depth,
                      reel_strbuf *out);

/* Appends the alternatives for the non-empty sequences of listed properties (rules[i] each a
 * "key":value rule): required ones mandatory, optional ones optional, in order. */
void reeli_listed_seq(char **rules, const int *required, size_t n, reel_strbuf *out);

/* Properties in order with minProperties/maxProperties/dependentRequired: the rule for what
 * may follow once properties < i were decided, c of them present (bits `mask`); NULL when
 * nothing can. trigger_deps[t]: bits of the properties property t requires (~0u: unmet). */
typedef struct reeli_objdp {
    char **rules;
    const int *required;
    size_t n;
    long long minp, maxp;
    unsigned *trigger_deps;
    json_t *memo;
    int n_rules;
} reeli_objdp;
char *reeli_obj_state(reeli_rules *g, reeli_objdp *d, size_t i, long long c, unsigned mask);

/* An array of unique items (uniqueItems: true) when the items schema (a part of root) allows
 * at most 8 values (enum, const, boolean, bounded integer); -1 + error otherwise. */
int reeli_unique_array(reeli_rules *g, const json_t *root, const json_t *items, const char *ptr,
                       long long mn, long long mx, reel_strbuf *out);

/* ---- validation (schema-validate.c) ----------------------------------------------------- */

/* reel_json_schema_validate of `value` against `schema`, a part of `root` ($refs resolve in
 * root). */
int reeli_schema_validate_at(const json_t *root, const json_t *schema, const json_t *value);

#endif
