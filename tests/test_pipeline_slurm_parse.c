/* The slurm executor's parsers (sbatch --parsable, squeue), its shell quoting and its
 * command runner, on fixed texts: no Slurm needed (test_pipeline_slurm.sh runs a real one). */
#include "testutil.h"
#include "pipeline/slurm-impl.h"

#include <stdlib.h>
#include <string.h>

static void test_sbatch(void **state)
{
    (void)state;
    long id = 0;
    assert_int_equal(reeli_slurm_parse_sbatch("42\n", &id), 0);
    assert_int_equal(id, 42);
    assert_int_equal(reeli_slurm_parse_sbatch("  1234567;gpu-cluster\n", &id), 0);
    assert_int_equal(id, 1234567);
    const char *bad[] = {"",
                         "\n",
                         "abc",
                         "12abc",
                         "-3",
                         "0",
                         ";x",
                         "12\n13\n",
                         "1.5",
                         "99999999999999999999",
                         "sbatch: error: Batch job submission failed: Invalid partition"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        id = -7;
        assert_int_equal(reeli_slurm_parse_sbatch(bad[i], &id), REEL_EFORMAT);
        assert_true(tu_contains(reel_last_error(), "not a job id"));
    }
    assert_int_equal(reeli_slurm_parse_sbatch(NULL, &id), REEL_EFORMAT);
    /* a control byte from the other program is shown, not printed raw */
    assert_int_equal(reeli_slurm_parse_sbatch("\x1b[31m", &id), REEL_EFORMAT);
    assert_null(strchr(reel_last_error(), '\x1b'));
}

static void test_squeue(void **state)
{
    (void)state;
    const char *text = "101|PENDING|reel:abc\n"
                       "102|RUNNING|(null)\n"
                       "\n"
                       "  103|COMPLETED  \n"
                       "104_7|RUNNING|x\n"
                       "105|CANCELLED+|a|b\n"
                       "106|SOME_NEW_STATE|\n";
    reeli_slurm_job *jobs;
    size_t n;
    assert_int_equal(reeli_slurm_parse_squeue(text, strlen(text), &jobs, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(jobs[0].id, 101);
    assert_int_equal(jobs[0].cls, REELI_SLURM_QUEUED);
    assert_string_equal(jobs[0].comment, "reel:abc");
    assert_int_equal(jobs[1].cls, REELI_SLURM_RUNNING);
    assert_string_equal(jobs[1].comment, "(null)");
    assert_int_equal(jobs[2].id, 103);
    assert_int_equal(jobs[2].cls, REELI_SLURM_COMPLETED);
    assert_string_equal(jobs[2].comment, "");
    assert_int_equal(jobs[3].id, 105);
    assert_int_equal(jobs[3].cls, REELI_SLURM_ENDED);
    assert_string_equal(jobs[3].comment, "a|b");
    assert_int_equal(jobs[4].cls, REELI_SLURM_UNKNOWN);
    assert_non_null(reeli_slurm_find(jobs, n, 105));
    assert_null(reeli_slurm_find(jobs, n, 104));
    free(jobs);

    /* a long comment is cut, not overflowed */
    char longc[400];
    memset(longc, 'c', sizeof longc);
    memcpy(longc, "7|RUNNING|", 10);
    assert_int_equal(reeli_slurm_parse_squeue(longc, sizeof longc, &jobs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(jobs[0].comment), sizeof jobs[0].comment - 1);
    free(jobs);

    assert_int_equal(reeli_slurm_parse_squeue("", 0, &jobs, &n), 0);
    assert_int_equal(n, 0);
    free(jobs);

    const char *bad[] = {"101 PENDING\n",
                         "abc|RUNNING\n",
                         "101|\n",
                         "101|running\n",
                         "1|RUNNING\nslurm_load_jobs error: Unable to contact slurm controller\n",
                         "|RUNNING\n",
                         "1|THIS_STATE_NAME_IS_FAR_TOO_LONG\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(reeli_slurm_parse_squeue(bad[i], strlen(bad[i]), &jobs, &n), REEL_EFORMAT);
        assert_null(jobs);
        assert_int_equal(n, 0);
        assert_true(tu_contains(reel_last_error(), "squeue output line"));
    }
    assert_int_equal(reeli_slurm_parse_squeue("1|RUNNING\nx\n", 12, &jobs, &n), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "line 2"));
}

static void test_states(void **state)
{
    (void)state;
    assert_int_equal(reeli_slurm_state_class("REQUEUED"), REELI_SLURM_QUEUED);
    assert_int_equal(reeli_slurm_state_class("COMPLETING"), REELI_SLURM_RUNNING);
    assert_int_equal(reeli_slurm_state_class("NODE_FAIL"), REELI_SLURM_ENDED);
    assert_int_equal(reeli_slurm_state_class("TIMEOUT"), REELI_SLURM_ENDED);
    assert_int_equal(reeli_slurm_state_class("COMPLETED+"), REELI_SLURM_COMPLETED);
    assert_int_equal(reeli_slurm_state_class(""), REELI_SLURM_UNKNOWN);
    assert_int_equal(reeli_slurm_state_class("RUN"), REELI_SLURM_UNKNOWN);
}

static void test_quote_and_cmd(void **state)
{
    (void)state;
    char *q = reeli_slurm_shell_quote("a b'c$d");
    assert_string_equal(q, "'a b'\\''c$d'");
    /* the shell gives back exactly the word that was quoted */
    char *script = reel_xasprintf("printf %%s %s; printf err >&2; exit 3", q);
    const char *argv[] = {"sh", "-c", script, NULL};
    char *out, *err;
    assert_int_equal(reeli_slurm_cmd(argv, &out, &err), 3);
    assert_string_equal(out, "a b'c$d");
    assert_string_equal(err, "err");
    free(out);
    free(err);
    free(script);
    free(q);
    const char *none[] = {"reel-no-such-program-here", NULL};
    assert_true(reeli_slurm_cmd(none, &out, &err) < 0 || out == NULL);
    const char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
    assert_int_equal(reeli_slurm_cmd(killed, NULL, NULL), REEL_EIO);
    assert_true(tu_contains(reel_last_error(), "signal 9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sbatch),
        cmocka_unit_test(test_squeue),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_quote_and_cmd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
