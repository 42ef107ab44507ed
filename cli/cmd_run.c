/* reel run SCRIPT.lua: run a Lua pipeline. */
#include "cli/cli.h"
#include "core/core.h"
#include "core/store.h"
#include "pipeline/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

/* The first Ctrl-C or SIGTERM cancels the run (running stages stop, the process groups they
 * started are killed, temporary files go); a second one kills every process group reel
 * started and then reel itself at once. */
static void on_stop_signal(int sig)
{
    if (stopping) {
        reel_proc_kill_all();
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stopping = 1;
    reel_pipeline_cancel();
    static const char msg[] = "\nreel: run: stopping (finished nodes stay cached; "
                              "press Ctrl-C again to abort at once)\n";
    if (sig == SIGINT) {
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1); /* nothing to do if it fails */
        (void)ignored;
    }
}

static void kill_children_at_exit(void)
{
    reel_proc_kill_all();
}

/* "512M", "2G", "100000" (bytes), "64K" */
static int parse_size(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno || text[0] == '-') return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end == 'i' && shift) end++;
    if (*end == 'B' && shift) end++;
    if (*end || v > (SIZE_MAX >> shift)) return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int run(int argc, char **argv)
{
    reel_pipeline_params p = reel_pipeline_default_params();
    const char **allow = NULL;
    char *default_model = NULL, *store_model = NULL;
    size_t n_allow = 0;
    /* --executor slurm: how jobs are submitted, and the grants their `reel node exec` needs */
    reel_slurm_params slurm = {0};
    const char *executor = "local", *slurm_only = NULL;
    const char **node_args = NULL;
    size_t n_node_args = 0;
    char reel_exe[PATH_MAX];
    int rc = REEL_EXIT_USAGE;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            if (p.script) {
                reel_cli_usage("run",
                               "one script only ('%s' and '%s'); script arguments go "
                               "after --",
                               p.script, a);
                goto out;
            }
            p.script = a;
            continue;
        }
        if (strcmp(a, "--no-progress") == 0) {
            p.progress = 0;
            continue;
        }
        /* options with a value */
        static const char *const with_value[] = {
            "--model",      "-m",           "--out",         "-o",
            "--jobs",       "-j",           "--events",      "--seed",
            "--cache",      "--allow-path", "--max-lua-mem", "--allow-exec",
            "--allow-host", "--api-key",    "--executor",    "--partition",
            "--gres",       "--account",    "--max-jobs",    NULL};
        int known = 0;
        for (const char *const *o = with_value; *o; o++)
            if (strcmp(a, *o) == 0) known = 1;
        if (!known) {
            reel_cli_usage("run", "unknown option '%s'", a);
            goto out;
        }
        if (i + 1 >= argc) {
            reel_cli_usage("run", "%s needs a value", a);
            goto out;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--model") == 0 || strcmp(a, "-m") == 0) {
            p.model = v;
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) {
            p.out_dir = v;
        } else if (strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) {
            long n;
            if (reel_cli_parse_int("run", a, v, 1, 1024, &n) < 0) goto out;
            p.jobs = (int)n;
        } else if (strcmp(a, "--events") == 0) {
            p.events_path = v;
        } else if (strcmp(a, "--seed") == 0) {
            if (reel_cli_parse_seed("run", a, v, &p.seed) < 0) goto out;
        } else if (strcmp(a, "--cache") == 0) {
            p.cache_dir = v;
        } else if (strcmp(a, "--api-key") == 0) {
            p.api_key = v;
        } else if (strcmp(a, "--allow-path") == 0) {
            allow = reel_xrealloc(allow, (n_allow + 1) * sizeof *allow);
            allow[n_allow++] = v;
        } else if (strcmp(a, "--allow-exec") == 0 || strcmp(a, "--allow-host") == 0) {
            if (reel_grant_add(a[8] == 'e' ? "exec" : "net", v) < 0) {
                reel_cli_usage("run", "%s %s", a, reel_last_error());
                goto out;
            }
            node_args = reel_xrealloc(node_args, (n_node_args + 2) * sizeof *node_args);
            node_args[n_node_args++] = a;
            node_args[n_node_args++] = v;
        } else if (strcmp(a, "--executor") == 0) {
            if (strcmp(v, "local") != 0 && strcmp(v, "slurm") != 0) {
                reel_cli_usage("run", "--executor expects local or slurm, got '%s'", v);
                goto out;
            }
            executor = v;
        } else if (strcmp(a, "--partition") == 0) {
            slurm.partition = slurm_only = v;
        } else if (strcmp(a, "--gres") == 0) {
            slurm.gres = slurm_only = v;
        } else if (strcmp(a, "--account") == 0) {
            slurm.account = slurm_only = v;
        } else if (strcmp(a, "--max-jobs") == 0) {
            long n;
            if (reel_cli_parse_int("run", a, v, 1, 1000000, &n) < 0) goto out;
            slurm.max_jobs = (int)n;
            slurm_only = v;
        } else if (strcmp(a, "--max-lua-mem") == 0) {
            if (parse_size(v, &p.max_lua_mem) < 0 || p.max_lua_mem < ((size_t)1 << 20)) {
                reel_cli_usage("run",
                               "--max-lua-mem expects a size of at least 1M such as "
                               "512M or 2G, got '%s'",
                               v);
                goto out;
            }
        }
    }
    if (!p.script) {
        reel_cli_usage("run", "no script given");
        goto out;
    }
    if (strcmp(executor, "slurm") == 0) {
        /* the jobs run this very program, which must be on the filesystem the nodes share */
        ssize_t len = readlink("/proc/self/exe", reel_exe, sizeof reel_exe - 1);
        if (len <= 0) {
            reel_cli_error("run", "--executor slurm: cannot find the reel program: %s",
                           strerror(errno));
            rc = REEL_EXIT_FAIL;
            goto out;
        }
        reel_exe[len] = '\0';
        slurm.reel_exe = reel_exe;
        slurm.node_args = node_args;
        slurm.n_node_args = n_node_args;
        p.slurm = &slurm;
    } else if (slurm_only) {
        reel_cli_usage("run", "--partition, --gres, --account and --max-jobs need --executor "
                              "slurm");
        goto out;
    }
    /* No --model: REEL_MODEL, else the default model if it is there (default.gguf, or what
     * `reel pull` fetches by default), else the tiny test model, said plainly. */
    if (!p.model) {
        const char *env = getenv("REEL_MODEL");
        const char *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
        if (data && *data)
            default_model = reel_xasprintf("%s/reel/models/default.gguf", data);
        else if (home && *home)
            default_model = reel_xasprintf("%s/.local/share/reel/models/default.gguf", home);
        if (env && *env) {
            if (reel_store_model_arg(env, &store_model) < 0) {
                rc = reel_cli_fail("run");
                goto out;
            }
            p.model = store_model ? store_model : env;
        } else if (default_model && reel_file_exists(default_model)) {
            p.model = default_model;
        } else if (reel_store_resolve(REEL_STORE_DEFAULT_REF, &store_model) == 0) {
            p.model = store_model;
        } else if (reel_file_exists(REEL_TEST_MODEL)) {
            p.model = REEL_TEST_MODEL;
            p.model_is_test = 1;
            fprintf(stderr,
                    "reel: run: no model given (--model, REEL_MODEL or %s); using the tiny test "
                    "model, which has random weights and writes noise.\n"
                    "  For real plans get NVIDIA Nemotron 3 Nano 4B with 'reel pull' (or pass "
                    "--model or set REEL_MODEL).\n",
                    default_model ? default_model : "~/.local/share/reel/models/default.gguf");
        }
    }
    p.args = (const char *const *)(argv + i);
    p.n_args = (size_t)(argc - i);
    p.allow_paths = allow;
    p.n_allow_paths = n_allow;

    reel_proc_sweep_tmpdirs("reel-plugin");
    atexit(kill_children_at_exit);
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int r = reel_pipeline_run(&p);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    rc = r < 0 ? reel_cli_fail("run") : REEL_EXIT_OK;
out:
    reel_grant_clear();
    free(default_model);
    free(store_model);
    free(allow);
    free(node_args);
    return rc;
}

static const reel_cli_cmd reel_cmd_run = {
    "run",
    "run a Lua pipeline script (idea -> plan -> shots -> film)",
    "Usage: reel run SCRIPT.lua [options] [-- ARGS...]\n"
    "\n"
    "Runs a pipeline script. The script builds a graph of media nodes with the `reel` Lua\n"
    "module and calls reel.render(node, \"film.mp4\", {...}), which computes what is missing.\n"
    "Every node's output is cached by a hash of what made it, so a re-run redoes only what\n"
    "changed, and a run that was interrupted or killed resumes where it stopped.\n"
    "\n"
    "Options:\n"
    "  -m, --model M        language model for reel.model() (GGUF file, HF folder, a\n"
    "                       model pulled into the store as OWNER/REPO[:QUANT], or\n"
    "                       openai:URL#MODEL: any OpenAI-compatible server such as vLLM,\n"
    "                       llama-server or reel serve, with URL its API root, e.g.\n"
    "                       openai:http://127.0.0.1:8080/v1#nemotron; its answers are cached\n"
    "                       and schema answers validated like a local model's); the script\n"
    "                       sees it as reel.model_spec.\n"
    "                       Without it: $REEL_MODEL, else ~/.local/share/reel/models/\n"
    "                       default.gguf, else the model 'reel pull' fetches by default,\n"
    "                       else the tiny random-weight test model\n"
    "  -o, --out DIR        where relative render paths go (default: the current folder)\n"
    "  -j, --jobs N         nodes run in parallel (default: one per CPU); plugins may\n"
    "                       limit their own concurrency further\n"
    "      --events FILE|-  write JSON-lines events (run_start, node_start, node_progress,\n"
    "                       node_cached, node_done, node_failed, node_retry, node_notice\n"
    "                       (e.g. a narration trimmed to its shot), log, run_done) to FILE,\n"
    "                       or to stdout with '-'\n"
    "      --seed S         run seed (default 0); reel.seed(\"name\") derives stable per-name\n"
    "                       seeds from it\n"
    "      --cache DIR      cache folder (default: OUT/.reel-cache)\n"
    "      --allow-path DIR let the script read and write DIR too (repeatable); otherwise it\n"
    "                       may touch only its own folder and --out\n"
    "      --allow-exec PROG let the exec plugin run PROG (repeatable): a path, or a bare\n"
    "                       name found through PATH; scripts can run no other program\n"
    "      --allow-host H   let network plugins (comfyui) contact H: HOST (any port),\n"
    "                       HOST:PORT, [IPV6] or [IPV6]:PORT (repeatable); no other host is\n"
    "                       reached, the local machine (localhost, 127.0.0.1) included\n"
    "      --api-key KEY    API key for a remote model (default: $OPENAI_API_KEY, which\n"
    "                       keeps it out of the process list)\n"
    "      --max-lua-mem SZ cap on the script's memory, e.g. 256M or 2G (default 512M): its\n"
    "                       Lua heap plus the nodes and parameters it builds\n"
    "      --no-progress    no live progress display on the terminal\n"
    "      --executor E     where nodes run: local (default: worker threads here) or slurm\n"
    "                       (each missing node is one Slurm job running `reel node exec`;\n"
    "                       --cache must be on a filesystem the compute nodes share; see\n"
    "                       docs/cluster.md)\n"
    "      --partition P    slurm: sbatch --partition (default: the cluster's)\n"
    "      --gres G         slurm: sbatch --gres, e.g. gpu:1 (default: none)\n"
    "      --account A      slurm: sbatch --account (default: yours)\n"
    "                       (a node's own `resources` and what its plugin declares, shown by\n"
    "                       `reel plugins NAME`, win over these three)\n"
    "      --max-jobs N     slurm: at most N of the run's jobs queued or running at once,\n"
    "                       counting those waiting on others (default: no limit)\n"
    "  --                   the words after it are the script's reel.args\n"
    "\n"
    "Sandbox: what a script may do is granted by you, never by the script. By default it\n"
    "may read and write only its own folder and --out (plus --allow-path), use the model\n"
    "and the built-in plugins that make pictures and sound inside reel; it may not run a\n"
    "program (exec plugin: --allow-exec) or contact a host (comfyui, or a remote model the\n"
    "script names itself rather than --model: --allow-host), and a\n"
    "refusal names the option that allows it. Grants are not part of the cache keys.\n"
    "Scripts get no os.execute, io.popen, C modules, debug library or bytecode loading;\n"
    "io.open, dofile, loadfile and require are confined to the allowed folders: files are\n"
    "opened beneath them, and a symbolic link or '..' that leads outside is refused.\n"
    "\n"
    "Ctrl-C (or SIGTERM) stops cleanly: running stages are cancelled, the programs they\n"
    "started are stopped (SIGTERM, then SIGKILL a second later), no half-written file is\n"
    "left, and the next run reuses everything that finished. A second Ctrl-C kills those\n"
    "programs and reel at once; temporary folders left then are removed by the next run.\n"
    "With --executor slurm, Ctrl-C cancels the run's queued and running jobs (scancel); if\n"
    "reel itself dies, running it again waits for the jobs still in the queue instead of\n"
    "submitting them twice.\n"
    "\n"
    "Example:\n"
    "  reel run examples/film.lua --out out --jobs 4 --seed 7 -- \"a lighthouse keeper's cat\"\n"
    "  reel run examples/film.lua --out out --events - | jq -c 'select(.event==\"node_done\")'\n"
    "  reel serve -m model.gguf --port 8080 &   # or vLLM, NIM, llama-server...\n"
    "  reel run examples/film.lua --model openai:http://127.0.0.1:8080/v1#model -- \"a cat\"\n"
    "  reel run examples/film.lua --out out --cache /shared/reel-cache --executor slurm \\\n"
    "      --partition gpu --gres gpu:1 --max-jobs 20\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_run)
