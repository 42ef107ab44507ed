/* reel pipeline: private header of resources.c: what one node's batch job asks for (CPUs,
 * memory, generic resources, time limit, partition, account), checked the same way wherever it
 * comes from (a script's `resources`, a plugin's capability descriptor, the run's options), and
 * merged from those three, the most specific first. */
#ifndef REEL_PIPELINE_RESOURCES_IMPL_H
#define REEL_PIPELINE_RESOURCES_IMPL_H

#include <jansson.h>

#include "pipeline/pipeline.h"
#include "plugins/reel_plugin.h"

#define REELI_RES_MAX_CPUS 4096
/* the sbatch options one job can get: partition, gres, account, mem, time, cpus */
#define REELI_RES_MAX_ARGS 6

/* What one job asks for; strings are borrowed from where they came from, NULL / 0 = not asked
 * (the cluster's default). */
typedef struct reeli_job_res {
    const char *partition, *gres, *account, *mem, *time;
    long cpus;
} reeli_job_res;

/* NULL if value is a well-formed value of the string resource key (partition, account: a word
 * without spaces; gres: "gpu:1" or a comma list of such; mem: "16G"; time: "MM", "MM:SS",
 * "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS", "UNLIMITED"), else a static phrase saying what
 * it must be ("must be a size such as \"16G\" ..."; "must be a string" for a NULL value); for a
 * key that is not one of those five, "is not one of partition, gres, account, cpus, mem, time". */
const char *reeli_res_check(const char *key, const char *value);

/* Checks the job resources a plugin's capability descriptor declares (ABI 1.3 members; an older
 * descriptor declares none). 0, or REEL_EFORMAT "job resources: 'job_mem' \"lots\" must be ..."
 * (the caller names the plugin). */
int reeli_res_check_caps(const reel_plugin_caps *c);

/* The resources caps declares, as a JSON object ({"cpus": 1, "mem": "2G"}; {} when none). */
json_t *reeli_res_caps_json(const reel_plugin_caps *c);

/* What a node's job asks for, the most specific source first: node (its Lua `resources`, an
 * object as reeli_lua_resources makes; may be NULL) > caps (its plugin's descriptor; may be
 * NULL) > run (the run's --partition/--gres/--account; may be NULL). */
void reeli_res_merge(const json_t *node, const reel_plugin_caps *caps, const reel_slurm_params *run,
                     reeli_job_res *out);

/* The sbatch options for r ("--mem=2G"...) into args (owned, free() each); returns how many
 * (at most REELI_RES_MAX_ARGS). */
int reeli_res_sbatch_args(const reeli_job_res *r, char *args[REELI_RES_MAX_ARGS]);

/* r as a JSON object ({"cpus": 1, "mem": "2G"}; only what is asked for), for events. */
json_t *reeli_res_json(const reeli_job_res *r);

#endif
