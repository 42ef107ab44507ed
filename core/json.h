/* reel core: JSON helpers over jansson, with canonical serialisation for hashing.
 *
 * Canonical form: compact, object keys sorted by byte value, strings in UTF-8 with only the
 * escapes JSON requires, integers as integers, reals with 17 significant digits (so a double
 * round-trips exactly) and -0.0 written as 0.0. Two JSON values that are equal as data give
 * the same canonical bytes, so their SHA-256 is a stable cache key.
 */
#ifndef REEL_CORE_JSON_H
#define REEL_CORE_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "core/hash.h"

/* Canonical text of v (owned by the caller, free()). NULL only if v is NULL. */
char *reel_json_canonical(const json_t *v);

/* SHA-256 of the canonical text of v. */
void reel_json_hash(const json_t *v, uint8_t out[REEL_SHA256_SIZE]);

/* Parses text; on failure returns NULL and sets REEL_EFORMAT as "where:line:column: what". */
json_t *reel_json_parse(const char *text, size_t size, const char *where);

/* Reads and parses a file (at most max_size bytes; 0 = 64 MiB). NULL + message on failure. */
json_t *reel_json_load_file(const char *path, size_t max_size);

/* Writes v to path atomically, pretty-printed (indent 2) with sorted keys and a final newline. */
int reel_json_save_file(const json_t *v, const char *path);

/* Typed getters: the member `key` of object `obj` as a string/integer/number/bool, or def if
 * absent. A present member of the wrong type returns def and sets REEL_EFORMAT (check with
 * reel_last_error_code() when it matters). */
const char *reel_json_str(const json_t *obj, const char *key, const char *def);
int64_t reel_json_int(const json_t *obj, const char *key, int64_t def);
double reel_json_num(const json_t *obj, const char *key, double def);
int reel_json_bool(const json_t *obj, const char *key, int def);

#endif
