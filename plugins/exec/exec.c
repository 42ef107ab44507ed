/* reel plugin "exec": runs an external generator command and reads back the file it makes.
 * Only programs the user granted run (the host's allowed("exec", path), e.g. from
 * `reel run --allow-exec PROG`): the script names the program but cannot grant it.
 * The command is an argv template (no shell) with placeholders {prompt} {seed} {width}
 * {height} {frames} {fps} {duration_s} {out}; it runs in a private folder in its own process
 * group, with stdin from /dev/null and stdout+stderr captured (the tail goes into the error).
 * The group is reported to the host (which kills it if reel stops) and killed here past
 * timeout_s or on cancel: SIGTERM, then SIGKILL after a grace second. The host decodes the
 * produced file and accepts it only if it holds frames. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plugins/exec/template.h"
#include "plugins/reel_plugin.h"

static const char schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"argv\"],"
    "\"properties\":{"
    "\"argv\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":256,"
    "\"items\":{\"type\":\"string\",\"maxLength\":65536}},"
    "\"prompt\":{\"type\":\"string\",\"maxLength\":65536},"
    "\"seed\":{\"type\":\"integer\",\"minimum\":0},"
    "\"width\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":8192},"
    "\"height\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":8192},"
    "\"fps\":{\"type\":\"number\",\"minimum\":1,\"maximum\":240},"
    "\"frames\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000000},"
    "\"duration_s\":{\"type\":\"number\",\"minimum\":0.01,\"maximum\":3600},"
    "\"timeout_s\":{\"type\":\"number\",\"minimum\":0.1,\"maximum\":86400},"
    "\"out_ext\":{\"enum\":[\".mp4\",\".mkv\",\".webm\",\".mov\",\".avi\",\".gif\",\".png\","
    "\".jpg\",\".y4m\",\".wav\"]}}}";

#define TAIL 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keeps the last TAIL bytes of the child's output. */
static void keep_tail(char *tail, size_t *n, const char *data, size_t len)
{
    if (len >= TAIL) {
        memcpy(tail, data + len - TAIL, TAIL);
        *n = TAIL;
        return;
    }
    if (*n + len > TAIL) {
        size_t drop = *n + len - TAIL;
        memmove(tail, tail + drop, *n - drop);
        *n -= drop;
    }
    memcpy(tail + *n, data, len);
    *n += len;
}

static const reel_plugin_host *host;

static void group_ended(pid_t pid)
{
    if (REEL_PLUGIN_HOST_HAS(host, child_ended)) host->child_ended((int32_t)pid);
}

static void kill_group(pid_t pid)
{
    kill(-pid, SIGTERM);
    for (int i = 0; i < 20; i++) { /* 1 s of grace, then SIGKILL */
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            kill(-pid, SIGKILL); /* children that outlived the leader */
            group_ended(pid);
            return;
        }
        usleep(50000);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    group_ended(pid);
}

static int executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* name as an absolute path (the child starts in tmp_dir, so a relative one would run
 * something else than what was checked). */
static char *absolute(const char *name)
{
    if (name[0] == '/') return strdup(name);
    char cwd[PATH_MAX], *out;
    if (!getcwd(cwd, sizeof cwd)) return NULL;
    size_t n = strlen(cwd) + strlen(name) + 2;
    if ((out = malloc(n))) snprintf(out, n, "%s/%s", cwd, name);
    return out;
}

/* The file a command name runs, as an absolute path: a name with '/' as is, else the first
 * executable in PATH (what execvp would pick); the host is asked about exactly this file, and
 * it is what runs. */
static char *resolve(const char *name)
{
    if (strchr(name, '/')) return executable(name) ? absolute(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char cand[PATH_MAX];
        int n = len ? snprintf(cand, sizeof cand, "%.*s/%s", (int)len, p, name)
                    : snprintf(cand, sizeof cand, "./%s", name);
        if (n > 0 && (size_t)n < sizeof cand && executable(cand)) return absolute(cand);
        if (!end) return NULL;
        p = end + 1;
    }
}

static int generate(void *state, const char *params_json, const reel_plugin_sink *s)
{
    (void)state;
    json_t *p = json_loads(params_json, 0, NULL);
    if (!p) {
        s->error(s->host, "parameters are not JSON");
        return REEL_PLUGIN_EINVAL;
    }
    const json_t *argv_t = json_object_get(p, "argv");
    size_t argc = json_array_size(argv_t);
    double fps = json_object_get(p, "fps") ? json_number_value(json_object_get(p, "fps")) : 24;
    double dur =
        json_object_get(p, "duration_s") ? json_number_value(json_object_get(p, "duration_s")) : 0;
    long long frames = json_object_get(p, "frames")
                           ? json_integer_value(json_object_get(p, "frames"))
                       : dur > 0 ? llround(dur * fps)
                                 : llround(3 * fps);
    if (dur <= 0) dur = frames / fps;
    double timeout =
        json_object_get(p, "timeout_s") ? json_number_value(json_object_get(p, "timeout_s")) : 600;
    const char *ext = json_is_string(json_object_get(p, "out_ext"))
                          ? json_string_value(json_object_get(p, "out_ext"))
                          : ".mp4";
    char seed[32], width[32], height[32], fr[32], fpss[32], durs[32], msg[TAIL + 512];
    snprintf(seed, sizeof seed, "%lld", (long long)json_integer_value(json_object_get(p, "seed")));
    snprintf(width, sizeof width, "%lld",
             json_object_get(p, "width")
                 ? (long long)json_integer_value(json_object_get(p, "width"))
                 : 640LL);
    snprintf(height, sizeof height, "%lld",
             json_object_get(p, "height")
                 ? (long long)json_integer_value(json_object_get(p, "height"))
                 : 360LL);
    snprintf(fr, sizeof fr, "%lld", frames);
    snprintf(fpss, sizeof fpss, "%g", fps);
    snprintf(durs, sizeof durs, "%g", dur);
    char *out = malloc(strlen(s->tmp_dir) + 16);
    sprintf(out, "%s/out%s", s->tmp_dir, ext);
    const char *prompt = json_is_string(json_object_get(p, "prompt"))
                             ? json_string_value(json_object_get(p, "prompt"))
                             : "";
    const char *names[] = {"prompt", "seed", "width",      "height",
                           "frames", "fps",  "duration_s", "out"};
    const char *values[] = {prompt, seed, width, height, fr, fpss, durs, out};
    char **argv = calloc(argc + 1, sizeof *argv), *prog = NULL;
    int rc = REEL_PLUGIN_OK, pipefd[2] = {-1, -1};
    pid_t pid = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int have_fa = 0;
    for (size_t i = 0; i < argc; i++) {
        char err[256];
        argv[i] = exec_template_expand(json_string_value(json_array_get(argv_t, i)), names, values,
                                       8, err, sizeof err);
        if (!argv[i]) {
            snprintf(msg, sizeof msg, "parameter 'argv[%zu]': %s", i, err);
            s->error(s->host, msg);
            rc = REEL_PLUGIN_EINVAL;
            goto done;
        }
    }
    if (!argv[0][0]) {
        s->error(s->host, "parameter 'argv[0]': empty command");
        rc = REEL_PLUGIN_EINVAL;
        goto done;
    }
    if (!REEL_PLUGIN_HOST_HAS(host, allowed) || !REEL_PLUGIN_HOST_HAS(host, child_ended)) {
        s->error(s->host, "this reel cannot grant programs to plugins (plugin ABI 1.1 needed)");
        rc = REEL_PLUGIN_EFATAL;
        goto done;
    }
    prog = resolve(argv[0]);
    if (!prog) {
        snprintf(msg, sizeof msg, "parameter 'argv[0]': cannot run '%.200s': %s", argv[0],
                 strchr(argv[0], '/') ? "no such executable file" : "not found in PATH");
        s->error(s->host, msg);
        rc = REEL_PLUGIN_EINVAL;
        goto done;
    }
    if (!host->allowed("exec", prog)) {
        snprintf(msg, sizeof msg,
                 "program '%.200s' is not allowed (reel run --allow-exec %.200s allows it)",
                 argv[0], argv[0]);
        s->error(s->host, msg);
        rc = REEL_PLUGIN_EINVAL;
        goto done;
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        s->error(s->host, "cannot create a pipe");
        rc = REEL_PLUGIN_EFATAL;
        goto done;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    have_fa = 1;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addchdir_np(&fa, s->tmp_dir);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    extern char **environ;
    int err = posix_spawn(&pid, prog, &fa, &attr, argv, environ);
    if (!err && REEL_PLUGIN_HOST_HAS(host, child_started)) host->child_started((int32_t)pid);
    close(pipefd[1]);
    pipefd[1] = -1;
    if (err) {
        snprintf(msg, sizeof msg, "parameter 'argv[0]': cannot run '%s': %s", argv[0],
                 strerror(err));
        s->error(s->host, msg);
        rc = REEL_PLUGIN_EINVAL;
        pid = 0;
        goto done;
    }
    char tail[TAIL];
    size_t ntail = 0;
    double t0 = now_s();
    int status = 0, timed_out = 0, canceled = 0, open_pipe = 1;
    for (;;) {
        if (open_pipe) {
            struct pollfd pf = {pipefd[0], POLLIN, 0};
            if (poll(&pf, 1, 100) > 0) {
                char b[4096];
                ssize_t r = read(pipefd[0], b, sizeof b);
                if (r > 0)
                    keep_tail(tail, &ntail, b, (size_t)r);
                else if (r == 0 || errno != EINTR)
                    open_pipe = 0;
            }
        } else {
            usleep(20000);
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            kill(-pid, SIGKILL); /* children that outlived the leader */
            group_ended(pid);
            pid = 0;
            /* read what is left (grandchildren may still hold the pipe: bounded wait) */
            struct pollfd pf = {pipefd[0], POLLIN, 0};
            while (open_pipe && poll(&pf, 1, 200) > 0) {
                char b[4096];
                ssize_t r = read(pipefd[0], b, sizeof b);
                if (r <= 0) break;
                keep_tail(tail, &ntail, b, (size_t)r);
            }
            break;
        }
        double el = now_s() - t0;
        if (el > timeout) {
            timed_out = 1;
            break;
        }
        if (s->progress(s->host, fmin(0.99, el / timeout)) != 0) {
            canceled = 1;
            break;
        }
    }
    if (timed_out || canceled) {
        kill_group(pid);
        pid = 0;
    }
    tail[ntail < TAIL ? ntail : TAIL - 1] = 0;
    while (ntail && (tail[ntail - 1] == '\n' || tail[ntail - 1] == '\r')) tail[--ntail] = 0;
    if (timed_out) {
        snprintf(msg, sizeof msg, "'%s' timed out after %g s (process group killed)%s%s", argv[0],
                 timeout, ntail ? "; output: " : "", tail);
        s->error(s->host, msg);
        rc = REEL_PLUGIN_ETIMEDOUT;
    } else if (canceled) {
        s->error(s->host, "canceled");
        rc = REEL_PLUGIN_ECANCELED;
    } else if (WIFSIGNALED(status)) {
        snprintf(msg, sizeof msg, "'%s' killed by signal %d%s%s", argv[0], WTERMSIG(status),
                 ntail ? "; output: " : "", tail);
        s->error(s->host, msg);
        rc = REEL_PLUGIN_EFATAL;
    } else if (WEXITSTATUS(status) != 0) {
        snprintf(msg, sizeof msg, "'%s' exited with status %d%s%s", argv[0], WEXITSTATUS(status),
                 ntail ? "; output: " : "", tail);
        s->error(s->host, msg);
        rc = REEL_PLUGIN_EFATAL;
    } else {
        struct stat st;
        if (stat(out, &st) != 0 || st.st_size == 0) {
            snprintf(msg, sizeof msg, "'%s' exited 0 but wrote no {out} file%s%s", argv[0],
                     ntail ? "; output: " : "", tail);
            s->error(s->host, msg);
            rc = REEL_PLUGIN_EFATAL;
        } else {
            rc = s->file(s->host, out);
        }
    }
done:
    if (pid > 0) kill_group(pid);
    if (have_fa) {
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
    }
    if (pipefd[0] >= 0) close(pipefd[0]);
    if (pipefd[1] >= 0) close(pipefd[1]);
    for (size_t i = 0; argv && i < argc; i++) free(argv[i]);
    free(argv);
    free(prog);
    free(out);
    json_decref(p);
    return rc;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_VIDEO,
    .name = "exec",
    .version = "1.0",
    .description = "an external generator command (argv template, timeout), file read back",
    .params_schema = schema,
    .max_width = 8192,
    .max_height = 8192,
    .deterministic = 0,
};

static const reel_plugin table = {
    .api_version = REEL_PLUGIN_API_VERSION,
    .struct_size = sizeof(reel_plugin),
    .caps = &caps,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *h)
{
    host = h;
    return &table;
}
