/* argv template expansion for the exec plugin (see template.h). */
#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static int put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > EXEC_TEMPLATE_MAX) return -1;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        if (cap > EXEC_TEMPLATE_MAX) cap = EXEC_TEMPLATE_MAX;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

char *exec_template_expand(const char *tmpl, const char *const *names, const char *const *values,
                           size_t n, char *err, size_t err_size)
{
    buf b = {0};
    if (put(&b, "", 0) < 0) goto oom;
    for (const char *s = tmpl; *s;) {
        if (s[0] == '{' && s[1] == '{') {
            if (put(&b, "{", 1) < 0) goto oom;
            s += 2;
        } else if (s[0] == '}' && s[1] == '}') {
            if (put(&b, "}", 1) < 0) goto oom;
            s += 2;
        } else if (*s == '{') {
            const char *end = strchr(s + 1, '}');
            if (!end) {
                snprintf(err, err_size, "unclosed '{' in \"%.60s\"", tmpl);
                goto fail;
            }
            size_t len = (size_t)(end - s - 1), i;
            for (i = 0; i < n; i++)
                if (strlen(names[i]) == len && !memcmp(names[i], s + 1, len)) break;
            if (i == n) {
                snprintf(err, err_size, "unknown placeholder {%.*s}", (int)(len > 40 ? 40 : len),
                         s + 1);
                goto fail;
            }
            if (put(&b, values[i], strlen(values[i])) < 0) goto oom;
            s = end + 1;
        } else if (*s == '}') {
            snprintf(err, err_size, "lone '}' in \"%.60s\" (write '}}')", tmpl);
            goto fail;
        } else {
            const char *next = s;
            while (*next && *next != '{' && *next != '}') next++;
            if (put(&b, s, (size_t)(next - s)) < 0) goto oom;
            s = next;
        }
    }
    return b.p;
oom:
    snprintf(err, err_size, "argument longer than %u bytes", EXEC_TEMPLATE_MAX);
fail:
    free(b.p);
    return NULL;
}
