/* reel cache: check and clean the content-addressed cache that reel run keeps its work in. */
#include "cli/cli.h"
#include "core/core.h"
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void human(int64_t bytes, char *buf, size_t n)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* "500M", "2G", "1.5GiB", "123456": bytes, with binary K/M/G/T multiples. -1 if malformed. */
static int64_t parse_size(const char *text)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || !(v >= 0)) return -1;
    double mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1024.0 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 't':
    case 'T':
        mul = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (mul > 1 && (!strcmp(end, "iB") || !strcmp(end, "B"))) end += strlen(end);
    if (mul == 1 && !strcmp(end, "B")) end++;
    if (*end || v * mul > 9.0e18) return -1;
    return (int64_t)(v * mul);
}

typedef struct report_ctx {
    const char *verb;
} report_ctx;

static void report(void *ctx, const char *path, const char *what, int64_t size)
{
    report_ctx *r = ctx;
    char sz[32];
    human(size, sz, sizeof sz);
    printf("%s %s (%s): %s\n", r->verb, path, sz, what);
}

static int run(int argc, char **argv)
{
    if (argc < 2) return reel_cli_usage("cache", "give an action: verify or gc");
    const char *action = argv[1];
    int verify = !strcmp(action, "verify"), gc = !strcmp(action, "gc");
    if (!verify && !gc)
        return reel_cli_usage("cache", "unknown action '%s' (verify or gc)", action);
    const char *cache = NULL, *out = NULL;
    int fix = 0, dry = 0;
    double days = -1;
    int64_t max_size = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--cache") || !strcmp(a, "--out") || !strcmp(a, "--older-than") ||
            !strcmp(a, "--max-size")) {
            if (!has_value) return reel_cli_usage("cache", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--cache")) {
                cache = v;
            } else if (!strcmp(a, "--out")) {
                out = v;
            } else if (!gc) {
                return reel_cli_usage("cache", "%s is an option of 'reel cache gc'", a);
            } else if (!strcmp(a, "--older-than")) {
                if (reel_cli_parse_double("cache", a, v, 0, 1e6, &days) < 0) return REEL_EXIT_USAGE;
            } else if ((max_size = parse_size(v)) < 0) {
                return reel_cli_usage("cache",
                                      "--max-size expects a size like 500M or 2G, got '%s'", v);
            }
        } else if (verify && !strcmp(a, "--fix")) {
            fix = 1;
        } else if (gc && (!strcmp(a, "-n") || !strcmp(a, "--dry-run"))) {
            dry = 1;
        } else {
            return reel_cli_usage("cache", "unknown option '%s' for 'reel cache %s'", a, action);
        }
    }
    if (cache && out) return reel_cli_usage("cache", "give --cache or --out, not both");
    char *dir = cache ? reel_xstrdup(cache) : reel_xasprintf("%s/.reel-cache", out ? out : ".");
    reel_cache_stats st;
    char a[32], b[32];
    int rc;
    if (verify) {
        report_ctx r = {fix ? "removed" : "BAD"};
        rc = reel_cache_verify(dir, fix, report, &r, &st);
        if (rc == 0) {
            human(st.bytes, a, sizeof a);
            printf("%lld entries (%s) checked in %s: %lld bad%s\n", (long long)st.entries, a, dir,
                   (long long)st.bad,
                   st.bad == 0 ? ""
                   : fix       ? ", removed (their nodes run again next time)"
                               : "; 'reel cache verify --fix' removes them");
        }
    } else {
        report_ctx r = {dry ? "would remove" : "removed"};
        rc = reel_cache_gc(dir, days, max_size, dry, report, &r, &st);
        if (rc == 0) {
            human(st.removed_bytes, a, sizeof a);
            human(st.bytes - (dry ? 0 : st.removed_bytes), b, sizeof b);
            printf("%s %lld files (%s) in %s; %s of entries %s\n", dry ? "would remove" : "removed",
                   (long long)st.removed, a, dir, b, dry ? "now" : "left");
        }
    }
    if (rc < 0) {
        free(dir);
        return reel_cli_fail("cache");
    }
    free(dir);
    return verify && st.bad > 0 ? REEL_EXIT_FAIL : REEL_EXIT_OK;
}

static const reel_cli_cmd reel_cmd_cache = {
    "cache",
    "check the cache of finished nodes (verify) or shrink it (gc)",
    "Usage: reel cache verify [--cache DIR | --out DIR] [--fix]\n"
    "       reel cache gc [--cache DIR | --out DIR] [--older-than DAYS] [--max-size SIZE] [-n]\n\n"
    "reel run keeps every finished node (a shot, a mix, the film) in a cache folder, under the\n"
    "SHA-256 of what made it, so a re-run redoes only what changed. Each entry has a record of "
    "its\n"
    "size and SHA-256 written with it; reel run checks an entry against its record before using\n"
    "it, and one that was cut short or changed is removed and made again (the event\n"
    "node_cache_invalid says which and why). These commands do the same for the whole folder.\n\n"
    "Where:\n"
    "  --cache DIR        the cache folder itself (what 'reel run --cache DIR' used)\n"
    "  --out DIR          the output folder of a run: its cache is DIR/.reel-cache\n"
    "                     (neither: ./.reel-cache)\n\n"
    "verify   checks every entry's size and SHA-256 against its record and lists the bad ones.\n"
    "  --fix              remove them (their nodes run again next time)\n"
    "  Exit status 1 when any entry is bad, 0 when all are good.\n\n"
    "gc       removes stray files (temporaries left by runs that died, records without an\n"
    "         entry, entries without a record), then, if asked:\n"
    "  --older-than DAYS  entries not used by a run for more than DAYS days (a fraction is fine)\n"
    "  --max-size SIZE    the least recently used entries until the folder holds at most SIZE\n"
    "                     (bytes, or with K, M, G, T: 500M, 2G)\n"
    "  -n, --dry-run      list what would be removed, remove nothing\n"
    "  Run it when no 'reel run' is using the same cache: an entry removed under a running\n"
    "  film is made again by its next run, but that run may fail.\n\n"
    "Examples:\n"
    "  reel cache verify --out out          # check out/.reel-cache\n"
    "  reel cache verify --out out --fix    # and remove what is damaged\n"
    "  reel cache gc --out out -n --max-size 2G   # what keeping 2 GiB would remove\n"
    "  reel cache gc --cache ~/reel-cache --older-than 30\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_cache)
