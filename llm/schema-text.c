/* Text helpers for the JSON Schema translator: a growing buffer, GBNF literals and errors. */
#include "llm/schema-impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void reeli_sb_add(reeli_sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 1024;
        b->p = reel_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void reeli_sb_str(reeli_sbuf *b, const char *s)
{
    reeli_sb_add(b, s, strlen(s));
}

void reeli_sb_printf(reeli_sbuf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *tmp = reel_xmalloc((size_t)n + 1);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    reeli_sb_add(b, tmp, (size_t)n);
    free(tmp);
}

void reeli_sb_literal(reeli_sbuf *b, const char *s, size_t n)
{
    reeli_sb_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            reeli_sb_add(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            reeli_sb_printf(b, "\\x%02x", c);
        } else {
            reeli_sb_add(b, (const char *)&c, 1);
        }
    }
    reeli_sb_str(b, "\"");
}

void reeli_sb_json_literal(reeli_sbuf *b, const json_t *v)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    reeli_sb_literal(b, t, strlen(t));
    free(t);
}

char *reeli_rule_name(reeli_rules *r, const char *stem)
{
    return reel_xasprintf("%s%d", stem, (*r->counter)++);
}

int reeli_schema_fail(const char *ptr, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reel_set_error(REEL_EUNSUPPORTED, "JSON schema at '%s': %s", *ptr ? ptr : "#", msg);
    return -1;
}
