/* reel run through the real binary: help and usage errors, script errors with file:line and a
 * traceback, sandbox refusals (including a symlink out of the script's folder and
 * --allow-path), the Lua memory cap, seeds stable under reordering, reel.args, --events -. */
#include "testutil.h"

#include "core/core.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tu_result reel_run(const char *const *args)
{
    const char *argv[32] = {tu_reel_bin(), "run"};
    int n = 2;
    for (; args[n - 2]; n++) argv[n] = args[n - 2];
    argv[n] = NULL;
    return tu_run((char *const *)argv, NULL);
}

static char *script(const char *dir, const char *name, const char *text)
{
    char *p = reel_xasprintf("%s/%s", dir, name);
    tu_write_file(p, text, strlen(text));
    return p;
}

static void test_help_and_usage(void **state)
{
    (void)state;
    tu_result r = reel_run((const char *[]){"--help", NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "Usage: reel run SCRIPT.lua"));
    assert_true(tu_contains(r.out, "--allow-path DIR"));
    assert_true(tu_contains(r.out, "--max-lua-mem"));
    assert_true(tu_contains(r.out, "Example:"));
    tu_result_free(&r);
    r = reel_run((const char *[]){NULL});
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "reel: run: no script given"));
    tu_result_free(&r);
    r = reel_run((const char *[]){"x.lua", "--frob", NULL});
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "unknown option '--frob'"));
    tu_result_free(&r);
    r = reel_run((const char *[]){"x.lua", "--jobs", "0", NULL});
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel_run((const char *[]){"x.lua", "--max-lua-mem", "lots", NULL});
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel_run((const char *[]){"x.lua", "--seed", "-1", NULL});
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel_run((const char *[]){"/nonexistent/x.lua", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "reel: run: /nonexistent/x.lua"));
    tu_result_free(&r);
}

static void test_errors_carry_file_line(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *s = script(dir, "err.lua", "local t = nil\n\nlocal function f() return t.x end\nf()\n");
    tu_result r = reel_run((const char *[]){s, "--out", dir, NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "err.lua:3: attempt to index a nil value (upvalue 't')"));
    assert_true(tu_contains(r.err, "stack traceback:"));
    assert_true(tu_contains(r.err, "err.lua:4: in main chunk"));
    tu_result_free(&r);
    free(s);
    s = script(dir, "arg.lua", "-- line 1\nlocal v = reel.video{text='no plugin'}\n");
    r = reel_run((const char *[]){s, "--out", dir, NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "arg.lua:2: bad argument #1 to 'video' (field 'plugin'"));
    tu_result_free(&r);
    free(s);
    s = script(dir, "syntax.lua", "local x = = 1\n");
    r = reel_run((const char *[]){s, "--out", dir, NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "syntax.lua:1:"));
    tu_result_free(&r);
    free(s);
    tu_rmtree(dir);
    free(dir);
}

static void test_sandbox(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *other = tu_tmpdir();
    char *secret = reel_xasprintf("%s/secret.txt", other);
    tu_write_file(secret, "secret\n", 7);
    /* a symlink inside the script's folder pointing out of it */
    char *link = reel_xasprintf("%s/link", dir);
    assert_int_equal(symlink(other, link), 0);
    char *text =
        reel_xasprintf("local f, e = io.open(%s)\n"
                       "if f then print('READ ' .. f:read('l')) else print('REFUSED ' .. e) end\n"
                       "f, e = io.open('%s/link/secret.txt')\n"
                       "print(f and 'LINK READ' or 'LINK REFUSED')\n"
                       "print(pcall(os.execute, 'touch %s/pwned'))\n"
                       "print(pcall(io.popen, 'id'))\n",
                       "'"
                       "%s"
                       "'",
                       dir, dir);
    char *text2 = reel_xasprintf(text, secret);
    char *s = script(dir, "sb.lua", text2);
    tu_result r = reel_run((const char *[]){s, "--out", dir, NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "REFUSED"));
    assert_false(tu_contains(r.out, "READ secret"));
    assert_true(tu_contains(r.out, "LINK REFUSED"));
    assert_true(tu_contains(r.out, "os.execute is not available to reel scripts (sandbox)"));
    assert_true(tu_contains(r.out, "io.popen is not available"));
    tu_result_free(&r);
    char *pwned = reel_xasprintf("%s/pwned", dir);
    assert_false(reel_file_exists(pwned));
    /* --allow-path widens it */
    r = reel_run((const char *[]){s, "--out", dir, "--allow-path", other, NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "READ secret"));
    assert_true(tu_contains(r.out, "LINK READ"));
    tu_result_free(&r);
    r = reel_run((const char *[]){s, "--allow-path", "/nonexistent-dir", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "--allow-path /nonexistent-dir"));
    tu_result_free(&r);
    free(pwned);
    free(s);
    free(text);
    free(text2);
    free(link);
    free(secret);
    tu_rmtree(other);
    tu_rmtree(dir);
    free(other);
    free(dir);
}

static void test_memory_cap(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *s = script(dir, "hog.lua",
                     "local t = {}\n"
                     "for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end\n");
    tu_result r = reel_run((const char *[]){s, "--out", dir, "--max-lua-mem", "16M", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "hog.lua: the script exceeded its Lua memory limit of 16.0 MiB "
                                   "(--max-lua-mem)"));
    tu_result_free(&r);
    /* the cap is per run and a script below it is unaffected */
    free(s);
    s = script(dir, "small.lua", "local t = {} for i = 1, 1000 do t[i] = ('y'):rep(100) end\n");
    r = reel_run((const char *[]){s, "--out", dir, "--max-lua-mem", "16M", NULL});
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    free(s);
    tu_rmtree(dir);
    free(dir);
}

/* The reproductions of issue 23 that a script can trigger: each fails cleanly (exit 1 and
 * "reel: file:line: what", or nil, msg) and writes nothing outside --out. */
static void test_hostile_scripts(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *out = reel_xasprintf("%s/out", dir);
    char *other = tu_tmpdir();
    assert_int_equal(mkdir(out, 0755), 0);

    /* deep and cyclic tables through reel.json.encode (a 19-deep one crashed reel) */
    char *s = script(dir, "json.lua",
                     "local t = 'x' for i = 1, 19 do t = {k = t} end\n"
                     "print(#reel.json.encode(t))\n"
                     "local c = {} c[1] = c print(reel.json.encode(c))\n");
    tu_result r = reel_run((const char *[]){s, "--out", out, NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.out, "\n") || tu_contains(r.out, "133"));
    assert_true(tu_contains(r.err, "json.lua:3: reel.json.encode: table contains a cycle"));
    tu_result_free(&r);
    free(s);

    /* a write through a dangling link in --out that points outside it */
    char *target = reel_xasprintf("%s/created.txt", other);
    char *link = reel_xasprintf("%s/link", out);
    assert_int_equal(symlink(target, link), 0);
    s = script(dir, "link.lua",
               "print(io.open(reel.out_dir .. '/link', 'w'))\n"
               "print(reel.read_json(reel.out_dir))\n"
               "local v = reel.video{plugin = 'card', text = 'x'}\n"
               "print(reel.render(v, '.'))\n");
    r = reel_run((const char *[]){s, "--out", out, NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.out, "link: a symbolic link or '..' in it leads outside the "
                                   "folders this script may use"));
    assert_true(tu_contains(r.out, "out: is a folder, not a file"));
    assert_true(tu_contains(r.err, "link.lua:4: bad argument #2 to 'render' (.: is a folder"));
    tu_result_free(&r);
    assert_false(reel_file_exists(target));
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d));) assert_null(strstr(e->d_name, ".tmp-"));
    closedir(d);
    free(s);

    /* a 50000-deep chain of nodes (the recursive key crashed reel) */
    s = script(dir, "chain.lua",
               "local v = reel.video{plugin = 'no-such-generator'}\n"
               "for i = 1, 50000 do v = reel.concat{v} end\n"
               "assert(reel.render(v, 'film.mp4'))\n");
    r = reel_run((const char *[]){s, "--out", out, NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "chain.lua:3: node 1 (video no-such-generator"));
    tu_result_free(&r);
    free(s);

    /* nodes count against --max-lua-mem: 100k nodes of 4 KB each under 32 MiB */
    s = script(dir, "nodes.lua",
               "local pad = string.rep('x', 4096)\n"
               "for i = 1, 100000 do reel.video{plugin = 'card', pad = pad} end\n");
    r = reel_run((const char *[]){s, "--out", out, "--max-lua-mem", "32M", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "nodes.lua:2: reel.video: the Lua heap and the "));
    assert_true(tu_contains(r.err, "nodes built so far exceed the memory limit of 32.0 MiB "
                                   "(--max-lua-mem counts both)"));
    tu_result_free(&r);
    free(s);

    free(link);
    free(target);
    tu_rmtree(other);
    tu_rmtree(dir);
    free(other);
    free(out);
    free(dir);
}

static void test_seeds_args_events(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *a = script(dir, "a.lua", "print(reel.seed('intro'), reel.seed('shot 1'))\n");
    char *b = script(dir, "b.lua",
                     "local s1 = reel.seed('shot 1')\nlocal i = reel.seed('intro')\n"
                     "print(i, s1)\n");
    tu_result ra = reel_run((const char *[]){a, "--seed", "42", NULL});
    tu_result rb = reel_run((const char *[]){b, "--seed", "42", NULL});
    tu_result rc = reel_run((const char *[]){a, "--seed", "43", NULL});
    assert_int_equal(ra.status, 0);
    assert_int_equal(rb.status, 0);
    assert_string_equal(ra.out, rb.out);
    assert_string_not_equal(ra.out, rc.out);
    tu_result_free(&ra);
    tu_result_free(&rb);
    tu_result_free(&rc);
    free(a);
    free(b);

    char *s = script(dir, "args.lua",
                     "reel.log('args', #reel.args, reel.args[1], reel.args[2])\n"
                     "print('to stderr when events go to stdout')\n");
    tu_result r = reel_run((const char *[]){s, "--events", "-", "--", "x y", "--jobs", NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.err, "args.lua:1: args 2 x y --jobs"));
    assert_true(tu_contains(r.err, "to stderr when events go to stdout"));
    /* stdout is pure JSON lines */
    int lines = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *v = reel_json_parse(line, strlen(line), "event");
        assert_non_null(v);
        json_decref(v);
        lines++;
    }
    assert_int_equal(lines, 3); /* run_start, log, run_done */
    tu_result_free(&r);
    free(s);
    tu_rmtree(dir);
    free(dir);
}

/* Ctrl-C stops a script even in a busy Lua loop: a clean error and exit status 1. */
static void test_sigint(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *s = script(dir, "busy.lua",
                     "local f = assert(io.open(reel.out_dir .. '/started', 'w')) f:close()\n"
                     "local n = 0\nwhile true do n = n + 1 end\n");
    char *started = reel_xasprintf("%s/started", dir);
    char *errpath = reel_xasprintf("%s/stderr.txt", dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(tu_reel_bin(), tu_reel_bin(), "run", s, "--out", dir, (char *)NULL);
        _exit(127);
    }
    double t0 = reel_now();
    while (!reel_file_exists(started) && reel_now() - t0 < 20) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGINT);
    int status = 0;
    t0 = reel_now();
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (reel_now() - t0 > 20) {
            kill(pid, SIGKILL);
            fail_msg("reel run did not stop on SIGINT");
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    char *err = NULL;
    size_t size;
    assert_int_equal(reel_file_read(errpath, 0, &err, &size), 0);
    assert_true(tu_contains(err, "stopping (finished nodes stay cached"));
    assert_true(tu_contains(err, "busy.lua:3: interrupted"));
    free(err);
    free(errpath);
    free(started);
    free(s);
    tu_rmtree(dir);
    free(dir);
}

/* No --model: REEL_MODEL, else the default model file, else the tiny test model, said plainly. */
static void test_model_resolution(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *sc =
        script(dir, "m.lua",
               "local f = assert(io.open(reel.out_dir .. '/m.txt', 'w'))\n"
               "f:write(tostring(reel.model_spec), ' ', tostring(reel.model_is_test)) f:close()\n");
    char *out = reel_xasprintf("%s/m.txt", dir);
    char *home = reel_xasprintf("%s/home", dir);
    char *old_home = getenv("HOME") ? reel_xstrdup(getenv("HOME")) : NULL;
    setenv("HOME", home, 1);
    unsetenv("XDG_DATA_HOME");
    unsetenv("REEL_MODEL");
    unsetenv("REEL_MODELS"); /* a store with the default model pulled would win */
    const char *args[] = {sc, "--out", dir, "--no-progress", NULL};
    tu_result r = reel_run(args);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.err, "using the tiny test model, which has random weights"));
    char *text = NULL;
    assert_int_equal(reel_file_read(out, 0, &text, NULL), 0);
    assert_true(tu_contains(text, "tests/data/models/tiny-a true"));
    free(text);
    tu_result_free(&r);
    /* the default model file wins over the test model */
    char *models = reel_xasprintf("%s/.local/share/reel/models", home);
    assert_int_equal(reel_mkdir_p(models), 0);
    char *def = reel_xasprintf("%s/default.gguf", models);
    tu_write_file(def, "GGUF", 4);
    r = reel_run(args);
    assert_int_equal(r.status, 0);
    assert_false(tu_contains(r.err, "tiny test model"));
    assert_int_equal(reel_file_read(out, 0, &text, NULL), 0);
    assert_true(tu_contains(text, "default.gguf false"));
    free(text);
    tu_result_free(&r);
    /* REEL_MODEL wins over both */
    setenv("REEL_MODEL", "/some/model.gguf", 1);
    r = reel_run(args);
    assert_int_equal(r.status, 0);
    assert_int_equal(reel_file_read(out, 0, &text, NULL), 0);
    assert_string_equal(text, "/some/model.gguf false");
    free(text);
    tu_result_free(&r);
    unsetenv("REEL_MODEL");
    if (old_home) setenv("HOME", old_home, 1);
    free(old_home);
    tu_rmtree(dir);
    free(dir);
    free(sc);
    free(out);
    free(home);
    free(models);
    free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage),    cmocka_unit_test(test_errors_carry_file_line),
        cmocka_unit_test(test_sandbox),           cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_seeds_args_events), cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_model_resolution),  cmocka_unit_test(test_hostile_scripts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
