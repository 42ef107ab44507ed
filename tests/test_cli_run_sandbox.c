/* reel run's permission model and process hygiene through the real binary: programs run by
 * the exec plugin only when granted with --allow-exec (whatever the script says), SIGTERM and
 * a second Ctrl-C leave no child process running, temporary folders of a killed reel are
 * swept by the next run, and an error with bytes that are not UTF-8 still reaches --events. */
#include "testutil.h"

#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
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

static char *write_file(const char *dir, const char *name, const char *text, int mode)
{
    char *p = reel_xasprintf("%s/%s", dir, name);
    tu_write_file(p, text, strlen(text));
    chmod(p, (mode_t)mode);
    return p;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* The script names a program; only the user's --allow-exec lets it run. */
static void test_exec_needs_allow_exec(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *marker = reel_xasprintf("%s/pwned", dir);
    char *text = reel_xasprintf("local v = reel.video{plugin='exec', argv={'sh','-c','touch %s'},"
                                " name='x'}\nassert(reel.render(v, 'film.mp4'))\n",
                                marker);
    char *sc = write_file(dir, "pwn.lua", text, 0644);
    tu_result r = reel_run((const char *[]){sc, "--out", dir, "--no-progress", NULL});
    assert_int_equal(r.status, 1);
    assert_true(
        tu_contains(r.err, "program 'sh' is not allowed (reel run --allow-exec sh allows it)"));
    assert_false(reel_file_exists(marker));
    tu_result_free(&r);
    /* another program granted: still refused */
    r = reel_run((const char *[]){sc, "--out", dir, "--no-progress", "--allow-exec", "true", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "program 'sh' is not allowed"));
    assert_false(reel_file_exists(marker));
    tu_result_free(&r);
    /* granted: it runs (and fails for writing no {out} file, which is beside the point) */
    r = reel_run((const char *[]){sc, "--out", dir, "--no-progress", "--allow-exec", "sh", NULL});
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "wrote no {out} file"));
    assert_true(reel_file_exists(marker));
    tu_result_free(&r);
    /* bad grants are usage errors that name the option */
    r = reel_run((const char *[]){sc, "--allow-exec", "no-such-program-anywhere", NULL});
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "reel: run: --allow-exec 'no-such-program-anywhere': no such "
                                   "executable program in PATH"));
    tu_result_free(&r);
    r = reel_run((const char *[]){sc, "--allow-host", "a b", NULL});
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "--allow-host 'a b'"));
    tu_result_free(&r);
    r = reel_run((const char *[]){"--help", NULL});
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "--allow-exec PROG"));
    assert_true(tu_contains(r.out, "--allow-host H"));
    assert_true(tu_contains(r.out, "granted by you, never by the script"));
    tu_result_free(&r);
    free(sc);
    free(text);
    free(marker);
    tu_rmtree(dir);
    free(dir);
}

/* Starts `reel run` on a script whose exec stage runs a stubborn generator (it ignores SIGTERM
 * and has a background child), waits until the generator wrote "LEADER CHILD" to pidfile, and
 * returns reel's pid. TMPDIR is tmp, stderr goes to errpath. */
static pid_t start_stubborn(const char *dir, const char *tmp, const char *pidfile,
                            const char *errpath)
{
    char *gen_text = reel_xasprintf("#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho $$ $! > '%s.tmp'\n"
                                    "mv '%s.tmp' '%s'\nwhile :; do sleep 1; done\n",
                                    pidfile, pidfile, pidfile);
    char *gen = write_file(dir, "stubborn.sh", gen_text, 0755);
    char *sc_text = reel_xasprintf("local v = reel.video{plugin='exec', argv={'%s'}, name='x'}\n"
                                   "assert(reel.render(v, 'film.mp4'))\n",
                                   gen);
    char *sc = write_file(dir, "slow.lua", sc_text, 0644);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        setenv("TMPDIR", tmp, 1);
        execl(tu_reel_bin(), tu_reel_bin(), "run", sc, "--out", dir, "--no-progress",
              "--allow-exec", gen, (char *)NULL);
        _exit(127);
    }
    double t0 = reel_now();
    while (!reel_file_exists(pidfile) && reel_now() - t0 < 30) nap_ms(10);
    assert_true(reel_file_exists(pidfile));
    free(gen_text);
    free(gen);
    free(sc_text);
    free(sc);
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status = 0;
    double t0 = reel_now();
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (reel_now() - t0 > 30) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("reel run did not stop");
        }
        nap_ms(10);
    }
    return status;
}

/* Every process of the generator's group is gone (they were reparented to init or a
 * subreaper when reel died, so only the group can be asked about). */
static void assert_group_gone(const char *pidfile)
{
    char *text = NULL;
    assert_int_equal(reel_file_read(pidfile, 0, &text, NULL), 0);
    int leader = 0, child = 0;
    assert_int_equal(sscanf(text, "%d %d", &leader, &child), 2);
    free(text);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = kill(-leader, 0) != 0 && errno == ESRCH;
        if (!gone) nap_ms(20);
    }
    if (!gone) kill(-leader, SIGKILL); /* do not leave it behind the test either */
    assert_true(gone);
}

static int count_plugin_tmpdirs(const char *tmp)
{
    char *const ls[] = {"/bin/sh", "-c", "ls \"$0\" | grep -c '^reel-plugin-'", (char *)tmp, NULL};
    tu_result r = tu_run(ls, NULL);
    int n = atoi(r.out);
    tu_result_free(&r);
    return n;
}

/* SIGTERM stops reel cleanly, its generator's whole process group included. */
static void test_sigterm_kills_children(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *tmp = reel_xasprintf("%s/tmp", dir), *pidfile = reel_xasprintf("%s/gen.pid", dir);
    char *errpath = reel_xasprintf("%s/stderr.txt", dir);
    assert_int_equal(reel_mkdir_p(tmp), 0);
    pid_t pid = start_stubborn(dir, tmp, pidfile, errpath);
    kill(pid, SIGTERM);
    int status = wait_exit(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_group_gone(pidfile);
    assert_int_equal(count_plugin_tmpdirs(tmp), 0); /* removed on the way out */
    free(tmp);
    free(pidfile);
    free(errpath);
    tu_rmtree(dir);
    free(dir);
}

/* A second Ctrl-C kills reel at once, but not before its children; the temporary folder it
 * could not remove is swept by the next run. */
static void test_second_sigint_kills_children(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *tmp = reel_xasprintf("%s/tmp", dir), *pidfile = reel_xasprintf("%s/gen.pid", dir);
    char *errpath = reel_xasprintf("%s/stderr.txt", dir);
    assert_int_equal(reel_mkdir_p(tmp), 0);
    /* a folder of a process that is gone, and one of a process that runs (this test) */
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char *stale = reel_xasprintf("%s/reel-plugin-%d-AbCdEf", tmp, (int)dead);
    char *live = reel_xasprintf("%s/reel-plugin-%d-GhIjKl", tmp, (int)getpid());
    assert_int_equal(reel_mkdir_p(stale), 0);
    assert_int_equal(reel_mkdir_p(live), 0);
    free(write_file(stale, "frame.png", "x", 0644));
    pid_t pid = start_stubborn(dir, tmp, pidfile, errpath);
    assert_false(reel_file_exists(stale)); /* swept when reel started */
    assert_true(reel_file_exists(live));
    kill(pid, SIGINT);
    nap_ms(50);
    kill(pid, SIGINT);
    int status = wait_exit(pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGINT);
    assert_group_gone(pidfile);
    /* the killed reel's folder is swept by the next run */
    assert_int_equal(count_plugin_tmpdirs(tmp), 2);
    char *sc = write_file(dir, "noop.lua", "print('ok')\n", 0644);
    setenv("TMPDIR", tmp, 1);
    tu_result r = reel_run((const char *[]){sc, "--out", dir, "--no-progress", NULL});
    unsetenv("TMPDIR");
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    assert_int_equal(count_plugin_tmpdirs(tmp), 1);
    assert_true(reel_file_exists(live));
    free(sc);
    free(stale);
    free(live);
    free(tmp);
    free(pidfile);
    free(errpath);
    tu_rmtree(dir);
    free(dir);
}

/* An error message with bytes that are not UTF-8 keeps its "error" field in the events. */
static void test_events_keep_bad_utf8_error(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *sc = write_file(dir, "bad.lua", "error('bad \\255\\254 byte \\27[2J here')\n", 0644);
    tu_result r =
        reel_run((const char *[]){sc, "--out", dir, "--events", "-", "--no-progress", NULL});
    assert_int_equal(r.status, 1);
    int found = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *v = reel_json_parse(line, strlen(line), "event");
        assert_non_null(v);
        const char *e = json_string_value(json_object_get(v, "error"));
        if (e && tu_contains(e, "bad \\xff\\xfe byte \\x1b[2J here")) found = 1;
        json_decref(v);
    }
    assert_true(found);
    assert_null(strchr(r.err, '\x1b')); /* nor does the terminal get the escape */
    assert_true(tu_contains(r.err, "bad \\xff\\xfe byte \\x1b[2J here"));
    tu_result_free(&r);
    free(sc);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_needs_allow_exec),
        cmocka_unit_test(test_sigterm_kills_children),
        cmocka_unit_test(test_second_sigint_kills_children),
        cmocka_unit_test(test_events_keep_bad_utf8_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
