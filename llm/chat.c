/* Chat formats: C renderings of the Nemotron-3 and Nano-v2 Jinja chat templates. Each step
 * mirrors a line of the template (quoted in the comments); Jinja's trim and Python's strip()
 * remove Python whitespace (str.isspace), which is what py_strip does. */
#include "llm/chat.h"
#include "llm/tokenizer.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = reel_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_add(sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

/* Python str.isspace for one code point. */
static int py_space(unsigned cp)
{
    return (cp >= 9 && cp <= 13) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Code point of the (well-formed) sequence at s[0..n), its length in *k; 0xFFFFFFFF if not one. */
static unsigned cp_at(const unsigned char *s, size_t n, size_t *k)
{
    unsigned c = s[0];
    size_t need = c < 0x80                ? 0
                  : c >= 0xC2 && c < 0xE0 ? 1
                  : c >= 0xE0 && c < 0xF0 ? 2
                  : c >= 0xF0 && c < 0xF5 ? 3
                                          : 9;
    *k = 1;
    if (need == 0) return c;
    if (need == 9 || need >= n) return 0xFFFFFFFFu;
    unsigned cp = c & (0x3Fu >> need);
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0xFFFFFFFFu;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    *k = need + 1;
    return cp;
}

/* str.strip(): the span of s without leading/trailing Python whitespace. */
static void py_strip(const char *s, size_t n, size_t *a, size_t *b)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k;
    while (i < n && py_space(cp_at(u + i, n - i, &k))) i += k;
    size_t j = n;
    while (j > i) {
        size_t st = j - 1;
        while (st > i && (u[st] & 0xC0) == 0x80 && j - st < 4) st--;
        if (!py_space(cp_at(u + st, j - st, &k)) || st + k != j) break;
        j = st;
    }
    *a = i, *b = j;
}

/* A heap copy of s stripped. */
static char *strip_dup(const char *s)
{
    size_t a, b;
    py_strip(s, strlen(s), &a, &b);
    char *r = reel_xmalloc(b - a + 1);
    memcpy(r, s + a, b - a);
    r[b - a] = 0;
    return r;
}

/* Python s.replace(old, "") (non-overlapping, left to right), in place. */
static void remove_all(char *s, const char *old)
{
    size_t lo = strlen(old);
    char *w = s;
    for (const char *r = s; *r;) {
        if (strncmp(r, old, lo) == 0) {
            r += lo;
            continue;
        }
        *w++ = *r++;
    }
    *w = 0;
}

static const char *str(const char *s)
{
    return s ? s : "";
}

static int is_role(const reel_llm_chat_msg *m, const char *r)
{
    return strcmp(m->role, r) == 0;
}

/* Thinking from the markers: "if '/think' in content: on elif '/no_think' in content: off". */
static int marker_thinking(const reel_llm_chat_msg *msgs, size_t n)
{
    int on = 1;
    for (size_t i = 0; i < n; i++) {
        if (!is_role(&msgs[i], "user") && !is_role(&msgs[i], "system")) continue;
        if (strstr(str(msgs[i].content), "/think"))
            on = 1;
        else if (strstr(str(msgs[i].content), "/no_think"))
            on = 0;
    }
    return on;
}

/* Nemotron-3 (NVIDIA-Nemotron-3-Nano-30B-A3B chat_template). */
static void render_nemotron3(sbuf *b, const reel_llm_chat_msg *msgs, size_t n,
                             const reel_llm_chat_params *p, int thinking)
{
    const char *system = "";
    size_t first = 0;
    if (n > 0 && is_role(&msgs[0], "system")) system = str(msgs[0].content), first = 1;
    /* ns.last_user_idx relative to loop_messages */
    long last_user = -1;
    for (size_t i = first; i < n; i++)
        if (is_role(&msgs[i], "user")) last_user = (long)(i - first);
    sb_add(b, "<|im_start|>system\n");
    sb_add(b, system);
    sb_add(b, "<|im_end|>\n");
    for (size_t i = first; i < n; i++) {
        const reel_llm_chat_msg *m = &msgs[i];
        long idx = (long)(i - first);
        if (is_role(m, "assistant")) {
            /* content = "<think>\n" ~ reasoning ~ "\n</think>\n" ~ content, when reasoning|trim
             * is non-empty; else "<think></think>" ~ content unless it has a think tag */
            sbuf c = {0};
            sb_add(&c, "");
            char *rc = m->reasoning_content ? strip_dup(m->reasoning_content) : NULL;
            if (rc && *rc) {
                sb_add(&c, "<think>\n");
                sb_add(&c, m->reasoning_content);
                sb_add(&c, "\n</think>\n");
                sb_add(&c, str(m->content));
            } else {
                const char *t = str(m->content);
                if (!strstr(t, "<think>") && !strstr(t, "</think>")) sb_add(&c, "<think></think>");
                sb_add(&c, t);
            }
            free(rc);
            sb_add(b, "<|im_start|>assistant\n");
            if (!(p->truncate_history_thinking && idx < last_user)) {
                char *t = strip_dup(c.p);
                sb_add(b, t);
                free(t);
            } else {
                /* "<think></think>" ~ c.split('</think>')[-1] when both tags are present */
                const char *t = c.p;
                sbuf d = {0};
                sb_add(&d, "");
                if (strstr(t, "<think>") && strstr(t, "</think>")) {
                    const char *last = t, *q;
                    while ((q = strstr(last, "</think>"))) last = q + 8;
                    sb_add(&d, "<think></think>");
                    sb_add(&d, last);
                } else {
                    sb_add(&d, t);
                }
                char *s = strip_dup(d.p);
                sb_add(b, s);
                free(s);
                free(d.p);
            }
            sb_add(b, "<|im_end|>\n");
            free(c.p);
        } else if (is_role(m, "user") || is_role(m, "system")) {
            sb_add(b, "<|im_start|>");
            sb_add(b, m->role);
            sb_add(b, "\n");
            sb_add(b, str(m->content));
            sb_add(b, "<|im_end|>\n");
        } else if (is_role(m, "tool")) {
            /* loop.previtem is undefined for the first message: no header then */
            if (i > first && !is_role(&msgs[i - 1], "tool")) sb_add(b, "<|im_start|>user\n");
            sb_add(b, "<tool_response>\n");
            sb_add(b, str(m->content));
            sb_add(b, "\n</tool_response>\n");
            if (i + 1 == n || !is_role(&msgs[i + 1], "tool")) sb_add(b, "<|im_end|>\n");
        } else {
            sb_add(b, "<|im_start|>");
            sb_add(b, m->role);
            sb_add(b, "\n");
            sb_add(b, str(m->content));
            sb_add(b, "<|im_end|>\n");
        }
    }
    if (p->add_generation_prompt)
        sb_add(b, thinking ? "<|im_start|>assistant\n<think>\n"
                           : "<|im_start|>assistant\n<think></think>");
}

/* content.replace('/think', '').replace('/no_think', '').strip() */
static char *unmark_strip(const char *s)
{
    char *t = reel_xstrdup(str(s));
    remove_all(t, "/think");
    remove_all(t, "/no_think");
    char *r = strip_dup(t);
    free(t);
    return r;
}

/* Nemotron Nano 9B v2 (NVIDIA-Nemotron-Nano-v2 chat_template). */
static void render_nano_v2(sbuf *b, const reel_llm_chat_msg *msgs, size_t n,
                           const reel_llm_chat_params *p, int thinking)
{
    size_t first = 0;
    sb_add(b, "<SPECIAL_10>System\n");
    if (n > 0 && is_role(&msgs[0], "system")) {
        char *s = unmark_strip(msgs[0].content);
        sb_add(b, s);
        free(s);
        first = 1;
    }
    sb_add(b, "\n\n");
    size_t end = n;
    char *last_assistant = NULL;
    if (end > first && is_role(&msgs[end - 1], "assistant")) {
        last_assistant = strip_dup(str(msgs[end - 1].content));
        end--;
    }
    for (size_t i = first; i < end; i++) {
        const reel_llm_chat_msg *m = &msgs[i];
        if (is_role(m, "user")) {
            char *s = unmark_strip(m->content);
            sb_add(b, "<SPECIAL_11>User\n");
            sb_add(b, s);
            sb_add(b, "\n");
            free(s);
        } else if (is_role(m, "tool")) {
            if (i == first || !is_role(&msgs[i - 1], "tool"))
                sb_add(b, "<SPECIAL_11>User\n<TOOL_RESPONSE>[");
            sb_add(b, str(m->content));
            int next_tool = i + 1 < end && is_role(&msgs[i + 1], "tool");
            if (next_tool)
                sb_add(b, ", ");
            else
                sb_add(b, "]</TOOL_RESPONSE>");
        } else if (is_role(m, "assistant")) {
            /* content.split('</think>')[1] | default('', true) then strip */
            const char *c = str(m->content);
            const char *q = strstr(c, "</think>");
            char *part;
            if (*c && q) {
                const char *s = q + 8, *e = strstr(s, "</think>");
                size_t l = e ? (size_t)(e - s) : strlen(s);
                char *t = reel_xmalloc(l + 1);
                memcpy(t, s, l);
                t[l] = 0;
                part = strip_dup(t);
                free(t);
            } else {
                part = strip_dup(c);
            }
            sb_add(b, "<SPECIAL_11>Assistant\n");
            sb_add(b, part);
            sb_add(b, "\n<SPECIAL_12>\n");
            free(part);
        }
        /* a system message after the first renders nothing in this template */
    }
    const char *think = thinking ? "<think>\n" : "<think></think>";
    if (p->add_generation_prompt) {
        sb_add(b, "<SPECIAL_11>Assistant\n");
        sb_add(b, think);
        if (last_assistant) sb_add(b, last_assistant);
    } else if (last_assistant && *last_assistant) {
        sb_add(b, "<SPECIAL_11>Assistant\n");
        sb_add(b, think);
        sb_add(b, last_assistant);
        sb_add(b, "\n<SPECIAL_12>\n");
    }
    free(last_assistant);
}

reel_llm_chat_params reel_llm_chat_default_params(void)
{
    return (reel_llm_chat_params){REEL_LLM_CHAT_UNKNOWN, -1, 1, 1};
}

reel_llm_chat_format reel_llm_chat_detect(const char *t)
{
    if (!t) return REEL_LLM_CHAT_UNKNOWN;
    if (strstr(t, "<SPECIAL_10>") || strstr(t, "<SPECIAL_11>")) return REEL_LLM_CHAT_NANO_V2;
    if (strstr(t, "<|im_start|>")) return REEL_LLM_CHAT_NEMOTRON3;
    return REEL_LLM_CHAT_UNKNOWN;
}

const char *reel_llm_chat_format_name(reel_llm_chat_format f)
{
    switch (f) {
    case REEL_LLM_CHAT_NEMOTRON3:
        return "nemotron3";
    case REEL_LLM_CHAT_NANO_V2:
        return "nano-v2";
    default:
        return "unknown";
    }
}

reel_llm_chat_format reel_llm_chat_format_parse(const char *name)
{
    if (!name) return REEL_LLM_CHAT_UNKNOWN;
    if (!strcmp(name, "nemotron3")) return REEL_LLM_CHAT_NEMOTRON3;
    if (!strcmp(name, "nano-v2")) return REEL_LLM_CHAT_NANO_V2;
    return REEL_LLM_CHAT_UNKNOWN;
}

int reel_llm_chat_render(const reel_llm_chat_msg *msgs, size_t n, const reel_llm_chat_params *p,
                         char **out, size_t *len)
{
    *out = NULL;
    if (n && !msgs) return reel_set_error(REEL_EINVAL, "chat: no messages");
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !*msgs[i].role)
            return reel_set_error(REEL_EINVAL, "chat: message %zu has no role", i);
    if (p->format != REEL_LLM_CHAT_NEMOTRON3 && p->format != REEL_LLM_CHAT_NANO_V2)
        return reel_set_error(REEL_EINVAL, "chat: unknown chat format %d (nemotron3 or nano-v2)",
                              (int)p->format);
    int thinking = p->enable_thinking < 0 ? marker_thinking(msgs, n) : p->enable_thinking != 0;
    sbuf b = {0};
    sb_add(&b, "");
    if (p->format == REEL_LLM_CHAT_NEMOTRON3)
        render_nemotron3(&b, msgs, n, p, thinking);
    else
        render_nano_v2(&b, msgs, n, p, thinking);
    *out = b.p;
    if (len) *len = b.n;
    return 0;
}

int reel_llm_chat_stop_ids(reel_llm_chat_format f, const reel_llm_tokenizer *tok, int32_t *ids,
                           int max)
{
    int32_t cand[2] = {reel_llm_tokenizer_eos(tok), -1};
    if (f == REEL_LLM_CHAT_NEMOTRON3)
        cand[1] = reel_llm_tokenizer_find(tok, "<|im_end|>");
    else if (f == REEL_LLM_CHAT_NANO_V2)
        cand[1] = reel_llm_tokenizer_find(tok, "<SPECIAL_12>");
    int n = 0;
    for (int i = 0; i < 2; i++) {
        if (cand[i] < 0 || (i == 1 && cand[1] == cand[0])) continue;
        if (n < max) ids[n] = cand[i];
        n++;
    }
    return n;
}
