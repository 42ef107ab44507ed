/* Parsers of what the Slurm client commands print: the job id from `sbatch --parsable`, job
 * states from `squeue -h -o '%i|%T'`. Both read text from another program, so anything that is
 * not of the expected form is an error naming the line, never a guess. */
#include "pipeline/slurm-impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A decimal job id in [s, end): 1..LONG_MAX. */
static int parse_id(const char *s, const char *end, long *id)
{
    if (s == end || end - s > 18) return -1;
    long v = 0;
    for (const char *p = s; p < end; p++) {
        if (!isdigit((unsigned char)*p)) return -1;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0) return -1;
    *id = v;
    return 0;
}

/* Copies at most max-1 bytes of s for a message, with non-printing bytes as '?'. */
static void shown(const char *s, size_t len, char *buf, size_t max)
{
    size_t k = len < max - 1 ? len : max - 1;
    for (size_t i = 0; i < k; i++) buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
    buf[k] = '\0';
}

int reeli_slurm_parse_sbatch(const char *text, long *job_id)
{
    const char *s = text ? text : "";
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1])) len--;
    while (len && isspace((unsigned char)*s)) s++, len--;
    const char *semi = memchr(s, ';', len);
    const char *end = semi ? semi : s + len;
    char buf[80];
    if (memchr(s, '\n', len) || parse_id(s, end, job_id) < 0) {
        shown(s, len, buf, sizeof buf);
        return reel_set_error(REEL_EFORMAT, "sbatch printed '%s', not a job id", buf);
    }
    return 0;
}

static const struct {
    const char *name;
    int cls;
} states[] = {
    {"PENDING", REELI_SLURM_QUEUED},      {"REQUEUED", REELI_SLURM_QUEUED},
    {"REQUEUE_HOLD", REELI_SLURM_QUEUED}, {"REQUEUE_FED", REELI_SLURM_QUEUED},
    {"SUSPENDED", REELI_SLURM_QUEUED},    {"CONFIGURING", REELI_SLURM_QUEUED},
    {"RESIZING", REELI_SLURM_QUEUED},     {"RESV_DEL_HOLD", REELI_SLURM_QUEUED},
    {"STOPPED", REELI_SLURM_QUEUED},      {"SIGNALING", REELI_SLURM_RUNNING},
    {"RUNNING", REELI_SLURM_RUNNING},     {"COMPLETING", REELI_SLURM_RUNNING},
    {"STAGE_OUT", REELI_SLURM_RUNNING},   {"COMPLETED", REELI_SLURM_COMPLETED},
    {"FAILED", REELI_SLURM_ENDED},        {"CANCELLED", REELI_SLURM_ENDED},
    {"TIMEOUT", REELI_SLURM_ENDED},       {"NODE_FAIL", REELI_SLURM_ENDED},
    {"PREEMPTED", REELI_SLURM_ENDED},     {"BOOT_FAIL", REELI_SLURM_ENDED},
    {"DEADLINE", REELI_SLURM_ENDED},      {"OUT_OF_MEMORY", REELI_SLURM_ENDED},
    {"SPECIAL_EXIT", REELI_SLURM_ENDED},  {"REVOKED", REELI_SLURM_ENDED},
};

int reeli_slurm_state_class(const char *state)
{
    size_t len = strlen(state);
    if (len && state[len - 1] == '+') len--;
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (strlen(states[i].name) == len && !strncmp(states[i].name, state, len))
            return states[i].cls;
    return REELI_SLURM_UNKNOWN;
}

int reeli_slurm_parse_squeue(const char *text, size_t len, reeli_slurm_job **jobs, size_t *n)
{
    *jobs = NULL;
    *n = 0;
    size_t cap = 0;
    const char *p = text, *end = text + len;
    int line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        line++;
        const char *s = p;
        p = nl ? nl + 1 : end;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        while (s < e && isspace((unsigned char)*s)) s++;
        if (s == e) continue;
        const char *bar = memchr(s, '|', (size_t)(e - s));
        const char *st = bar ? bar + 1 : NULL;
        const char *bar2 = bar ? memchr(st, '|', (size_t)(e - st)) : NULL;
        const char *st_end = bar2 ? bar2 : e;
        long id = 0;
        int ok = bar && st < st_end && (size_t)(st_end - st) < sizeof((*jobs)->state);
        for (const char *q = st; ok && q < st_end; q++)
            ok = isupper((unsigned char)*q) || *q == '_' || *q == '+';
        if (ok && memchr(s, '_', (size_t)(bar - s))) continue; /* an array element: not ours */
        if (ok) ok = parse_id(s, bar, &id) == 0;
        if (!ok) {
            char buf[80];
            shown(s, (size_t)(e - s), buf, sizeof buf);
            free(*jobs);
            *jobs = NULL;
            *n = 0;
            return reel_set_error(REEL_EFORMAT, "squeue output line %d: '%s' is not JOBID|STATE",
                                  line, buf);
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *jobs = reel_xrealloc(*jobs, cap * sizeof **jobs);
        }
        reeli_slurm_job *j = &(*jobs)[(*n)++];
        j->id = id;
        memcpy(j->state, st, (size_t)(st_end - st));
        j->state[st_end - st] = '\0';
        size_t clen = bar2 ? (size_t)(e - bar2 - 1) : 0;
        if (clen >= sizeof j->comment) clen = sizeof j->comment - 1;
        if (clen) memcpy(j->comment, bar2 + 1, clen);
        j->comment[clen] = '\0';
        j->cls = reeli_slurm_state_class(j->state);
    }
    return 0;
}

const reeli_slurm_job *reeli_slurm_find(const reeli_slurm_job *jobs, size_t n, long id)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].id == id) return &jobs[i];
    return NULL;
}
