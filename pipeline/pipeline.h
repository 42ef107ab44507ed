/* reel pipeline: run a Lua pipeline script.
 *
 * A script builds a lazy graph of media nodes with the `reel` Lua module (reel.video, reel.audio,
 * reel.concat, ...) and calls reel.render(node, path, opts), which runs the graph: every node's
 * output is looked up in a content-addressed cache first, missing ones are computed by a pool of
 * workers through the stage runner (pipeline/stage.h) and stored in the cache, and the final
 * file is copied to `path`.
 *
 *     reel_pipeline_params p = reel_pipeline_default_params();
 *     p.script = "film.lua";
 *     p.out_dir = "out";
 *     if (reel_pipeline_run(&p) < 0)
 *         fprintf(stderr, "reel: run: %s\n", reel_last_error());
 *
 * Scripts run in a sandbox: no os.execute, io.popen, C modules, debug library or bytecode; file
 * access is confined to the script's folder, the output folder and allow_paths. Each run has its
 * own lua_State whose memory is capped by max_lua_mem.
 */
#ifndef REEL_PIPELINE_H
#define REEL_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/stage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The functions that execute stages; same contracts as in stage.h. The default table calls
 * reel_stage_run() & co.; tests and embedders may pass their own. */
typedef struct reel_stage_runner {
    int (*run)(const reel_stage_io *io);
    const char *(*ext)(const char *kind, const json_t *params);
    const char *(*version)(const char *kind, const json_t *params);
    int (*concurrency)(const char *kind, const json_t *params);
} reel_stage_runner;

/* How the slurm executor submits nodes (docs/cluster.md). Strings are borrowed. */
typedef struct reel_slurm_params {
    const char *partition; /* sbatch --partition, or NULL for the cluster's default */
    const char *gres;      /* sbatch --gres (e.g. "gpu:1"), or NULL */
    const char *account;   /* sbatch --account, or NULL */
    int max_jobs;          /* at most this many of the run's jobs queued or running; <= 0: any */
    const char *reel_exe;  /* the reel program the jobs run (on the shared filesystem) */
    const char *const *node_args; /* extra words for `reel node exec` (--allow-exec P...) */
    size_t n_node_args;
} reel_slurm_params;

/* Options of one run. Strings are borrowed for the duration of reel_pipeline_run(). */
typedef struct reel_pipeline_params {
    const char *script;      /* path of the .lua script (required) */
    const char *out_dir;     /* where relative render paths go (NULL: the current folder) */
    const char *cache_dir;   /* NULL: ".reel-cache" inside out_dir */
    const char *events_path; /* JSON-lines event stream: a file, "-" for stdout, NULL for none */
    const char *model;  /* --model value, visible to the script as reel.model_spec; may be NULL */
    int jobs;           /* worker threads; <= 0 means one per CPU */
    uint64_t seed;      /* run seed that reel.seed(name) derives from */
    size_t max_lua_mem; /* cap on the script's Lua heap in bytes (0: no cap) */
    const char *const *allow_paths; /* extra folders the script may read and write */
    size_t n_allow_paths;
    const char *const *args; /* reel.args (the words after "--") */
    size_t n_args;
    int progress;        /* terminal progress display: 1 on, 0 off, -1 when stderr is a tty */
    int max_attempts;    /* tries per stage for transient failures (REEL_ENET/ETIMEDOUT) */
    double retry_base_s; /* first backoff delay; doubles on each retry */
    const reel_stage_runner *runner; /* NULL: the built-in stage runner */
    int model_is_test;   /* model is the tiny random-weight test model: reel.model_is_test */
    const char *api_key; /* for remote models (openai:URL#MODEL); NULL: $OPENAI_API_KEY */
    /* NULL: nodes run in this process (the local executor); else each missing node is one
     * Slurm job running `reel node exec` against the cache, which must be shared */
    const reel_slurm_params *slurm;
} reel_pipeline_params;

/* Defaults: jobs 0 (one per CPU), seed 0, max_lua_mem 512 MiB, progress -1, 3 attempts with
 * a 0.5 s first backoff, everything else NULL/0. */
reel_pipeline_params reel_pipeline_default_params(void);

/* Runs the script to completion. Returns 0, or a negative REEL_E* code with reel_last_error()
 * saying what failed: a Lua error with the script's file:line and a traceback, a failed node
 * with its id, kind and parameters, or REEL_ECANCELED after reel_pipeline_cancel(). Finished
 * nodes stay in the cache whatever happens. One run per thread; runs share nothing but the
 * cache folder, which tolerates concurrent runs. */
int reel_pipeline_run(const reel_pipeline_params *params);

/* Asks every run in the process to stop: no new stage starts, running stages are cancelled
 * through their progress callback, temporary files are removed and the run returns
 * REEL_ECANCELED. Async-signal-safe (it sets a flag): call it from a SIGINT handler. */
void reel_pipeline_cancel(void);

/* Clears the cancel flag (for a process that runs again after a cancel, e.g. tests). */
void reel_pipeline_reset_cancel(void);

/* The built-in stage runner table (reel_stage_run & co.). Static; never NULL. */
const reel_stage_runner *reel_pipeline_default_runner(void);

/* Runs one node of a graph away from the run that built it (`reel node exec KEY`): reads its
 * description from the cache folder cache_dir (cluster/nodes/KEY.json, written by a run with
 * the slurm executor), checks that this machine computes the same key from it (same reel and
 * plugin versions) and that its inputs are in the cache, runs the stage and renames the output
 * into the cache atomically. Returns 0, also when the output was already cached (*already,
 * which may be NULL, is then 1), or an error naming the node; reel_pipeline_cancel() stops it. */
int reel_node_exec(const char *cache_dir, const char *key, int *already);

/* ---- cache maintenance (`reel cache`) -------------------------------------------------------
 * Called for each entry or stray file a command finds wrong or removes: path, what (a short
 * reason) and size in bytes. */
typedef void (*reel_cache_report_fn)(void *ctx, const char *path, const char *what, int64_t size);

typedef struct reel_cache_stats {
    int64_t entries, bytes;         /* entries looked at and their size */
    int64_t bad;                    /* verify: entries that failed their check */
    int64_t removed, removed_bytes; /* removed (or, in a dry run, to be removed) */
} reel_cache_stats;

/* Checks every entry of the cache folder dir against its record (size and SHA-256); reports
 * each bad one, and with fix removes it. Returns 0 (even with bad entries: see stats->bad) or
 * an error if dir is not a cache folder. */
int reel_cache_verify(const char *dir, int fix, reel_cache_report_fn report, void *ctx,
                      reel_cache_stats *stats);

/* Removes stray files (temporaries of finished processes, records without an entry, entries
 * without a record), then entries not used for older_than_days (< 0: no age limit), then the
 * least recently used entries until the folder holds at most max_bytes (< 0: no limit). With
 * dry_run nothing is removed, only reported. */
int reel_cache_gc(const char *dir, double older_than_days, int64_t max_bytes, int dry_run,
                  reel_cache_report_fn report, void *ctx, reel_cache_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
