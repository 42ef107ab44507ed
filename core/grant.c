/* User-granted capabilities (see grant.h). */
#include "core/grant.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

typedef struct grant {
    int net;     /* 0: exec, 1: net */
    char *value; /* exec: resolved program path; net: host without brackets, lower case */
    long port;   /* net: 0 = any */
} grant;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static grant *grants;
static size_t n_grants;

static int is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* dir made canonical + "/" + base name; NULL if the folder does not exist. */
static char *canonical_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) return NULL;
    char *dir = slash ? reel_xasprintf("%.*s", (int)(slash - path), path) : reel_xstrdup(".");
    char real[PATH_MAX];
    char *r = realpath(dir[0] ? dir : "/", real);
    free(dir);
    if (!r) return NULL;
    return reel_xasprintf("%s/%s", strcmp(real, "/") ? real : "", base);
}

char *reel_grant_resolve_program(const char *name)
{
    if (!name || !*name) return NULL;
    if (strchr(name, '/')) return is_executable_file(name) ? canonical_folder(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *cand =
            len ? reel_xasprintf("%.*s/%s", (int)len, p, name) : reel_xasprintf("./%s", name);
        char *found = is_executable_file(cand) ? canonical_folder(cand) : NULL;
        free(cand);
        if (found) return found;
        if (!end) return NULL;
        p = end + 1;
    }
}

/* Splits HOST, HOST:PORT, [V6] or [V6]:PORT. Returns 0 with *host owned (brackets removed,
 * lower case) and *port (0 when absent), or -1. */
static int parse_host(const char *text, char **host, long *port)
{
    const char *h = text, *colon = NULL;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close == text + 1) return -1;
        h = text + 1;
        hlen = (size_t)(close - h);
        if (close[1] == ':')
            colon = close + 1;
        else if (close[1])
            return -1;
    } else {
        colon = strchr(text, ':');
        if (colon && strchr(colon + 1, ':')) colon = NULL; /* a bare IPv6 address */
        hlen = colon ? (size_t)(colon - text) : strlen(text);
    }
    if (hlen == 0 || hlen > 255) return -1;
    for (size_t i = 0; i < hlen; i++)
        if (!(isalnum((unsigned char)h[i]) || strchr("-._:%", h[i]))) return -1;
    *port = 0;
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || v < 1 || v > 65535) return -1;
        *port = v;
    }
    *host = reel_xasprintf("%.*s", (int)hlen, h);
    for (char *c = *host; *c; c++) *c = (char)tolower((unsigned char)*c);
    size_t n = strlen(*host);
    if (n > 1 && (*host)[n - 1] == '.') (*host)[n - 1] = 0; /* "example.com." */
    return 0;
}

int reel_grant_add(const char *capability, const char *value)
{
    grant g = {0};
    if (!capability || !value || !*value)
        return reel_set_error(REEL_EINVAL, "empty capability grant");
    if (strcmp(capability, "exec") == 0) {
        g.value = reel_grant_resolve_program(value);
        if (!g.value)
            return reel_set_error(REEL_ENOTFOUND, "'%s': no such executable program%s", value,
                                  strchr(value, '/') ? "" : " in PATH");
    } else if (strcmp(capability, "net") == 0) {
        g.net = 1;
        if (parse_host(value, &g.value, &g.port) < 0)
            return reel_set_error(REEL_EINVAL,
                                  "'%s': expected HOST, HOST:PORT, [IPV6] or [IPV6]:PORT", value);
    } else {
        return reel_set_error(REEL_EINVAL, "unknown capability '%s'", capability);
    }
    pthread_mutex_lock(&lock);
    grants = reel_xrealloc(grants, (n_grants + 1) * sizeof *grants);
    grants[n_grants++] = g;
    pthread_mutex_unlock(&lock);
    return 0;
}

int reel_grant_allowed(const char *capability, const char *value)
{
    if (!capability || !value) return 0;
    int net = strcmp(capability, "net") == 0;
    if (!net && strcmp(capability, "exec") != 0) return 0;
    char *want = NULL;
    long port = 0;
    if (net ? parse_host(value, &want, &port) < 0 || port == 0
            : !(want = reel_grant_resolve_program(value))) {
        free(want);
        return 0;
    }
    int ok = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_grants && !ok; i++) {
        const grant *g = &grants[i];
        if (g->net != net || strcmp(g->value, want) != 0) continue;
        ok = !net || g->port == 0 || g->port == port;
    }
    pthread_mutex_unlock(&lock);
    free(want);
    return ok;
}

void reel_grant_clear(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_grants; i++) free(grants[i].value);
    free(grants);
    grants = NULL;
    n_grants = 0;
    pthread_mutex_unlock(&lock);
}
