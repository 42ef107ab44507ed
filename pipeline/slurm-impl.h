/* reel pipeline: private header of the Slurm executor: the parsers of what the Slurm client
 * commands print (slurm_parse.c), running those commands (slurm_cmd.c) and the scheduling pass
 * that hands each missing node to Slurm as one job (sched_slurm.c). */
#ifndef REEL_PIPELINE_SLURM_IMPL_H
#define REEL_PIPELINE_SLURM_IMPL_H

#include <stddef.h>

#include "pipeline/sched-impl.h"

/* What a job state means to the executor. */
enum {
    REELI_SLURM_UNKNOWN = 0, /* a state this code does not know: keep polling */
    REELI_SLURM_QUEUED,      /* PENDING, REQUEUED, SUSPENDED, CONFIGURING, ... */
    REELI_SLURM_RUNNING,     /* RUNNING, COMPLETING, STAGE_OUT, ... */
    REELI_SLURM_COMPLETED,   /* COMPLETED: the job ran and exited 0 */
    REELI_SLURM_ENDED,       /* FAILED, CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, ... */
};

typedef struct reeli_slurm_job {
    long id;
    int cls;          /* REELI_SLURM_* */
    char state[24];   /* the state as Slurm names it ("PENDING") */
    char comment[80]; /* the third field if any (the job's --comment), cut to fit; else "" */
} reeli_slurm_job;

/* The job id that `sbatch --parsable` printed ("123" or "123;cluster", then a newline).
 * Returns 0, or REEL_EFORMAT naming what was printed. */
int reeli_slurm_parse_sbatch(const char *text, long *job_id);

/* Lines "JOBID|STATE" or "JOBID|STATE|COMMENT" as printed by `squeue -h -o '%i|%T|%k'`.
 * Array-job elements ("12_3") and blank lines are skipped. *jobs (free()) gets the jobs. Returns 0,
 * or REEL_EFORMAT naming the line that is not of that form. */
int reeli_slurm_parse_squeue(const char *text, size_t len, reeli_slurm_job **jobs, size_t *n);

/* REELI_SLURM_* for a state name ("RUNNING"); a trailing '+' (as sacct prints) is ignored. */
int reeli_slurm_state_class(const char *state);

/* The job with this id in jobs, or NULL. */
const reeli_slurm_job *reeli_slurm_find(const reeli_slurm_job *jobs, size_t n, long id);

/* Runs argv (argv[0] looked up in PATH) in its own process group, so that a Ctrl-C on the
 * terminal reaches reel and not the Slurm commands reel is waiting for. *out and *err (owned,
 * NUL-terminated; either may be NULL to discard) get what it printed. Returns its exit status
 * (0..255), or a negative REEL_E* code when it could not be started or was killed by a
 * signal. */
int reeli_slurm_cmd(const char *const *argv, char **out, char **err);

/* Quotes s for a POSIX shell (single quotes); owned. */
char *reeli_slurm_shell_quote(const char *s);

/* The slurm executor's scheduling pass: like reeli_sched_run(), but every missing node becomes
 * one Slurm job running `reel node exec KEY` against the shared cache (s->slurm says how). */
int reeli_sched_slurm_run(reeli_sched *s, int target);

#endif
