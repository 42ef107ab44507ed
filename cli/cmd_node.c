/* reel node exec KEY: run one node of a graph from its description in a (shared) cache. */
#include "cli/cli.h"
#include "core/core.h"
#include "pipeline/pipeline.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Slurm's scancel and a Kubernetes pod's deletion both send SIGTERM: the stage is cancelled
 * through its progress callback, the programs it started are stopped and no output is stored. */
static void on_stop_signal(int sig)
{
    (void)sig;
    reel_pipeline_cancel();
}

static void kill_children_at_exit(void)
{
    reel_proc_kill_all();
}

static int run(int argc, char **argv)
{
    const char *key = NULL, *cache = ".reel-cache";
    int rc = REEL_EXIT_USAGE;
    if (argc < 2 || strcmp(argv[1], "exec") != 0) {
        reel_cli_usage("node", argc < 2 ? "no action given (exec)" : "unknown action '%s'",
                       argc < 2 ? "" : argv[1]);
        goto out;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (key) {
                reel_cli_usage("node exec", "one key only ('%s' and '%s')", key, a);
                goto out;
            }
            key = a;
            continue;
        }
        if (strcmp(a, "--cache") && strcmp(a, "--allow-exec") && strcmp(a, "--allow-host")) {
            reel_cli_usage("node exec", "unknown option '%s'", a);
            goto out;
        }
        if (i + 1 >= argc) {
            reel_cli_usage("node exec", "%s needs a value", a);
            goto out;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--cache") == 0) {
            cache = v;
        } else if (reel_grant_add(a[8] == 'e' ? "exec" : "net", v) < 0) {
            reel_cli_usage("node exec", "%s %s", a, reel_last_error());
            goto out;
        }
    }
    if (!key) {
        reel_cli_usage("node exec", "no node key given");
        goto out;
    }
    atexit(kill_children_at_exit);
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double t0 = reel_now();
    int already = 0;
    if (reel_node_exec(cache, key, &already) < 0) {
        rc = reel_cli_fail("node exec");
    } else {
        fprintf(stderr, "reel: node exec: %.16s...: %s (%.1f s)\n", key,
                already ? "already in the cache" : "done", reel_now() - t0);
        rc = REEL_EXIT_OK;
    }
out:
    reel_grant_clear();
    return rc;
}

static const reel_cli_cmd reel_cmd_node = {
    "node",
    "run one node of a pipeline from the cache (what cluster jobs run)",
    "Usage: reel node exec KEY [--cache DIR] [--allow-exec PROG] [--allow-host H]\n"
    "\n"
    "Runs the node whose cache key is KEY from the description a `reel run --executor slurm`\n"
    "wrote into the cache (DIR/cluster/nodes/KEY.json), and stores its output in the cache\n"
    "with an atomic rename, so that a reader never sees half a file. Its inputs must be in\n"
    "the cache already. This is the stable entry point that batch systems run: Slurm jobs of\n"
    "`reel run --executor slurm`, or a Kubernetes Job or HTCondor job you write yourself\n"
    "(docs/cluster.md). The node runs only if this machine computes the same KEY from the\n"
    "description, i.e. has the same reel and plugin versions as the submitting machine.\n"
    "\n"
    "Exit status: 0 when the output is in the cache (also when it already was), 1 with a\n"
    "one-line error on stderr when the node failed (nothing is stored then), 2 for a usage\n"
    "error. SIGTERM (scancel, a pod deletion) stops the node cleanly.\n"
    "\n"
    "Options:\n"
    "      --cache DIR      the cache folder, shared with the submitting machine\n"
    "                       (default: .reel-cache)\n"
    "      --allow-exec PROG let the exec plugin run PROG (repeatable), as for reel run\n"
    "      --allow-host H   let network plugins contact H (repeatable), as for reel run\n"
    "\n"
    "Example:\n"
    "  reel node exec 3f2a...e9 --cache /shared/reel-cache\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_node)
