/* reel pipeline: private header of the scheduler (sched.c), which runs the missing nodes of the
 * graph into the cache, in parallel, with retries; and the run's cancel flag. */
#ifndef REEL_PIPELINE_SCHED_IMPL_H
#define REEL_PIPELINE_SCHED_IMPL_H

#include <signal.h>

#include "pipeline/cache-impl.h"
#include "pipeline/events-impl.h"
#include "pipeline/graph-impl.h"
#include "pipeline/pipeline.h"

typedef struct reeli_sched_stats {
    int executed, cached, failed;
} reeli_sched_stats;

typedef struct reeli_sched {
    reeli_graph *graph;
    reeli_cache *cache;
    reeli_events *events;
    const reel_stage_runner *runner;
    int jobs;
    int max_attempts;
    double retry_base_s;
    const reel_slurm_params *slurm; /* NULL: local workers; else sched_slurm.c runs the pass */
    reeli_sched_stats stats;        /* accumulated over passes */
} reeli_sched;

/* Makes the output of node `target` present in the cache, running what is missing. On failure
 * the error names the first failed node with its parameters; other nodes still ran. */
int reeli_sched_run(reeli_sched *s, int target);

/* The fields every node event carries: id, key, kind, plugin and name where set (a new object;
 * both executors use it). */
json_t *reeli_sched_node_fields(const reeli_node *n);

/* Set by reel_pipeline_cancel(). */
extern volatile sig_atomic_t reeli_cancel_flag;

#endif
