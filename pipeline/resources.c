/* What one node's batch job asks for. The values are checked here whatever their source (a
 * script's `resources`, a plugin's capability descriptor), so that a typo is an error naming
 * its place when the script or plugin is read, not an sbatch refusal in the middle of a run.
 * Merging takes each value from the most specific source that gives it: the node itself, then
 * its plugin, then the run's options, because a plugin knows its own needs better than a
 * run-wide option given for every node, and a script knows its shot better than the plugin. */
#include "pipeline/resources-impl.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

#define MAX_LEN 100

static int plain_word(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > MAX_LEN) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f) return 0;
    return 1;
}

/* n digits (1..9) at *p; advances *p. */
static int digits(const char **p)
{
    int n = 0;
    while (isdigit((unsigned char)**p) && n < 10) {
        (*p)++;
        n++;
    }
    return n >= 1 && n <= 9;
}

/* Slurm's time limit forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. */
static int time_ok(const char *s)
{
    if (!strcmp(s, "UNLIMITED") || !strcmp(s, "INFINITE")) return 1;
    const char *p = s;
    if (!digits(&p)) return 0;
    int groups = 1;
    if (*p == '-') {
        p++;
        if (!digits(&p)) return 0;
    }
    while (*p == ':' && groups < 3) {
        p++;
        if (!digits(&p)) return 0;
        groups++;
    }
    return *p == '\0';
}

static int mem_ok(const char *s)
{
    const char *p = s;
    if (!digits(&p)) return 0;
    if (*p && strchr("KMGTkmgt", *p)) p++;
    return *p == '\0';
}

/* gres: name[:type][:count], comma-separated; Slurm's names are letters, digits, '_' '-' '.' */
static int gres_ok(const char *s)
{
    if (!plain_word(s) || *s == ',' || *s == ':') return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-.:,/=+", *p)) return 0;
    return 1;
}

const char *reeli_res_check(const char *key, const char *value)
{
    static const char *const keys[] = {"partition", "account", "gres", "mem", "time"};
    int known = 0;
    for (size_t i = 0; key && i < sizeof keys / sizeof keys[0]; i++) known |= !strcmp(key, keys[i]);
    if (!known) return "is not one of partition, gres, account, cpus, mem, time";
    if (!value) return "must be a string";
    if (!strcmp(key, "partition") || !strcmp(key, "account"))
        return plain_word(value)
                   ? NULL
                   : "must be a non-empty string without spaces (at most 100 characters)";
    if (!strcmp(key, "gres"))
        return gres_ok(value) && strlen(value) <= MAX_LEN
                   ? NULL
                   : "must be generic resources as sbatch --gres takes them, such as \"gpu:1\" "
                     "or \"gpu:a100:2\"";
    if (!strcmp(key, "mem"))
        return mem_ok(value) ? NULL
                             : "must be a size such as \"16G\" (a whole number, then K, M, G "
                               "or T; megabytes without one)";
    /* time */
    return time_ok(value)
               ? NULL
               : "must be a time limit such as \"30\" (minutes), \"00:30:00\" or \"1-12\" "
                 "(MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)";
}

int reeli_res_check_caps(const reel_plugin_caps *c)
{
    if (REEL_PLUGIN_CAPS_HAS(c, job_cpus) && (c->job_cpus < 0 || c->job_cpus > REELI_RES_MAX_CPUS))
        return reel_set_error(REEL_EFORMAT, "job resources: 'job_cpus' %d must be 0 to %d",
                              (int)c->job_cpus, REELI_RES_MAX_CPUS);
    struct {
        const char *field, *key, *value;
    } s[] = {
        {"job_mem", "mem", REEL_PLUGIN_CAPS_HAS(c, job_mem) ? c->job_mem : NULL},
        {"job_gres", "gres", REEL_PLUGIN_CAPS_HAS(c, job_gres) ? c->job_gres : NULL},
        {"job_time", "time", REEL_PLUGIN_CAPS_HAS(c, job_time) ? c->job_time : NULL},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        if (!s[i].value) continue;
        /* shown cut and without control bytes: it comes from someone else's binary */
        char shown[48];
        size_t k = 0;
        for (const char *p = s[i].value; *p && k + 1 < sizeof shown; p++)
            shown[k++] = (unsigned char)*p < ' ' || (unsigned char)*p == 0x7f ? '?' : *p;
        shown[k] = '\0';
        const char *why = reeli_res_check(s[i].key, s[i].value);
        if (why)
            return reel_set_error(REEL_EFORMAT, "job resources: '%s' \"%s\" %s", s[i].field, shown,
                                  why);
    }
    return 0;
}

json_t *reeli_res_caps_json(const reel_plugin_caps *c)
{
    reeli_job_res r;
    reeli_res_merge(NULL, c, NULL, &r);
    return reeli_res_json(&r);
}

static const char *pick(const json_t *node, const char *key, const char *plugin, const char *run)
{
    const char *v = reel_json_str(node, key, NULL);
    return v ? v : plugin ? plugin : run;
}

void reeli_res_merge(const json_t *node, const reel_plugin_caps *caps, const reel_slurm_params *run,
                     reeli_job_res *out)
{
    const char *p_mem = REEL_PLUGIN_CAPS_HAS(caps, job_mem) ? caps->job_mem : NULL;
    const char *p_gres = REEL_PLUGIN_CAPS_HAS(caps, job_gres) ? caps->job_gres : NULL;
    const char *p_time = REEL_PLUGIN_CAPS_HAS(caps, job_time) ? caps->job_time : NULL;
    long p_cpus = REEL_PLUGIN_CAPS_HAS(caps, job_cpus) ? caps->job_cpus : 0;
    memset(out, 0, sizeof *out);
    /* a plugin declares no partition or account: those are the site's and the user's */
    out->partition = pick(node, "partition", NULL, run ? run->partition : NULL);
    out->account = pick(node, "account", NULL, run ? run->account : NULL);
    out->gres = pick(node, "gres", p_gres, run ? run->gres : NULL);
    out->mem = pick(node, "mem", p_mem, NULL);
    out->time = pick(node, "time", p_time, NULL);
    long n_cpus = (long)reel_json_int(node, "cpus", 0);
    out->cpus = n_cpus > 0 ? n_cpus : p_cpus > 0 ? p_cpus : 0;
}

int reeli_res_sbatch_args(const reeli_job_res *r, char *args[REELI_RES_MAX_ARGS])
{
    int k = 0;
    if (r->partition) args[k++] = reel_xasprintf("--partition=%s", r->partition);
    if (r->gres) args[k++] = reel_xasprintf("--gres=%s", r->gres);
    if (r->account) args[k++] = reel_xasprintf("--account=%s", r->account);
    if (r->mem) args[k++] = reel_xasprintf("--mem=%s", r->mem);
    if (r->time) args[k++] = reel_xasprintf("--time=%s", r->time);
    if (r->cpus > 0) args[k++] = reel_xasprintf("--cpus-per-task=%ld", r->cpus);
    return k;
}

json_t *reeli_res_json(const reeli_job_res *r)
{
    json_t *o = json_object();
    if (r->cpus > 0) json_object_set_new(o, "cpus", json_integer(r->cpus));
    const char *keys[] = {"mem", "gres", "time", "partition", "account"};
    const char *vals[] = {r->mem, r->gres, r->time, r->partition, r->account};
    for (size_t i = 0; i < 5; i++)
        if (vals[i]) json_object_set_new(o, keys[i], json_string(vals[i]));
    return o;
}
