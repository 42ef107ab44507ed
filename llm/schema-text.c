/* Text helpers for the JSON Schema translator: GBNF literals, rule names and errors. */
#include "llm/schema-impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void reeli_sb_literal(reel_strbuf *b, const char *s, size_t n)
{
    reel_strbuf_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            reel_strbuf_add(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            reel_strbuf_printf(b, "\\x%02x", c);
        } else {
            reel_strbuf_add(b, (const char *)&c, 1);
        }
    }
    reel_strbuf_str(b, "\"");
}

void reeli_sb_json_literal(reel_strbuf *b, const json_t *v)
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
